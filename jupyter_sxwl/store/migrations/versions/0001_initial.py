"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:49:58.750080
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "code_packages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_code_packages_owner"), "code_packages", ["owner"], unique=False)
    op.create_table(
        "jobs",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=63), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("priority_value", sa.Integer(), nullable=False),
        sa.Column("flavour", sa.String(length=63), nullable=False),
        sa.Column("job_type", sa.String(length=16), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("procs_per_node", sa.Integer(), nullable=False),
        sa.Column("accelerators_per_node", sa.Integer(), nullable=False),
        sa.Column("cpu_per_node", sa.Float(), nullable=False),
        sa.Column("memory_gb_per_node", sa.Float(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("working_dir", sa.String(length=1024), nullable=False),
        sa.Column("env", sa.JSON(), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=True),
        sa.Column("code_package", sa.String(length=32), nullable=True),
        sa.Column("checkpoint_path", sa.String(length=255), nullable=False),
        sa.Column("checkpoint_capacity_gb", sa.Float(), nullable=False),
        sa.Column("model_path", sa.String(length=255), nullable=False),
        sa.Column("model_capacity_gb", sa.Float(), nullable=False),
        sa.Column("max_run_minutes", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("resume", sa.Boolean(), nullable=False),
        sa.Column("placement", sa.JSON(), nullable=True),
        sa.Column("run_dir", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("admitted_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_jobs_id"), "jobs", ["id"], unique=True)
    op.create_index(op.f("ix_jobs_owner"), "jobs", ["owner"], unique=False)
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"], unique=False)
    op.create_table(
        "queues",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("quotas", sa.JSON(), nullable=False),
        sa.Column("users", sa.JSON(), nullable=True),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "user_limits",
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("max_accelerators", sa.Integer(), nullable=True),
        sa.Column("max_cpu", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )


def downgrade() -> None:

    op.drop_table("user_limits")
    op.drop_table("queues")
    op.drop_index(op.f("ix_jobs_status"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_owner"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_index(op.f("ix_code_packages_owner"), table_name="code_packages")
    op.drop_table("code_packages")
