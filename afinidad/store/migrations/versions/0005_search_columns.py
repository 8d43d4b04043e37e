"""search index carries the columns filters, facets and sorts read

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:50:00

A search matching half a catalog used to look up every match's product and stock rows; with these columns
on product_search it reads that table only. Existing rows are filled from products and product_stock.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OF_PRODUCT = "FROM products p WHERE p.workspace_id = product_search.workspace_id AND p.id = product_search.product_id"
_STOCK = (
    "FROM product_stock s WHERE s.workspace_id = product_search.workspace_id "
    "AND s.product_id = product_search.product_id"
)


def upgrade() -> None:
    with op.batch_alter_table("product_search", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("brand", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("category", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=True))
        batch_op.add_column(sa.Column("in_stock", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.execute(
        f"UPDATE product_search SET title = (SELECT p.title {_OF_PRODUCT}), brand = (SELECT p.brand {_OF_PRODUCT}), "
        f"category = (SELECT p.category {_OF_PRODUCT}), "
        f"price = (SELECT COALESCE(p.sale_price, p.price) {_OF_PRODUCT}), "
        f"updated_at = (SELECT p.updated_at {_OF_PRODUCT}), "
        f"in_stock = (NOT EXISTS (SELECT 1 {_STOCK}) OR EXISTS (SELECT 1 {_STOCK} AND s.quantity > 0))"
    )


def downgrade() -> None:
    with op.batch_alter_table("product_search", schema=None) as batch_op:
        for column in ("updated_at", "in_stock", "price", "category", "brand", "title"):
            batch_op.drop_column(column)
