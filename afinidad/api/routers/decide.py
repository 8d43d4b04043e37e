"""Content blocks and `POST /v1/decide`: which variant a person sees in a slot, logged as a decision."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.decide import block_evaluation, service
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.put("/blocks/{slot}", summary="Create or replace the content block of a slot")
def put_block(slot: str, body: dict[str, Any] = Body(...), caller: Caller = Depends(secret_caller),
              p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    """Variants with their content, weights (percent, summing to 100) and optional targeting (`when`:
    allowed context values; `segment`: a segment's name); `policy`: fixed, experiment (sticky per person;
    with `experiment`, an experiment's key, that experiment assigns, logs exposures and reports results) or
    bandit."""
    with p.store.session() as session:
        return service.save_block(session, caller.workspace_id, {**body, "slot": slot})


@router.get("/blocks", summary="The workspace's content blocks")
def list_blocks(caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)) -> dict[str, Any]:
    return {"data": service.list_blocks(session, caller.workspace_id)}


@router.get("/blocks/{slot}", summary="One content block")
def get_block(slot: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
              ) -> dict[str, Any]:  # fmt: skip
    return service.describe(service.get_block(session, caller.workspace_id, slot))


@router.get("/blocks/{slot}/evaluation", summary="What other policies would have earned on this block's traffic")
def evaluate_block(slot: str, days: int = Query(30, ge=1, le=365), caller: Caller = Depends(secret_caller),
                   session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    """Off-policy evaluation of the block's decision log: its own click or conversion rate, and IPW and
    SNIPW estimates for each variant shown to everyone and for all variants equally."""
    return block_evaluation.evaluate_block(session, caller.workspace_id, slot, days)


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: str = Field(max_length=40)
    user: str | None = Field(None, max_length=255, description="Who: a user id, e-mail, profile id...")
    context: dict[str, Any] = Field(default_factory=dict, description="local_time, device, weather... as "
                                    "for recommendations")  # fmt: skip


@router.post("/decide", summary="The variant this person sees in this slot now (logged as a decision)")
def decide(body: DecideIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
           ) -> dict[str, Any]:  # fmt: skip
    """An unknown slot is a 404 and nothing is logged; a bad context a 400 naming the field."""
    with p.store.session() as session:
        return service.decide(session, caller.workspace_id, body.slot, body.user, body.context)
