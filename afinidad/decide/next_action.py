"""Next best action from a past randomized experiment: for each person, the effect of each variant against the
control (often "send nothing") on one of the experiment's metrics, learned from who was assigned what and what
they did next; then, per person, the variant with the largest expected gain, or the control when none is
expected to beat it.

Training holds out half the units (by a hash, so the split is stable) to measure the targeting honestly: Qini
and uplift at 30% per action against random targeting, and what following the model would have earned
against giving everyone the same action (inverse propensity weighting on the randomized holdout). The model
is then refitted on every unit and kept as a model version; each answer is logged as a decision."""

from __future__ import annotations

import io
import pickle
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier, LGBMRegressor
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from afinidad.decide.assignment import buckets
from afinidad.decide.behaviour import FEATURES, HORIZON_DAYS, behaviour
from afinidad.decide.experiment_service import get_row, parsed, unit_values
from afinidad.decide.outcomes import Happened
from afinidad.decide.uplift import (
    NextBestAction,
    TwoModelUplift,
    policy_value,
    qini_auc_score,
    random_targeting,
    uplift_at_k,
)
from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound
from afinidad.profiles.service import find_profile_id
from afinidad.store.engine import Store
from afinidad.store.models import Decision, Event, ModelVersion
from afinidad.store.models import Experiment as ExperimentRow

MIN_UNITS_PER_VARIANT = 50
CHUNK = 500


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _kind(row: ExperimentRow) -> str:
    return f"nba:{row.id}"


def _history(session: Session, workspace_id: str, units: list[str], until: datetime) -> list[Happened]:
    """The units' events in the horizon before `until` (enough for every unit's own as-of time)."""
    since = until - timedelta(days=HORIZON_DAYS + 1)
    rows: list[Happened] = []
    for start in range(0, len(units), CHUNK):
        chunk = units[start : start + CHUNK]
        for profile_id, event, at, properties in session.execute(
            select(Event.profile_id, Event.event, Event.timestamp, Event.properties).where(
                Event.workspace_id == workspace_id, Event.profile_id.in_(chunk), Event.timestamp >= since,
                Event.timestamp < until)):  # fmt: skip
            rows.append(Happened(profile_id, event or "", at, properties or {}))
    return rows


def _model(binary: bool) -> TwoModelUplift:
    settings = {"n_estimators": 150, "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 40,
                "subsample": 0.8, "subsample_freq": 1, "random_state": 7, "verbose": -1, "n_jobs": 1}  # fmt: skip
    return TwoModelUplift(LGBMClassifier(**settings) if binary else LGBMRegressor(**settings))


def _evaluate(model: NextBestAction, X: np.ndarray, y: np.ndarray, actions: np.ndarray, control: str
              ) -> dict[str, Any]:  # fmt: skip
    """On held-out units: per action, Qini and uplift@30% beside random targeting; and the mean outcome of
    following the model against everyone getting one action."""
    uplifts = model.predict_uplift(X)
    per_action = {}
    for column, action in enumerate(model.actions_):
        rows = (actions == action) | (actions == control)
        treated = (actions[rows] == action).astype(int)
        if treated.sum() < 10 or (1 - treated).sum() < 10:
            continue
        baseline = random_targeting(y[rows], treated, k=0.3, repeats=50)
        per_action[str(action)] = {
            "units": int(rows.sum()),
            "qini_auc": round(qini_auc_score(y[rows], uplifts[rows, column], treated), 4),
            "uplift_at_30": round(uplift_at_k(y[rows], uplifts[rows, column], treated, 0.3), 4),
            "random_qini_auc": round(baseline.qini_auc, 4),
            "random_uplift_at_30": round(baseline.uplift_at_k, 4),
        }
    chosen = model.predict(X)
    policies = {"model": chosen, **{str(a): np.full(len(y), a, dtype=object) for a in (control, *model.actions_)}}
    values = {}
    for name, choice in policies.items():
        estimate = policy_value(y, actions, choice)
        values[name] = {"value": round(estimate.value, 6), "standard_error": round(estimate.standard_error, 6)}
    share = {str(a): round(float(np.mean(chosen == a)), 4) for a in (control, *model.actions_)}
    return {"actions": per_action, "policy_values": values, "chosen_share": share, "units": len(y)}


def train(store: Store, workspace_id: str, experiment: str, metric: str | None = None,
          on_step: Callable[[str], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Learn the next best action from an experiment's units on one of its metrics (the primary by default)."""
    step = on_step or (lambda _: None)
    step("reading exposures and outcomes")
    with store.reader() as session:
        row = get_row(session, workspace_id, experiment)
        definition = parsed(row)
        metrics = {m.name: m for m in definition.metrics}
        if metric is not None and metric not in metrics:
            raise InvalidInput(
                "Unknown metric for this experiment.", [FieldProblem("metric", f"one of {list(metrics)}")]
            )
        chosen_metric = metrics[metric] if metric else definition.metrics[0]
        if chosen_metric.kind == "ratio":
            raise InvalidInput("A ratio metric has no per-person outcome to learn.", [FieldProblem("metric", "ratio")])
        until = row.stopped_at or _now()
        units, _, values = unit_values(session, workspace_id, row, definition, [chosen_metric], until)
        ids = sorted(units)  # the same rows in the same order on every database: the same model
        history = _history(session, workspace_id, ids, until)
    actions = np.array([units[u].variant for u in ids], dtype=object)
    counts = {v.id: int(np.sum(actions == v.id)) for v in definition.variants}
    if min(counts.values(), default=0) < MIN_UNITS_PER_VARIANT:
        raise Conflict(f"Every variant needs {MIN_UNITS_PER_VARIANT} exposed units to learn from; have {counts}.")
    step(f"features of {len(ids):,} people as of their exposure")
    X = behaviour(ids, {u: units[u].at for u in ids}, history)
    position = {unit: i for i, unit in enumerate(units)}  # metric values come in the order of `units`
    y = values[chosen_metric.name].values[[position[u] for u in ids]]
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    held_out = buckets(row.id, ids, "nba-holdout") < 0.5
    step("measuring on a held-out half")
    measured = NextBestAction(_model(binary), definition.control).fit(X[~held_out], y[~held_out], actions[~held_out])
    evaluation = _evaluate(measured, X[held_out], y[held_out], actions[held_out], str(definition.control))
    step("fitting on every unit")
    model = NextBestAction(_model(binary), definition.control).fit(X, y, actions)
    buffer = io.BytesIO()
    pickle.dump(model, buffer)  # our own model, read back only by this module from our own database
    version = "mv_" + uuid.uuid4().hex[:20]
    with store.session() as session:
        session.execute(update(ModelVersion).where(ModelVersion.workspace_id == workspace_id,
                                                   ModelVersion.kind == _kind(row)).values(active=False))  # fmt: skip
        params = {"experiment": row.key, "metric": chosen_metric.name, "features": list(FEATURES),
                  "control": definition.control, "actions": [str(a) for a in model.actions_]}  # fmt: skip
        session.add(ModelVersion(id=version, workspace_id=workspace_id, kind=_kind(row),
                                 algorithm="two-model lightgbm", params=params, metrics=evaluation,
                                 trained_at=_now(), events_until=until, users=len(ids),
                                 items=len(definition.variants), active=True, artifact=buffer.getvalue()))  # fmt: skip
    MODELS.forget(workspace_id)
    return {"version": version, "experiment": row.key, "metric": chosen_metric.name, "units": len(ids),
            "control": definition.control, "evaluation": evaluation}  # fmt: skip


class _Models:
    """Active next-best-action models by (workspace, experiment id), loaded once per version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], tuple[str, dict[str, Any], NextBestAction]] = {}

    def get(
        self, session: Session, workspace_id: str, row: ExperimentRow
    ) -> tuple[str, dict[str, Any], NextBestAction]:
        found = session.execute(select(ModelVersion.id, ModelVersion.params).where(
            ModelVersion.workspace_id == workspace_id, ModelVersion.kind == _kind(row),
            ModelVersion.active.is_(True))).first()  # fmt: skip
        if found is None:
            raise NotFound(f"No next-best-action model for {row.key!r}: train one with "
                           f"`afinidad experiments next-action {row.key}`.")  # fmt: skip
        key = (workspace_id, row.id)
        cached = self._loaded.get(key)
        if cached and cached[0] == found.id:
            return cached
        artifact = session.execute(select(ModelVersion.artifact).where(ModelVersion.id == found.id)).scalar_one()
        loaded = (found.id, found.params, pickle.loads(artifact))  # noqa: S301 - written by `train` above
        with self._lock:
            self._loaded[key] = loaded
        return loaded

    def forget(self, workspace_id: str) -> None:
        with self._lock:
            for key in [key for key in self._loaded if key[0] == workspace_id]:
                del self._loaded[key]


MODELS = _Models()


def _reason(metric: str, action: str, control: str, gains: dict[str, float]) -> str:
    best = max(gains, key=gains.get)  # type: ignore[arg-type]
    if action == control:
        return (f"No action is expected to beat {control} on {metric} for this person "
                f"(best: {best}, {gains[best]:+.3g}).")  # fmt: skip
    return f"{action} is expected to change {metric} by {gains[action]:+.3g} against {control} for this person."


def next_best_action(session: Session, workspace_id: str, experiment: str, identifier: str) -> dict[str, Any]:
    """The action for this person now, with the expected gain of every action; logged as a decision."""
    row = get_row(session, workspace_id, experiment)
    version, params, model = MODELS.get(session, workspace_id, row)
    try:
        profile_id: str | None = find_profile_id(session, workspace_id, identifier)
    except NotFound:
        profile_id = None  # someone new: a row with no history
    now = _now()
    unit = profile_id or "?"
    history = _history(session, workspace_id, [profile_id], now) if profile_id else []
    X = behaviour([unit], {unit: now}, history)
    gains = {str(a): float(g) for a, g in zip(model.actions_, model.predict_uplift(X)[0], strict=True)}
    action = str(model.predict(X)[0])
    decision = "dec_" + uuid.uuid4().hex[:20]
    rounded = {k: round(v, 6) for k, v in gains.items()}
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=profile_id, slot=f"nba-{row.key}"[:40],
                         policy="uplift", model_version=version,
                         items=[{"variant": action, "propensity": 1.0, "gains": rounded}],
                         context={"experiment": row.key}, at=now))  # fmt: skip
    control = params["control"]
    return {"experiment": row.key, "metric": params["metric"], "action": action, "send_nothing": action == control,
            "control": control, "expected_gain": rounded,
            "reason": _reason(params["metric"], action, control, gains), "decision_id": decision,
            "model_version": version, "profile_id": profile_id}  # fmt: skip
