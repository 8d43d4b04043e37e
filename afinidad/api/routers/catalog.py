"""The catalog: products (with variants), stock per location, and the history of prices and stock."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.catalog import service
from afinidad.catalog.products import ProductIn, StockUpdate
from afinidad.catalog.search import SORTS, SearchQuery, search_catalog
from afinidad.errors import FieldProblem, InvalidInput
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


class BulkProduct(ProductIn):
    id: str = Field(min_length=1, max_length=255)


class StockUpdates(BaseModel):
    updates: list[StockUpdate] = Field(min_length=1, max_length=10_000)


_BULK = TypeAdapter(list[BulkProduct])


def _problems(error: ValidationError, prefix: str) -> list[FieldProblem]:
    problems = []
    for item in error.errors(include_url=False):
        location = item["loc"]
        index = location[0] if location and isinstance(location[0], int) else None
        path = prefix
        for part in location:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        problems.append(FieldProblem(path, item["msg"].removeprefix("Value error, "), index))
    return problems


@router.put("/products/{product_id}", summary="Create or replace a product")
def put_product(
    product_id: str, product: ProductIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
) -> dict[str, Any]:
    with p.store.session() as session:
        service.upsert_products(session, caller.workspace_id, [(product_id, product)])
        return service.get_product(session, caller.workspace_id, product_id)


@router.post("/products/bulk", summary="Create or replace many products: all or nothing")
def bulk_products(
    body: dict[str, Any] = Body(..., examples=[{"products": [{"id": "p1", "title": "Mug", "price": "9.90",
                                                              "currency": "EUR"}]}]),
    caller: Caller = Depends(secret_caller),
    p: Platform = Depends(platform),
) -> dict[str, int]:  # fmt: skip
    raw = body.get("products")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("Invalid bulk request.", [FieldProblem("products", "must be a non-empty list")])
    try:
        products = _BULK.validate_python(raw)
    except ValidationError as error:
        problems = _problems(error, "products")
        bad = sorted({problem.index for problem in problems if problem.index is not None})
        raise InvalidInput(f"{len(bad)} of {len(raw)} products are invalid; nothing was stored.", problems) from error
    items = [(product.id, ProductIn.model_validate(product.model_dump(exclude={"id"}))) for product in products]
    with p.store.session() as session:
        stored = service.upsert_products(session, caller.workspace_id, items)
    return {"stored": stored}


@router.get("/products/{product_id}", summary="A product, with its stock and variants")
def get_product(
    product_id: str, caller: Caller = Depends(secret_caller), session=Depends(read_session)
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return service.get_product(session, caller.workspace_id, product_id)


@router.delete("/products/{product_id}", status_code=204, summary="Delete a product and its stock")
def delete_product(
    product_id: str, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
) -> Response:
    with p.store.session() as session:
        service.delete_product(session, caller.workspace_id, product_id)
    return Response(status_code=204)


@router.put("/stock", summary="Set stock levels (per product and location): all or nothing")
def put_stock(
    updates: StockUpdates, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
) -> dict[str, int]:
    with p.store.session() as session:
        return {"updated": service.set_stock(session, caller.workspace_id, updates.updates)}


@router.get("/products/{product_id}/history", summary="Changes of price, sale price, cost and stock, newest first")
def product_history(
    product_id: str,
    limit: int = Query(200, ge=1, le=1000),
    caller: Caller = Depends(secret_caller),
    session=Depends(read_session),  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    return {"product_id": product_id, "data": service.history(session, caller.workspace_id, product_id, limit)}


@router.get("/search", summary="Full-text search with filters and facets (English, Spanish and more)")
def search(
    q: str = Query("", max_length=500, description="Words to find; empty browses the catalog."),
    category: str | None = Query(None, max_length=1000, description='"Home > Decor": it and everything under it.'),
    brand: list[str] = Query([], description="Any of these brands; repeat the parameter for more."),
    min_price: Decimal | None = Query(None, ge=0, description="On the price paid (the sale price if any)."),
    max_price: Decimal | None = Query(None, ge=0),
    in_stock: bool | None = Query(None, description="Products whose stock is not tracked count as in stock."),
    lang: str | None = Query(None, max_length=35, description="The query's language; default: the catalog's."),
    prefix: bool = Query(False, description="The last word also matches longer words (search as you type)."),
    sort: str = Query("relevance", description=f"One of {', '.join(SORTS)}."),
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=10_000),
    facets: bool = Query(True),
    caller: Caller = Depends(secret_caller),
    session=Depends(read_session),  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    started = time.perf_counter()
    query = SearchQuery(q=q, category=category, brands=tuple(brand), min_price=min_price, max_price=max_price,
                        in_stock=in_stock, language=lang, prefix=prefix, sort=sort, limit=limit, offset=offset,
                        facets=facets)  # fmt: skip
    result = search_catalog(session, caller.workspace_id, query)
    result["took_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result
