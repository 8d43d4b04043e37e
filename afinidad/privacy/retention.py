"""Retention of raw events: a workspace that sets `event_retention_days` keeps events only that long.
Profiles keep their aggregates (counts, first and last seen); the raw events behind them go."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from afinidad.privacy.audit import record
from afinidad.store.models import Event


def expired_events(session: Session, workspace_id: str, days: int, now: datetime | None = None) -> int:
    cutoff = (now or datetime.now(UTC).replace(tzinfo=None)) - timedelta(days=days)
    return session.execute(
        select(func.count()).select_from(Event).where(Event.workspace_id == workspace_id, Event.timestamp < cutoff)
    ).scalar_one()


def delete_expired_events(
    session: Session,
    workspace_id: str,
    days: int,
    *,
    actor: str,
    now: datetime | None = None,
    batch: int = 5000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the workspace's events whose time is more than `days` ago, in batches; returns how many."""
    cutoff = (now or datetime.now(UTC).replace(tzinfo=None)) - timedelta(days=days)
    deleted = 0
    while True:
        seqs = list(
            session.execute(
                select(Event.seq).where(Event.workspace_id == workspace_id, Event.timestamp < cutoff).limit(batch)
            ).scalars()
        )
        if not seqs:
            break
        deleted += session.execute(delete(Event).where(Event.seq.in_(seqs))).rowcount
        if on_progress:
            on_progress(deleted)
    record(session, workspace_id, actor=actor, action="privacy.retention", subject=None,
           details={"days": days, "cutoff": cutoff.isoformat() + "Z", "events_deleted": deleted})  # fmt: skip
    return deleted
