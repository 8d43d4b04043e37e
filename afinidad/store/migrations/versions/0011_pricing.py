"""pricing: price proposals waiting for approval, and competitor prices from a feed

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 03:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "price_proposals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("current_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("elasticity", sa.Float(), nullable=False),
        sa.Column("expected", _JSON, nullable=False),
        sa.Column("binding", _JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("price_proposals", schema=None) as batch_op:
        batch_op.create_index("ix_price_proposals_product", ["workspace_id", "product_id", "created_at"])
        batch_op.create_index("ix_price_proposals_status", ["workspace_id", "status"])
    op.create_table(
        "competitor_prices",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("competitor", sa.String(length=100), nullable=False),
        sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "product_id", "competitor"),
    )


def downgrade() -> None:
    op.drop_table("competitor_prices")
    with op.batch_alter_table("price_proposals", schema=None) as batch_op:
        batch_op.drop_index("ix_price_proposals_status")
        batch_op.drop_index("ix_price_proposals_product")
    op.drop_table("price_proposals")
