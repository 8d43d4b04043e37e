"""What Segment's API expects of a message, checked on every message the importer yields (CSV or JSON
lines), so nothing downstream can tell an imported message from a tracked one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson

from afinidad.importing.results import Problem

SEGMENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")
_STRING_FIELDS = ("type", "event", "messageId", "userId", "anonymousId", "previousId", "groupId", "name")
_OBJECT_FIELDS = ("properties", "traits", "context")


def finish(message: dict[str, Any]) -> Problem | None:
    """Make a message what Segment's API expects (string ids, a messageId), or say what is wrong with it."""
    for key in _STRING_FIELDS:
        value = message.get(key)
        if value is None or isinstance(value, str):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return key, f"{key} must be a string, not {type(value).__name__}"
        message[key] = str(value)
    kind = message.get("type")
    if kind not in SEGMENT_TYPES:
        got = "no type" if kind is None else f"type {kind!r}"
        return "type", f"{got}: must be one of {', '.join(SEGMENT_TYPES)}"
    if not (message.get("userId") or message.get("anonymousId")):
        return "userId", "neither userId nor anonymousId"
    if kind == "track" and not message.get("event"):
        return "event", "a track message needs an event name"
    for key in _OBJECT_FIELDS:
        if key in message and not isinstance(message[key], dict):
            return key, f"{key} must be an object"
    timestamp = message.get("timestamp")
    if timestamp is not None:
        try:
            datetime.fromisoformat(timestamp)
        except (TypeError, ValueError):
            return "timestamp", f"timestamp {timestamp!r} is not ISO 8601"
    if not message.get("messageId"):
        content = orjson.dumps(message, option=orjson.OPT_SORT_KEYS)
        message["messageId"] = f"import-{hashlib.sha256(content).hexdigest()[:32]}"
    return None
