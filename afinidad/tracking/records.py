"""From validated messages to event rows: corrected time, canonical names, enrichment.

Kept apart from storage so the importer, the API and the tests all build rows the same way."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.tracking.enrich import corrected_timestamp, enrich, future_limit, to_naive_utc
from afinidad.tracking.messages import (
    AliasMessage,
    GroupMessage,
    IdentifyMessage,
    PageMessage,
    ScreenMessage,
    TrackMessage,
)
from afinidad.tracking.validation import Incoming

EARLIEST = datetime(1990, 1, 1)
_TYPED_FIELDS = {
    "type", "messageId", "userId", "anonymousId", "timestamp", "originalTimestamp", "sentAt", "receivedAt",
    "context", "properties", "traits", "event", "groupId", "previousId", "writeKey",
}  # fmt: skip


def event_row(
    incoming: Incoming,
    *,
    workspace_id: str,
    received_at: datetime,
    batch_sent_at: datetime | None = None,
    request_ip: str | None = None,
) -> dict[str, Any]:
    """One `events` row (without `seq` and `profile_id`, which storage assigns)."""
    message = incoming.message
    original = message.timestamp or message.originalTimestamp
    original = to_naive_utc(original) if original else None
    sent_at = message.sentAt or batch_sent_at
    sent_at = to_naive_utc(sent_at) if sent_at else None
    timestamp = corrected_timestamp(received_at, original, sent_at)
    # The context exactly as sent (already validated): kept whole for later capabilities.
    raw_context = incoming.raw.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    event_name: str | None = None
    group_id = previous_id = None
    if isinstance(message, TrackMessage):
        event_name, properties = message.event, message.properties
    elif isinstance(message, PageMessage | ScreenMessage):
        event_name, properties = message.name, message.properties
    elif isinstance(message, IdentifyMessage):
        # RudderStack's library sends identify traits only in `context.traits`: take both, top level wins.
        context_traits = context.get("traits") if isinstance(context.get("traits"), dict) else {}
        traits = {**context_traits, **message.traits}
    elif isinstance(message, GroupMessage):
        traits, group_id = message.traits, message.groupId
    elif isinstance(message, AliasMessage):
        previous_id = message.previousId
    extra = {key: value for key, value in incoming.raw.items() if key not in _TYPED_FIELDS}
    if isinstance(message, PageMessage | ScreenMessage) and message.category:
        extra["category"] = message.category
    if isinstance(message, TrackMessage) and incoming.raw.get("event") != message.event:
        extra["event_as_sent"] = incoming.raw.get("event")
    return {
        "workspace_id": workspace_id,
        "message_id": message.messageId or f"afn-{uuid.uuid4()}",
        "type": message.type,
        "event": event_name,
        "user_id": message.userId,
        "anonymous_id": message.anonymousId,
        "group_id": group_id,
        "previous_id": previous_id,
        "timestamp": timestamp,
        "original_timestamp": original,
        "sent_at": sent_at,
        "received_at": received_at,
        "context": context,
        "properties": properties,
        "traits": traits,
        "extra": extra,
        "enrichment": enrich(
            message_type=message.type,
            timestamp=timestamp,
            context=context,
            properties=properties,
            request_ip=request_ip,
        ),
    }


def event_rows(
    messages: list[Incoming],
    *,
    workspace_id: str,
    received_at: datetime,
    batch_sent_at: datetime | None = None,
    request_ip: str | None = None,
    max_future_seconds: int = 86400,
    batch: bool = False,
) -> list[dict[str, Any]]:
    """Rows for a request's messages; refuses the lot if any time is impossible (before 1990 or too far
    ahead after skew correction), naming each message, like every other validation failure."""
    rows, problems = [], []
    latest = future_limit(received_at, max_future_seconds)
    for index, incoming in enumerate(messages):
        row = event_row(
            incoming,
            workspace_id=workspace_id,
            received_at=received_at,
            batch_sent_at=batch_sent_at,
            request_ip=request_ip,
        )
        where = f"batch[{index}].timestamp" if batch else "timestamp"
        if row["timestamp"] < EARLIEST:
            problems.append(FieldProblem(where, "is before 1990-01-01", index if batch else None))
        elif row["timestamp"] > latest:
            problems.append(
                FieldProblem(where, f"is more than {max_future_seconds} s in the future", index if batch else None)
            )
        rows.append(row)
    if problems:
        raise InvalidInput("Some messages have impossible timestamps; nothing was stored.", problems)
    return rows
