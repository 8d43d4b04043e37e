"""Export and erasure of one person's data (GDPR articles 15, 17 and 20; CCPA "know" and "delete").

The person is found by any identifier; "their data" is the unified profile and every profile merged into
it: events, identities, merges, consent history and decisions. Erasure deletes all of it in one transaction,
then keeps salted digests of their identifiers (`suppression`) so later events naming them are dropped.
On SQLite the erasing connection turns on `secure_delete` and checkpoints the write-ahead log afterwards, so
the deleted bytes do not linger in the database file; on PostgreSQL dead rows go at the next (auto)vacuum.
"""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import orjson
from sqlalchemy import Engine, delete, or_, select
from sqlalchemy.orm import Session

from afinidad.consent.service import consent_history, consent_state
from afinidad.privacy.audit import record, subject_digest
from afinidad.privacy.suppression import suppress
from afinidad.profiles.service import event_view, find_profile_id, get_profile, lock_workspace, member_profile_ids
from afinidad.store.models import ConsentChange, Event, Identity, Profile, ProfileMerge


def export_person(session: Session, workspace_id: str, identifier: str, *, actor: str) -> dict[str, Any]:
    """Everything held on the person, as one JSON-ready document; the request is audited."""
    profile_id = find_profile_id(session, workspace_id, identifier)
    members = member_profile_ids(session, workspace_id, profile_id)
    events = session.execute(
        select(Event)
        .where(Event.workspace_id == workspace_id, Event.profile_id.in_(members))
        .order_by(Event.timestamp, Event.seq)
    ).scalars()
    merges = session.execute(
        select(ProfileMerge).where(
            ProfileMerge.workspace_id == workspace_id,
            or_(ProfileMerge.survivor_id.in_(members), ProfileMerge.other_id.in_(members)),
        )
    ).scalars()
    document = {
        "profile": get_profile(session, workspace_id, profile_id),
        "profiles_merged": members[1:],
        "events": [event_view(row) for row in events],
        "merges": [
            {
                "outcome": m.outcome,
                "survivor": m.survivor_id,
                "other": m.other_id,
                "message_id": m.message_id,
                "identifier_kind": m.identifier_kind,
                "identifier_value": m.identifier_value,
                "reason": m.reason,
                "at": m.at.isoformat(timespec="milliseconds") + "Z",
            }
            for m in merges
        ],  # fmt: skip
        "consent": consent_state(session, workspace_id, profile_id).purposes,
        "consent_history": consent_history(session, workspace_id, profile_id),
        "decisions": [],  # no capability records decisions about people yet; the decision log will add them here
    }
    subject = subject_digest(workspace_id, profile_id)
    details = {"events": len(document["events"]), "profiles": len(members)}
    record(session, workspace_id, actor=actor, action="privacy.export", subject=subject, details=details)
    return document


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def _table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_cell(row.get(column)) for column in columns] for row in rows)
    return out.getvalue()


def export_archive(document: dict[str, Any]) -> bytes:
    """The export as a ZIP of CSV files, one per kind of record (for people who open it in a spreadsheet),
    plus the full JSON."""
    profile = document["profile"]
    tables = {
        "profile.csv": [{"field": key, "value": _cell(value)} for key, value in profile.items() if key != "identities"],
        "identities.csv": profile.get("identities", []),
        "events.csv": document["events"],
        "merges.csv": document["merges"],
        "consent.csv": [{"purpose": purpose, **state} for purpose, state in document["consent"].items()],
        "consent_history.csv": document["consent_history"],
        "decisions.csv": document["decisions"],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in tables.items():
            archive.writestr(name, _table(rows))
        archive.writestr("export.json", orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return buffer.getvalue()


def erase_person(session: Session, workspace_id: str, identifier: str, *, actor: str) -> dict[str, int]:
    """Delete the person from every table, suppress their identifiers, audit it; returns what was removed."""
    lock_workspace(session, workspace_id)  # no event may be attributed to the person meanwhile
    profile_id = find_profile_id(session, workspace_id, identifier)
    members = member_profile_ids(session, workspace_id, profile_id)
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA secure_delete = ON")
    identities = session.execute(
        select(Identity.kind, Identity.value).where(Identity.workspace_id == workspace_id,
                                                    Identity.profile_id.in_(members))
    ).all()  # fmt: skip
    in_members = (Event.workspace_id == workspace_id) & Event.profile_id.in_(members)
    counts = {
        "profiles": len(members),
        "identities": len(identities),
        "events": session.execute(delete(Event).where(in_members)).rowcount,
        "merges": session.execute(
            delete(ProfileMerge).where(
                ProfileMerge.workspace_id == workspace_id,
                or_(ProfileMerge.survivor_id.in_(members), ProfileMerge.other_id.in_(members)),
            )
        ).rowcount,
        "consent_changes": session.execute(
            delete(ConsentChange).where(
                ConsentChange.workspace_id == workspace_id, ConsentChange.profile_id.in_(members)
            )
        ).rowcount,  # fmt: skip
    }
    session.execute(delete(Identity).where(Identity.workspace_id == workspace_id, Identity.profile_id.in_(members)))
    session.execute(delete(Profile).where(Profile.workspace_id == workspace_id, Profile.id.in_(members)))
    counts["suppressed_identifiers"] = suppress(session, workspace_id, [(kind, value) for kind, value in identities])
    subject = subject_digest(workspace_id, profile_id)
    record(session, workspace_id, actor=actor, action="privacy.erase", subject=subject, details=dict(counts))
    return counts


def checkpoint_sqlite(engine: Engine) -> None:
    """After an erasure commits on SQLite: fold the write-ahead log into the database and truncate it, so
    no copy of the erased rows stays in the -wal file. Best effort: a long reader may keep some frames."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
