"""Unified profiles: one person across web, app, e-mail and store, and their timeline."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.consent import service as consent
from afinidad.consent.purposes import PURPOSES
from afinidad.errors import FieldProblem, InvalidInput
from afinidad.profiles import service as profiles
from afinidad.profiles.personalization import personalization_context
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])


def _encode_cursor(key: tuple[datetime, int] | None) -> str | None:
    if key is None:
        return None
    return base64.urlsafe_b64encode(f"{key[0].isoformat()}|{key[1]}".encode()).decode()


def _decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        moment, _, seq = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(moment), int(seq)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput("Invalid cursor.", [FieldProblem("cursor", "not a cursor this API returned")]) from error


@router.get("/{identifier}", summary="The unified profile behind any identifier")
def get_profile(
    identifier: str,
    caller: Caller = Depends(secret_caller),
    session: Session = Depends(read_session),
    p: Platform = Depends(platform),
) -> dict[str, Any]:
    """`identifier` is a profile id, `kind:value` (`user_id:42`, `email:ana@example.com`,
    `loyalty_card:LC-1`), or a bare user id, anonymous id, e-mail or +phone."""
    return profiles.get_profile(session, caller.workspace_id, identifier, p.settings.default_phone_region)


@router.get("/{identifier}/events", summary="The profile's timeline, newest first")
def get_events(
    identifier: str,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page"),
    event: str | None = Query(None, description="Only this event name or message type"),
    caller: Caller = Depends(secret_caller),
    session: Session = Depends(read_session),
    p: Platform = Depends(platform),
) -> dict[str, Any]:
    events, next_key = profiles.timeline(
        session,
        caller.workspace_id,
        identifier,
        limit=limit,
        before=_decode_cursor(cursor),
        event=event,
        default_region=p.settings.default_phone_region,
    )
    return {"data": events, "next_cursor": _encode_cursor(next_key)}


@router.get("/{identifier}/merges", summary="Why this profile is what it is: merges, refusals, blocks")
def get_merges(
    identifier: str,
    caller: Caller = Depends(secret_caller),
    session: Session = Depends(read_session),
    p: Platform = Depends(platform),
) -> dict[str, Any]:
    return {"data": profiles.merges_of(session, caller.workspace_id, identifier, p.settings.default_phone_region)}


class ConsentIn(BaseModel):
    """Choices per purpose, e.g. `{"purposes": {"email": true, "sms": false}, "text_version": "terms-2026-10"}`."""

    model_config = ConfigDict(extra="forbid")

    purposes: dict[str, bool] = Field(description=f"Purpose -> granted; purposes: {', '.join(PURPOSES)}.")
    source: str = Field("api", min_length=1, max_length=40, description="Where the choice was made.")
    text_version: str | None = Field(None, max_length=100, description="The version of the text agreed to.")
    at: AwareDatetime | None = Field(None, description="When the person chose; default: now.")


@router.put("/{identifier}/consent", summary="Record consent choices per purpose (kept as history)")
def put_consent(
    identifier: str, body: ConsentIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
) -> dict[str, Any]:
    at = body.at.astimezone(UTC).replace(tzinfo=None) if body.at else None
    with p.store.session() as session:
        state = consent.set_consent(session, caller.workspace_id, identifier, body.purposes, source=body.source,
                                    text_version=body.text_version, at=at)  # fmt: skip
        return {"profile_id": state.profile_id, "purposes": state.purposes}


@router.get("/{identifier}/consent", summary="Consent now per purpose, and its history")
def get_consent(
    identifier: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    state = consent.consent_state(session, caller.workspace_id, identifier)
    history = consent.consent_history(session, caller.workspace_id, identifier)
    return {"profile_id": state.profile_id, "purposes": state.purposes, "history": history}


@router.get("/{identifier}/personalization", summary="What personalisation may use about this person now")
def get_personalization(
    identifier: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    """Empty, with the reason, when the person has not consented to `personalization`."""
    return personalization_context(session, caller.workspace_id, identifier)
