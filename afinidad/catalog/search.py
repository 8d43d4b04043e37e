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


# The distinct languages of a catalog by hopping through the (workspace_id, language) index: one probe per
# language, where SELECT DISTINCT would read an index entry per product (20 ms at 100k on PostgreSQL).
_LANGUAGES = text(
    "WITH RECURSIVE l(v) AS (SELECT MIN(language) FROM product_search WHERE workspace_id = :ws "
    "UNION ALL SELECT (SELECT MIN(language) FROM product_search WHERE workspace_id = :ws AND language > l.v) "
    "FROM l WHERE l.v IS NOT NULL) SELECT v FROM l WHERE v IS NOT NULL"
)


def _languages(session: Session, workspace_id: str, query: SearchQuery) -> list[str]:
    if query.language:
        return [language_of(query.language) or "en"]
    tags = session.execute(_LANGUAGES, {"ws": workspace_id}).scalars()
    found = [code for code in (language_of(tag) for tag in tags) if code]
    return list(dict.fromkeys([*DEFAULT_LANGUAGES, *found]))


def _fts5_match(terms: list[QueryTerm]) -> str:
    groups = []
    for term in terms:
        options = [f'"{alt}"*' if term.prefix else f'"{alt}"' for alt in term.alternatives]
        groups.append(options[0] if len(options) == 1 else f"({' OR '.join(options)})")
    return " AND ".join(groups)


def _tsquery(terms: list[QueryTerm], weights: str = "") -> str:
    """`weights` ("ABC") restricts matches to those weights: title (A), brand (B), category (C)."""
    groups = []
    for term in terms:
        label = f":*{weights}" if term.prefix else (f":{weights}" if weights else "")
        options = [f"'{alt}'{label}" for alt in term.alternatives]
        groups.append(f"({' | '.join(options)})")
    return " & ".join(groups)


def _filters(query: SearchQuery, params: dict[str, Any], postgres: bool) -> list[str]:
    """SQL conditions on `product_search ps`, which carries every column a filter reads."""
    clauses = []
    if query.category:
        path = CATEGORY_SEPARATOR.join(part.strip() for part in query.category.split(">") if part.strip())
        escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["category"], params["category_under"] = path, f"{escaped}{CATEGORY_SEPARATOR}%"
        clauses.append("(ps.category = :category OR ps.category LIKE :category_under ESCAPE '\\')")
    if query.brands:
        names = {f"brand_{i}": brand.casefold() for i, brand in enumerate(query.brands)}
        params.update(names)
        clauses.append(f"lower(ps.brand) IN ({', '.join(':' + name for name in names)})")
    if query.min_price is not None:
        params["min_price"] = query.min_price if postgres else float(query.min_price)
        clauses.append("ps.price >= :min_price")
    if query.max_price is not None:
        params["max_price"] = query.max_price if postgres else float(query.max_price)
        clauses.append("ps.price <= :max_price")
    if query.in_stock is not None:
        clauses.append("ps.in_stock" if query.in_stock else "NOT ps.in_stock")
    if query.product_ids:
        ids = {f"only_{i}": pid for i, pid in enumerate(query.product_ids)}
        params.update(ids)
        clauses.append(f"ps.product_id IN ({', '.join(':' + name for name in ids)})")
    return clauses


_ORDER = {
    "price_asc": "price ASC, id",
    "price_desc": "price DESC, id",
    "newest": "updated_at DESC, id",
    "title": "title, id",
}


# A search matching more than this many products is "broad" (a word in half the catalog): ranking and
# counting every match would cost far more than the answer is worth, so it ranks a bounded set of candidates
# (products matching in the title, brand or category first, then others) and estimates the facets from a
# sample, saying so (`facets.exhaustive: false`). The total stays exact; so do non-relevance sorts.
EXACT_LIMIT = 2_000
CANDIDATES = 1_000


@dataclass(frozen=True)
class _Plan:
    """The SQL pieces of one search: where matches come from, their score, and the conditions."""

    source: str  # FROM clause over `ps` (product_search), plus the full-text source when there are terms
    score: str
    conditions: list[str]
    count_source: str  # the same matches without computing a score


def _plan(
    terms: list[QueryTerm], query: SearchQuery, params: dict[str, Any], postgres: bool, *, tier: bool = False
) -> _Plan:
    """A browse (no terms) on either store, or a full-text search on SQLite (PostgreSQL's is
    `_search_postgres`). `tier`: match only in title, brand and category (the first tier of a broad search)."""
    filters = _filters(query, params, postgres)
    if not terms:
        return _Plan("product_search ps", "0.0", ["ps.workspace_id = :ws", *filters], "product_search ps")
    # CROSS JOIN pins the order: the full-text matches drive the join, whatever the planner's statistics.
    name = "match_top" if tier else "match"
    params[name] = f"{{title brand category}} : ({_fts5_match(terms)})" if tier else _fts5_match(terms)
    fts = f"FROM product_search_fts WHERE product_search_fts MATCH :{name}"
    return _Plan(
        f"(SELECT rowid AS rid, bm25(product_search_fts, 8.0, 4.0, 2.0, 1.0) AS rank {fts}) f "
        "CROSS JOIN product_search ps ON ps.id = f.rid",
        "-f.rank",
        ["ps.workspace_id = :ws", *filters],
        f"(SELECT rowid AS rid {fts}) f CROSS JOIN product_search ps ON ps.id = f.rid",
    )


def _matches(plan: _Plan, limit: str = "") -> str:
    return (
        "SELECT ps.product_id AS id, ps.title AS title, ps.brand AS brand, ps.category AS category, "
        f"ps.updated_at AS updated_at, ps.price AS price, CAST({plan.score} AS FLOAT) AS score, "
        f"ps.in_stock AS in_stock FROM {plan.source} WHERE {' AND '.join(plan.conditions)}{limit}"
    )


def search_catalog(session: Session, workspace_id: str, query: SearchQuery) -> dict[str, Any]:
    """Search the workspace's catalog: a page of products with their scores, the exact total, and facets."""
    _check(query)
    postgres = session.get_bind().dialect.name == "postgresql"
    cap = max(CANDIDATES, query.offset + query.limit)  # deep pages widen the candidates
    params: dict[str, Any] = {"ws": workspace_id, "limit": query.limit, "offset": query.offset, "cap": cap}
    terms = query_terms(query.q, _languages(session, workspace_id, query), prefix=query.prefix) if query.q else []
    if query.q and not terms:
        return _empty(query)
    window = max(EXACT_LIMIT, query.offset + query.limit)
    params["window"] = window + 1
    relevance = bool(terms) and query.sort == "relevance"
    order = "score DESC, id" if relevance else _ORDER.get(query.sort, "title, id")
    if postgres and terms:
        return _search_postgres(session, workspace_id, query, terms, params, order, window)
    plan = _plan(terms, query, params, postgres)
    ranked = "SELECT * FROM a"
    if relevance:  # the title/brand/category matches join the candidates, wherever the index holds them
        top = _plan(terms, query, params, postgres, tier=True)
        ranked = (
            "SELECT id, MAX(title) AS title, MAX(brand) AS brand, MAX(category) AS category, "
            "MAX(updated_at) AS updated_at, MAX(price) AS price, MAX(score) AS score, MAX(in_stock) AS in_stock "
            f"FROM (SELECT * FROM ({_matches(top, ' LIMIT :cap')}) t UNION ALL SELECT * FROM a) c GROUP BY id"
        )
    rows = session.execute(text(_statement(_matches(plan, " LIMIT :window"), ranked, order, query.facets)), params)
    rows = rows.all()
    seen = next(int(row.n) for row in rows if row.kind == "total")
    if seen <= window:  # every match was seen: all of it is exact
        return _response(session, workspace_id, query, terms, rows, seen, sample=None)
    if relevance:
        total = session.execute(
            text(f"SELECT COUNT(*) FROM {plan.count_source} WHERE {' AND '.join(plan.conditions)}"), params
        ).scalar_one()
    else:  # another order over every match: the page must come from all of them
        exact = session.execute(text(_statement(_matches(plan), "SELECT * FROM a", order, False)), params).all()
        total = next(int(row.n) for row in exact if row.kind == "total")
        rows = [row for row in rows if row.kind != "hit"] + [row for row in exact if row.kind == "hit"]
    return _response(session, workspace_id, query, terms, rows, total, sample=seen)


def _search_postgres(
    session: Session,
    workspace_id: str,
    query: SearchQuery,
    terms: list[QueryTerm],
    params: dict[str, Any],
    order: str,
    window: int,
) -> dict[str, Any]:
    """PostgreSQL visits each matching row once: one scan of the matches (`every`) feeds the exact total, the
    facet sample (`a`), the candidates, and the page; ranks are computed for the candidates only."""
    params["tsquery"], params["tsquery_top"] = _tsquery(terms), _tsquery(terms, weights="ABC")
    filters = " AND ".join(["ps.workspace_id = :ws", "ps.document @@ q.q", *_filters(query, params, True)])
    relevance = query.sort == "relevance"
    page_from = "m" if relevance else "every"
    # `every` is kept narrow (the scan is the cost); other columns are fetched for the few rows that need them
    wide = "" if relevance else ", ps.product_id AS id, ps.title, ps.price, ps.updated_at, CAST(0 AS FLOAT) AS score"
    candidates = (
        "SELECT rid FROM a UNION SELECT rid FROM (SELECT rid FROM every WHERE top LIMIT :cap) t"
        if relevance else "SELECT rid FROM a WHERE false"
    )  # fmt: skip
    statement = (
        "WITH q AS (SELECT to_tsquery('simple', :tsquery) AS q, to_tsquery('simple', :tsquery_top) AS top), "
        f"every AS MATERIALIZED (SELECT ps.id AS rid, ps.document @@ q.top AS top{wide} "
        f"FROM product_search ps CROSS JOIN q WHERE {filters}), "
        "a AS MATERIALIZED (SELECT e.rid, ps.brand, ps.category, ps.price, ps.in_stock "
        "FROM (SELECT rid FROM every LIMIT :window) e JOIN product_search ps ON ps.id = e.rid), "
        f"c AS MATERIALIZED ({candidates}), "
        "m AS MATERIALIZED (SELECT ps.product_id AS id, ps.title, ps.price, ps.updated_at, "
        "CAST(ts_rank(ps.document, q.q) AS FLOAT) AS score FROM c JOIN product_search ps ON ps.id = c.rid "
        "CROSS JOIN q) "
    )
    parts = [
        f"SELECT 'hit' AS kind, id AS k, score AS v, ROW_NUMBER() OVER (ORDER BY {order}) AS n "
        f"FROM (SELECT id, score, price, updated_at, title FROM {page_from} ORDER BY {order} "
        "LIMIT :limit OFFSET :offset) hits",
        f"SELECT 'total', CAST(NULL AS VARCHAR(20)), {_NO_VALUE}, COUNT(*) FROM every",
        *(_facet_parts() if query.facets else []),
    ]
    rows = session.execute(text(statement + " UNION ALL ".join(parts)), params).all()
    total = next(int(row.n) for row in rows if row.kind == "total")
    sample = None if total <= window else sum(int(row.n) for row in rows if row.kind == "stock")
    return _response(session, workspace_id, query, terms, rows, total, sample=sample)


def _facet_parts() -> list[str]:
    """The facets of the matches `a` (all of them, or the sample of a broad search)."""
    return [
        f"SELECT * FROM (SELECT 'brand' AS kind, brand AS k, CAST(NULL AS FLOAT) AS v, COUNT(*) AS n FROM a "
        f"WHERE brand IS NOT NULL GROUP BY brand ORDER BY COUNT(*) DESC, brand LIMIT {_BRAND_FACET_SIZE}) b",
        f"SELECT 'category', category, {_NO_VALUE}, COUNT(*) FROM a GROUP BY category",
        f"SELECT 'price', CAST({price_bucket_sql('price')} AS VARCHAR(20)), {_NO_VALUE}, COUNT(*) FROM a GROUP BY 2",
        f"SELECT 'stock', CASE WHEN in_stock THEN 'yes' ELSE 'no' END, {_NO_VALUE}, COUNT(*) FROM a GROUP BY 2",
    ]


def _statement(matches: str, ranked: str, order: str, facets: bool) -> str:
    """One statement: `a` the matches (maybe the first so many), `m` the ones ranked for the page (`a`, or
    `a` and the first tier's); the page of hits from `m`, the count and the facets of `a`."""
    parts = [
        # the page is cut first, then numbered: a window over every match would sort them all twice
        f"SELECT 'hit' AS kind, id AS k, score AS v, ROW_NUMBER() OVER (ORDER BY {order}) AS n "
        f"FROM (SELECT id, score, price, updated_at, title FROM m ORDER BY {order} LIMIT :limit OFFSET :offset) hits",
        f"SELECT 'total', CAST(NULL AS VARCHAR(20)), {_NO_VALUE}, COUNT(*) FROM a",
    ]
    if facets:
        parts += _facet_parts()
    return f"WITH a AS MATERIALIZED ({matches}), m AS MATERIALIZED ({ranked}) " + " UNION ALL ".join(parts)


def _empty(query: SearchQuery) -> dict[str, Any]:
    facets = {"exhaustive": True, "brand": [], "category": [], "price": [], "in_stock": {"yes": 0, "no": 0}}
    return {"query": query.q, "terms": [], "total": 0, "items": [], "facets": facets if query.facets else None}


def _response(
    session: Session,
    workspace_id: str,
    query: SearchQuery,
    terms: list[QueryTerm],
    rows: list[Any],
    total: int,
    sample: int | None,
) -> dict[str, Any]:
    """`sample`: the facets were counted over this many matches of `total`, and are scaled up to it."""
    hits = sorted((row for row in rows if row.kind == "hit"), key=lambda row: row.n)
    scale = total / sample if sample else 1.0

    def count(row: Any) -> int:
        return round(int(row.n) * scale)

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
            "exhaustive": sample is None,
            "brand": [{"value": row.k, "count": count(row)} for row in rows if row.kind == "brand"],
            "category": category_facet([(row.k, count(row)) for row in rows if row.kind == "category"],
                                       query.category),
            "price": price_facet([(int(row.k), count(row)) for row in rows if row.kind == "price"]),
            "in_stock": {"yes": 0, "no": 0} | {row.k: count(row) for row in rows if row.kind == "stock"},
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
