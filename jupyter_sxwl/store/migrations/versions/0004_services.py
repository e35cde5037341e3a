"""services, their revisions, run records and gateway keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 11:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("https", sa.JSON(), nullable=True),
        sa.Column("replicas", sa.JSON(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("metered_seconds", sa.Float(), nullable=False),
        sa.Column("running_since", sa.DateTime(), nullable=True),
        sa.Column("last_request_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("owner", "name", name="uq_services_owner_name"),
    )
    op.create_index(op.f("ix_services_id"), "services", ["id"], unique=True)
    op.create_index(op.f("ix_services_owner"), "services", ["owner"], unique=False)
    op.create_index(op.f("ix_services_status"), "services", ["status"], unique=False)
    op.create_table(
        "service_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "number", name="uq_service_revisions_number"),
    )
    op.create_index(
        op.f("ix_service_revisions_service_id"), "service_revisions", ["service_id"], unique=False
    )
    op.create_table(
        "service_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_service_events_service_id"), "service_events", ["service_id"], unique=False
    )
    op.create_table(
        "service_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("service_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("app_key", sa.String(length=64), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("bearer_sha256", sa.String(length=64), nullable=False),
        sa.Column("bearer_hint", sa.String(length=16), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_service_keys_app_key"), "service_keys", ["app_key"], unique=True)
    op.create_index(
        op.f("ix_service_keys_bearer_sha256"), "service_keys", ["bearer_sha256"], unique=True
    )
    op.create_index(
        op.f("ix_service_keys_service_id"), "service_keys", ["service_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_service_keys_service_id"), table_name="service_keys")
    op.drop_index(op.f("ix_service_keys_bearer_sha256"), table_name="service_keys")
    op.drop_index(op.f("ix_service_keys_app_key"), table_name="service_keys")
    op.drop_table("service_keys")
    op.drop_index(op.f("ix_service_events_service_id"), table_name="service_events")
    op.drop_table("service_events")
    op.drop_index(op.f("ix_service_revisions_service_id"), table_name="service_revisions")
    op.drop_table("service_revisions")
    op.drop_index(op.f("ix_services_status"), table_name="services")
    op.drop_index(op.f("ix_services_owner"), table_name="services")
    op.drop_index(op.f("ix_services_id"), table_name="services")
    op.drop_table("services")
