"""Trending: what people are turning to now. Each product event in the window counts with a weight that
halves every `half_life` (an order counts 3, an add to cart 2, a view 1), and "rising" compares the last
quarter of the window with the rest, so a product climbing fast is told apart from a steady best-seller.
Computed live from events (the window is indexed), so it needs no training."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.recommend.reasons import language
from afinidad.recommend.training import PRODUCT_EVENTS, products_of
from afinidad.store.models import Decision, Event

_WEIGHT = {"Order Completed": 3.0, "Product Added": 2.0, "Product Added to Wishlist": 1.5}
_REASONS = {"en": ("Trending this week", "Trending in {category} this week", "Rising fast"),
            "es": ("Tendencia esta semana", "Tendencia en {category} esta semana", "Subiendo rápido")}  # fmt: skip


def trending(
    session: Session,
    workspace_id: str,
    *,
    n: int = 10,
    days: int = 7,
    category: str | None = None,
    location: str | None = None,
    lang: str | None = None,
    now: datetime | None = None,
    slot: str = "trending",
) -> dict[str, Any]:
    """The trending products (in stock, active), each with its decayed score and how fast it rises."""
    problems = []
    if not 1 <= n <= 100:
        problems.append(FieldProblem("n", "must be between 1 and 100"))
    if not 1 <= days <= 90:
        problems.append(FieldProblem("days", "must be between 1 and 90"))
    if problems:
        raise InvalidInput("Invalid trending request.", problems)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    since, recent = now - timedelta(days=days), now - timedelta(days=days / 4)
    half_life = days / 3.5 * 86_400
    score: dict[str, float] = defaultdict(float)
    late: dict[str, float] = defaultdict(float)
    early: dict[str, float] = defaultdict(float)
    query = select(Event.event, Event.properties, Event.timestamp, Event.context).where(
        Event.workspace_id == workspace_id, Event.event.in_(PRODUCT_EVENTS), Event.timestamp >= since,
        Event.timestamp <= now,
    )  # fmt: skip
    for event, properties, at, context in session.execute(query):
        if location and ((context or {}).get("location") or {}).get("city") != location:
            continue
        weight = _WEIGHT.get(event or "", 1.0)
        decay = math.pow(0.5, (now - at).total_seconds() / half_life)
        for product in products_of(event, properties):
            score[product] += weight * decay
            (late if at >= recent else early)[product] += weight
    clauses, params = ["workspace_id = :ws", "in_stock"], {"ws": workspace_id}
    if category:
        clauses.append("(category = :category OR category LIKE :under)")
        params.update(category=category, under=category + " > %")
    statement = text(f"SELECT product_id, title, category FROM product_search WHERE {' AND '.join(clauses)}")
    shown = {pid: (title, cat) for pid, title, cat in session.execute(statement, params)}
    ranked = sorted((p for p in score if p in shown), key=lambda p: (-score[p], p))[:n]
    reasons = _REASONS[language(lang)]
    items = []
    for product in ranked:
        # per day, the last quarter of the window against the rest (+1 smooths products new this week)
        rising = (late[product] / (days / 4) + 1) / (early[product] / (days * 3 / 4) + 1)
        reason = reasons[2] if rising >= 2 else (reasons[1].format(category=category) if category else reasons[0])
        items.append({"product_id": product, "title": shown[product][0], "score": round(score[product], 4),
                      "rising": round(rising, 2), "reason": reason})  # fmt: skip
    decision = "dec_" + uuid.uuid4().hex[:20]
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=None, slot=slot, policy="trending",
                         model_version=None, items=items, context={"days": days, "category": category,
                                                                   "location": location}, at=now))  # fmt: skip
    return {"decision_id": decision, "days": days, "category": category, "items": items}
