"""Keeping the search index in step with the catalog: the catalog service calls `index_products` after every
upsert and `unindex_products` after a delete, in the same transaction, so search never shows a product that
is gone nor misses one just stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from afinidad.catalog.analysis import index_languages, stems
from afinidad.store.models import Product

_CHUNK = 500


def _fields(product: Product) -> tuple[str, str, str, str]:
    """Title, brand, category and body terms of a product, analysed in its language."""
    languages = index_languages(product.language)
    attributes = " ".join(str(value) for value in (product.attributes or {}).values() if isinstance(value, str))
    body = f"{product.description or ''} {attributes}"
    return (
        " ".join(stems(product.title or "", languages)),
        " ".join(stems(product.brand or "", languages)),
        " ".join(stems(" ".join(product.category_path or []), languages)),
        " ".join(stems(body, languages)),
    )


def index_products(session: Session, workspace_id: str, products: Sequence[Product]) -> None:
    """Add or refresh these products in the search index (inactive products are kept out of it)."""
    active = [product for product in products if product.active]
    gone = [product.id for product in products if not product.active]
    if gone:
        unindex_products(session, workspace_id, gone)
    for start in range(0, len(active), _CHUNK):
        chunk = active[start : start + _CHUNK]
        rows = [(product.id, product.language, *_fields(product)) for product in chunk]
        if session.get_bind().dialect.name == "postgresql":
            _index_postgres(session, workspace_id, rows)
        else:
            _index_sqlite(session, workspace_id, rows)


def _index_postgres(session: Session, workspace_id: str, rows: list[tuple]) -> None:
    session.execute(
        text(
            "INSERT INTO product_search (workspace_id, product_id, language, document) VALUES (:ws, :id, :lang, "
            "setweight(to_tsvector('simple', :title), 'A') || setweight(to_tsvector('simple', :brand), 'B') || "
            "setweight(to_tsvector('simple', :category), 'C') || setweight(to_tsvector('simple', :body), 'D')) "
            "ON CONFLICT (workspace_id, product_id) DO UPDATE SET language = excluded.language, "
            "document = excluded.document"
        ),
        [
            {"ws": workspace_id, "id": pid, "lang": lang, "title": t, "brand": b, "category": c, "body": d}
            for pid, lang, t, b, c, d in rows
        ],
    )


_SEARCH_IDS = text(
    "SELECT product_id, id FROM product_search WHERE workspace_id = :ws AND product_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _search_ids(session: Session, workspace_id: str, product_ids: Iterable[str]) -> dict[str, int]:
    ids = list(product_ids)
    found: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        result = session.execute(
            _SEARCH_IDS,
            {"ws": workspace_id, "ids": chunk},
        )
        found.update((product_id, row_id) for product_id, row_id in result)
    return found


def _index_sqlite(session: Session, workspace_id: str, rows: list[tuple]) -> None:
    existing = _search_ids(session, workspace_id, (row[0] for row in rows))
    known = [row for row in rows if row[0] in existing]
    fresh = [row for row in rows if row[0] not in existing]
    if fresh:
        session.execute(
            text("INSERT INTO product_search (workspace_id, product_id, language) VALUES (:ws, :id, :lang)"),
            [{"ws": workspace_id, "id": row[0], "lang": row[1]} for row in fresh],
        )
        existing.update(_search_ids(session, workspace_id, (row[0] for row in fresh)))
    if known:
        session.execute(
            text("DELETE FROM product_search_fts WHERE rowid = :rowid"), [{"rowid": existing[row[0]]} for row in known]
        )
        session.execute(
            text("UPDATE product_search SET language = :lang WHERE id = :rowid"),
            [{"rowid": existing[row[0]], "lang": row[1]} for row in known],
        )
    session.execute(
        text(
            "INSERT INTO product_search_fts (rowid, title, brand, category, body) "
            "VALUES (:rowid, :title, :brand, :category, :body)"
        ),
        [{"rowid": existing[pid], "title": t, "brand": b, "category": c, "body": d} for pid, _lang, t, b, c, d in rows],
    )


def unindex_products(session: Session, workspace_id: str, product_ids: Sequence[str]) -> None:
    """Take products out of the search index (deleted or deactivated)."""
    found = _search_ids(session, workspace_id, product_ids)
    if not found:
        return
    row_ids = [{"rowid": row_id} for row_id in found.values()]
    if session.get_bind().dialect.name != "postgresql":
        session.execute(text("DELETE FROM product_search_fts WHERE rowid = :rowid"), row_ids)
    session.execute(text("DELETE FROM product_search WHERE id = :rowid"), row_ids)
