"""Workspaces (one per business or brand, sealed from each other) and their keys."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound
from afinidad.store.engine import Store
from afinidad.store.models import ApiKey, Workspace
from afinidad.workspaces.keys import KeyKind, display_prefix, hash_key, new_key

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,99}$")


@dataclass(frozen=True)
class CreatedWorkspace:
    id: str
    name: str
    write_key: str
    secret_key: str


@dataclass(frozen=True)
class Caller:
    """Who is calling: the workspace a key belongs to and what kind of key it is."""

    workspace_id: str
    kind: KeyKind
    key_id: str


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_workspace(session: Session, name: str) -> CreatedWorkspace:
    """Create a workspace with one write key and one secret key. The keys are returned once, in clear;
    only their hashes are stored."""
    name = name.strip()
    if not _NAME.match(name):
        raise InvalidInput(
            "Invalid workspace name.",
            [FieldProblem("name", "1-100 letters, digits, spaces, '.', '_' or '-', starting with a letter/digit")],
        )
    if session.execute(select(Workspace.id).where(Workspace.name == name)).first():
        raise Conflict(f"A workspace named {name!r} already exists.")
    workspace = Workspace(id="ws_" + uuid.uuid4().hex[:20], name=name, created_at=_now(), settings={})
    session.add(workspace)
    try:
        session.flush()  # the keys reference it
    except IntegrityError as error:
        raise Conflict(f"A workspace named {name!r} already exists.") from error
    keys = _issue_keys(session, workspace.id)
    return CreatedWorkspace(workspace.id, workspace.name, keys[KeyKind.WRITE], keys[KeyKind.SECRET])


def _issue_keys(
    session: Session, workspace_id: str, kinds: tuple[KeyKind, ...] = (KeyKind.WRITE, KeyKind.SECRET)
) -> dict[KeyKind, str]:
    keys = {}
    for kind in kinds:
        key = new_key(kind)
        keys[kind] = key
        session.add(
            ApiKey(
                id="key_" + uuid.uuid4().hex[:20],
                workspace_id=workspace_id,
                kind=kind.value,
                prefix=display_prefix(key),
                key_hash=hash_key(key),
                created_at=_now(),
            )
        )
    session.flush()
    return keys


def issue_keys(session: Session, name_or_id: str) -> CreatedWorkspace:
    """A new write key and secret key for an existing workspace (the old ones keep working until revoked)."""
    workspace = get_workspace(session, name_or_id)
    keys = _issue_keys(session, workspace.id)
    return CreatedWorkspace(workspace.id, workspace.name, keys[KeyKind.WRITE], keys[KeyKind.SECRET])


def issue_admin_key(session: Session, name_or_id: str) -> str:
    """An admin key: everything a secret key may do, plus the privacy audit log and workspace settings."""
    workspace = get_workspace(session, name_or_id)
    return _issue_keys(session, workspace.id, (KeyKind.ADMIN,))[KeyKind.ADMIN]


def revoke_keys(session: Session, name_or_id: str, keep: tuple[str, ...] = ()) -> int:
    """Revoke every key of the workspace except those in `keep` (clear keys); returns how many."""
    workspace = get_workspace(session, name_or_id)
    kept = {hash_key(key) for key in keep}
    rows = session.execute(
        select(ApiKey).where(ApiKey.workspace_id == workspace.id, ApiKey.revoked_at.is_(None))
    ).scalars()
    revoked = 0
    for row in rows:
        if row.key_hash not in kept:
            row.revoked_at = _now()
            revoked += 1
    return revoked


def list_workspaces(session: Session) -> list[dict[str, object]]:
    rows = session.execute(select(Workspace).order_by(Workspace.created_at)).scalars()
    return [{"id": w.id, "name": w.name, "created_at": w.created_at.isoformat()} for w in rows]


def get_workspace(session: Session, name_or_id: str) -> Workspace:
    row = session.get(Workspace, name_or_id)  # by id: from the session's identity map when already loaded
    if row is not None:
        return row
    row = session.execute(
        select(Workspace).where((Workspace.id == name_or_id) | (Workspace.name == name_or_id))
    ).scalar()
    if row is None:
        raise NotFound(f"No workspace {name_or_id!r}.")
    return row


class KeyRing:
    """Resolves keys to callers with a short in-memory cache: every tracking call authenticates, and a
    database round trip per call would dominate ingestion latency. Revocation takes effect within `ttl`."""

    def __init__(self, store: Store, ttl_seconds: float = 30.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, key: str) -> Caller | None:
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and hit[0] > now:
            return hit[1]
        with self._store.reader() as session:
            row = session.execute(
                select(ApiKey.id, ApiKey.workspace_id, ApiKey.kind).where(
                    ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
                )
            ).first()
        caller = Caller(row.workspace_id, KeyKind(row.kind), row.id) if row else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + (self._ttl if caller else 2.0), caller)
        return caller
