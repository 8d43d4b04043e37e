"""Did the recommendations work? Decisions joined to the outcome events that carry their `decision_id`
(`Product Clicked`, `Order Completed`), per slot, model version and policy: click-through and conversion,
so a new model version is judged by what shoppers did, not only by offline metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from afinidad.store.models import Decision, Event

OUTCOMES = ("Product Clicked", "Order Completed")


def _revenue(properties: dict[str, Any]) -> float:
    for key in ("revenue", "total"):
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0


def outcome_report(session: Session, workspace_id: str, days: int = 30, now: datetime | None = None) -> dict:
    """Per (slot, model version, policy) over the last `days`: decisions, those clicked, those followed by
    an order, their revenue, click-through and conversion rates. Outcomes count once per decision."""
    since = (now or datetime.now(UTC).replace(tzinfo=None)) - timedelta(days=days)
    groups: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    group_of: dict[str, tuple[str, str | None, str]] = {}
    for decision_id, slot, version, policy in session.execute(
        select(Decision.id, Decision.slot, Decision.model_version, Decision.policy).where(
            Decision.workspace_id == workspace_id, Decision.at >= since
        )
    ):
        key = (slot, version, policy)
        groups.setdefault(key, {"decisions": 0, "clicked": set(), "ordered": set(), "revenue": 0.0})
        groups[key]["decisions"] += 1
        group_of[decision_id] = key
    seen_orders: set[str] = set()
    for event, properties in session.execute(
        select(Event.event, Event.properties).where(
            Event.workspace_id == workspace_id, Event.event.in_(OUTCOMES), Event.timestamp >= since
        )
    ):
        decision_id = (properties or {}).get("decision_id")
        key = group_of.get(decision_id) if isinstance(decision_id, str) else None
        if key is None:
            continue
        if event == "Product Clicked":
            groups[key]["clicked"].add(decision_id)
        else:
            groups[key]["ordered"].add(decision_id)
            if decision_id not in seen_orders:
                groups[key]["revenue"] += _revenue(properties)
                seen_orders.add(decision_id)
    rows = []
    for (slot, version, policy), g in sorted(groups.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        rows.append({
            "slot": slot, "model_version": version, "policy": policy, "decisions": g["decisions"],
            "clicked": len(g["clicked"]), "ordered": len(g["ordered"]), "revenue": round(g["revenue"], 2),
            "ctr": round(len(g["clicked"]) / g["decisions"], 4),
            "conversion": round(len(g["ordered"]) / g["decisions"], 4),
        })  # fmt: skip
    return {"days": days, "rows": rows}
