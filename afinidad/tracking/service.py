"""Storing events: deduplicate by messageId, attribute to profiles, append — in one transaction, so an
acknowledged event and the profile it updated are committed together or not at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from afinidad.profiles.service import attribute
from afinidad.settings import Settings
from afinidad.store.models import Event

_CHUNK = 500


@dataclass(frozen=True)
class StoreResult:
    accepted: int
    duplicates: int


def _existing_message_ids(session: Session, workspace_id: str, message_ids: list[str]) -> set[str]:
    found: set[str] = set()
    unique = sorted(set(message_ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        found.update(
            session.execute(
                select(Event.message_id).where(Event.workspace_id == workspace_id, Event.message_id.in_(chunk))
            ).scalars()
        )
    return found


def store_events(session: Session, workspace_id: str, rows: list[dict[str, Any]], settings: Settings) -> list[bool]:
    """Append `rows`; returns, per row, whether it was new (False: its messageId was already stored, or
    appeared earlier in `rows`). Resending a message is therefore harmless, as Segment promises."""
    existing = _existing_message_ids(session, workspace_id, [row["message_id"] for row in rows])
    fresh: list[dict[str, Any]] = []
    flags: list[bool] = []
    for row in rows:
        is_new = row["message_id"] not in existing
        flags.append(is_new)
        if is_new:
            existing.add(row["message_id"])
            fresh.append(row)
    if fresh:
        attribute(
            session,
            workspace_id,
            fresh,
            default_region=settings.default_phone_region,
            max_profiles_per_identifier=settings.identity_max_profiles_per_identifier,
        )
        insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        # A concurrent server process may have stored the same messageId a moment ago: never fail on it.
        statement = insert(Event).on_conflict_do_nothing(index_elements=["workspace_id", "message_id"])
        session.execute(statement, fresh)
    return flags
