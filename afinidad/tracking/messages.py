"""Segment's tracking spec as pydantic models: the contract at the edge of the platform.

Field names are Segment's (camelCase) so every Segment and RudderStack library can point at us unchanged.
Unknown top-level fields are kept (`extra="allow"`), since clients send `channel`, `version` and others."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

# Ids are strings; numbers are accepted and turned into strings (the models set `coerce_numbers_to_str`, as
# Segment's libraries stringify numeric ids), never booleans or objects. No Python validator here: this is
# checked for every id of every message, in pydantic's compiled core.
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class ExternalId(BaseModel):
    """An identifier from another system (`context.externalIds`): an app device, a loyalty card, an ESP id."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)
    id: Identifier
    type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    collection: str | None = None
    encoding: str | None = None


class Context(BaseModel):
    """Kept whole: only the parts identity resolution and enrichment read are typed."""

    model_config = ConfigDict(extra="allow")
    externalIds: list[ExternalId] | None = None
    traits: dict[str, Any] | None = None
    ip: str | None = None
    timezone: str | None = None
    locale: str | None = None
    userAgent: str | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True)

    messageId: Identifier | None = None
    userId: Identifier | None = None
    anonymousId: Identifier | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: Context = Field(default_factory=Context)
    integrations: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _needs_an_identity(self) -> _Message:
        if self.userId is None and self.anonymousId is None:
            raise ValueError("userId or anonymousId is required")
        return self


class TrackMessage(_Message):
    type: Literal["track"] = "track"
    event: Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    properties: dict[str, Any] = Field(default_factory=dict)


class PageMessage(_Message):
    type: Literal["page"] = "page"
    name: Annotated[str, StringConstraints(max_length=255)] | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class ScreenMessage(_Message):
    type: Literal["screen"] = "screen"
    name: Annotated[str, StringConstraints(max_length=255)] | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class IdentifyMessage(_Message):
    type: Literal["identify"] = "identify"
    traits: dict[str, Any] = Field(default_factory=dict)


class GroupMessage(_Message):
    type: Literal["group"] = "group"
    groupId: Identifier
    traits: dict[str, Any] = Field(default_factory=dict)


class AliasMessage(_Message):
    type: Literal["alias"] = "alias"
    previousId: Identifier


Message = TrackMessage | PageMessage | ScreenMessage | IdentifyMessage | GroupMessage | AliasMessage

MESSAGE_TYPES: dict[str, type[_Message]] = {
    "track": TrackMessage,
    "page": PageMessage,
    "screen": ScreenMessage,
    "identify": IdentifyMessage,
    "group": GroupMessage,
    "alias": AliasMessage,
}


class Batch(BaseModel):
    """`POST /v1/batch`: what Segment's server-side libraries send."""

    model_config = ConfigDict(extra="allow")
    batch: list[Annotated[Message, Field(discriminator="type")]]
    sentAt: datetime | None = None
    context: dict[str, Any] | None = None
    writeKey: str | None = None


class Accepted(BaseModel):
    success: bool = True
    accepted: int = Field(description="Messages stored by this request.")
    duplicates: int = Field(description="Messages already stored earlier (same messageId): not stored again.")
