"""The HTTP API: built by `create_app`, served by `afinidad serve`."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from afinidad import __version__
from afinidad.api import problems
from afinidad.api.dependencies import Platform
from afinidad.api.metrics import Metrics
from afinidad.api.ratelimit import RateLimiter
from afinidad.api.routers import ops, profiles, tracking, workspace
from afinidad.settings import Settings, get_settings
from afinidad.store.engine import Store
from afinidad.store.migrate import upgrade
from afinidad.tracking.writer import EventWriter
from afinidad.workspaces.service import KeyRing

log = logging.getLogger("afinidad.api")

DESCRIPTION = """Afinidad's API. Tracking endpoints (`/v1/track`, `/v1/batch`, ...) speak Segment's protocol and
take the **write key** as the HTTP Basic user name; read endpoints take the **secret key** as
`Authorization: Bearer`. Errors are RFC 9457 problem details."""


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.from_url(settings.database_url.get_secret_value(), sqlite_synchronous=settings.sqlite_synchronous)
        if migrate:
            upgrade(store.engine)
        writer = EventWriter(store, settings)
        writer.start()
        app.state.platform = Platform(
            settings=settings,
            store=store,
            keys=KeyRing(store),
            writer=writer,
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            metrics=metrics,
        )
        log.info("afinidad api ready", extra={"database": store.engine.dialect.name})
        try:
            yield
        finally:
            writer.stop()
            store.dispose()

    app = FastAPI(title="Afinidad", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    metrics = Metrics()
    problems.install(app)
    for router in (tracking.router, profiles.router, workspace.router, ops.router):
        app.include_router(router)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.request_seconds.labels(request.method, path, str(response.status_code)).observe(elapsed)
        if response.status_code >= 400 or elapsed > 1.0:
            log.info(
                "request",
                extra={"method": request.method, "route": path, "status": response.status_code,
                       "ms": round(elapsed * 1000, 2)},
            )  # fmt: skip
        return response

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(tracking.COMPONENT_SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
