"""the gateway's accepted Signs, so that a replay is refused after a restart

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 13:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_signs",
        sa.Column("sign", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sign"),
    )
    op.create_index(op.f("ix_gateway_signs_seen_at"), "gateway_signs", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_gateway_signs_seen_at"), table_name="gateway_signs")
    op.drop_table("gateway_signs")
