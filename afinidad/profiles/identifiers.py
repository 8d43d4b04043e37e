"""Which identifiers a message carries, normalised so the same person matches across channels:
`Ana@Example.com ` and `ana@example.com` are one e-mail, `(415) 555-0100` and `+14155550100` one phone."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers

USER_ID = "user_id"
ANONYMOUS_ID = "anonymous_id"
EMAIL = "email"
PHONE = "phone"
PREVIOUS_ID = "previous_id"  # alias: resolved to user_id or anonymous_id by the resolver

# Which identifier names a new profile: the most personal one the message has.
_PRIORITY = {USER_ID: 0, EMAIL: 1, PHONE: 2, ANONYMOUS_ID: 9}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, order=True)
class Identifier:
    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def normalise_email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if _EMAIL.match(email) and len(email) <= 255 else None


@lru_cache(maxsize=65536)
def normalise_phone(value: str, default_region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _kind_of_external(type_name: str) -> str:
    kind = type_name.strip().lower().replace(" ", "_")
    return {"userid": USER_ID, "anonymousid": ANONYMOUS_ID, "phone_number": PHONE}.get(kind, kind)


def _normalise(kind: str, value: Any, default_region: str) -> Identifier | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    if kind == EMAIL:
        email = normalise_email(value)
        return Identifier(EMAIL, email) if email else None
    if kind == PHONE:
        phone = normalise_phone(str(value), default_region)
        return Identifier(PHONE, phone) if phone else None
    text = str(value).strip()
    return Identifier(kind, text[:255]) if text else None


def message_identifiers(
    *,
    user_id: str | None,
    anonymous_id: str | None,
    previous_id: str | None = None,
    traits: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    default_region: str = "US",
) -> list[Identifier]:
    """Every identifier of one message, strongest first, without duplicates.

    E-mail and phone come from identify traits and `context.traits`; `context.externalIds` add app devices,
    loyalty cards and the like (their `type` becomes the identifier kind)."""
    found: list[Identifier | None] = [
        _normalise(USER_ID, user_id, default_region),
        _normalise(PREVIOUS_ID, previous_id, default_region),
    ]
    context = context or {}
    trait_sources = [traits or {}, context.get("traits") if isinstance(context.get("traits"), dict) else {}]
    for source in trait_sources:
        found.append(_normalise(EMAIL, source.get("email"), default_region))
        found.append(_normalise(PHONE, source.get("phone"), default_region))
    external = context.get("externalIds")
    if isinstance(external, list):
        for item in external:
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                found.append(_normalise(_kind_of_external(item["type"]), item.get("id"), default_region))
    found.append(_normalise(ANONYMOUS_ID, anonymous_id, default_region))
    unique: dict[Identifier, None] = {}
    for identifier in found:
        if identifier is not None:
            unique.setdefault(identifier)
    return sorted(unique, key=lambda i: _PRIORITY.get(i.kind, 5))


def profile_id_for(workspace_id: str, identifier: Identifier, *, shared: bool = False) -> str:
    """Profile ids derive from the identifier that created the profile, so a rebuild from the same events
    gives the same ids, and references held elsewhere (decisions, consents) stay valid."""
    seed = f"{workspace_id}\x1f{'shared' if shared else 'person'}\x1f{identifier.kind}\x1f{identifier.value}"
    return "prof_" + hashlib.sha256(seed.encode()).hexdigest()[:24]
