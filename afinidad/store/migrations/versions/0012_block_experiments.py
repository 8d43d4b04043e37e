"""content blocks run by an experiment (its key), which assigns, logs exposures and reports results

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("content_blocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("content_blocks", schema=None) as batch_op:
        batch_op.drop_column("experiment")
