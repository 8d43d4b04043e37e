"""The purposes a person can agree to, the defaults when they have said nothing, and how consent arrives in
an `identify` call. Pure: the tracking edge uses it to refuse a malformed consent trait before anything is
stored, and the service to record a well-formed one.

In an identify call, consent may come two ways (both may be used; `traits.consent` wins on conflict):

- ``traits.consent``: ``{"email": true, "sms": {"granted": false, "version": "terms-2026-10"}}``, and
  ``traits.consent_version`` for the text version agreed to when a purpose gives none;
- Segment's consent management: ``context.consent.categoryPreferences`` (``{"Advertising": true}``), whose
  category names are matched case-insensitively to purposes (``advertising`` -> ``ads``, ``marketing`` ->
  ``email``); unknown categories are ignored there, since consent tools name many.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    ANALYTICS = "analytics"
    PERSONALIZATION = "personalization"
    EMAIL = "email"
    SMS = "sms"
    ADS = "ads"


PURPOSES = tuple(purpose.value for purpose in Purpose)

# With no recorded choice: measuring and personalising the shop are allowed (legitimate interest), messages
# and ads need an opt-in. A workspace overrides these in its settings (`consent_defaults`).
DEFAULTS: dict[str, bool] = {"analytics": True, "personalization": True, "email": False, "sms": False, "ads": False}

_CATEGORY_ALIASES = {
    "analytics": "analytics", "statistics": "analytics", "performance": "analytics",
    "personalization": "personalization", "personalisation": "personalization", "functional": "personalization",
    "email": "email", "marketing": "email", "sms": "sms", "advertising": "ads", "ads": "ads",
    "targeting": "ads",
}  # fmt: skip
_TRUE = {"true", "yes", "granted", "opt-in", "optin", "1"}
_FALSE = {"false", "no", "denied", "opt-out", "optout", "0"}


@dataclass(frozen=True)
class ConsentSignal:
    """One purpose granted or denied, with the version of the text agreed to (if known)."""

    purpose: str
    granted: bool
    version: str | None = None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def parse_consent(
    traits: dict[str, Any] | None, context: dict[str, Any] | None
) -> tuple[list[ConsentSignal], list[tuple[str, str]]]:
    """The consent signals of an identify call, and the problems (field, reason) that make it invalid."""
    signals: dict[str, ConsentSignal] = {}
    problems: list[tuple[str, str]] = []
    traits = traits or {}
    preferences = ((context or {}).get("consent") or {}).get("categoryPreferences")
    if isinstance(preferences, dict):
        for category, value in preferences.items():
            purpose = _CATEGORY_ALIASES.get(str(category).strip().lower())
            flag = _flag(value)
            if purpose and flag is not None:
                signals[purpose] = ConsentSignal(purpose, flag)
    given = traits.get("consent")
    if given is None:
        return list(signals.values()), problems
    default_version = traits.get("consent_version")
    if default_version is not None and not isinstance(default_version, str):
        problems.append(("traits.consent_version", "must be a string"))
        default_version = None
    if not isinstance(given, dict):
        problems.append(("traits.consent", f"must be an object of purposes ({', '.join(PURPOSES)})"))
        return [], problems
    for key, value in given.items():
        field = f"traits.consent.{key}"
        if key not in PURPOSES:
            problems.append((field, f"unknown purpose; known: {', '.join(PURPOSES)}"))
            continue
        version = default_version
        if isinstance(value, dict):
            version = value.get("version", default_version)
            value = value.get("granted")
            if version is not None and not isinstance(version, str):
                problems.append((f"{field}.version", "must be a string"))
                continue
        flag = _flag(value)
        if flag is None:
            problems.append((field, 'must be true or false (or {"granted": true, "version": "..."})'))
            continue
        signals[key] = ConsentSignal(key, flag, version)
    return list(signals.values()), problems
