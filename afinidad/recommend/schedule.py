"""Scheduled retraining: a workspace's personal model is retrained when it is older than the workspace's
`recommend_retrain_hours` (24 by default, 0 turns it off) and product events arrived since it was trained;
a workspace that never trained gets its first model once it has enough events. A retrained model that
measures much worse than the one serving is stored but not activated (see `training._held_back`), so a
broken feed at night never reaches the shop's home page.

`afinidad worker` runs this every few minutes; `afinidad worker --once` is the same for a cron job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from afinidad.errors import Conflict
from afinidad.recommend.training import PRODUCT_EVENTS, Trained, train_personal
from afinidad.store.engine import Store
from afinidad.store.models import Event, ModelVersion, Workspace
from afinidad.workspaces.settings import read_settings


@dataclass(frozen=True)
class Due:
    workspace_id: str
    name: str
    why: str


def due(session: Session, now: datetime, only: str | None = None) -> list[Due]:
    """The workspaces (all, or `only` this id) whose personal model should be (re)trained now, and why."""
    found = []
    chosen = select(Workspace.id, Workspace.name).order_by(Workspace.name)
    for workspace_id, name in session.execute(chosen.where(Workspace.id == only) if only else chosen):
        hours = read_settings(session, workspace_id).recommend_retrain_hours
        if hours == 0:
            continue
        latest = session.execute(
            select(ModelVersion.trained_at, ModelVersion.events_until)
            .where(ModelVersion.workspace_id == workspace_id, ModelVersion.kind == "personal")
            .order_by(ModelVersion.trained_at.desc())
            .limit(1)
        ).first()  # the newest version, active or held back: a held-back one is not retried until it ages
        since = latest.events_until if latest else None
        newer = [Event.workspace_id == workspace_id, Event.event.in_(PRODUCT_EVENTS)]
        if since is not None:
            newer.append(Event.timestamp > since)
        if not session.execute(select(exists().where(*newer))).scalar():
            continue
        if latest is None:
            found.append(Due(workspace_id, name, "no model yet"))
        elif now - latest.trained_at >= timedelta(hours=hours):
            found.append(Due(workspace_id, name, f"model older than {hours} h, with new events"))
    return found


@dataclass(frozen=True)
class Outcome:
    due: Due
    trained: Trained | None
    skipped: str | None = None


def run_due(
    store: Store, now: datetime, on_workspace: Callable[[Due], None] | None = None, only: str | None = None
) -> list[Outcome]:
    """Train every due workspace (guarded); one that has too few interactions is skipped, not an error."""
    with store.reader() as session:
        pending = due(session, now, only)
    outcomes = []
    for item in pending:
        if on_workspace:
            on_workspace(item)
        try:
            outcomes.append(Outcome(item, train_personal(store, item.workspace_id, guarded=True)))
        except Conflict as refused:
            outcomes.append(Outcome(item, None, refused.detail))
    return outcomes
