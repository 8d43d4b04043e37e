"""Dynamic prices in a workspace: elasticities learned from its own orders, proposals for its catalog within
the workspace's guardrails (`pricing` in its settings), a person's approval before a price changes (unless
the workspace turned approval off), prices set by hand checked against the same guardrails, and competitor
prices from a feed. Nothing here takes a person: prices depend on product, time, stock and demand only.

A price changed less than a day ago gets no new proposal, so the daily limit is always measured from the
price a day ago; a price set by hand is checked against that same reference, so small steps cannot creep
past the limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from afinidad.catalog.service import apply_updates
from afinidad.catalog.updates import CatalogUpdate
from afinidad.decide.price_rules import PricingRules
from afinidad.decide.pricing import ElasticityModel, propose, violations, weekly_panel
from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound
from afinidad.store.models import CatalogChange, CompetitorPrice, Event, PriceProposal, Product
from afinidad.workspaces.settings import read_settings

SOURCE = "pricing"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def describe(row: PriceProposal) -> dict[str, Any]:
    return {"id": row.id, "product_id": row.product_id, "status": row.status,
            "current_price": float(row.current_price), "price": float(row.price), "currency": row.currency,
            "elasticity": row.elasticity, "expected": row.expected, "binding": row.binding, "reason": row.reason,
            "created_at": row.created_at.isoformat(timespec="seconds") + "Z",
            "decided_at": row.decided_at.isoformat(timespec="seconds") + "Z" if row.decided_at else None,
            "decided_by": row.decided_by, "note": row.note}  # fmt: skip


def sales_panel(session: Session, workspace_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(product, ISO week, units, average price paid) from the order lines of completed orders."""
    products, weeks, units, revenue = [], [], [], []
    query = select(Event.timestamp, Event.properties).where(Event.workspace_id == workspace_id,
                                                            Event.event == "Order Completed")  # fmt: skip
    for at, properties in session.execute(query.execution_options(yield_per=5000)):
        for line in (properties or {}).get("products") or []:
            if not isinstance(line, dict):
                continue
            product, price, quantity = (
                line.get("product_id") or line.get("sku"),
                line.get("price"),
                line.get("quantity", 1),
            )
            if not product or isinstance(price, bool) or isinstance(quantity, bool):
                continue
            try:
                price, quantity = float(price), float(quantity)
            except (TypeError, ValueError):
                continue
            if price > 0 and quantity > 0 and np.isfinite(price) and np.isfinite(quantity):
                year, week, _ = at.isocalendar()
                products.append(str(product))
                weeks.append(f"{year}-{week:02d}")
                units.append(quantity)
                revenue.append(price * quantity)
    return weekly_panel(np.array(products, dtype=str), np.array(weeks, dtype=str), np.array(units, dtype=float),
                        np.array(revenue, dtype=float))  # fmt: skip


def learn_elasticities(session: Session, workspace_id: str) -> ElasticityModel:
    products, weeks, units, prices = sales_panel(session, workspace_id)
    if len(products) == 0:
        raise Conflict("No completed orders with product prices yet: elasticities are learned from sales.")
    category_of = dict(session.execute(select(Product.id, Product.category).where(
        Product.workspace_id == workspace_id)).all())  # fmt: skip
    return ElasticityModel().fit(products, weeks, units, prices, categories=category_of)


def _changed_since(session: Session, workspace_id: str, product_ids: list[str], since: datetime
                   ) -> dict[str, Decimal | None]:  # fmt: skip
    """Products whose price changed after `since`, with their price before the first such change (a
    product created since has no earlier price and counts as unchanged)."""
    rows = session.execute(select(CatalogChange.product_id, CatalogChange.old_value)
                           .where(CatalogChange.workspace_id == workspace_id, CatalogChange.field == "price",
                                  CatalogChange.old_value.is_not(None),  # a product's creation is no change
                                  CatalogChange.at >= since, CatalogChange.product_id.in_(product_ids))
                           .order_by(CatalogChange.id)).all()  # fmt: skip
    first: dict[str, Decimal | None] = {}
    for product_id, old in rows:
        first.setdefault(product_id, old)
    return first


def _competitors(session: Session, workspace_id: str, product_ids: list[str], rules: PricingRules, now: datetime
                 ) -> dict[str, tuple[float, str]]:  # fmt: skip
    """The lowest fresh competitor price per product, and whose it is."""
    fresh = now - timedelta(days=rules.competitor_max_age_days)
    lowest: dict[str, tuple[float, str]] = {}
    for product_id, competitor, price in session.execute(
        select(CompetitorPrice.product_id, CompetitorPrice.competitor, CompetitorPrice.price).where(
            CompetitorPrice.workspace_id == workspace_id, CompetitorPrice.product_id.in_(product_ids),
            CompetitorPrice.observed_at >= fresh)):  # fmt: skip
        if product_id not in lowest or float(price) < lowest[product_id][0]:
            lowest[product_id] = (float(price), competitor)
    return lowest


def _products(session: Session, workspace_id: str, product_ids: list[str] | None) -> list[Product]:
    query = select(Product).where(Product.workspace_id == workspace_id, Product.active.is_(True))
    if product_ids is not None:
        query = query.where(Product.id.in_(product_ids))
    rows = list(session.execute(query.order_by(Product.id)).scalars())
    if product_ids is not None:
        unknown = sorted(set(product_ids) - {row.id for row in rows})
        if unknown:
            problems = [FieldProblem("product_ids", f"unknown product {pid!r}") for pid in unknown[:20]]
            raise InvalidInput("Unknown or inactive products; nothing was proposed.", problems)
    return rows


def _apply(session: Session, workspace_id: str, product: Product, price: Decimal, source: str) -> None:
    update = CatalogUpdate(product.id, price=price, currency=product.currency)
    if apply_updates(session, workspace_id, [update], source=source) != 1:
        raise Conflict("The catalog refused the price (is the sale price above it?); nothing was changed.")


def propose_prices(session: Session, workspace_id: str, product_ids: list[str] | None = None,
                   now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Proposals for the catalog (or some products), replacing the open ones; applied at once when the
    workspace does not require approval."""
    now = now or _now()
    rules = read_settings(session, workspace_id).pricing
    products = _products(session, workspace_id, product_ids)
    model = learn_elasticities(session, workspace_id)
    ids = [p.id for p in products]
    recent = _changed_since(session, workspace_id, ids, now - timedelta(days=1)) if ids else {}
    competitors = _competitors(session, workspace_id, ids, rules, now) if ids else {}
    proposals, skipped, unchanged = [], [], 0
    for product in products:
        if product.id in recent:
            skipped.append({"product_id": product.id, "reason": "its price changed less than a day ago"})
            continue
        competitor = competitors.get(product.id)
        cost = float(product.cost) if product.cost is not None else None
        proposal = propose(product.id, float(product.price), model.of(product.id).value,
                           rules.guardrails(product.id), cost=cost,
                           competitor_price=competitor[0] if competitor else None, days_since_change=1.0,
                           objective=rules.objective)  # fmt: skip
        if Decimal(str(proposal.price)) == product.price.quantize(Decimal("0.01")):
            unchanged += 1
            continue
        expected = {"units": round(proposal.expected_units_change, 4),
                    "revenue": round(proposal.expected_revenue_change, 4),
                    "margin": round(proposal.expected_margin_change, 4)
                    if proposal.expected_margin_change is not None else None,
                    "cost": cost, "competitor": {"price": competitor[0], "name": competitor[1]} if competitor else None,
                    "objective": rules.objective if cost is not None else "revenue"}  # fmt: skip
        row = PriceProposal(id="prc_" + uuid.uuid4().hex[:20], workspace_id=workspace_id, product_id=product.id,
                            status="proposed", current_price=product.price, price=Decimal(str(proposal.price)),
                            currency=product.currency, elasticity=round(proposal.elasticity, 4), expected=expected,
                            binding=list(proposal.binding), reason=proposal.reason, created_at=now)  # fmt: skip
        proposals.append((product, row))
    open_rows = session.execute(select(PriceProposal).where(
        PriceProposal.workspace_id == workspace_id, PriceProposal.status == "proposed",
        PriceProposal.product_id.in_([p.id for p, _ in proposals]))).scalars() if proposals else []  # fmt: skip
    for old in open_rows:
        old.status, old.decided_at, old.decided_by = "superseded", now, SOURCE
    for product, row in proposals:
        session.add(row)
        if not rules.require_approval:
            _apply(session, workspace_id, product, row.price, SOURCE)
            row.status, row.decided_at, row.decided_by = "applied", now, "automatic (approval is off)"
    session.flush()
    return {"proposals": [describe(row) for _, row in proposals], "unchanged": unchanged, "skipped": skipped,
            "require_approval": rules.require_approval}  # fmt: skip


def _proposal(session: Session, workspace_id: str, proposal_id: str) -> PriceProposal:
    row = session.get(PriceProposal, proposal_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("No price proposal has this id in this workspace.")
    return row


def _product(session: Session, workspace_id: str, product_id: str) -> Product:
    row = session.get(Product, (workspace_id, product_id))
    if row is None:
        raise NotFound("No product has this id in this workspace.")
    return row


def _check(session: Session, workspace_id: str, product: Product, price: Decimal, now: datetime) -> None:
    """Refuse a price that breaks a guardrail as things stand now, naming each."""
    rules = read_settings(session, workspace_id).pricing
    before = _changed_since(session, workspace_id, [product.id], now - timedelta(days=1)).get(product.id)
    reference = float(before if before is not None else product.price)
    competitor = _competitors(session, workspace_id, [product.id], rules, now).get(product.id)
    problems = violations(float(price), reference, rules.guardrails(product.id),
                          cost=float(product.cost) if product.cost is not None else None,
                          competitor_price=competitor[0] if competitor else None)  # fmt: skip
    if problems:
        raise InvalidInput("The price breaks the pricing guardrails; nothing was changed.", problems)


def approve(session: Session, workspace_id: str, proposal_id: str, by: str, note: str | None = None,
            now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Apply a proposal, if the product still has the price it was made for and the guardrails as they are
    now still allow it."""
    now = now or _now()
    row = _proposal(session, workspace_id, proposal_id)
    if row.status != "proposed":
        raise Conflict(f"The proposal is {row.status}; only a proposed price can be approved.")
    product = _product(session, workspace_id, row.product_id)
    if product.price != row.current_price:
        raise Conflict("The product's price changed since this proposal was made; propose again.")
    _check(session, workspace_id, product, row.price, now)
    _apply(session, workspace_id, product, row.price, SOURCE)
    row.status, row.decided_at, row.decided_by, row.note = "applied", now, by, note
    return describe(row)


def reject(session: Session, workspace_id: str, proposal_id: str, by: str, note: str | None = None) -> dict[str, Any]:
    row = _proposal(session, workspace_id, proposal_id)
    if row.status != "proposed":
        raise Conflict(f"The proposal is {row.status}; only a proposed price can be rejected.")
    row.status, row.decided_at, row.decided_by, row.note = "rejected", _now(), by, note
    return describe(row)


def list_proposals(session: Session, workspace_id: str, status: str | None = None, limit: int = 500
                   ) -> list[dict[str, Any]]:  # fmt: skip
    query = select(PriceProposal).where(PriceProposal.workspace_id == workspace_id)
    if status is not None:
        query = query.where(PriceProposal.status == status)
    rows = session.execute(query.order_by(PriceProposal.created_at.desc(), PriceProposal.id).limit(limit)).scalars()
    return [describe(row) for row in rows]


def set_price(session: Session, workspace_id: str, product_id: str, price: Decimal, now: datetime | None = None
              ) -> dict[str, Any]:  # fmt: skip
    """A price set by a person, within the same guardrails as the rule's."""
    now = now or _now()
    product = _product(session, workspace_id, product_id)
    _check(session, workspace_id, product, price, now)
    before = product.price
    _apply(session, workspace_id, product, price, "api")
    return {"product_id": product.id, "price": float(product.price), "previous_price": float(before),
            "currency": product.currency}  # fmt: skip


def record_competitor_prices(session: Session, workspace_id: str, rows: Iterable[dict[str, Any]],
                             now: datetime | None = None) -> int:  # fmt: skip
    """Store a feed's prices (the latest per product and competitor); all checked or none stored."""
    now = now or _now()
    rows = list(rows)
    wanted = sorted({r["product_id"] for r in rows})
    found = session.execute(select(Product).where(Product.workspace_id == workspace_id, Product.id.in_(wanted)))
    products = {p.id: p for p in found.scalars()}
    problems = []
    for index, row in enumerate(rows):
        product = products.get(row["product_id"])
        if product is None:
            problems.append(FieldProblem("product_id", "unknown product", index))
        elif row.get("currency") and row["currency"] != product.currency:
            problems.append(FieldProblem("currency", f"the product is priced in {product.currency}", index))
        if row.get("observed_at") and row["observed_at"] > now + timedelta(minutes=5):
            problems.append(FieldProblem("observed_at", "is in the future", index))
    if problems:
        raise InvalidInput("Invalid competitor prices; none were stored.", problems)
    for row in rows:
        product = products[row["product_id"]]
        key = (workspace_id, product.id, row["competitor"])
        stored = session.get(CompetitorPrice, key)
        observed = row.get("observed_at") or now
        if stored is None:
            session.add(CompetitorPrice(workspace_id=workspace_id, product_id=product.id,
                                        competitor=row["competitor"], price=row["price"],
                                        currency=product.currency, observed_at=observed))  # fmt: skip
        elif observed >= stored.observed_at:
            stored.price, stored.observed_at = row["price"], observed
    session.flush()
    return len(rows)
