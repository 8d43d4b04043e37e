"""Consent in the store: recording choices (from the API or an identify call), the state now, its history,
and the question every capability asks before using a person's data: `may_use(profile, purpose)`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from afinidad.consent.purposes import DEFAULTS, PURPOSES, ConsentSignal
from afinidad.errors import FieldProblem, InvalidInput
from afinidad.profiles.service import find_profile_id, member_profile_ids
from afinidad.store.models import ConsentChange, Profile, Workspace


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") + "Z" if moment else None


def defaults_for(session: Session, workspace_id: str) -> dict[str, bool]:
    """The workspace's answer for a purpose nobody has chosen for: its `consent_defaults`, else `DEFAULTS`."""
    workspace = session.get(Workspace, workspace_id)
    overrides = ((workspace.settings if workspace else None) or {}).get("consent_defaults") or {}
    return {purpose: bool(overrides.get(purpose, DEFAULTS[purpose])) for purpose in PURPOSES}


def record_consent(
    session: Session,
    workspace_id: str,
    profile_id: str,
    signals: Iterable[ConsentSignal],
    *,
    source: str,
    at: datetime | None = None,
    message_id: str | None = None,
) -> int:
    """Append the choices to the profile's consent history. `at` is when the person chose (naive UTC)."""
    recorded = _now()
    rows = [
        ConsentChange(
            workspace_id=workspace_id,
            profile_id=profile_id,
            purpose=signal.purpose,
            granted=signal.granted,
            source=source,
            text_version=signal.version,
            message_id=message_id,
            at=at or recorded,
            recorded_at=recorded,
        )  # fmt: skip
        for signal in signals
    ]
    session.add_all(rows)
    return len(rows)


@dataclass(frozen=True)
class ConsentState:
    """A profile's consent now: per purpose, the latest choice or the workspace default."""

    profile_id: str
    purposes: dict[str, dict[str, Any]]

    def allows(self, purpose: str) -> bool:
        return bool(self.purposes[purpose]["granted"])


def _changes(session: Session, workspace_id: str, profile_id: str) -> list[ConsentChange]:
    members = member_profile_ids(session, workspace_id, profile_id)
    return list(
        session.execute(
            select(ConsentChange)
            .where(ConsentChange.workspace_id == workspace_id, ConsentChange.profile_id.in_(members))
            .order_by(ConsentChange.at, ConsentChange.id)
        ).scalars()
    )


def consent_state(session: Session, workspace_id: str, identifier: str, *, at: datetime | None = None) -> ConsentState:
    """The consent of the profile found by `identifier` (its id or any identifier), now or as it was at `at`."""
    profile_id = find_profile_id(session, workspace_id, identifier)
    defaults = defaults_for(session, workspace_id)
    purposes: dict[str, dict[str, Any]] = {
        purpose: {"granted": defaults[purpose], "default": True, "source": None, "text_version": None, "at": None}
        for purpose in PURPOSES
    }
    for change in _changes(session, workspace_id, profile_id):
        if at is not None and change.at > at:
            break
        purposes[change.purpose] = {"granted": change.granted, "default": False, "source": change.source,
                                    "text_version": change.text_version, "at": _iso(change.at)}  # fmt: skip
    return ConsentState(profile_id, purposes)


def may_use(session: Session, workspace_id: str, identifier: str, purpose: str, *, at: datetime | None = None) -> bool:
    """May this person's data be used for `purpose` now? Every capability asks before it personalises, sends
    or shares. An unknown purpose is a programming error and raises ValueError."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    return consent_state(session, workspace_id, identifier, at=at).allows(purpose)


def consent_history(session: Session, workspace_id: str, identifier: str) -> list[dict[str, Any]]:
    profile_id = find_profile_id(session, workspace_id, identifier)
    return [
        {"purpose": c.purpose, "granted": c.granted, "source": c.source, "text_version": c.text_version,
         "at": _iso(c.at), "recorded_at": _iso(c.recorded_at), "message_id": c.message_id, "profile_id": c.profile_id}
        for c in reversed(_changes(session, workspace_id, profile_id))
    ]  # fmt: skip


def set_consent(
    session: Session,
    workspace_id: str,
    identifier: str,
    choices: dict[str, bool],
    *,
    source: str = "api",
    text_version: str | None = None,
    at: datetime | None = None,
) -> ConsentState:
    """Record choices made through the API (a preference centre, a cookie banner, support)."""
    problems = [
        FieldProblem(f"purposes.{purpose}", f"unknown purpose; known: {', '.join(PURPOSES)}")
        for purpose in choices
        if purpose not in PURPOSES
    ]
    if not choices:
        problems.append(FieldProblem("purposes", "name at least one purpose"))
    if problems:
        raise InvalidInput("Invalid consent.", problems)
    profile_id = find_profile_id(session, workspace_id, identifier)
    signals = [ConsentSignal(purpose, granted, text_version) for purpose, granted in choices.items()]
    record_consent(session, workspace_id, profile_id, signals, source=source, at=at)
    session.flush()
    return consent_state(session, workspace_id, profile_id)


def member_allows(session: Session, workspace_id: str, members: list[str], purpose: str) -> bool:
    """`may_use` for a profile whose members (itself and the profiles merged into it) the caller already
    read: one indexed query, for the hot path of serving."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    latest = session.execute(
        select(ConsentChange.granted)
        .where(ConsentChange.workspace_id == workspace_id, ConsentChange.purpose == purpose,
               ConsentChange.profile_id.in_(members))
        .order_by(ConsentChange.at.desc(), ConsentChange.id.desc())
        .limit(1)
    ).scalar()  # fmt: skip
    return bool(latest) if latest is not None else defaults_for(session, workspace_id)[purpose]


def allowed_profiles(session: Session, workspace_id: str, profile_ids: Iterable[str], purpose: str) -> set[str]:
    """Of these (unified) profile ids, those whose data may be used for `purpose` now: the batch form of
    `may_use`, for campaigns and segment exports that ask about thousands of people at once."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    wanted = list(dict.fromkeys(profile_ids))
    default = defaults_for(session, workspace_id)[purpose]
    owner: dict[str, str] = {pid: pid for pid in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        absorbed = session.execute(
            select(Profile.id, Profile.merged_into).where(Profile.workspace_id == workspace_id,
                                                          Profile.merged_into.in_(chunk))
        ).all()  # fmt: skip
        owner.update((member, survivor) for member, survivor in absorbed)
    latest: dict[str, tuple[datetime, int, bool]] = {}
    members = list(owner)
    for start in range(0, len(members), 500):
        chunk = members[start : start + 500]
        rows = session.execute(
            select(ConsentChange.profile_id, ConsentChange.at, ConsentChange.id, ConsentChange.granted).where(
                ConsentChange.workspace_id == workspace_id,
                ConsentChange.purpose == purpose,
                ConsentChange.profile_id.in_(chunk),
            )
        ).all()
        for member, at, change_id, granted in rows:
            survivor = owner[member]
            if survivor not in latest or (at, change_id) > latest[survivor][:2]:
                latest[survivor] = (at, change_id, granted)
    return {pid for pid in wanted if (latest[pid][2] if pid in latest else default)}
