"""Predictions on a workspace's own orders: train (measured on a holdout, compared with the version before
it), score every customer onto their profile (`profile_scores`, which segment rules read as `score.NAME`),
and explain one person's forecast. Orders are the `Order Completed` events, per unified profile."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from afinidad.errors import Conflict, NotFound
from afinidad.predict import clv
from afinidad.predict.buying_soon import explain_person
from afinidad.predict.explain import explain_purchases
from afinidad.predict.next_purchase import CategoryAffinity, purchase_timing
from afinidad.predict.transactions import Transactions, summarise
from afinidad.profiles.service import find_profile_id
from afinidad.store.engine import Store
from afinidad.store.models import Event, ModelVersion, Product, Profile, ProfileScore

KIND = "clv"
MIN_CUSTOMERS = 20
HOLDOUT_SHARE, MAX_HOLDOUT_DAYS = 0.25, 90


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _revenue(properties: dict[str, Any]) -> float:
    """An order's value: `revenue`, else `total`, else the sum of its lines (Segment's e-commerce spec)."""
    for name in ("revenue", "total"):
        value = properties.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    lines = properties.get("products") or []
    return float(sum(float(line.get("price") or 0) * float(line.get("quantity") or 1)
                     for line in lines if isinstance(line, dict)))  # fmt: skip


def _order_events(session: Session, workspace_id: str, until: datetime | None, person: str | None
                  ) -> Iterator[tuple[str, datetime, dict[str, Any]]]:  # fmt: skip
    """(unified profile, time, properties) of every completed order, or of one `person`'s (their profile
    and those merged into it: what a request for one person reads)."""
    if person is not None:
        merged = select(Profile.id).where(Profile.workspace_id == workspace_id, Profile.merged_into == person)
        owner = {pid: person for pid in [person, *session.execute(merged).scalars()]}
    else:
        owner = dict(session.execute(select(Profile.id, Profile.merged_into).where(
            Profile.workspace_id == workspace_id, Profile.merged_into.is_not(None))).all())  # fmt: skip
    query = select(Event.profile_id, Event.timestamp, Event.properties).where(
        Event.workspace_id == workspace_id, Event.event == "Order Completed", Event.profile_id.is_not(None)
    )
    if person is not None:
        query = query.where(Event.profile_id.in_(sorted(owner)))
    if until is not None:
        query = query.where(Event.timestamp <= until)
    for profile_id, at, properties in session.execute(query.execution_options(yield_per=5000)):
        yield owner.get(profile_id, profile_id), at, properties or {}


def workspace_orders(session: Session, workspace_id: str, until: datetime | None = None,
                     person: str | None = None) -> Transactions:  # fmt: skip
    """Every completed order (or one `person`'s), by the unified profile it now belongs to."""
    customers, days, amounts = [], [], []
    for customer, at, properties in _order_events(session, workspace_id, until, person):
        customers.append(customer)
        days.append(np.datetime64(at.date(), "D"))
        amounts.append(_revenue(properties))
    return Transactions(np.array(customers, dtype=str), np.array(days, dtype="datetime64[D]"),
                        np.array(amounts, dtype=np.float64))  # fmt: skip


def order_lines(session: Session, workspace_id: str, until: datetime | None = None, person: str | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(customer, category, day) per order line (everyone's, or one `person`'s), the category from the
    catalog ("" when unknown)."""
    category_of = dict(session.execute(select(Product.id, Product.category).where(
        Product.workspace_id == workspace_id)).all())  # fmt: skip
    customers, categories, days = [], [], []
    for customer, at, properties in _order_events(session, workspace_id, until, person):
        for line in properties.get("products") or []:
            if not isinstance(line, dict):
                continue
            product = str(line.get("product_id") or line.get("sku") or "")
            customers.append(customer)
            categories.append(line.get("category") or category_of.get(product) or "")
            days.append(np.datetime64(at.date(), "D"))
    return np.array(customers, dtype=str), np.array(categories, dtype=str), np.array(days, dtype="datetime64[D]")


def _holdout_split(first: date, last: date) -> date | None:
    span = (last - first).days
    days = min(MAX_HOLDOUT_DAYS, int(span * HOLDOUT_SHARE))
    return last - timedelta(days=days) if days >= 14 else None


def train(store: Store, workspace_id: str, on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fit BG/NBD + Gamma-Gamma on the workspace's orders and store it as the active version: first
    measured on a holdout (the last quarter of the history, at most 90 days), then refitted on everything,
    with its score deciles and the drift against the version it replaces."""
    step = on_step or (lambda _: None)
    step("reading orders")
    with store.reader() as session:
        orders = workspace_orders(session, workspace_id)
        previous = session.execute(select(ModelVersion.id, ModelVersion.metrics).where(
            ModelVersion.workspace_id == workspace_id, ModelVersion.kind == KIND,
            ModelVersion.active.is_(True))).first()  # fmt: skip
    if len(np.unique(orders.customers)) < MIN_CUSTOMERS:
        raise Conflict(f"Orders from {len(np.unique(orders.customers))} customers: a model needs {MIN_CUSTOMERS}.")
    first, last = orders.dates.min().astype(date), orders.dates.max().astype(date)
    metrics: dict[str, Any] = {"orders": len(orders), "first_order": first.isoformat(), "last_order": last.isoformat()}
    cut = _holdout_split(first, last)
    if cut is not None:
        step(f"measuring on a holdout: fitted to {cut}, forecast to {last}")
        measured = clv.evaluate(orders, cut, last)
        comparison = measured.comparison
        metrics["holdout"] = {"calibration_end": cut.isoformat(), "holdout_end": last.isoformat(),
                              "customers": comparison.customers, "actual": round(comparison.actual_total, 1),
                              "predicted": round(comparison.predicted_total, 1),
                              "relative_error": round(comparison.relative_error, 4),
                              "mae": round(comparison.mean_absolute_error, 4),
                              "spend_rank_correlation": measured.spend_rank_correlation,
                              "buckets": [asdict(bucket) for bucket in comparison.buckets]}  # fmt: skip
    step("fitting on every order")
    summary = summarise(orders, last, unit="weeks")
    model = clv.LifetimeValue().fit(summary)
    scores = model.score(summary)
    fitted = [value for part in model.params().values() for value in part.values()]
    if not all(np.isfinite(fitted)) or not np.isfinite(scores.expected_orders_90d).all():
        raise Conflict("The orders are too few or too alike for the lifetime-value model to fit; it was not stored.")
    metrics["customers"] = len(summary)
    with store.reader() as session:  # the shop's category shares: the prior of each person's next categories
        _, categories, _ = order_lines(session, workspace_id)
    named, counts = np.unique(categories[categories != ""], return_counts=True)
    metrics["category_shares"] = {str(c): round(float(n / counts.sum()), 6)
                                  for c, n in zip(named, counts, strict=True)}  # fmt: skip
    metrics["deciles"] = {"clv_12m": clv.deciles(scores.clv_12m), "churn": clv.deciles(scores.churn)}
    psi = clv.population_stability(previous.metrics.get("deciles", {}).get("clv_12m", []), scores.clv_12m) \
        if previous else None  # fmt: skip
    metrics["drift"] = {"against": previous.id if previous else None, "clv_psi": psi,
                        "reading": clv.drift_reading(psi)}  # fmt: skip
    version = "mv_" + uuid.uuid4().hex[:20]
    step("storing the model version")
    with store.session() as session:
        session.execute(update(ModelVersion).where(ModelVersion.workspace_id == workspace_id,
                                                   ModelVersion.kind == KIND).values(active=False))  # fmt: skip
        session.add(ModelVersion(id=version, workspace_id=workspace_id, kind=KIND, algorithm="BG/NBD + Gamma-Gamma",
                                 params=model.params(), metrics=metrics, trained_at=_now(),
                                 events_until=datetime.combine(last, datetime.min.time()), users=len(summary),
                                 items=0, active=True, artifact=json.dumps(model.params()).encode()))  # fmt: skip
    return {"version": version, "params": model.params(), "metrics": metrics}


def _active(session: Session, workspace_id: str) -> ModelVersion:
    row = session.execute(select(ModelVersion).where(ModelVersion.workspace_id == workspace_id,
                                                     ModelVersion.kind == KIND, ModelVersion.active.is_(True))
                          ).scalar()  # fmt: skip
    if row is None:
        raise NotFound("No lifetime-value model yet: run `afinidad predict train` first.")
    return row


def score(store: Store, workspace_id: str, now: datetime | None = None) -> int:
    """Score every customer with orders as of `now` with the active version, onto their profile. Profiles
    without orders get no score (a rule `score.churn > 0.5` never selects them). Segments that read scores
    are rebuilt afterwards."""
    now = now or _now()
    with store.reader() as session:
        active = _active(session, workspace_id)
        model, version = clv.LifetimeValue.from_params(active.params), active.id
        orders = workspace_orders(session, workspace_id, until=now)
    if len(orders) == 0:
        return 0
    summary = summarise(orders, np.datetime64(now.date(), "D"), unit="weeks")
    scores = model.score(summary)
    base = {"workspace_id": workspace_id, "model_version": version, "scored_at": now}
    rows = [base | {"profile_id": str(pid), "name": name, "value": float(value)}
            for name in clv.SCORE_NAMES
            for pid, value in zip(scores.customer_ids, getattr(scores, name), strict=True)
            if np.isfinite(value)]  # fmt: skip
    with store.session() as session:
        session.execute(delete(ProfileScore).where(ProfileScore.workspace_id == workspace_id,
                                                   ProfileScore.name.in_(clv.SCORE_NAMES)))  # fmt: skip
        for start in range(0, len(rows), 5000):
            session.execute(insert(ProfileScore), rows[start : start + 5000])
    _rebuild_readers(store, workspace_id)
    return len(summary)


def _rebuild_readers(store: Store, workspace_id: str) -> None:
    from afinidad.segments import rules
    from afinidad.segments.service import rebuild
    from afinidad.store.models import Segment

    with store.reader() as session:
        stored = session.execute(select(Segment.id, Segment.rule).where(Segment.workspace_id == workspace_id,
                                                                        Segment.kind == "rule")).all()  # fmt: skip
    readers = [sid for sid, rule in stored if _reads_scores(rules.from_json(rule))]
    if readers:
        rebuild(store, workspace_id, readers)


def _reads_scores(rule: Any) -> bool:
    from afinidad.segments.facts import leaves
    from afinidad.segments.rules import Score

    return any(isinstance(leaf, Score) for leaf in leaves(rule))


def predictions(session: Session, workspace_id: str, identifier: str) -> dict[str, Any]:
    """A person's stored scores and why: the factors behind their expected purchases. Someone without
    orders gets a defined answer saying so, not an error."""
    profile_id = find_profile_id(session, workspace_id, identifier)
    stored = {name: value for name, value in session.execute(select(ProfileScore.name, ProfileScore.value).where(
        ProfileScore.workspace_id == workspace_id, ProfileScore.profile_id == profile_id))}  # fmt: skip
    active = session.execute(select(ModelVersion).where(ModelVersion.workspace_id == workspace_id,
                                                        ModelVersion.kind == KIND, ModelVersion.active.is_(True))
                             ).scalar()  # fmt: skip
    orders = workspace_orders(session, workspace_id, person=profile_id)  # theirs only: this is a request
    mine = orders.customers == profile_id
    answer: dict[str, Any] = {"profile_id": profile_id, "orders": int(mine.sum()), "scores": stored,
                              "model_version": active.id if active else None}  # fmt: skip
    answer["buying_soon"] = explain_person(session, workspace_id, profile_id)
    if not mine.any():
        answer["explanation"] = {"text": "No orders yet: no forecast until the first order.", "factors": []}
        return answer
    if active is None:
        answer["explanation"] = {"text": "No lifetime-value model yet.", "factors": []}
        return answer
    own = Transactions(orders.customers[mine], orders.dates[mine], orders.amounts[mine] if orders.amounts is not None
                       else None)  # fmt: skip
    summary = summarise(own, np.datetime64(_now().date(), "D"), unit="weeks")
    model = clv.LifetimeValue.from_params(active.params)
    why = explain_purchases(model.purchases_, float(summary.frequency[0]), float(summary.recency[0]),
                            float(summary.T[0]), clv.HORIZON_WEEKS)  # fmt: skip
    answer["explanation"] = {"text": why.text, "expected_orders_90d": why.expected_purchases,
                             "probability_alive": why.probability_alive,
                             "factors": [asdict(factor) for factor in why.factors]}  # fmt: skip
    shares = active.metrics.get("category_shares", {})
    answer["next_purchase"] = _next_purchase(session, workspace_id, profile_id, model, summary, shares)
    return answer


def _next_purchase(session: Session, workspace_id: str, profile_id: str, model: clv.LifetimeValue,
                   summary: Any, shop_shares: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    """The expected date of the next order (if still a customer), how likely one is within 30 days, and
    the most likely categories."""
    today = _now().date()
    alive = model.purchases_.probability_alive(summary.frequency, summary.recency, summary.T)
    median, within = purchase_timing(model.purchases_.params_, summary.frequency, summary.T, alive, 30 / 7)
    customers, categories, days = order_lines(session, workspace_id, person=profile_id)
    affinity = CategoryAffinity().fit(customers, categories, days, np.datetime64(today, "D"), shares=shop_shares)
    return {"expected_date": (today + timedelta(days=round(float(median[0]) * 7))).isoformat(),
            "if_still_a_customer": True, "probability_alive": round(float(alive[0]), 4),
            "probability_within_30_days": round(float(within[0]), 4),
            "categories": [asdict(likely) for likely in affinity.top(profile_id, 3)]
            if len(affinity.categories_) else []}  # fmt: skip


def versions(session: Session, workspace_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(ModelVersion).where(ModelVersion.workspace_id == workspace_id,
                                                      ModelVersion.kind == KIND)
                           .order_by(ModelVersion.trained_at.desc())).scalars()  # fmt: skip
    return [{"id": r.id, "algorithm": r.algorithm, "params": r.params, "metrics": r.metrics, "active": r.active,
             "trained_at": r.trained_at.isoformat(timespec="seconds") + "Z"} for r in rows]  # fmt: skip
