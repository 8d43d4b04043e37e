"""catalog search index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:40:00

The terms are analysed in Python (afinidad.catalog.analysis). PostgreSQL keeps them as a GIN-indexed
tsvector in product_search.document; SQLite keeps them in an FTS5 table whose rowid is product_search.id.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_search",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("document", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "product_id", name="uq_product_search_product"),
    )
    with op.batch_alter_table("product_search", schema=None) as batch_op:
        batch_op.create_index("ix_product_search_language", ["workspace_id", "language"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_product_search_document", "product_search", ["document"], postgresql_using="gin")
    else:
        # Terms arrive analysed (stemmed, unaccented, space-separated): the tokenizer only splits them.
        op.execute(
            "CREATE VIRTUAL TABLE product_search_fts USING fts5("
            "title, brand, category, body, tokenize='unicode61 remove_diacritics 0')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS product_search_fts")
    op.drop_table("product_search")
