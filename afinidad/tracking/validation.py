"""From the bytes of a request to validated messages, or to a list of precise problems.

A batch is all or nothing: one bad message rejects the whole batch and names every bad index, so a
client never has to guess which part was stored."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from afinidad.catalog.updates import parse_update
from afinidad.consent.purposes import parse_consent
from afinidad.errors import FieldProblem, InvalidInput, PayloadTooLarge
from afinidad.tracking.ecommerce import canonical_event_name, check_properties
from afinidad.tracking.messages import MESSAGE_TYPES, IdentifyMessage, Message, TrackMessage


@dataclass(frozen=True)
class Incoming:
    """A validated message, with the size it had on the wire (for the 32 KB rule) already checked."""

    message: Message
    raw: dict[str, Any]


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo gzip/deflate without ever inflating more than `limit` bytes (a small bomb stays small)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        data = body
    elif encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        inflater = zlib.decompressobj(wbits)
        try:
            data = inflater.decompress(body, limit + 1)
        except zlib.error as error:
            raise InvalidInput(
                "The body could not be decompressed.",
                [FieldProblem("body", f"Content-Encoding is {encoding} but the body is not: {error}")],
            ) from error
        if not inflater.eof and len(data) <= limit:
            raise InvalidInput(
                "The body could not be decompressed.",
                [FieldProblem("body", f"truncated {encoding} stream")],
            )
    else:
        raise InvalidInput(
            "Unsupported Content-Encoding.",
            [FieldProblem("Content-Encoding", f"{encoding!r} is not supported; use gzip or none")],
        )
    if len(data) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.", limit)
    return data


def parse_json_object(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidInput("The body is not valid JSON.", [FieldProblem("body", str(error))]) from error
    if not isinstance(value, dict):
        raise InvalidInput("The body must be a JSON object.", [FieldProblem("body", "must be a JSON object")])
    return value


def _path(prefix: str, location: tuple[int | str, ...]) -> str:
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _problems_from(error: ValidationError, prefix: str, index: int | None) -> list[FieldProblem]:
    problems = []
    for item in error.errors(include_url=False):
        location = tuple(item["loc"])
        reason = item["msg"]
        if not location and "userId or anonymousId" in reason:
            location = ("userId",)
            reason = "userId or anonymousId is required"
        reason = reason.removeprefix("Value error, ")
        problems.append(FieldProblem(_path(prefix, location), reason, index))
    return problems


def validate_message(
    raw: Any, message_type: str | None, *, prefix: str = "", index: int | None = None, max_bytes: int
) -> tuple[Incoming | None, list[FieldProblem]]:
    """Validate one message; `message_type` is implied by the endpoint, or read from `type` in a batch."""
    if not isinstance(raw, dict):
        return None, [FieldProblem(prefix or "body", "must be a JSON object", index)]
    size = len(orjson.dumps(raw))
    if size > max_bytes:
        raise PayloadTooLarge(
            f"Message {prefix or 'body'} is {size} bytes; the limit is {max_bytes}.",
            max_bytes,
            prefix or "body",
        )
    kind = message_type or raw.get("type")
    model = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        allowed = ", ".join(MESSAGE_TYPES)
        return None, [FieldProblem(_path(prefix, ("type",)), f"must be one of {allowed}", index)]
    if message_type is not None:
        sent_type = raw.get("type")
        if sent_type is not None and sent_type != message_type:
            reason = f"is {sent_type!r} but this endpoint takes {message_type!r}"
            return None, [FieldProblem(_path(prefix, ("type",)), reason, index)]
    try:
        message = model.model_validate(raw)
    except ValidationError as error:
        return None, _problems_from(error, prefix, index)
    if isinstance(message, IdentifyMessage):
        _, found = parse_consent(message.traits, raw.get("context") if isinstance(raw.get("context"), dict) else None)
        if found:
            return None, [
                FieldProblem(_path(prefix, tuple(field.split("."))), reason, index) for field, reason in found
            ]
    if isinstance(message, TrackMessage):
        message.event = canonical_event_name(message.event)
        found = check_properties(message.event, message.properties) + parse_update(message.event, message.properties)[1]
        problems = [FieldProblem(_path(prefix, (field,)), reason, index) for field, reason in found]
        if problems:
            return None, problems
    return Incoming(message, raw), []


def validate_single(body: dict[str, Any], message_type: str, *, max_bytes: int) -> Incoming:
    incoming, problems = validate_message(body, message_type, max_bytes=max_bytes)
    if problems or incoming is None:
        raise InvalidInput(f"The {message_type} message is invalid.", problems)
    return incoming


def validate_batch(body: dict[str, Any], *, max_bytes: int) -> list[Incoming]:
    """All of `batch` or nothing. Batch-level `context` is merged under each message's own, as Segment does."""
    items = body.get("batch")
    if not isinstance(items, list):
        raise InvalidInput("The batch is invalid.", [FieldProblem("batch", "must be a list of messages")])
    if not items:
        raise InvalidInput("The batch is empty.", [FieldProblem("batch", "must hold at least one message")])
    shared_context = body.get("context")
    if shared_context is not None and not isinstance(shared_context, dict):
        raise InvalidInput("The batch is invalid.", [FieldProblem("context", "must be an object")])
    accepted: list[Incoming] = []
    problems: list[FieldProblem] = []
    for index, raw in enumerate(items):
        own_context = raw.get("context") if isinstance(raw, dict) else None
        if shared_context and isinstance(raw, dict) and (own_context is None or isinstance(own_context, dict)):
            raw = {**raw, "context": {**shared_context, **(own_context or {})}}
        incoming, found = validate_message(raw, None, prefix=f"batch[{index}]", index=index, max_bytes=max_bytes)
        if found:
            problems.extend(found)
        elif incoming is not None:
            accepted.append(incoming)
    if problems:
        bad = sorted({p.index for p in problems if p.index is not None})
        raise InvalidInput(
            f"{len(bad)} of {len(items)} messages are invalid (indexes {', '.join(map(str, bad))}); "
            "nothing was stored.",
            problems,
        )
    return accepted


def gzip_bytes(data: bytes) -> bytes:
    """Helper for clients and tests that send compressed bodies."""
    return gzip.compress(data)
