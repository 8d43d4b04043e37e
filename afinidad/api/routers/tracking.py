"""Segment's tracking API: `/v1/identify`, `/track`, `/page`, `/screen`, `/group`, `/alias`, `/batch`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from afinidad.api.dependencies import Platform, ingest_caller, key_from_headers, platform
from afinidad.api.problems import PROBLEM_JSON, problem_parts
from afinidad.errors import AfinidadError, FieldProblem, InvalidInput, PayloadTooLarge
from afinidad.tracking.enrich import to_naive_utc
from afinidad.tracking.messages import (
    Accepted,
    AliasMessage,
    Batch,
    GroupMessage,
    IdentifyMessage,
    PageMessage,
    ScreenMessage,
    TrackMessage,
)
from afinidad.tracking.records import event_rows
from afinidad.tracking.validation import decode_body, parse_json_object, validate_batch, validate_single

router = APIRouter(tags=["tracking"])
log = logging.getLogger("afinidad.api.tracking")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid message: problem details name each field and reason; nothing was stored."},
    401: {"description": "Missing or unknown write key."},
    413: {"description": "Message over 32 KB or batch over 500 KB."},
    429: {"description": "Rate limited: retry after `Retry-After` seconds."},
}


async def _read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes off the wire; a larger body is refused before it is all received."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.", limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.", limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _ingest(request: Request, p: Platform, message_type: str | None) -> Accepted:
    received_at = datetime.now(UTC).replace(tzinfo=None)
    limit = p.settings.max_batch_bytes if message_type is None else p.settings.max_message_bytes
    header_key = key_from_headers(request)
    if header_key:
        caller = ingest_caller(p, header_key)
    try:
        data = decode_body(await _read_body(request, limit), request.headers.get("content-encoding"), limit)
        body = parse_json_object(data)
        if not header_key:  # Segment also accepts the write key in the body
            write_key = body.get("writeKey")
            caller = ingest_caller(p, write_key if isinstance(write_key, str) else None)
        if message_type is None:
            messages = validate_batch(body, max_bytes=p.settings.max_message_bytes)
            sent_at_raw = body.get("sentAt")
        else:
            messages = [validate_single(body, message_type, max_bytes=p.settings.max_message_bytes)]
            sent_at_raw = None
        batch_sent_at = _parse_sent_at(sent_at_raw)
        rows = event_rows(
            messages,
            workspace_id=caller.workspace_id,
            received_at=received_at,
            batch_sent_at=batch_sent_at,
            request_ip=request.client.host if request.client else None,
            max_future_seconds=p.settings.max_future_seconds,
            batch=message_type is None,
        )
    except InvalidInput:
        p.metrics.events_rejected.labels("invalid").inc()
        raise
    except PayloadTooLarge:
        p.metrics.events_rejected.labels("too_large").inc()
        raise
    result = await p.writer.write(caller.workspace_id, rows)
    for kind, stored in result.accepted_by_type.items():
        p.metrics.events_accepted.labels(kind).inc(stored)
    if result.duplicates:
        p.metrics.events_duplicate.inc(result.duplicates)
    return Accepted(accepted=result.accepted, duplicates=result.duplicates)


def _parse_sent_at(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("Invalid sentAt.", [FieldProblem("sentAt", "must be an ISO 8601 date-time string")])
    try:
        return to_naive_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as error:
        raise InvalidInput("Invalid sentAt.", [FieldProblem("sentAt", "must be an ISO 8601 date-time")]) from error


def _endpoint(message_type: str | None, model: type, summary: str) -> None:
    path = f"/v1/{message_type or 'batch'}"

    async def handler(request: Request, p: Platform = Depends(platform)) -> Accepted:
        return await _ingest(request, p, message_type)

    handler.__name__ = f"ingest_{message_type or 'batch'}"
    router.add_api_route(
        path,
        handler,
        methods=["POST"],
        response_model=Accepted,
        summary=summary,
        responses=_ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _inline_schema(model)}},
            }
        },
    )


# Sub-schemas of the request models, merged into the OpenAPI components by `afinidad.api.app`.
COMPONENT_SCHEMAS: dict[str, Any] = {}


def _inline_schema(model: type) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    COMPONENT_SCHEMAS.update(schema.pop("$defs", {}))
    return schema


class TrackingFastPath:
    """Serves `POST /v1/{identify,track,page,screen,group,alias,batch}` straight from ASGI.

    Tracking is the one hot path of the API: every page view of every shop comes through it. Going through
    FastAPI's routing, dependency solving and middleware stack cost about half a millisecond per call,
    more than validating and storing the event. This front runs the very same `_ingest` (the FastAPI
    routes above stay, for the OpenAPI docs and any mounted use) and answers in the same shapes."""

    def __init__(self, app: ASGIApp, platform_of: Callable[[], Platform]) -> None:
        self.app = app
        self.platform_of = platform_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message_type = _FAST_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if message_type is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        p = self.platform_of()
        headers: dict[str, str] = {}
        try:
            accepted = await _ingest(Request(scope, receive), p, message_type or None)
            status, body, content_type = 200, accepted.model_dump_json().encode(), b"application/json"
        except AfinidadError as error:
            status, problem, headers = problem_parts(error)
            body, content_type = orjson.dumps(problem), PROBLEM_JSON.encode()
        except Exception:
            log.exception("tracking request failed")
            status, problem, headers = problem_parts(AfinidadError("The event could not be stored; retry."))
            problem.update(status=503, title="Unavailable", code="unavailable")
            status, body, content_type = 503, orjson.dumps(problem), PROBLEM_JSON.encode()
        raw_headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        raw_headers += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})
        route = scope["path"]
        p.metrics.observe_request("POST", route, status, time.perf_counter() - started)


_FAST_PATHS = {f"/v1/{kind}": kind for kind in ("identify", "track", "page", "screen", "group", "alias")} | {
    "/v1/batch": ""
}


_endpoint("identify", IdentifyMessage, "Identify a person and record their traits")
_endpoint("track", TrackMessage, "Record an action (Segment e-commerce names understood)")
_endpoint("page", PageMessage, "Record a web page view")
_endpoint("screen", ScreenMessage, "Record an app screen view")
_endpoint("group", GroupMessage, "Associate a person with a group or account")
_endpoint("alias", AliasMessage, "Merge a previous identity into a user id")
_endpoint(None, Batch, "Send up to 500 KB of mixed messages at once (all or nothing)")
