"""Rule segments: define them in JSON or text, read their members, sizes and changes, export them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.segments import service
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/segments", tags=["segments"])


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100)
    description: str | None = Field(None, max_length=2000)
    rule: dict[str, Any] | None = Field(None, description="The rule as JSON (see docs/segments.md).")
    text: str | None = Field(None, max_length=5000, description='Or as text: count("Order Completed" in 90d) >= 2')


class SegmentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=2000)
    rule: dict[str, Any] | None = None
    text: str | None = Field(None, max_length=5000)


@router.post("", status_code=201, summary="Define a segment; its members are computed at once")
def create(body: SegmentIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)) -> dict[str, Any]:
    return service.create_segment(p.store, caller.workspace_id, body.name, rule=body.rule, text=body.text,
                                  description=body.description)  # fmt: skip


@router.get("", summary="The workspace's segments with their sizes")
def list_all(caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)) -> dict[str, Any]:
    return {"data": service.list_segments(session, caller.workspace_id)}


@router.get("/{segment}", summary="One segment, by name or id")
def get_one(segment: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
            ) -> dict[str, Any]:  # fmt: skip
    return service.get_segment(session, caller.workspace_id, segment)


@router.patch("/{segment}", summary="Change a segment's rule or description; members are recomputed")
def change(segment: str, body: SegmentChange, caller: Caller = Depends(secret_caller),
           p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    if body.rule is None and body.text is None:
        with p.store.session() as session:
            found = service.get_segment(session, caller.workspace_id, segment)
        return service.update_segment(p.store, caller.workspace_id, segment, rule=found["rule"],
                                      description=body.description)  # fmt: skip
    return service.update_segment(p.store, caller.workspace_id, segment, rule=body.rule, text=body.text,
                                  description=body.description)  # fmt: skip


@router.delete("/{segment}", status_code=204, summary="Delete a segment (refused while other segments read it)")
def remove(segment: str, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)) -> Response:
    with p.store.session() as session:
        service.delete_segment(session, caller.workspace_id, segment)
    return Response(status_code=204)


@router.post("/{segment}/rebuild", summary="Recompute the members over every profile now")
def rebuild(segment: str, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
            ) -> dict[str, Any]:  # fmt: skip
    with p.store.reader() as session:
        segment_id = service.get_segment(session, caller.workspace_id, segment)["id"]
    [done] = service.rebuild(p.store, caller.workspace_id, [segment_id])
    return {"segment": done.segment_id, "size": done.size, "entered": done.entered, "left": done.left}


@router.get("/{segment}/members", summary="A page of members, by profile id")
def list_members(
    segment: str,
    limit: int = Query(100, description="1 to 1000."),
    after: str | None = Query(None, max_length=40, description="The `next` of the previous page."),
    caller: Caller = Depends(secret_caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    return service.members(session, caller.workspace_id, segment, limit=limit, after=after)


@router.get("/{segment}/members.csv", summary="Every member as CSV, with the traits asked for")
def export(
    segment: str,
    traits: str = Query("email", max_length=1000, description="Comma-separated trait names (dotted for nested)."),
    caller: Caller = Depends(secret_caller),
    p: Platform = Depends(platform),
) -> StreamingResponse:
    names = [name.strip() for name in traits.split(",") if name.strip()][:50]
    with p.store.reader() as session:
        service.get_segment(session, caller.workspace_id, segment)  # a 404 before the stream starts

    def lines():  # type: ignore[no-untyped-def]
        with p.store.reader() as session:
            yield from service.export_csv(session, caller.workspace_id, segment, names)

    return StreamingResponse(lines(), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{segment}.csv"'})  # fmt: skip


@router.get("/{segment}/sizes", summary="The segment's size after each rebuild")
def size_history(segment: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
                 ) -> dict[str, Any]:  # fmt: skip
    return {"data": service.sizes(session, caller.workspace_id, segment)}


@router.get("/{segment}/changes", summary="Who entered and left, newest first")
def recent_changes(
    segment: str,
    limit: int = Query(100, ge=1, le=1000),
    caller: Caller = Depends(secret_caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    return {"data": service.changes(session, caller.workspace_id, segment, limit)}
