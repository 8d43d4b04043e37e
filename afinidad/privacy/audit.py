"""The audit log of privacy work: who asked, what was done, when, and to whom (as a digest, so the log
itself never holds the identifiers it protects)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from afinidad.store.models import AuditEntry


def subject_digest(workspace_id: str, profile_id: str) -> str:
    return hashlib.sha256(f"{workspace_id}\x00subject\x00{profile_id}".encode()).hexdigest()


def record(
    session: Session, workspace_id: str, *, actor: str, action: str, subject: str | None, details: dict[str, Any]
) -> None:
    session.add(AuditEntry(workspace_id=workspace_id, at=datetime.now(UTC).replace(tzinfo=None), actor=actor,
                           action=action, subject=subject, details=details))  # fmt: skip


def entries(session: Session, workspace_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditEntry)
        .where(AuditEntry.workspace_id == workspace_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).scalars()
    return [
        {"at": row.at.isoformat(timespec="milliseconds") + "Z", "actor": row.actor, "action": row.action,
         "subject": row.subject, "details": row.details}
        for row in rows
    ]  # fmt: skip
