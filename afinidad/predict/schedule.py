"""Scheduled predictions: a workspace's lifetime-value model is retrained, its customers rescored and its
RFM groups and micro-segments relearned when the newest model is older than `predict_retrain_hours`
(24 by default, 0 turns it off) and orders arrived since. `afinidad worker` runs this."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from afinidad.errors import Conflict
from afinidad.predict import service
from afinidad.predict.buying_soon import train_and_score
from afinidad.store.engine import Store
from afinidad.store.models import Event, ModelVersion, Workspace
from afinidad.workspaces.settings import read_settings


@dataclass(frozen=True)
class Refreshed:
    workspace: str
    customers: int
    learned: int
    skipped: str | None = None


def due(store: Store, now: datetime, only: str | None = None) -> list[tuple[str, str]]:
    """(workspace id, name) of the workspaces whose predictions should be refreshed now."""
    found = []
    with store.reader() as session:
        chosen = select(Workspace.id, Workspace.name).order_by(Workspace.name)
        for workspace_id, name in session.execute(chosen.where(Workspace.id == only) if only else chosen):
            hours = read_settings(session, workspace_id).predict_retrain_hours
            if hours == 0:
                continue
            latest = session.execute(select(ModelVersion.trained_at, ModelVersion.events_until).where(
                ModelVersion.workspace_id == workspace_id, ModelVersion.kind == service.KIND)
                .order_by(ModelVersion.trained_at.desc()).limit(1)).first()  # fmt: skip
            if latest is not None and now - latest.trained_at < timedelta(hours=hours):
                continue
            newer = [Event.workspace_id == workspace_id, Event.event == "Order Completed"]
            if latest is not None and latest.events_until is not None:
                newer.append(Event.timestamp > latest.events_until + timedelta(days=1))
            if session.execute(select(exists().where(*newer))).scalar():
                found.append((workspace_id, name))
    return found


def refresh(store: Store, now: datetime, only: str | None = None) -> list[Refreshed]:
    from afinidad.segments.learned import learn

    done = []
    for workspace_id, name in due(store, now, only):
        try:
            service.train(store, workspace_id)
            customers = service.score(store, workspace_id, now)
            with suppress(Conflict):  # too few buyers and non-buyers to learn from yet: the rest still runs
                train_and_score(store, workspace_id, now)
            learned = learn(store, workspace_id, now=now)
            done.append(Refreshed(name, customers, len(learned)))
        except Conflict as refused:
            done.append(Refreshed(name, 0, 0, refused.detail))
    return done
