"""The content studio: generate checked drafts from a brief, review them (submit, approve, reject, comment,
edit), render an approved piece for one person, and turn approved pieces into an experiment."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.content import service
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/content", tags=["content"])


def _actor(caller: Caller) -> str:
    return f"key {caller.key_id}"


@router.post("/generate", status_code=201, summary="Write checked drafts for a brief (offline by default)")
def generate(body: dict[str, Any] = Body(...), caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
             ) -> dict[str, Any]:  # fmt: skip
    """`content_type` (email, subject_line, search_ad, social_post, sms, product_description, review_reply),
    `language`, `goal`, `product_ids` (default: trending), `offer_percent` + `offer_code`, `season`,
    `network`, `url`, `personal`, `review`, `variants`, `seed`. Each draft comes with its check findings."""
    with p.store.session() as session:
        return service.generate_pieces(session, caller.workspace_id, body, _actor(caller))


@router.get("", summary="Content pieces, newest first")
def list_pieces(status: Literal["draft", "in_review", "approved", "rejected"] | None = Query(None),
                batch: str | None = Query(None, max_length=40), caller: Caller = Depends(secret_caller),
                session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    return {"data": service.list_pieces(session, caller.workspace_id, status, batch)}


@router.get("/usage", summary="Tokens and cost of the workspace's provider calls")
def usage(caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)) -> dict[str, Any]:
    return service.usage(session, caller.workspace_id)


@router.get("/ideas", summary="Ideas for copy from trending products, searches, reviews and the season")
def ideas(language: str = Query("en", max_length=10), caller: Caller = Depends(secret_caller),
          p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:  # reading trends logs what was shown, as every decision does
        return service.ideas(session, caller.workspace_id, language)


@router.get("/{piece_id}", summary="One piece with its findings")
def get_piece(piece_id: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
              ) -> dict[str, Any]:  # fmt: skip
    return service.describe(service.get_piece(session, caller.workspace_id, piece_id))


@router.get("/{piece_id}/history", summary="Who did what to a piece")
def piece_history(piece_id: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
                  ) -> dict[str, Any]:  # fmt: skip
    return {"data": service.history(session, caller.workspace_id, piece_id)}


@router.post("/{piece_id}/check", summary="Check a piece again against the brand kit and the catalog now")
def check_piece(piece_id: str, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
                ) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        service.recheck(session, caller.workspace_id, piece_id)
        return service.describe(service.get_piece(session, caller.workspace_id, piece_id))


class EditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: dict[str, str | list[str]]


@router.put("/{piece_id}", summary="Edit a piece's fields (a new version, checked again)")
def edit(piece_id: str, body: EditIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
         ) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.edit(session, caller.workspace_id, piece_id, body.fields, _actor(caller))


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(None, max_length=5000)


@router.post("/{piece_id}/submit", summary="Send a draft for review")
def submit(piece_id: str, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)) -> dict[str, Any]:
    with p.store.session() as session:
        return service.submit(session, caller.workspace_id, piece_id, _actor(caller))


@router.post("/{piece_id}/approve", summary="Approve a piece in review (refused while a finding blocks it)")
def approve(piece_id: str, body: NoteIn | None = None, caller: Caller = Depends(secret_caller),
            p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.approve(session, caller.workspace_id, piece_id, _actor(caller), body.comment if body else None)


@router.post("/{piece_id}/reject", summary="Reject a draft or a piece in review")
def reject(piece_id: str, body: NoteIn | None = None, caller: Caller = Depends(secret_caller),
           p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.reject(session, caller.workspace_id, piece_id, _actor(caller), body.comment if body else None)


@router.post("/{piece_id}/comments", summary="Comment on a piece")
def comment(piece_id: str, body: NoteIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
            ) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.comment_on(session, caller.workspace_id, piece_id, _actor(caller), body.comment or "")


class LocaliseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(min_length=2, max_length=10)


@router.post("/{piece_id}/localise", status_code=201, summary="The piece in another language, as a new draft")
def localise(piece_id: str, body: LocaliseIn, caller: Caller = Depends(secret_caller),
             p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    """English and Spanish offline (the same variant from aligned phrasings); any other language, or a
    provider's piece, through the workspace's content provider."""
    with p.store.session() as session:
        return service.localise(session, caller.workspace_id, piece_id, body.language, _actor(caller))


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(None, max_length=255, description="Whose merge fields to fill (first name...).")


@router.post("/{piece_id}/render", summary="An approved piece as one person receives it")
def render(piece_id: str, body: RenderIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
           ) -> dict[str, Any]:  # fmt: skip
    """Merge fields filled: first name, the last product they looked at, three products recommended for them
    (that recommendation is logged as a decision)."""
    with p.store.session() as session:
        return service.render(session, caller.workspace_id, piece_id, body.user)


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=40)
    piece_ids: list[str] = Field(min_length=2, max_length=20)
    metrics: list[dict[str, Any]] | None = None


@router.post("/experiments", status_code=201, summary="Approved pieces become the variants of an experiment")
def to_experiment(body: ExperimentIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
                  ) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.to_experiment(session, caller.workspace_id, body.piece_ids, body.key, _actor(caller),
                                     body.metrics)  # fmt: skip


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: str = Field(max_length=40)
    piece_ids: list[str] = Field(min_length=2, max_length=20)
    policy: Literal["bandit", "contextual"] = "bandit"


@router.post("/blocks", status_code=201, summary="Approved pieces become a content block that learns which works")
def to_block(body: BlockIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
             ) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.to_block(session, caller.workspace_id, body.piece_ids, body.slot, body.policy, _actor(caller))
