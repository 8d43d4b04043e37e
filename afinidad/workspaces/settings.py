"""Per-workspace settings that change what the platform does with people's data: how long raw events are
kept, and the consent assumed when a person has not chosen. Checked here so a typo never becomes a policy."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from afinidad.consent.purposes import Purpose
from afinidad.content.brand import BrandKit
from afinidad.content.providers import ProviderConfig
from afinidad.decide.price_rules import PricingRules
from afinidad.errors import FieldProblem, InvalidInput
from afinidad.recommend.slots import SlotRules
from afinidad.workspaces.service import get_workspace


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_retention_days: Annotated[int, Field(ge=1, le=36_500)] | None = Field(
        None, description="Raw events older than this many days are deleted by `afinidad privacy retention`."
    )
    consent_defaults: dict[Purpose, bool] = Field(
        default_factory=dict, description="Consent assumed per purpose when the person has not chosen."
    )
    recommend_retrain_hours: Annotated[int, Field(ge=0, le=8_760)] = Field(
        24, description="Retrain the personal model when it is this old and new events arrived (0: never)."
    )
    predict_retrain_hours: Annotated[int, Field(ge=0, le=8_760)] = Field(
        24,
        description="Retrain lifetime value, rescore customers and relearn RFM and micro-segments this often "
        "when new orders arrived (0: never).",
    )
    recommendation_slots: dict[Annotated[str, Field(min_length=1, max_length=40)], SlotRules] = Field(
        default_factory=dict, description="Rules per recommendation slot (home, product, cart, email...)."
    )
    brand_kit: BrandKit | None = Field(
        None, description="How the brand speaks and what it must not say (docs/content.md); default: its name only."
    )
    content_provider: ProviderConfig | None = Field(
        None,
        description="An OpenAI-compatible endpoint for briefs with writer 'provider'; the key is read from "
        "the environment variable it names, never stored.",
    )
    pricing: PricingRules = Field(
        default_factory=PricingRules, description="Dynamic pricing: objective, guardrails, approval (docs/pricing.md)."
    )


def read_settings(session: Session, workspace: str) -> WorkspaceSettings:
    row = get_workspace(session, workspace)
    stored = {key: value for key, value in (row.settings or {}).items() if key in WorkspaceSettings.model_fields}
    return WorkspaceSettings.model_validate(stored)


def update_settings(session: Session, workspace: str, changes: dict[str, Any]) -> WorkspaceSettings:
    """Merge `changes` into the stored settings (a null removes a setting); all checked or nothing changed."""
    row = get_workspace(session, workspace)
    merged = {**(row.settings or {}), **changes}
    try:
        checked = WorkspaceSettings.model_validate({k: v for k, v in merged.items() if v is not None})
    except ValidationError as error:
        problems = [
            FieldProblem(".".join(str(part) for part in item["loc"] if part != "[key]"), item["msg"])
            for item in error.errors(include_url=False)
        ]
        raise InvalidInput("Invalid workspace settings; nothing was changed.", problems) from error
    row.settings = {k: v for k, v in merged.items() if v is not None and k not in WorkspaceSettings.model_fields} | (
        checked.model_dump(mode="json", exclude_none=True)
    )
    return checked
