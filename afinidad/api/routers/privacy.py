"""Privacy requests over HTTP: export and erase a person (secret key), the audit log (admin key)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, admin_caller, platform, read_session, secret_caller
from afinidad.privacy import audit
from afinidad.privacy.requests import checkpoint_sqlite, erase_person, export_archive, export_person
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


class PersonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier: str = Field(min_length=1, max_length=500, description="A profile id or any identifier of the person.")


class ExportRequest(PersonRequest):
    format: Literal["json", "csv"] = Field("json", description="json, or csv: a ZIP of one CSV per kind of record.")


def actor_of(caller: Caller) -> str:
    return f"{caller.kind.value} key {caller.key_id}"


@router.post("/export", summary="Everything held on a person, as JSON or a ZIP of CSV files (audited)")
def export(body: ExportRequest, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)) -> Any:
    with p.store.session() as session:  # a write transaction: the audit entry is part of it
        document = export_person(session, caller.workspace_id, body.identifier, actor=actor_of(caller))
    if body.format == "csv":
        return Response(
            export_archive(document),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="afinidad-export.zip"'},
        )
    return document


@router.post("/erase", summary="Remove a person from every table; later events naming them are dropped (audited)")
def erase(body: PersonRequest, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)) -> dict:
    with p.store.session() as session:
        removed = erase_person(session, caller.workspace_id, body.identifier, actor=actor_of(caller))
    checkpoint_sqlite(p.store.engine)
    return {"erased": True, "removed": removed}


@router.get("/audit", summary="Who exported or erased whose data, and when (admin key)")
def audit_log(
    limit: int = Query(100, ge=1, le=1000),
    caller: Caller = Depends(admin_caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    return {"data": audit.entries(session, caller.workspace_id, limit)}
