"""The caller's own workspace: what it holds, and its recent events (a live debugger, as in Segment)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, admin_caller, platform, read_session, secret_caller
from afinidad.profiles.service import count_profiles, event_view
from afinidad.store.models import Event, Workspace
from afinidad.workspaces.service import Caller
from afinidad.workspaces.settings import read_settings, update_settings

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


@router.get("/workspace/settings", summary="Retention and consent defaults")
def get_settings(caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)) -> dict[str, Any]:
    return read_settings(session, caller.workspace_id).model_dump(mode="json")


@router.patch("/workspace/settings", summary="Change retention and consent defaults (admin key; null removes)")
def patch_settings(
    changes: dict[str, Any] = Body(..., examples=[{"event_retention_days": 365, "consent_defaults": {"ads": False}}]),
    caller: Caller = Depends(admin_caller),
    p: Platform = Depends(platform),
) -> dict[str, Any]:
    with p.store.session() as session:
        return update_settings(session, caller.workspace_id, changes).model_dump(mode="json")
