"""Propensity to buy in the next 30 days, learned from a workspace's own events: what each person viewed,
added, bought and opened in the weeks before a cutoff, and from which channel and device, against whether
they ordered in the 30 days after it.

Measured before it is trusted, on time alone: trained on the cutoff 60 days before the latest event,
scored on the cutoff 30 days before it, compared with who really ordered (AUC, calibration). The model that
scores profiles is then refitted on that most recent cutoff and applied to everyone's events up to now.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from afinidad.errors import Conflict
from afinidad.predict.calibration import evaluate_probabilities
from afinidad.predict.propensity import Propensity
from afinidad.store.engine import Store
from afinidad.store.models import Event, ModelVersion, Profile, ProfileScore

HORIZON = timedelta(days=30)
LOOKBACK = timedelta(days=180)
SIGNALS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Email Opened",
           "Email Clicked", "Products Searched")  # fmt: skip
WINDOWS = (7, 30, 180)
SCORE = "propensity_30d"
KIND = "propensity_30d"
MIN_POSITIVES = 20


@dataclass
class Snapshot:
    """Each person active in the lookback before `cutoff`, with their features then."""

    profile_ids: list[str]
    features: dict[str, np.ndarray | list]


def _owner(session: Session, workspace_id: str) -> dict[str, str]:
    return dict(session.execute(select(Profile.id, Profile.merged_into).where(
        Profile.workspace_id == workspace_id, Profile.merged_into.is_not(None))).all())  # fmt: skip


def snapshot(session: Session, workspace_id: str, cutoff: datetime, owner: dict[str, str],
             only: list[str] | None = None) -> Snapshot:  # fmt: skip
    """Features at `cutoff` from the events of the `LOOKBACK` before it: counts of each signal in the last
    7, 30 and 180 days, days since the last event and the last order, revenue, and the channel and device
    used most."""
    counts: dict[str, Counter] = defaultdict(Counter)
    last_seen: dict[str, datetime] = {}
    last_order: dict[str, datetime] = {}
    revenue: dict[str, float] = defaultdict(float)
    channel: dict[str, Counter] = defaultdict(Counter)
    device: dict[str, Counter] = defaultdict(Counter)
    query = select(Event.profile_id, Event.event, Event.timestamp, Event.properties, Event.enrichment).where(
        Event.workspace_id == workspace_id, Event.profile_id.is_not(None), Event.timestamp <= cutoff,
        Event.timestamp > cutoff - LOOKBACK)  # fmt: skip
    if only is not None:  # one person: their profile and the ones merged into it
        query = query.where(Event.profile_id.in_(only))
    for profile_id, event, at, properties, enrichment in session.execute(query.execution_options(yield_per=5000)):
        person = owner.get(profile_id, profile_id)
        age = (cutoff - at).total_seconds() / 86_400
        if event in SIGNALS:
            for days in WINDOWS:
                if age <= days:
                    counts[person][f"{event}|{days}"] += 1
        last_seen[person] = max(last_seen.get(person, at), at)
        if event == "Order Completed":
            last_order[person] = max(last_order.get(person, at), at)
            value = (properties or {}).get("revenue")
            if isinstance(value, int | float) and not isinstance(value, bool):
                revenue[person] += float(value)
        enrichment = enrichment or {}
        if enrichment.get("channel"):
            channel[person][str(enrichment["channel"])] += 1
        kind = (enrichment.get("device") or {}).get("type") if isinstance(enrichment.get("device"), dict) else None
        if kind:
            device[person][str(kind)] += 1
    people = sorted(last_seen)
    features: dict[str, np.ndarray | list] = {
        f"{event.lower().replace(' ', '_')}_{days}d": np.array([counts[p][f"{event}|{days}"] for p in people],
                                                                dtype=np.float64)
        for event in SIGNALS for days in WINDOWS
    }  # fmt: skip
    features["days_since_last_event"] = np.array([(cutoff - last_seen[p]).total_seconds() / 86_400 for p in people])
    features["days_since_last_order"] = np.array(
        [(cutoff - last_order[p]).total_seconds() / 86_400 if p in last_order else np.nan for p in people]
    )
    features["revenue_180d"] = np.array([revenue.get(p, 0.0) for p in people])
    features["channel"] = [channel[p].most_common(1)[0][0] if channel[p] else None for p in people]
    features["device"] = [device[p].most_common(1)[0][0] if device[p] else None for p in people]
    return Snapshot(people, features)


def ordered_between(session: Session, workspace_id: str, start: datetime, end: datetime, owner: dict[str, str]
                    ) -> set[str]:  # fmt: skip
    rows = session.execute(select(Event.profile_id).where(
        Event.workspace_id == workspace_id, Event.event == "Order Completed", Event.timestamp > start,
        Event.timestamp <= end, Event.profile_id.is_not(None))).scalars()  # fmt: skip
    return {owner.get(pid, pid) for pid in rows}


def _model() -> Propensity:
    return Propensity(categorical=("channel", "device"), num_leaves=15, min_child_samples=30)


def train_and_score(store: Store, workspace_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Measure on time, refit on the latest labelled cutoff, score everyone active onto their profile."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    with store.reader() as session:
        latest = session.execute(select(func.max(Event.timestamp)).where(Event.workspace_id == workspace_id)).scalar()
        if latest is None:
            raise Conflict("No events yet: a propensity model learns from them.")
        owner = _owner(session, workspace_id)
        test_cut, train_cut = latest - HORIZON, latest - 2 * HORIZON
        train = snapshot(session, workspace_id, train_cut, owner)
        test = snapshot(session, workspace_id, test_cut, owner)
        y_train = np.array([p in ordered_between(session, workspace_id, train_cut, test_cut, owner)
                            for p in train.profile_ids])  # fmt: skip
        buyers_later = ordered_between(session, workspace_id, test_cut, latest, owner)
        y_test = np.array([p in buyers_later for p in test.profile_ids])
        current = snapshot(session, workspace_id, now, owner)
    if min(y_train.sum(), y_test.sum()) < MIN_POSITIVES or min((~y_train).sum(), (~y_test).sum()) < MIN_POSITIVES:
        raise Conflict(f"Too few people who did and did not order within 30 days (at least {MIN_POSITIVES} each).")
    measured = _model().fit(train.features, y_train)
    report = evaluate_probabilities(y_test, measured.predict_proba(test.features))
    final = _model().fit(test.features, y_test)
    scores = final.predict_proba(current.features) if current.profile_ids else np.zeros(0)
    metrics = {
        "train_cutoff": train_cut.isoformat(timespec="seconds"),
        "test_cutoff": test_cut.isoformat(timespec="seconds"),
        "people": len(test.profile_ids),
        "ordered_share": round(float(y_test.mean()), 4),
        "auc": round(report.roc_auc, 4),
        "brier": round(report.brier_score, 4),
        "ece": round(report.expected_calibration_error, 4),
        "lift_at_top_decile": round(report.lift_at_top_decile, 2),
        "top_factors": {name: round(share, 3) for name, share in list(final.feature_importance_.items())[:5]},
    }
    version = "mv_" + uuid.uuid4().hex[:20]
    with store.session() as session:
        session.execute(update(ModelVersion).where(ModelVersion.workspace_id == workspace_id,
                                                   ModelVersion.kind == KIND).values(active=False))  # fmt: skip
        session.add(ModelVersion(id=version, workspace_id=workspace_id, kind=KIND, algorithm="LightGBM, calibrated",
                                 params={"calibration": final.calibration_method_}, metrics=metrics,
                                 trained_at=now, events_until=latest, users=len(test.profile_ids), items=0,
                                 active=True, artifact=json.dumps(final.to_dict()).encode()))  # fmt: skip
        session.execute(delete(ProfileScore).where(ProfileScore.workspace_id == workspace_id,
                                                   ProfileScore.name == SCORE))  # fmt: skip
        rows = [{"workspace_id": workspace_id, "profile_id": pid, "name": SCORE, "value": float(value),
                 "model_version": version, "scored_at": now} for pid, value in zip(current.profile_ids, scores,
                                                                                       strict=True)]  # fmt: skip
        for start in range(0, len(rows), 5000):
            session.execute(insert(ProfileScore), rows[start : start + 5000])
    return {"version": version, "metrics": metrics, "scored": len(rows)}


_LOADED: dict[str, Propensity] = {}  # version id -> model, so explaining a person does not re-read the trees


def explain_person(session: Session, workspace_id: str, profile_id: str, now: datetime | None = None
                   ) -> dict[str, Any] | None:  # fmt: skip
    """The active model's probability that this person orders within 30 days, and the main reasons, from
    their events up to now; None before any model is trained."""
    active = (ModelVersion.workspace_id == workspace_id, ModelVersion.kind == KIND, ModelVersion.active.is_(True))
    row = session.execute(select(ModelVersion.id, ModelVersion.artifact).where(*active)).first()
    if row is None:
        return None
    if row.id not in _LOADED:
        _LOADED.clear()
        _LOADED[row.id] = Propensity.from_dict(json.loads(row.artifact))
    model = _LOADED[row.id]
    merged = select(Profile.id).where(Profile.workspace_id == workspace_id, Profile.merged_into == profile_id)
    members = [profile_id, *session.execute(merged).scalars()]
    now = now or datetime.now(UTC).replace(tzinfo=None)
    taken = snapshot(session, workspace_id, now, {member: profile_id for member in members}, only=members)
    if not taken.profile_ids:
        return {"probability": None, "text": "No activity in the last 180 days.", "factors": []}
    why = model.explain({name: values[0] for name, values in taken.features.items()}, max_factors=3)
    return {"probability": round(why.probability, 4), "text": why.text,
            "factors": [{"feature": f.feature, "value": f.value, "log_odds": round(f.log_odds, 3), "text": f.text}
                        for f in why.factors]}  # fmt: skip
