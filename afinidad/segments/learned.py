"""Segments a model makes from a workspace's orders, kept beside rule segments so that rules, exports and
journeys use them alike (`segment "RFM: Champions"`):

- **RFM groups** (`kind = "rfm"`): every customer's recency, frequency and monetary scores (also stored on
  the profile as `score.rfm_recency` etc.) and the named group they put them in. People without orders are
  in "RFM: No purchase yet".
- **Micro-segments** (`kind = "micro"`): clusters of customers by what, when, where and how much they buy,
  each described in words. A retrain starts from the previous model (a `model_versions` row of kind
  `micro_segments`), so a cluster that persists keeps its id and its segment; one that disappears is
  emptied and removed.

`afinidad segments learn` runs both; each run records who entered and left, like a rule rebuild."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from afinidad.errors import Conflict
from afinidad.predict.service import workspace_orders
from afinidad.segments.facts import current_members
from afinidad.segments.service import apply_changes
from afinidad.store.engine import Store
from afinidad.store.models import (
    Event,
    ModelVersion,
    Product,
    Profile,
    ProfileScore,
    Segment,
    SegmentMember,
    SegmentSize,
)

RFM_SCORES = ("rfm_recency", "rfm_frequency", "rfm_monetary")
MODEL_KIND = "micro_segments"


@dataclass(frozen=True)
class Learned:
    name: str
    kind: str
    description: str
    size: int
    entered: int
    left: int


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _customers(session: Session, workspace_id: str) -> list[str]:
    return list(session.execute(select(Profile.id).where(Profile.workspace_id == workspace_id,
                                                         Profile.merged_into.is_(None))).scalars())  # fmt: skip


def learn(store: Store, workspace_id: str, on_step: Callable[[str], None] | None = None,
          now: datetime | None = None) -> list[Learned]:  # fmt: skip
    """RFM groups, then micro-segments, for the workspace's orders as of `now`."""
    step = on_step or (lambda _: None)
    now = now or _now()
    step("reading orders")
    with store.reader() as session:
        orders = workspace_orders(session, workspace_id, until=now)
        everyone = _customers(session, workspace_id)
    if len(orders) == 0:
        raise Conflict("No orders yet: RFM and micro-segments learn from orders.")
    step("scoring RFM")
    done = _rfm(store, workspace_id, orders, everyone, now)
    step("reading order lines for micro-segments")
    with store.reader() as session:
        lines = _order_lines(session, workspace_id, now)
        previous = session.execute(select(ModelVersion.artifact).where(
            ModelVersion.workspace_id == workspace_id, ModelVersion.kind == MODEL_KIND,
            ModelVersion.active.is_(True))).scalar()  # fmt: skip
    step("clustering customers")
    done += _micro(store, workspace_id, lines, previous, now)
    return done


def _rfm(store: Store, workspace_id: str, orders: Any, everyone: list[str], now: datetime) -> list[Learned]:
    from afinidad.segments.rfm import GROUPS, NO_PURCHASE, Rfm, rfm_summary

    summary = rfm_summary(orders, np.datetime64(now.date(), "D"), customers=everyone)
    model = Rfm().fit(summary)
    scores, groups = model.score(summary), model.groups(summary)
    bought = summary.orders > 0
    base = {"workspace_id": workspace_id, "model_version": None, "scored_at": now}
    rows = [base | {"profile_id": str(pid), "name": name, "value": float(value)}
            for name, column in zip(RFM_SCORES, (scores.recency, scores.frequency, scores.monetary), strict=True)
            for pid, value in zip(summary.customer_ids[bought], column[bought], strict=True)]  # fmt: skip
    with store.session() as session:
        session.execute(delete(ProfileScore).where(ProfileScore.workspace_id == workspace_id,
                                                   ProfileScore.name.in_(RFM_SCORES)))  # fmt: skip
        for start in range(0, len(rows), 5000):
            session.execute(insert(ProfileScore), rows[start : start + 5000])
    wanted = {f"RFM: {group}": (GROUPS.get(group, "Customers without an order yet"),
                                set(summary.customer_ids[groups == group].astype(str)))
              for group in [*GROUPS, NO_PURCHASE]}  # fmt: skip
    return _store_members(store, workspace_id, "rfm", wanted, now)


def _order_lines(session: Session, workspace_id: str, now: datetime) -> Any:
    """Every order line with its local time, category (from the catalog) and channel (from enrichment)."""
    from afinidad.segments.features import OrderLines

    owner = dict(session.execute(select(Profile.id, Profile.merged_into).where(
        Profile.workspace_id == workspace_id, Profile.merged_into.is_not(None))).all())  # fmt: skip
    category_of = dict(session.execute(select(Product.id, Product.category).where(
        Product.workspace_id == workspace_id)).all())  # fmt: skip
    query = select(Event.message_id, Event.profile_id, Event.timestamp, Event.properties, Event.enrichment).where(
        Event.workspace_id == workspace_id, Event.event == "Order Completed", Event.profile_id.is_not(None),
        Event.timestamp <= now)  # fmt: skip
    records = []
    for message_id, profile_id, at, properties, enrichment in session.execute(query.execution_options(yield_per=5000)):
        enrichment = enrichment or {}
        local = enrichment.get("local_time")
        when = np.datetime64(local[:19], "s") if isinstance(local, str) else np.datetime64(at, "s")
        for line in (properties or {}).get("products") or []:
            if not isinstance(line, dict):
                continue
            product = str(line.get("product_id") or line.get("sku") or "")
            try:
                quantity, price = float(line.get("quantity") or 1), float(line.get("price") or 0)
            except (TypeError, ValueError):
                continue
            if quantity <= 0 or price < 0:
                continue
            records.append({"customer": owner.get(profile_id, profile_id), "time": when, "product": product,
                            "quantity": quantity, "unit_price": price, "order": message_id,
                            "category": (category_of.get(product) or "").split(" > ")[0] or None,
                            "channel": enrichment.get("channel")})  # fmt: skip
    return OrderLines.from_records(records)


def _micro(store: Store, workspace_id: str, lines: Any, previous: bytes | None, now: datetime) -> list[Learned]:
    from afinidad.segments.clusters import MicroSegments
    from afinidad.segments.describe import NO_PURCHASE_SEGMENT
    from afinidad.segments.features import customer_features

    before = MicroSegments.from_dict(json.loads(previous)) if previous else None
    features = customer_features(lines, as_of=np.datetime64(now, "s"))
    if int(features.has_orders.sum()) < 30:
        return []  # too few buyers to find groups among
    model = MicroSegments().fit(features, previous=before)
    labels = model.predict(features)
    described = model.describe("en")
    ids = features.customer_ids.astype(str)
    wanted = {f"Micro {segment}": (described.get(segment, ""), set(ids[labels == segment]))
              for segment in model.segment_ids_ if segment != NO_PURCHASE_SEGMENT}  # fmt: skip
    with store.session() as session:
        session.execute(update(ModelVersion).where(ModelVersion.workspace_id == workspace_id,
                                                   ModelVersion.kind == MODEL_KIND).values(active=False))  # fmt: skip
        session.add(ModelVersion(id="mv_" + uuid.uuid4().hex[:20], workspace_id=workspace_id, kind=MODEL_KIND,
                                 algorithm="k-means", params={"k": int(model.k_)},
                                 metrics={"silhouettes": {str(k): v for k, v in model.silhouettes_.items()},
                                          "sizes": {f"Micro {s}": len(m) for s, (_, m) in wanted.items()}},
                                 trained_at=now, events_until=now, users=int(features.has_orders.sum()), items=0,
                                 active=True, artifact=json.dumps(model.to_dict()).encode()))  # fmt: skip
    return _store_members(store, workspace_id, "micro", wanted, now)


def _store_members(store: Store, workspace_id: str, kind: str, wanted: dict[str, tuple[str, set[str]]],
                   now: datetime) -> list[Learned]:  # fmt: skip
    """Create, refresh or remove the segments of this kind so that they hold exactly `wanted`."""
    done = []
    with store.session() as session:
        existing = {row.name: row for row in session.execute(select(Segment).where(
            Segment.workspace_id == workspace_id, Segment.kind == kind)).scalars()}  # fmt: skip
        for name, (description, members) in wanted.items():
            row = existing.pop(name, None)
            if row is None:
                taken = session.execute(select(Segment.id).where(Segment.workspace_id == workspace_id,
                                                                 Segment.name == name)).scalar()  # fmt: skip
                if taken:
                    raise Conflict(f"A rule segment is already named {name!r}; rename it to learn {kind} segments.")
                row = Segment(id="seg_" + uuid.uuid4().hex[:20], workspace_id=workspace_id, name=name, kind=kind,
                              rule={}, size=0, created_at=now, updated_at=now)  # fmt: skip
                session.add(row)
                session.flush()
            before = current_members(session, row.id)
            entered, left = apply_changes(session, workspace_id, row.id, before, members, now)
            row.description, row.size, row.rebuilt_at, row.updated_at = description, len(members), now, now
            session.merge(SegmentSize(segment_id=row.id, at=now, size=len(members)))
            done.append(Learned(name, kind, description, len(members), entered, left))
        for row in existing.values():  # a cluster that no longer exists: its people leave, then it goes
            before = current_members(session, row.id)
            apply_changes(session, workspace_id, row.id, before, set(), now)
            session.execute(delete(SegmentMember).where(SegmentMember.segment_id == row.id))
            session.delete(row)
    return done
