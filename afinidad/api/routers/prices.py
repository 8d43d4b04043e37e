"""Dynamic prices: proposals within the workspace's guardrails, a person's approval, prices set by hand
(checked against the same guardrails) and a competitor price feed. No endpoint takes a person."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.decide import price_service as service
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/prices", tags=["pricing"])


class ProposeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_ids: (
        Annotated[list[Annotated[str, Field(max_length=255)]], Field(min_length=1, max_length=10_000)] | None
    ) = Field(None, description="Only these products (default: the whole active catalog).")


@router.post("/proposals", summary="Propose prices within the guardrails (applied at once if approval is off)")
def propose(body: ProposeIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
            ) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.propose_prices(session, caller.workspace_id, body.product_ids)


@router.get("/proposals", summary="Price proposals, newest first")
def proposals(status: Literal["proposed", "applied", "rejected", "superseded"] | None = Query(None),
              caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
              ) -> dict[str, Any]:  # fmt: skip
    return {"data": service.list_proposals(session, caller.workspace_id, status)}


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000)


def _by(caller: Caller) -> str:
    return f"key {caller.key_id}"


@router.post("/proposals/{proposal_id}/approve", summary="Apply a proposed price (checked again now)")
def approve(proposal_id: str, body: DecisionIn | None = None, caller: Caller = Depends(secret_caller),
            p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.approve(session, caller.workspace_id, proposal_id, _by(caller), body.note if body else None)


@router.post("/proposals/{proposal_id}/reject", summary="Turn a proposed price down")
def reject(proposal_id: str, body: DecisionIn | None = None, caller: Caller = Depends(secret_caller),
           p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.reject(session, caller.workspace_id, proposal_id, _by(caller), body.note if body else None)


class PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4, allow_inf_nan=False)]


@router.put("/{product_id}", summary="Set a product's price by hand, within the guardrails")
def set_price(product_id: str, body: PriceIn, caller: Caller = Depends(secret_caller),
              p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    """A price outside the guardrails is a 400 naming each guardrail it breaks; nothing changes."""
    with p.store.session() as session:
        return service.set_price(session, caller.workspace_id, product_id, body.price)


class CompetitorPriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(max_length=255)
    competitor: str = Field(min_length=1, max_length=100)
    price: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4, allow_inf_nan=False)]
    currency: str | None = Field(None, min_length=3, max_length=3)
    observed_at: datetime | None = None


class CompetitorFeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prices: Annotated[list[CompetitorPriceIn], Field(min_length=1, max_length=10_000)]


@router.post("/competitors", summary="Competitor prices from a feed (the latest per product and competitor)")
def competitors(body: CompetitorFeedIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
                ) -> dict[str, Any]:  # fmt: skip
    rows = []
    for item in body.prices:
        row = item.model_dump()
        if item.observed_at is not None and item.observed_at.tzinfo is not None:
            row["observed_at"] = item.observed_at.astimezone(UTC).replace(tzinfo=None)
        rows.append(row)
    with p.store.session() as session:
        return {"stored": service.record_competitor_prices(session, caller.workspace_id, rows)}
