"""The catalog in the store: upserts (one or many, all or nothing), stock levels, deletes, and the history
of every price and stock change."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from afinidad.catalog.products import ProductIn, StockUpdate, category_text, money_text
from afinidad.catalog.search_index import index_products, refresh_availability, refresh_prices, unindex_products
from afinidad.catalog.updates import CatalogUpdate
from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound
from afinidad.store.models import CatalogChange, Product, ProductStock

log = logging.getLogger(__name__)
_TRACKED = ("price", "sale_price", "cost")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _existing(session: Session, workspace_id: str, ids: list[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(select(Product).where(Product.workspace_id == workspace_id, Product.id.in_(chunk)))
        found.update((row.id, row) for row in rows.scalars())
    return found


def upsert_products(
    session: Session,
    workspace_id: str,
    items: list[tuple[str, ProductIn]],
    *,
    source: str = "api",
    field: str = "products",
) -> int:
    """Create or replace products. Refuses the lot (naming each bad index) when a variant's parent is neither
    stored nor in the same request; records every change of price, sale price, cost and stock."""
    ids = [product_id for product_id, _ in items]
    parents = sorted({p.parent_id for _, p in items if p.parent_id})
    existing = _existing(session, workspace_id, sorted(set(ids) | set(parents)))
    incoming = set(ids)
    problems = [
        FieldProblem(f"{field}[{index}].parent_id", "unknown parent product" if product.parent_id != product_id
                     else "a product cannot be its own parent", index)
        for index, (product_id, product) in enumerate(items)
        if product.parent_id and (product.parent_id == product_id
                                  or (product.parent_id not in incoming and product.parent_id not in existing))
    ]  # fmt: skip
    if problems:
        raise InvalidInput("Some products name a parent that does not exist; nothing was stored.", problems)
    now = _now()
    changed: dict[str, Product] = {}  # a daily feed resends every product: the unchanged ones cost a comparison
    for product_id, product in items:
        row = existing.get(product_id)
        if row is None:
            row = Product(workspace_id=workspace_id, id=product_id, created_at=now)
            session.add(row)
            existing[product_id] = row
        elif _unchanged(row, product):
            continue
        changed[product_id] = row
        for name in _TRACKED:
            old, new = getattr(row, name, None), getattr(product, name)
            if old != new:
                session.add(CatalogChange(workspace_id=workspace_id, product_id=product_id, field=name,
                                          old_value=old, new_value=new, source=source, at=now))  # fmt: skip
        row.parent_id = product.parent_id
        row.title = product.title
        row.description = product.description
        row.brand = product.brand
        row.category_path = list(product.category)
        row.category = category_text(product.category)
        row.price, row.sale_price, row.cost = product.price, product.sale_price, product.cost
        row.currency = product.currency
        row.attributes = product.attributes
        row.image_urls = list(product.image_urls)
        row.language = product.language
        row.active = product.active
        row.updated_at = now
    stock = _stock_rows(session, workspace_id, [pid for pid, product in items if product.stock])
    restocked = [pid for pid, product in items if _set_stock(session, workspace_id, pid, product.stock, source, now,
                                                             stock)]  # fmt: skip
    session.flush()
    index_products(session, workspace_id, list(changed.values()))
    refresh_availability(session, workspace_id, [pid for pid in restocked if pid not in changed])
    return len(items)


def _unchanged(row: Product, product: ProductIn) -> bool:
    """Whether storing `product` would leave `row` as it is (stock is compared apart)."""
    return (
        row.title == product.title and row.description == product.description and row.brand == product.brand
        and row.category_path == list(product.category) and row.price == product.price
        and row.sale_price == product.sale_price and row.cost == product.cost and row.currency == product.currency
        and row.attributes == product.attributes and row.image_urls == list(product.image_urls)
        and row.language == product.language and row.active == product.active and row.parent_id == product.parent_id
    )  # fmt: skip


def _stock_rows(session: Session, workspace_id: str, product_ids: list[str]) -> dict[tuple[str, str], ProductStock]:
    """The stored stock rows of these products, by (product, location): one query per 500 products."""
    found: dict[tuple[str, str], ProductStock] = {}
    unique = sorted(set(product_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        rows = session.execute(
            select(ProductStock).where(ProductStock.workspace_id == workspace_id, ProductStock.product_id.in_(chunk))
        ).scalars()
        found.update(((row.product_id, row.location), row) for row in rows)
    return found


def _set_stock(
    session: Session,
    workspace_id: str,
    product_id: str,
    levels: dict[str, int],
    source: str,
    now: datetime,
    current: dict[tuple[str, str], ProductStock],
) -> bool:
    """Set the levels given; returns whether any changed."""
    changed = False
    for location, quantity in levels.items():
        row = current.get((product_id, location))
        old = row.quantity if row else None
        if old == quantity:
            continue
        if row is None:
            row = ProductStock(workspace_id=workspace_id, product_id=product_id, location=location,
                               quantity=quantity, updated_at=now)  # fmt: skip
            session.add(row)
            current[(product_id, location)] = row
        else:
            row.quantity, row.updated_at = quantity, now
        session.add(CatalogChange(workspace_id=workspace_id, product_id=product_id, field="stock", location=location,
                                  old_value=old, new_value=quantity, source=source, at=now))  # fmt: skip
        changed = True
    return changed


def set_stock(session: Session, workspace_id: str, updates: list[StockUpdate], *, source: str = "api") -> int:
    """Set stock levels; any unknown product refuses the whole request, naming each."""
    existing = _existing(session, workspace_id, sorted({u.product_id for u in updates}))
    problems = [
        FieldProblem(f"updates[{index}].product_id", "unknown product", index)
        for index, update in enumerate(updates)
        if update.product_id not in existing
    ]
    if problems:
        raise InvalidInput("Some stock updates name unknown products; nothing was changed.", problems)
    now = _now()
    current = _stock_rows(session, workspace_id, [u.product_id for u in updates])
    for update in updates:
        _set_stock(session, workspace_id, update.product_id, {update.location: update.quantity}, source, now, current)
    session.flush()
    refresh_availability(session, workspace_id, [u.product_id for u in updates])
    return len(updates)


def get_product(session: Session, workspace_id: str, product_id: str) -> dict[str, Any]:
    row = session.execute(
        select(Product).where(Product.workspace_id == workspace_id, Product.id == product_id)
    ).scalar()
    if row is None:
        raise NotFound("No product has this id in this workspace.")
    stock = {
        s.location: s.quantity
        for s in session.execute(
            select(ProductStock).where(ProductStock.workspace_id == workspace_id, ProductStock.product_id == product_id)
        ).scalars()
    }
    variants = list(
        session.execute(
            select(Product.id)
            .where(Product.workspace_id == workspace_id, Product.parent_id == product_id)
            .order_by(Product.id)
        ).scalars()
    )
    return {
        "id": row.id,
        "parent_id": row.parent_id,
        "title": row.title,
        "description": row.description,
        "brand": row.brand,
        "category": row.category_path,
        "price": money_text(row.price),
        "currency": row.currency,
        "sale_price": money_text(row.sale_price),
        "cost": money_text(row.cost),
        "stock": stock,
        "in_stock": not stock or sum(stock.values()) > 0,  # untracked stock: always available
        "stock_tracked": bool(stock),
        "attributes": row.attributes,
        "image_urls": row.image_urls,
        "language": row.language,
        "active": row.active,
        "variants": variants,
        "updated_at": row.updated_at.isoformat(timespec="milliseconds") + "Z",
    }


def delete_product(session: Session, workspace_id: str, product_id: str) -> None:
    """Delete a product and its stock (its history stays). A product with variants is refused: delete them first."""
    get_product(session, workspace_id, product_id)
    has_variants = session.execute(
        select(Product.id).where(Product.workspace_id == workspace_id, Product.parent_id == product_id).limit(1)
    ).first()
    if has_variants:
        raise Conflict("This product has variants; delete them first.")
    session.execute(
        delete(ProductStock).where(ProductStock.workspace_id == workspace_id, ProductStock.product_id == product_id)
    )
    session.execute(delete(Product).where(Product.workspace_id == workspace_id, Product.id == product_id))
    unindex_products(session, workspace_id, [product_id])


def history(session: Session, workspace_id: str, product_id: str, limit: int = 200) -> list[dict[str, Any]]:
    get_product(session, workspace_id, product_id)
    rows = session.execute(
        select(CatalogChange)
        .where(CatalogChange.workspace_id == workspace_id, CatalogChange.product_id == product_id)
        .order_by(CatalogChange.id.desc())
        .limit(limit)
    ).scalars()
    return [
        {"field": r.field, "location": r.location, "old": money_text(r.old_value), "new": money_text(r.new_value),
         "source": r.source, "at": r.at.isoformat(timespec="milliseconds") + "Z"}
        for r in rows
    ]  # fmt: skip


def apply_updates(session: Session, workspace_id: str, updates: list[CatalogUpdate], *, source: str = "event") -> int:
    """Apply stock and price updates that arrived as events, in arrival order; returns how many applied.
    An update for an unknown product, in another currency, or that would put the sale price above the price
    is skipped (the event itself is kept) and logged without personal data."""
    existing = _existing(session, workspace_id, sorted({u.product_id for u in updates}))
    stock = _stock_rows(session, workspace_id, [u.product_id for u in updates if u.quantity is not None])
    now, applied = _now(), 0
    repriced: dict[str, Product] = {}
    for update in updates:
        row = existing.get(update.product_id)
        reason = _skip_reason(row, update)
        if reason:
            log.warning("catalog update skipped", extra={"product_id": update.product_id, "reason": reason})
            continue
        assert row is not None
        if update.quantity is not None:
            _set_stock(session, workspace_id, row.id, {update.location: update.quantity}, source, now, stock)
        else:
            price, sale = _new_prices(row, update)
            for name, new in (("price", price), ("sale_price", sale)):
                old = getattr(row, name)
                if old != new:
                    session.add(CatalogChange(workspace_id=workspace_id, product_id=row.id, field=name,
                                              old_value=old, new_value=new, source=source, at=now))  # fmt: skip
            row.price, row.sale_price, row.updated_at = price, sale, now
            repriced[row.id] = row
        applied += 1
    session.flush()
    refresh_availability(session, workspace_id, [u.product_id for u in updates if u.quantity is not None
                                                 and u.product_id in existing])  # fmt: skip
    refresh_prices(session, workspace_id, list(repriced.values()))
    return applied


def _skip_reason(row: Product | None, update: CatalogUpdate) -> str | None:
    if row is None:
        return "unknown product"
    if update.quantity is not None:
        return None
    if update.currency and update.currency != row.currency:
        return f"currency {update.currency} differs from the product's {row.currency}"
    price, sale = _new_prices(row, update)
    if sale is not None and sale > price:
        return "the sale price would exceed the price"
    return None


def _new_prices(row: Product, update: CatalogUpdate) -> tuple[Decimal, Decimal | None]:
    price = update.price if update.price is not None else row.price
    if update.clear_sale:
        return price, None
    return price, update.sale_price if update.sale_price is not None else row.sale_price
