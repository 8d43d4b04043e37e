"""The suppression list: salted digests of an erased person's identifiers. Tracking checks every incoming
event's identifiers against it and drops a match, so an erased person is not re-created by the next page
view. The salt is the workspace id, so the same e-mail gives different digests in different workspaces."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from afinidad.store.bulk import write_many
from afinidad.store.models import Suppression


def digest(workspace_id: str, kind: str, value: str) -> str:
    return hashlib.sha256(f"{workspace_id}\x00{kind}\x00{value}".encode()).hexdigest()


def suppress(session: Session, workspace_id: str, identifiers: Iterable[tuple[str, str]]) -> int:
    """Add (kind, value) identifiers to the workspace's suppression list; returns how many were new."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [{"workspace_id": workspace_id, "digest": digest(workspace_id, kind, value), "created_at": now}
            for kind, value in set(identifiers)]  # fmt: skip
    if not rows:
        return 0
    existing = suppressed_digests(session, workspace_id, [row["digest"] for row in rows])
    fresh = [row for row in rows if row["digest"] not in existing]
    if fresh:
        write_many(session.connection(), Suppression.__table__, ("workspace_id", "digest", "created_at"), fresh,
                   conflict=("workspace_id", "digest"))  # fmt: skip
    return len(fresh)


_LOOKUP = text("SELECT digest FROM suppressions WHERE workspace_id = :ws AND digest IN :digests").bindparams(
    bindparam("digests", expanding=True)
)


_ANY = text("SELECT 1 FROM suppressions WHERE workspace_id = :ws LIMIT 1")


def suppressed_digests(session: Session, workspace_id: str, digests: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        found.update(session.execute(_LOOKUP, {"ws": workspace_id, "digests": chunk}).scalars())
    return found


def drop_suppressed(session: Session, workspace_id: str, rows: list[dict]) -> list[dict]:
    """The event rows that carry no suppressed identifier (rows come with their `identifiers` worked out).
    Most workspaces have erased nobody: one indexed probe then spares hashing every identifier."""
    if session.execute(_ANY, {"ws": workspace_id}).first() is None:
        return rows
    per_row = [[digest(workspace_id, i.kind, i.value) for i in row.get("identifiers") or ()] for row in rows]
    wanted = sorted({d for digests in per_row for d in digests})
    if not wanted:
        return rows
    hit = suppressed_digests(session, workspace_id, wanted)
    if not hit:
        return rows
    return [row for row, digests in zip(rows, per_row, strict=True) if not hit.intersection(digests)]
