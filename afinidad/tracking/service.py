"""Storing events: deduplicate by messageId, attribute to profiles, append — in one transaction, so an
acknowledged event and the profile it updated are committed together or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from afinidad.catalog.service import apply_updates
from afinidad.catalog.updates import CATALOG_EVENTS, parse_update
from afinidad.consent.purposes import parse_consent
from afinidad.consent.service import record_consent
from afinidad.privacy.suppression import drop_suppressed
from afinidad.profiles.service import attribute, identifiers_of_row, lock_workspace
from afinidad.settings import Settings
from afinidad.store.bulk import encode_json, write_many
from afinidad.store.models import Event

_CHUNK = 500


@dataclass(frozen=True)
class StoreResult:
    accepted: int
    duplicates: int
    accepted_by_type: dict[str, int] = field(default_factory=dict)  # message type -> stored, for metrics


def _existing_message_ids(session: Session, workspace_id: str, message_ids: list[str]) -> set[str]:
    """Which of these messageIds the workspace already has.

    On PostgreSQL each id is probed through the unique index by a LATERAL sub-query: a plain `IN (...)`
    lets the planner scan the whole workspace when its statistics are stale (a young database, or one
    without autovacuum), which made this query the slowest of the write path."""
    unique = sorted(set(message_ids))
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT m.id FROM unnest(%s::text[]) AS m(id), LATERAL "
            "(SELECT 1 FROM events e WHERE e.workspace_id = %s AND e.message_id = m.id LIMIT 1) AS found",
            (unique, workspace_id),
        )
        return {row[0] for row in rows}
    found: set[str] = set()
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        found.update(
            connection.execute(
                select(Event.message_id).where(Event.workspace_id == workspace_id, Event.message_id.in_(chunk))
            ).scalars()
        )
    return found


_EVENT_COLUMNS = (
    "workspace_id", "message_id", "type", "event", "user_id", "anonymous_id", "group_id", "previous_id",
    "profile_id", "timestamp", "original_timestamp", "sent_at", "received_at", "context", "properties", "traits",
    "extra", "enrichment",
)  # fmt: skip


_JSON_COLUMNS = ("context", "properties", "traits", "extra", "enrichment")


def prepare_rows(rows: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """Do the per-row work that needs no database before rows reach the writer: the identifiers identity
    resolution will look up, and the JSON text of the JSON columns. The API calls this in the HTTP process,
    so the writer process (the busier of the two) only resolves and stores. Idempotent."""
    for row in rows:
        if "identifiers" in row:
            continue
        row["identifiers"] = identifiers_of_row(row, settings.default_phone_region)
        if row.get("type") == "identify":
            row["profile_traits"] = row.get("traits") or {}
            signals, _ = parse_consent(row["profile_traits"], row.get("context") or {})
            if signals:
                row["consent"] = signals
        elif row.get("event") in CATALOG_EVENTS:
            update, _ = parse_update(row["event"], row.get("properties") or {})
            if update:
                row["catalog_update"] = update
        for column in _JSON_COLUMNS:
            row[column] = encode_json(row.get(column) or {})
    return rows


def _append(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append event rows in as few statements as the database allows. A concurrent server process may have
    stored the same messageId a moment ago: the insert skips it instead of failing."""
    write_many(
        session.connection(),
        Event.__table__,
        _EVENT_COLUMNS,
        rows,
        conflict=("workspace_id", "message_id"),
        json_encoded=True,
    )


def store_events(session: Session, workspace_id: str, rows: list[dict[str, Any]], settings: Settings) -> list[bool]:
    """Append `rows`; returns, per row, whether it was new (False: its messageId was already stored, or
    appeared earlier in `rows`, or it names an erased person). Resending a message is therefore harmless, as
    Segment promises, and an erased person's identifiers never re-create them."""
    prepare_rows(rows, settings)
    lock_workspace(session, workspace_id)
    existing = _existing_message_ids(session, workspace_id, [row["message_id"] for row in rows])
    allowed = {id(row) for row in drop_suppressed(session, workspace_id, rows)}  # erased people stay erased
    fresh: list[dict[str, Any]] = []
    flags: list[bool] = []
    for row in rows:
        is_new = row["message_id"] not in existing and id(row) in allowed
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
        _append(session, fresh)
        updates = [row["catalog_update"] for row in fresh if row.get("catalog_update")]
        if updates:
            apply_updates(session, workspace_id, updates)
        for row in fresh:
            if row.get("consent"):
                record_consent(session, workspace_id, row["profile_id"], row["consent"], source="identify",
                               at=row["timestamp"], message_id=row["message_id"])  # fmt: skip
    return flags
