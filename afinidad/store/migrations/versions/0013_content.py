"""content studio: generated pieces with their findings and status, and every step taken on them

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 04:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "content_pieces",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("brief", _JSON, nullable=False),
        sa.Column("products", _JSON, nullable=False),
        sa.Column("findings", _JSON, nullable=False),
        sa.Column("writer", sa.String(length=100), nullable=False),
        sa.Column("batch", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("content_pieces", schema=None) as batch_op:
        batch_op.create_index("ix_content_pieces_status", ["workspace_id", "status", "created_at"])
    op.create_table(
        "content_history",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("piece_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("before", _JSON, nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("content_history", schema=None) as batch_op:
        batch_op.create_index("ix_content_history_piece", ["workspace_id", "piece_id", "at"])


def downgrade() -> None:
    with op.batch_alter_table("content_history", schema=None) as batch_op:
        batch_op.drop_index("ix_content_history_piece")
    op.drop_table("content_history")
    with op.batch_alter_table("content_pieces", schema=None) as batch_op:
        batch_op.drop_index("ix_content_pieces_status")
    op.drop_table("content_pieces")
