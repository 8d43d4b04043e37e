"""consent, suppressions and the audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:55:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consent_changes",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("profile_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("text_version", sa.String(length=100), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_changes_profile", ["workspace_id", "profile_id", "purpose", "at"], unique=False
        )
    op.create_table(
        "suppressions",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "digest"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _KEY, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_workspace", ["workspace_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("suppressions")
    op.drop_table("consent_changes")
