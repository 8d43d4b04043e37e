"""Errors as RFC 9457 problem details, mapped from the platform's exceptions in one place.

Segment's libraries read `code` and `message` from an error body; those two members are added so their
logs say something useful when we refuse a batch."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from afinidad.content.providers import ProviderError
from afinidad.errors import (
    AfinidadError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
)

PROBLEM_JSON = "application/problem+json"
_STATUS: dict[type[AfinidadError], tuple[int, str]] = {
    InvalidInput: (400, "invalid-input"),
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not-found"),
    Conflict: (409, "conflict"),
    PayloadTooLarge: (413, "payload-too-large"),
    RateLimited: (429, "rate-limited"),
    ProviderError: (502, "provider-error"),  # the workspace's model provider failed; nothing was stored
}


def problem_response(
    status: int, slug: str, title: str, detail: str, extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    body = _problem_body(status, slug, title, detail, extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _problem_body(status: int, slug: str, title: str, detail: str, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": f"https://afinidad.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": slug,
        "message": detail,
        **(extra or {}),
    }


def to_problem(error: AfinidadError) -> JSONResponse:
    status, body, headers = problem_parts(error)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_parts(error: AfinidadError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, problem document and headers for an error (for responses built without Starlette)."""
    status, slug = next(((s, n) for cls, (s, n) in _STATUS.items() if isinstance(error, cls)), (500, "error"))
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(error, InvalidInput):
        extra["errors"] = [
            {"field": p.field, "reason": p.reason} | ({"index": p.index} if p.index is not None else {})
            for p in error.problems
        ]
        indexes = sorted({p.index for p in error.problems if p.index is not None})
        if indexes:
            extra["invalid_indexes"] = indexes
    elif isinstance(error, PayloadTooLarge):
        extra["errors"] = [{"field": error.field, "reason": f"larger than {error.limit} bytes"}]
        extra["limit_bytes"] = error.limit
    elif isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after_seconds)
    elif isinstance(error, ProviderError):
        extra["reason"] = error.reason  # timeout, rate_limited, invalid_output...: what a client can act on
        extra["attempts"] = error.attempts
    elif isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="afinidad", Bearer realm="afinidad"'
    return status, _problem_body(status, slug, error.title, error.detail, extra), headers


def install(app: FastAPI) -> None:
    @app.exception_handler(AfinidadError)
    async def _afinidad(_request: Request, error: AfinidadError) -> JSONResponse:
        return to_problem(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
                "reason": item["msg"],
            }
            for item in error.errors()
        ]
        return problem_response(400, "invalid-input", "Invalid input", "The request is invalid.", {"errors": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(error.status_code, "http-error", str(error.detail), str(error.detail))
