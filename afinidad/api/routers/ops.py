"""Health, readiness and metrics for whoever runs the platform."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from afinidad.api.dependencies import Platform, platform

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can serve: database reachable, writer running")
def readyz(p: Platform = Depends(platform)) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with p.store.reader() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # readiness reports, it does not raise
        checks["database"] = f"error: {type(error).__name__}"
    checks["writer"] = "ok" if p.writer.alive else "stopped"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(p: Platform = Depends(platform)) -> Response:
    return Response(generate_latest(p.metrics.registry), media_type=CONTENT_TYPE_LATEST)
