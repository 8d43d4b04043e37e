"""Request dependencies: the platform handle, the caller behind a key, a read-only database session."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from afinidad.api.metrics import Metrics
from afinidad.api.ratelimit import RateLimiter, retry_after_header
from afinidad.errors import Forbidden, RateLimited, Unauthorized
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.tracking.writer import EventWriter
from afinidad.workspaces.keys import KeyKind, may_ingest, may_read
from afinidad.workspaces.service import Caller, KeyRing


@dataclass
class Platform:
    """Everything a request may need, built once per app."""

    settings: Settings
    store: Store
    keys: KeyRing
    writer: EventWriter
    limiter: RateLimiter
    metrics: Metrics


def platform(request: Request) -> Platform:
    return request.app.state.platform


def _basic_user(header: str) -> str | None:
    try:
        decoded = base64.b64decode(header, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def key_from_headers(request: Request) -> str | None:
    """Segment's libraries send the write key as the Basic user name; servers may send `Bearer KEY`."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        return _basic_user(value.strip())
    if scheme.lower() == "bearer":
        return value.strip() or None
    return None


def _limit(p: Platform, caller: Caller) -> None:
    wait = p.limiter.check(caller.key_id)
    if wait > 0:
        p.metrics.events_rejected.labels("rate_limited").inc()
        raise RateLimited("Too many requests for this key; retry after the delay given.", retry_after_header(wait))


def ingest_caller(p: Platform, key: str | None) -> Caller:
    if not key:
        p.metrics.events_rejected.labels("unauthorized").inc()
        raise Unauthorized("A write key is required: send it as the HTTP Basic user name.")
    caller = p.keys.lookup(key)
    if caller is None or not may_ingest(caller.kind):
        p.metrics.events_rejected.labels("unauthorized").inc()
        raise Unauthorized("Unknown or revoked key.")
    _limit(p, caller)
    return caller


def secret_caller(request: Request, p: Platform = Depends(platform)) -> Caller:
    """Read and admin endpoints: `Authorization: Bearer <secret key>` only."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("A secret key is required as `Authorization: Bearer <key>`.")
    caller = p.keys.lookup(value.strip())
    if caller is None:
        raise Unauthorized("Unknown or revoked key.")
    if not may_read(caller.kind):
        raise Forbidden("This is a write key: it may only send events. Use the workspace's secret key.")
    _limit(p, caller)
    return caller


def admin_caller(caller: Caller = Depends(secret_caller)) -> Caller:
    """The privacy audit log and workspace settings: an admin key only."""
    if caller.kind is not KeyKind.ADMIN:
        raise Forbidden("This needs the workspace's admin key (`afinidad workspaces admin-key NAME`).")
    return caller


def read_session(p: Platform = Depends(platform)) -> Iterator[Session]:
    with p.store.reader() as session:
        yield session
