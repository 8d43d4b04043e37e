"""Catalog search: full text with language-aware stems, filters and facets, one interface over SQLite FTS5
(embedded) and PostgreSQL full text (production). The shop's search box, the assistant's grounding and the
recommenders' candidate filters all come through `search_catalog`.

How a search runs: the query's words become stem alternatives (`analysis.query_terms`); the store's full-text
index yields the matching products with a relevance score (BM25 on SQLite, ts_rank on PostgreSQL, both
weighting title over brand over category over description); filters narrow them; one statement then returns
the page of hits and the facet counts over every match, so a search is two round trips however many match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from afinidad.catalog.analysis import DEFAULT_LANGUAGES, QueryTerm, language_of, query_terms
from afinidad.catalog.facets import category_facet, price_bucket_sql, price_facet
from afinidad.catalog.products import CATEGORY_SEPARATOR, money_text
from afinidad.errors import FieldProblem, InvalidInput
from afinidad.store.models import Product, ProductStock

SORTS = ("relevance", "price_asc", "price_desc", "newest", "title")
_BRAND_FACET_SIZE = 20
_NO_VALUE = "CAST(NULL AS FLOAT)"  # UNION ALL arms must agree on types for PostgreSQL


@dataclass(frozen=True)
class SearchQuery:
    """What a caller may ask. Empty `q` browses the catalog with the same filters and facets."""

    q: str = ""
    category: str | None = None  # "Home > Decor": the category and everything under it
    brands: tuple[str, ...] = ()  # any of these (case-insensitive)
    min_price: Decimal | None = None  # on the price paid: the sale price when there is one
    max_price: Decimal | None = None
    in_stock: bool | None = None  # a product whose stock is not tracked counts as in stock
    language: str | None = None  # the query's language; default: every language of the catalog
    prefix: bool = False  # the last word also matches longer words (search as you type)
    sort: str = "relevance"
    limit: int = 20
    offset: int = 0
    facets: bool = True
    product_ids: tuple[str, ...] = field(default=())  # restrict to these (candidate filtering by callers)


def _check(query: SearchQuery) -> None:
    problems = []
    if query.sort not in SORTS:
        problems.append(FieldProblem("sort", f"must be one of {', '.join(SORTS)}"))
    if not 1 <= query.limit <= 100:
        problems.append(FieldProblem("limit", "must be between 1 and 100"))
    if not 0 <= query.offset <= 10_000:
        problems.append(FieldProblem("offset", "must be between 0 and 10000"))
    if query.min_price is not None and query.max_price is not None and query.min_price > query.max_price:
        problems.append(FieldProblem("min_price", "must not exceed max_price"))
    if query.language is not None and language_of(query.language) is None:
        problems.append(FieldProblem("language", "not a language search can stem (e.g. en, es, fr, de, pt)"))
    if problems:
        raise InvalidInput("Invalid search.", problems)


def _languages(session: Session, workspace_id: str, query: SearchQuery) -> list[str]:
    if query.language:
        return [language_of(query.language) or "en"]
    tags = session.execute(
        text("SELECT DISTINCT language FROM product_search WHERE workspace_id = :ws AND language IS NOT NULL"),
        {"ws": workspace_id},
    ).scalars()
    found = [code for code in (language_of(tag) for tag in tags) if code]
    return list(dict.fromkeys([*DEFAULT_LANGUAGES, *found]))


def _fts5_match(terms: list[QueryTerm]) -> str:
    groups = []
    for term in terms:
        options = [f'"{alt}"*' if term.prefix else f'"{alt}"' for alt in term.alternatives]
        groups.append(options[0] if len(options) == 1 else f"({' OR '.join(options)})")
    return " AND ".join(groups)


def _tsquery(terms: list[QueryTerm]) -> str:
    groups = []
    for term in terms:
        options = [f"'{alt}':*" if term.prefix else f"'{alt}'" for alt in term.alternatives]
        groups.append(f"({' | '.join(options)})")
    return " & ".join(groups)


def _filters(query: SearchQuery, params: dict[str, Any], postgres: bool) -> list[str]:
    clauses = ["p.active"]
    if query.category:
        path = CATEGORY_SEPARATOR.join(part.strip() for part in query.category.split(">") if part.strip())
        escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["category"], params["category_under"] = path, f"{escaped}{CATEGORY_SEPARATOR}%"
        clauses.append("(p.category = :category OR p.category LIKE :category_under ESCAPE '\\')")
    if query.brands:
        names = {f"brand_{i}": brand.casefold() for i, brand in enumerate(query.brands)}
        params.update(names)
        clauses.append(f"lower(p.brand) IN ({', '.join(':' + name for name in names)})")
    if query.min_price is not None:
        params["min_price"] = query.min_price if postgres else float(query.min_price)
        clauses.append("COALESCE(p.sale_price, p.price) >= :min_price")
    if query.max_price is not None:
        params["max_price"] = query.max_price if postgres else float(query.max_price)
        clauses.append("COALESCE(p.sale_price, p.price) <= :max_price")
    if query.in_stock is not None:
        clauses.append("in_stock" if query.in_stock else "NOT in_stock")
    if query.product_ids:
        ids = {f"only_{i}": pid for i, pid in enumerate(query.product_ids)}
        params.update(ids)
        clauses.append(f"p.id IN ({', '.join(':' + name for name in ids)})")
    return clauses


_IN_STOCK = (
    "(NOT EXISTS (SELECT 1 FROM product_stock s WHERE s.workspace_id = p.workspace_id AND s.product_id = p.id) "
    "OR EXISTS (SELECT 1 FROM product_stock s WHERE s.workspace_id = p.workspace_id AND s.product_id = p.id "
    "AND s.quantity > 0))"
)

_ORDER = {
    "price_asc": "price ASC, id",
    "price_desc": "price DESC, id",
    "newest": "updated_at DESC, id",
    "title": "title, id",
}


def search_catalog(session: Session, workspace_id: str, query: SearchQuery) -> dict[str, Any]:
    """Search the workspace's catalog: a page of products with their scores, the total, and facets."""
    _check(query)
    postgres = session.get_bind().dialect.name == "postgresql"
    params: dict[str, Any] = {"ws": workspace_id, "limit": query.limit, "offset": query.offset}
    terms = query_terms(query.q, _languages(session, workspace_id, query), prefix=query.prefix) if query.q else []
    if query.q and not terms:
        return _empty(query)
    if not terms:
        source, score = "products p", "0.0"
        where = ["p.workspace_id = :ws"]
    elif postgres:
        params["tsquery"] = _tsquery(terms)
        source = (
            "product_search ps CROSS JOIN to_tsquery('simple', :tsquery) AS q "
            "JOIN products p ON p.workspace_id = ps.workspace_id AND p.id = ps.product_id"
        )
        score, where = "ts_rank(ps.document, q)", ["ps.workspace_id = :ws", "ps.document @@ q"]
    else:
        params["match"] = _fts5_match(terms)
        source = (
            "(SELECT rowid AS rid, bm25(product_search_fts, 8.0, 4.0, 2.0, 1.0) AS rank FROM product_search_fts "
            "WHERE product_search_fts MATCH :match) f JOIN product_search ps ON ps.id = f.rid "
            "JOIN products p ON p.workspace_id = ps.workspace_id AND p.id = ps.product_id"
        )
        score, where = "-f.rank", ["ps.workspace_id = :ws"]
    filters = _filters(query, params, postgres)
    stock_filter = [c for c in filters if c.endswith("in_stock")]
    inner = [*where, *(c for c in filters if c not in stock_filter)]
    matches = (
        f"SELECT p.id AS id, p.title AS title, p.brand AS brand, p.category AS category, p.updated_at AS updated_at, "
        f"COALESCE(p.sale_price, p.price) AS price, CAST({score} AS FLOAT) AS score, {_IN_STOCK} AS in_stock "
        f"FROM {source} WHERE {' AND '.join(inner)}"
    )
    if stock_filter:
        matches = f"SELECT * FROM ({matches}) unfiltered WHERE {stock_filter[0]}"
    order = "score DESC, id" if terms and query.sort == "relevance" else _ORDER.get(query.sort, "title, id")
    parts = [
        "SELECT 'hit' AS kind, id AS k, score AS v, rn AS n FROM (SELECT id, score, "
        f"ROW_NUMBER() OVER (ORDER BY {order}) AS rn FROM m ORDER BY {order} LIMIT :limit OFFSET :offset) hits",
        "SELECT 'total', CAST(NULL AS VARCHAR(20)), CAST(NULL AS FLOAT), COUNT(*) FROM m",
    ]
    if query.facets:
        parts += [
            f"SELECT * FROM (SELECT 'brand' AS kind, brand AS k, CAST(NULL AS FLOAT) AS v, COUNT(*) AS n FROM m "
            f"WHERE brand IS NOT NULL GROUP BY brand ORDER BY COUNT(*) DESC, brand LIMIT {_BRAND_FACET_SIZE}) b",
            f"SELECT 'category', category, {_NO_VALUE}, COUNT(*) FROM m GROUP BY category",
            f"SELECT 'price', CAST({price_bucket_sql('price')} AS VARCHAR(20)), {_NO_VALUE}, COUNT(*) "
            "FROM m GROUP BY 2",
            f"SELECT 'stock', CASE WHEN in_stock THEN 'yes' ELSE 'no' END, {_NO_VALUE}, COUNT(*) FROM m GROUP BY 2",
        ]
    statement = f"WITH m AS MATERIALIZED ({matches}) " + " UNION ALL ".join(parts)
    rows = session.execute(text(statement), params).all()
    return _response(session, workspace_id, query, terms, rows)


def _empty(query: SearchQuery) -> dict[str, Any]:
    facets = {"brand": [], "category": [], "price": [], "in_stock": {"yes": 0, "no": 0}} if query.facets else None
    return {"query": query.q, "terms": [], "total": 0, "items": [], "facets": facets}


def _response(
    session: Session, workspace_id: str, query: SearchQuery, terms: list[QueryTerm], rows: list[Any]
) -> dict[str, Any]:
    hits = sorted((row for row in rows if row.kind == "hit"), key=lambda row: row.n)
    total = next(int(row.n) for row in rows if row.kind == "total")
    items = _items(session, workspace_id, [(row.k, row.v) for row in hits])
    out: dict[str, Any] = {
        "query": query.q,
        "terms": [{"word": term.word, "matches": list(term.alternatives)} for term in terms],
        "total": total,
        "items": items,
        "facets": None,
    }
    if query.facets:
        out["facets"] = {
            "brand": [{"value": row.k, "count": int(row.n)} for row in rows if row.kind == "brand"],
            "category": category_facet([(row.k, int(row.n)) for row in rows if row.kind == "category"],
                                       query.category),
            "price": price_facet([(int(row.k), int(row.n)) for row in rows if row.kind == "price"]),
            "in_stock": {"yes": 0, "no": 0} | {row.k: int(row.n) for row in rows if row.kind == "stock"},
        }  # fmt: skip
    return out


def _items(session: Session, workspace_id: str, hits: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    if not hits:
        return []
    ids = [pid for pid, _ in hits]
    products = {
        row.id: row
        for row in session.scalars(select(Product).where(Product.workspace_id == workspace_id, Product.id.in_(ids)))
    }
    levels: dict[str, list[int]] = {}
    for product_id, quantity in session.execute(
        select(ProductStock.product_id, ProductStock.quantity).where(
            ProductStock.workspace_id == workspace_id, ProductStock.product_id.in_(ids)
        )
    ):
        levels.setdefault(product_id, []).append(quantity)
    items = []
    for pid, score in hits:
        row = products.get(pid)
        if row is None:
            continue
        stock = levels.get(pid)
        items.append(
            {
                "id": row.id,
                "title": row.title,
                "brand": row.brand,
                "category": row.category_path,
                "price": money_text(row.price),
                "sale_price": money_text(row.sale_price),
                "currency": row.currency,
                "in_stock": stock is None or sum(stock) > 0,
                "image_url": row.image_urls[0] if row.image_urls else None,
                "parent_id": row.parent_id,
                "score": round(float(score), 6) if score is not None else None,
            }
        )
    return items
