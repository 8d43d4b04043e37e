"""The HTTP API: built by `create_app`, served by `afinidad serve`."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from afinidad import __version__
from afinidad.api import problems
from afinidad.api.dependencies import Platform
from afinidad.api.metrics import Metrics
from afinidad.api.ratelimit import RateLimiter
from afinidad.api.routers import (
    catalog,
    content,
    decide,
    experiments,
    ops,
    predictions,
    prices,
    privacy,
    profiles,
    recommendations,
    segments,
    tracking,
    workspace,
)
from afinidad.segments.follower import SegmentFollower
from afinidad.settings import Settings, get_settings
from afinidad.store.engine import Store
from afinidad.store.migrate import upgrade
from afinidad.tracking import enrich
from afinidad.tracking.writer import EventWriter
from afinidad.workspaces.service import KeyRing

log = logging.getLogger("afinidad.api")

DESCRIPTION = """Afinidad's API. Tracking endpoints (`/v1/track`, `/v1/batch`, ...) speak Segment's protocol and
take the **write key** as the HTTP Basic user name; read endpoints take the **secret key** as
`Authorization: Bearer`. Errors are RFC 9457 problem details."""


class ObserveRequests:
    """Latency histogram per route, and a log line for failures and slow calls. A plain ASGI middleware:
    Starlette's BaseHTTPMiddleware costs more per request than a whole tracking call should."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe_request(scope["method"], route, status, elapsed)


def create_server_app(settings: Settings | None = None) -> ASGIApp:
    """What `afinidad serve` runs: the API behind the tracking fast path, which sits outside every FastAPI and
    Starlette middleware (those still serve everything else, and the lifespan passes through)."""
    app = create_app(settings)
    return tracking.TrackingFastPath(app, platform_of=lambda: app.state.platform)


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.from_url(settings.database_url.get_secret_value(), sqlite_synchronous=settings.sqlite_synchronous)
        if migrate:
            upgrade(store.engine)
        # The writer thread releases the GIL on every database call; with the default 5 ms switch interval
        # it then waits behind the event loop for each of them, and a group commit of ten statements took
        # 50 ms under load. A short interval lets it back in at once.
        sys.setswitchinterval(settings.gil_switch_interval_seconds)
        writer = EventWriter(store, settings, mode=settings.writer_mode)
        enrich.warm_up()
        # Everything loaded so far lives as long as the process: keep the collector from re-scanning it, and
        # collect young objects less often (each request makes thousands), which removed most of the
        # 100 ms pauses from the tail of the tracking latency.
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        writer.on_group = metrics.write_group_size.observe
        writer.start()
        app.state.platform = Platform(
            settings=settings,
            store=store,
            keys=KeyRing(store),
            writer=writer,
            limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            metrics=metrics,
        )
        follower = SegmentFollower(store, settings.segments_follow_seconds)
        follower.start()
        log.info("afinidad api ready", extra={"database": store.engine.dialect.name})
        try:
            yield
        finally:
            follower.stop()
            writer.stop()
            store.dispose()

    app = FastAPI(title="Afinidad", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    metrics = Metrics()
    problems.install(app)
    for router in (
        tracking.router,
        profiles.router,
        catalog.router,
        privacy.router,
        recommendations.router,
        recommendations.products,
        recommendations.trends,
        segments.router,
        predictions.router,
        decide.router,
        experiments.router,
        content.router,
        prices.router,
        workspace.router,
        ops.router,
    ):
        app.include_router(router)

    app.add_middleware(ObserveRequests, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(tracking.COMPONENT_SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
