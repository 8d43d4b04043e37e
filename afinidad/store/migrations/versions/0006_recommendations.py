"""model versions and the decision log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 22:45:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("metrics", _JSON, nullable=False),
        sa.Column("trained_at", sa.DateTime(), nullable=False),
        sa.Column("events_until", sa.DateTime(), nullable=True),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index("ix_model_versions_active", ["workspace_id", "kind", "active"], unique=False)
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("profile_id", sa.String(length=40), nullable=True),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("policy", sa.String(length=40), nullable=False),
        sa.Column("model_version", sa.String(length=40), nullable=True),
        sa.Column("items", _JSON, nullable=False),
        sa.Column("context", _JSON, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_workspace", ["workspace_id", "at"], unique=False)
        batch_op.create_index("ix_decisions_profile", ["workspace_id", "profile_id"], unique=False)


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("model_versions")
