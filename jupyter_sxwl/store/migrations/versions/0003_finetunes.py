"""finetunes, their evaluations and exports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finetunes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("eval_datasets", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("message_attempt", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_finetunes_id"), "finetunes", ["id"], unique=True)
    op.create_index(op.f("ix_finetunes_owner"), "finetunes", ["owner"], unique=False)
    op.create_index(op.f("ix_finetunes_job_id"), "finetunes", ["job_id"], unique=False)
    op.create_table(
        "finetune_evaluations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("finetune_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dataset", sa.JSON(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_finetune_evaluations_finetune_id"),
        "finetune_evaluations",
        ["finetune_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_finetune_evaluations_status"), "finetune_evaluations", ["status"], unique=False
    )
    op.create_table(
        "finetune_exports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("finetune_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("merge", sa.Boolean(), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_finetune_exports_finetune_id"), "finetune_exports", ["finetune_id"], unique=False
    )
    op.create_index(
        op.f("ix_finetune_exports_status"), "finetune_exports", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_finetune_exports_status"), table_name="finetune_exports")
    op.drop_index(op.f("ix_finetune_exports_finetune_id"), table_name="finetune_exports")
    op.drop_table("finetune_exports")
    op.drop_index(op.f("ix_finetune_evaluations_status"), table_name="finetune_evaluations")
    op.drop_index(op.f("ix_finetune_evaluations_finetune_id"), table_name="finetune_evaluations")
    op.drop_table("finetune_evaluations")
    op.drop_index(op.f("ix_finetunes_job_id"), table_name="finetunes")
    op.drop_index(op.f("ix_finetunes_owner"), table_name="finetunes")
    op.drop_index(op.f("ix_finetunes_id"), table_name="finetunes")
    op.drop_table("finetunes")
