"""Experiments as a workspace keeps them: defined as drafts, started, assigned (every exposure logged as a
decision with its propensity), stopped with a variant shipped, and analysed from the decision log and the
events that followed each exposure.

Assignment hashes the experiment id with the profile id (the same answer on every channel and server, no
table of assignments); a visitor without a profile yet is hashed by the identifier they came with, and that
identifier is resolved to its profile when the results are read."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from afinidad.decide.assignment import at_point, bucket
from afinidad.decide.experiments import CHANGEABLE_WHILE_RUNNING, Experiment, Metric, check_experiment
from afinidad.decide.outcomes import Exposure, Happened, MetricValues, first_exposures, metric_values
from afinidad.decide.results import experiment_results
from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound
from afinidad.profiles.service import find_profile_id
from afinidad.recommend import context as contexts
from afinidad.store.models import Decision, Event, Profile, Segment, SegmentMember
from afinidad.store.models import Experiment as ExperimentRow

CACHE_SECONDS = 5.0  # a started, stopped or edited experiment reaches every server within this


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def describe(row: ExperimentRow) -> dict[str, Any]:
    return {"id": row.id, "key": row.key, "status": row.status, "shipped": row.shipped, **row.definition,
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "started_at": _iso(row.started_at), "stopped_at": _iso(row.stopped_at)}  # fmt: skip


def _stored(experiment: Experiment) -> dict[str, Any]:
    return experiment.model_dump(mode="json", exclude={"key"})


def get_row(session: Session, workspace_id: str, ref: str) -> ExperimentRow:
    """An experiment by its id or its key."""
    column = ExperimentRow.id if ref.startswith("exp_") else ExperimentRow.key
    row = session.execute(select(ExperimentRow).where(ExperimentRow.workspace_id == workspace_id,
                                                      column == ref)).scalar()  # fmt: skip
    if row is None:
        raise NotFound(f"No experiment {ref!r} in this workspace.")
    return row


def list_experiments(session: Session, workspace_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(ExperimentRow).where(ExperimentRow.workspace_id == workspace_id)
                           .order_by(ExperimentRow.created_at, ExperimentRow.key)).scalars()  # fmt: skip
    return [describe(row) for row in rows]


def create_experiment(session: Session, workspace_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A new experiment, as a draft: nobody is assigned until it is started."""
    experiment = check_experiment(raw)
    now = _now()
    row = ExperimentRow(id="exp_" + uuid.uuid4().hex[:20], workspace_id=workspace_id, key=experiment.key,
                        status="draft", definition=_stored(experiment), created_at=now, updated_at=now)  # fmt: skip
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"An experiment with the key {experiment.key!r} exists already.") from error
    return describe(row)


def update_experiment(session: Session, workspace_id: str, ref: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Replace a draft's definition. Once units were assigned only what keeps the analysis sound may change
    (traffic, metrics, names...); changing the variants or their split is refused: start a new experiment."""
    row = get_row(session, workspace_id, ref)
    experiment = check_experiment({**raw, "key": row.key})
    new = _stored(experiment)
    if row.status != "draft":
        old = row.definition
        fixed = sorted(k for k in new if k not in CHANGEABLE_WHILE_RUNNING and new[k] != old.get(k))
        if fixed:
            raise Conflict(f"The experiment is {row.status}: {', '.join(fixed)} cannot change once units were "
                           "assigned (it would mix two experiments in one analysis); nothing was changed.")  # fmt: skip
    row.definition, row.updated_at = new, _now()
    EXPERIMENTS.forget(workspace_id)
    return describe(row)


def start_experiment(session: Session, workspace_id: str, ref: str) -> dict[str, Any]:
    row = get_row(session, workspace_id, ref)
    if row.status != "draft":
        raise Conflict(f"The experiment is {row.status}; only a draft can start (a stopped one stays stopped).")
    row.status, row.started_at = "running", _now()
    row.updated_at = row.started_at
    EXPERIMENTS.forget(workspace_id)
    return describe(row)


def stop_experiment(session: Session, workspace_id: str, ref: str, ship: str | None = None) -> dict[str, Any]:
    """Stop assigning; everyone then sees `ship` (a variant), or the control when none is shipped."""
    row = get_row(session, workspace_id, ref)
    if row.status != "running":
        raise Conflict(f"The experiment is {row.status}; only a running one can stop.")
    variants = [variant["id"] for variant in row.definition["variants"]]
    if ship is not None and ship not in variants:
        raise InvalidInput("Unknown variant to ship; nothing was changed.",
                           [FieldProblem("ship", f"one of {', '.join(variants)}")])  # fmt: skip
    row.status, row.stopped_at, row.shipped = "stopped", _now(), ship
    row.updated_at = row.stopped_at
    EXPERIMENTS.forget(workspace_id)
    return describe(row)


class _Experiments:
    """Experiments by (workspace, key or id) with their parsed definition, kept a few seconds: assignment sits
    in a page render."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[tuple[str, str], tuple[float, dict[str, Any], Experiment]] = {}

    def get(self, session: Session, workspace_id: str, ref: str) -> tuple[dict[str, Any], Experiment]:
        found = self._cached.get((workspace_id, ref))
        if found and time.monotonic() - found[0] < CACHE_SECONDS:
            return found[1], found[2]
        row = get_row(session, workspace_id, ref)
        described = describe(row)
        experiment = parsed(row)
        with self._lock:
            self._cached[(workspace_id, ref)] = (time.monotonic(), described, experiment)
        return described, experiment

    def forget(self, workspace_id: str) -> None:
        with self._lock:
            for key in [key for key in self._cached if key[0] == workspace_id]:
                del self._cached[key]


EXPERIMENTS = _Experiments()


def _in_segment(session: Session, workspace_id: str, profile_id: str | None, segment: str) -> bool:
    if profile_id is None:
        return False
    found = session.execute(select(SegmentMember.profile_id).join(Segment, Segment.id == SegmentMember.segment_id)
                            .where(SegmentMember.workspace_id == workspace_id, SegmentMember.profile_id == profile_id,
                                   (Segment.name == segment) | (Segment.id == segment)).limit(1)).first()  # fmt: skip
    return found is not None


def assign(session: Session, workspace_id: str, ref: str, identifier: str | None, raw_context: dict[str, Any]
           ) -> dict[str, Any]:  # fmt: skip
    """The variant this person sees. Units inside the experiment are logged as an exposure (a decision the
    caller commits); those outside its targeting or traffic, or after it stopped, see the control (or the
    shipped variant) and are not logged: they are not part of the analysis."""
    if not identifier or not identifier.strip():
        raise InvalidInput("Assignment needs someone to be sticky for.", [FieldProblem("user", "required")])
    given = contexts.of_request(raw_context)
    described, experiment = EXPERIMENTS.get(session, workspace_id, ref)
    if described["status"] == "draft":
        raise Conflict(f"The experiment {experiment.key!r} has not started.")
    try:
        profile_id: str | None = find_profile_id(session, workspace_id, identifier)
    except NotFound:
        profile_id = None
    unit = profile_id or identifier.strip()
    variant, inside, propensity = described["shipped"] or experiment.control, False, None
    if described["status"] == "running":
        targeting = experiment.targeting
        fits = all(given.get(name) in allowed for name, allowed in targeting.when.items())
        if fits and targeting.segment is not None:
            fits = _in_segment(session, workspace_id, profile_id, targeting.segment)
        if fits and bucket(described["id"], unit, "traffic") < experiment.traffic / 100.0:
            index, propensity = at_point([v.weight for v in experiment.variants], bucket(described["id"], unit))
            variant = experiment.variants[index].id
            inside = True
    decision_id = None
    if inside:
        decision_id = "dec_" + uuid.uuid4().hex[:20]
        logged = {"given": given} if profile_id else {"given": given, "unit": unit}
        session.add(Decision(id=decision_id, workspace_id=workspace_id, profile_id=profile_id, slot=experiment.key,
                             policy="experiment", model_version=described["id"],
                             items=[{"variant": variant, "propensity": round(propensity or 0.0, 6)}],
                             context=logged, at=_now()))  # fmt: skip
    content = next(v.content for v in experiment.variants if v.id == variant)
    return {"experiment": experiment.key, "experiment_id": described["id"], "status": described["status"],
            "variant": variant, "content": content, "in_experiment": inside, "decision_id": decision_id,
            "propensity": round(propensity, 6) if propensity is not None else None,
            "profile_id": profile_id}  # fmt: skip


def _merged(session: Session, workspace_id: str) -> dict[str, str]:
    """Every profile merged into another, to the one it lives on now: usually few, so one read of them is
    cheaper than looking every unit up (200 reads of 500 ids for 100,000 units)."""
    return dict(session.execute(select(Profile.id, Profile.merged_into).where(
        Profile.workspace_id == workspace_id, Profile.merged_into.is_not(None))).all())  # fmt: skip


def _exposures(session: Session, workspace_id: str, experiment_id: str,
               merged: dict[str, str]) -> list[tuple[str, str, datetime]]:  # fmt: skip
    """(unit, variant, at) of every logged exposure, units as they are known now. Exposures of someone
    without a profile at the time carry the identifier they came with, resolved here."""
    mine = (Decision.workspace_id == workspace_id, Decision.model_version == experiment_id)
    exposures = []
    for profile_id, items, at in session.execute(select(Decision.profile_id, Decision.items, Decision.at)
                                                 .where(*mine, Decision.profile_id.is_not(None))):  # fmt: skip
        if items:
            exposures.append((merged.get(profile_id, profile_id), items[0]["variant"], at))
    resolved: dict[str, str] = {}
    for items, context, at in session.execute(select(Decision.items, Decision.context, Decision.at)
                                              .where(*mine, Decision.profile_id.is_(None))):  # fmt: skip
        unit = (context or {}).get("unit")
        if not items or not unit:
            continue
        if unit not in resolved:
            try:
                resolved[unit] = find_profile_id(session, workspace_id, unit)  # follows merges itself
            except NotFound:
                resolved[unit] = unit  # still unknown: a unit of its own, with no events to count
        exposures.append((resolved[unit], items[0]["variant"], at))
    return exposures


def _events(session: Session, workspace_id: str, names: set[str], since: datetime, until: datetime,
            units: set[str], merged: dict[str, str]) -> list[Happened]:  # fmt: skip
    rows = session.execute(select(Event.profile_id, Event.event, Event.timestamp, Event.properties)
                           .where(Event.workspace_id == workspace_id, Event.event.in_(sorted(names)),
                                  Event.timestamp >= since, Event.timestamp < until,
                                  Event.profile_id.is_not(None))).all()  # fmt: skip
    happened = []
    for profile_id, event, at, properties in rows:
        unit = profile_id if profile_id in units else merged.get(profile_id)
        if unit in units:
            happened.append(Happened(unit, event, at, properties or {}))
    return happened


UnitValues = tuple[dict[str, Exposure], int, dict[str, MetricValues]]


def unit_values(session: Session, workspace_id: str, row: ExperimentRow, experiment: Experiment,
                metrics: list[Metric], until: datetime) -> UnitValues:  # fmt: skip
    """Each exposed unit's first exposure, how many units switched variant, and `metrics` per unit."""
    merged = _merged(session, workspace_id)
    units, switched = first_exposures(_exposures(session, workspace_id, row.id, merged))
    if not units:
        return units, switched, {metric.name: MetricValues(np.zeros(0), None, None) for metric in metrics}
    names = {m.event for m in metrics} | {m.denominator_event for m in metrics if m.denominator_event}
    since = min(exposure.at for exposure in units.values()) - timedelta(days=experiment.cuped_days)
    happened = _events(session, workspace_id, names, since, until, set(units), merged)
    values = {metric.name: metric_values(metric, units, happened, until, experiment.cuped_days) for metric in metrics}
    return units, switched, values


def parsed(row: ExperimentRow) -> Experiment:
    return Experiment.model_validate({**row.definition, "key": row.key})


def results(session: Session, workspace_id: str, ref: str, now: datetime | None = None) -> dict[str, Any]:
    """The experiment's analysis from its exposures and the events that followed them, as of now (or as of
    when it stopped)."""
    row = get_row(session, workspace_id, ref)
    experiment = parsed(row)
    until = row.stopped_at or now or _now()
    metrics = [*experiment.metrics, *experiment.guardrails]
    units, switched, values = unit_values(session, workspace_id, row, experiment, metrics, until)
    total = sum(v.weight for v in experiment.variants)
    planned = {v.id: 100.0 * v.weight / total for v in experiment.variants}
    report = experiment_results(experiment, units, planned, values, switched)
    return {"experiment": experiment.key, "experiment_id": row.id, "status": row.status, "shipped": row.shipped,
            "started_at": _iso(row.started_at), "as_of": _iso(until), **report}  # fmt: skip
