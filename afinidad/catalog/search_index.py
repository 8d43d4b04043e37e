"""Keeping the search index in step with the catalog: the catalog service calls `index_products` after every
upsert, `refresh_availability` after stock changes, `refresh_prices` after price changes and
`unindex_products` after a delete, in the same transaction, so search never shows a product that is gone,
misses one just stored, or filters on a stale price or stock level."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from afinidad.catalog.analysis import index_languages, stems
from afinidad.store.models import Product, ProductStock

_CHUNK = 500


def _terms(product: Product) -> dict[str, str]:
    """Title, brand, category and body terms of a product, analysed in its language."""
    languages = index_languages(product.language)
    attributes = " ".join(str(value) for value in (product.attributes or {}).values() if isinstance(value, str))
    body = f"{product.description or ''} {attributes}"
    return {
        "t_title": " ".join(stems(product.title or "", languages)),
        "t_brand": " ".join(stems(product.brand or "", languages)),
        "t_category": " ".join(stems(" ".join(product.category_path or []), languages)),
        "t_body": " ".join(stems(body, languages)),
    }


def _availability(session: Session, workspace_id: str, product_ids: list[str]) -> dict[str, bool]:
    """In stock per product: no stock rows (stock not tracked) or some location above zero."""
    tracked: dict[str, bool] = {}
    for start in range(0, len(product_ids), _CHUNK):
        chunk = product_ids[start : start + _CHUNK]
        rows = session.execute(
            select(ProductStock.product_id, func.max(ProductStock.quantity))
            .where(ProductStock.workspace_id == workspace_id, ProductStock.product_id.in_(chunk))
            .group_by(ProductStock.product_id)
        )
        tracked.update((product_id, most > 0) for product_id, most in rows)
    return {product_id: tracked.get(product_id, True) for product_id in product_ids}


def index_products(session: Session, workspace_id: str, products: Sequence[Product]) -> None:
    """Add or refresh these products in the search index (inactive products are kept out of it)."""
    active = [product for product in products if product.active]
    gone = [product.id for product in products if not product.active]
    if gone:
        unindex_products(session, workspace_id, gone)
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(active), _CHUNK):
        chunk = active[start : start + _CHUNK]
        available = _availability(session, workspace_id, [product.id for product in chunk])
        rows = [
            {"ws": workspace_id, "id": p.id, "lang": p.language, "title": p.title, "brand": p.brand,
             "category": p.category, "price": _price_paid(p, postgres),
             "in_stock": available[p.id], "updated_at": p.updated_at, **_terms(p)}
            for p in chunk
        ]  # fmt: skip
        (_index_postgres if postgres else _index_sqlite)(session, workspace_id, rows)


_COLUMNS = "workspace_id, product_id, language, title, brand, category, price, in_stock, updated_at"
_VALUES = ":ws, :id, :lang, :title, :brand, :category, :price, :in_stock, :updated_at"
_REFRESH = "language, title, brand, category, price, in_stock, updated_at"


def _index_postgres(session: Session, workspace_id: str, rows: list[dict[str, Any]]) -> None:
    updates = ", ".join(f"{column} = excluded.{column}" for column in (*_REFRESH.split(", "), "document"))
    session.execute(
        text(
            f"INSERT INTO product_search ({_COLUMNS}, document) VALUES ({_VALUES}, "
            "setweight(to_tsvector('simple', :t_title), 'A') || setweight(to_tsvector('simple', :t_brand), 'B') || "
            "setweight(to_tsvector('simple', :t_category), 'C') || setweight(to_tsvector('simple', :t_body), 'D')) "
            f"ON CONFLICT (workspace_id, product_id) DO UPDATE SET {updates}"
        ),
        rows,
    )


_SEARCH_IDS = text(
    "SELECT product_id, id FROM product_search WHERE workspace_id = :ws AND product_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _search_ids(session: Session, workspace_id: str, product_ids: Iterable[str]) -> dict[str, int]:
    ids = list(product_ids)
    found: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        result = session.execute(_SEARCH_IDS, {"ws": workspace_id, "ids": ids[start : start + _CHUNK]})
        found.update((product_id, row_id) for product_id, row_id in result)
    return found


def _index_sqlite(session: Session, workspace_id: str, rows: list[dict[str, Any]]) -> None:
    existing = _search_ids(session, workspace_id, (row["id"] for row in rows))
    known = [row for row in rows if row["id"] in existing]
    fresh = [row for row in rows if row["id"] not in existing]
    if fresh:
        session.execute(text(f"INSERT INTO product_search ({_COLUMNS}) VALUES ({_VALUES})"), fresh)
        existing.update(_search_ids(session, workspace_id, (row["id"] for row in fresh)))
    for row in rows:
        row["rowid"] = existing[row["id"]]
    if known:
        session.execute(text("DELETE FROM product_search_fts WHERE rowid = :rowid"), known)
        assignments = ", ".join(f"{column} = :{'lang' if column == 'language' else column}"
                                for column in _REFRESH.split(", "))  # fmt: skip
        session.execute(text(f"UPDATE product_search SET {assignments} WHERE id = :rowid"), known)
    session.execute(
        text(
            "INSERT INTO product_search_fts (rowid, title, brand, category, body) "
            "VALUES (:rowid, :t_title, :t_brand, :t_category, :t_body)"
        ),
        rows,
    )


def refresh_availability(session: Session, workspace_id: str, product_ids: Sequence[str]) -> None:
    """Re-derive `in_stock` of these products after their stock changed."""
    available = _availability(session, workspace_id, list(dict.fromkeys(product_ids)))
    if available:
        session.execute(
            text("UPDATE product_search SET in_stock = :in_stock WHERE workspace_id = :ws AND product_id = :id"),
            [{"ws": workspace_id, "id": pid, "in_stock": flag} for pid, flag in available.items()],
        )


def _price_paid(product: Product, postgres: bool) -> Any:
    paid = product.sale_price if product.sale_price is not None else product.price
    return paid if postgres or paid is None else float(paid)  # sqlite3 binds no Decimal


def refresh_prices(session: Session, workspace_id: str, products: Sequence[Product]) -> None:
    """Copy the price paid of these products after their price or sale price changed."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if products:
        session.execute(
            text("UPDATE product_search SET price = :price WHERE workspace_id = :ws AND product_id = :id"),
            [{"ws": workspace_id, "id": p.id, "price": _price_paid(p, postgres)} for p in products],
        )  # fmt: skip


def unindex_products(session: Session, workspace_id: str, product_ids: Sequence[str]) -> None:
    """Take products out of the search index (deleted or deactivated)."""
    found = _search_ids(session, workspace_id, product_ids)
    if not found:
        return
    row_ids = [{"rowid": row_id} for row_id in found.values()]
    if session.get_bind().dialect.name != "postgresql":
        session.execute(text("DELETE FROM product_search_fts WHERE rowid = :rowid"), row_ids)
    session.execute(text("DELETE FROM product_search WHERE id = :rowid"), row_ids)
