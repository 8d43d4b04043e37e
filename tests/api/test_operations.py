"""Health, readiness and metrics, as an operator's monitoring would read them."""

from __future__ import annotations

import re

from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + labels + r"[^}]*\}" if labels else r"(\{[^}]*\})?") + r" ([0-9.e+]+)"
    values = [float(m.group(m.lastindex)) for m in re.finditer(pattern, text)]
    return sum(values)


def test_health_and_readiness(server: Server) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "writer": "ok"}


def test_metrics_count_accepted_and_rejected_events_and_latency(server: Server, workspace: CreatedWorkspace) -> None:
    with server.client() as client:
        before = client.get("/metrics").text
        once = {"userId": "m", "event": "E", "messageId": f"metrics-{workspace.id}"}
        client.post("/v1/track", json=once, auth=(workspace.write_key, ""))
        fresh = {"type": "track", "userId": "m", "event": "E", "messageId": f"metrics-2-{workspace.id}"}
        mixed = {"batch": [{"type": "track", **once}, fresh]}  # one duplicate, one new: only the new one counts
        client.post("/v1/batch", json=mixed, auth=(workspace.write_key, ""))
        client.post("/v1/track", json={"userId": "m"}, auth=(workspace.write_key, ""))
        client.post("/v1/track", json={"userId": "m", "event": "E"}, auth=("afw_wrong", ""))
        after = client.get("/metrics").text
    stored = _metric(after, "afinidad_events_accepted_total", 'type="track"') - _metric(
        before, "afinidad_events_accepted_total", 'type="track"'
    )
    assert stored == 2  # the duplicate in the batch is not counted as stored...
    duplicates = _metric(after, "afinidad_events_duplicate_total") - _metric(before, "afinidad_events_duplicate_total")
    assert duplicates == 1  # ...but as a duplicate
    assert (
        _metric(after, "afinidad_events_rejected_total", 'reason="invalid"')
        - _metric(before, "afinidad_events_rejected_total", 'reason="invalid"')
        >= 1
    )
    assert (
        _metric(after, "afinidad_events_rejected_total", 'reason="unauthorized"')
        - _metric(before, "afinidad_events_rejected_total", 'reason="unauthorized"')
        >= 1
    )
    assert 'afinidad_request_duration_seconds_bucket{le="0.05",method="POST",route="/v1/track"' in after


def test_logs_are_json_and_hold_no_keys_or_emails(server: Server, workspace: CreatedWorkspace) -> None:
    with server.client() as client:
        client.post("/v1/identify", json={"userId": "x", "traits": {"email": "leak@example.com"}, "timestamp": "bad"},
                    auth=(workspace.write_key, ""))  # fmt: skip
        client.get("/v1/profiles/leak@example.com", headers={"Authorization": f"Bearer {workspace.secret_key}"})
    logs = server.logs()
    assert '"level"' in logs and '"logger"' in logs
    assert workspace.write_key not in logs and workspace.secret_key not in logs
    assert "leak@example.com" not in logs
