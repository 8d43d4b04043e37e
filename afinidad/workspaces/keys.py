"""API keys: how they look, how they are hashed, and what each kind may do.

Two everyday kinds, as Segment and Stripe have taught people: a *write key* that may only send events and is
safe to ship in a web page, and a *secret key* for reading and operating that must stay on a server. A third,
the *admin key*, may do all a secret key does and also read the privacy audit log and change workspace
settings; it is issued on its own (`afinidad workspaces admin-key`) so few people hold it."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class KeyKind(StrEnum):
    WRITE = "write"
    SECRET = "secret"
    ADMIN = "admin"


_PREFIX = {KeyKind.WRITE: "afw_", KeyKind.SECRET: "afs_", KeyKind.ADMIN: "afa_"}


def new_key(kind: KeyKind) -> str:
    return _PREFIX[kind] + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """Enough to tell keys apart in a listing, far too little to use."""
    return key[:10]


def may_ingest(kind: KeyKind) -> bool:
    return kind in (KeyKind.WRITE, KeyKind.SECRET, KeyKind.ADMIN)


def may_read(kind: KeyKind) -> bool:
    return kind in (KeyKind.SECRET, KeyKind.ADMIN)
