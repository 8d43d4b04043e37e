"""Small helpers the tests share."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from afinidad.store.engine import Store
from afinidad.store.models import Event, Identity, Profile


def count_events(store: Store, workspace_id: str) -> int:
    with store.reader() as session:
        return session.execute(
            select(func.count()).select_from(Event).where(Event.workspace_id == workspace_id)
        ).scalar_one()


def count_derived(store: Store, workspace_id: str) -> tuple[int, int]:
    with store.reader() as session:
        profiles = session.execute(
            select(func.count()).select_from(Profile).where(Profile.workspace_id == workspace_id)
        ).scalar_one()
        identities = session.execute(
            select(func.count()).select_from(Identity).where(Identity.workspace_id == workspace_id)
        ).scalar_one()
    return profiles, identities


def message_ids(store: Store, workspace_id: str) -> list[str]:
    with store.reader() as session:
        return list(session.execute(select(Event.message_id).where(Event.workspace_id == workspace_id)).scalars())


def track(event: str = "Product Viewed", **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "userId": "user-1",
        "messageId": str(uuid.uuid4()),
        "properties": {"product_id": "p1"},
    }
    message.update(fields)
    return message
