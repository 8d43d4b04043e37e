"""The caller's own workspace: what it holds, and its recent events (a live debugger, as in Segment)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from afinidad.api.dependencies import read_session, secret_caller
from afinidad.profiles.service import count_profiles, event_view
from afinidad.store.models import Event, Workspace
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1", tags=["workspace"])


@router.get("/workspace", summary="This workspace and what it holds")
def get_workspace(caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)) -> dict[str, Any]:
    workspace = session.get(Workspace, caller.workspace_id)
    assert workspace is not None
    events = session.execute(
        select(func.count()).select_from(Event).where(Event.workspace_id == caller.workspace_id)
    ).scalar_one()
    return {
        "id": workspace.id,
        "name": workspace.name,
        "created_at": workspace.created_at.isoformat(),
        "events": events,
        "profiles": count_profiles(session, caller.workspace_id),
    }


@router.get("/events", summary="The most recent events received, newest first")
def recent_events(
    limit: int = Query(50, ge=1, le=500),
    event: str | None = Query(None),
    caller: Caller = Depends(secret_caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    query = select(Event).where(Event.workspace_id == caller.workspace_id)
    if event:
        query = query.where(Event.event == event)
    rows = session.execute(query.order_by(Event.seq.desc()).limit(limit)).scalars()
    return {"data": [event_view(row) for row in rows]}
