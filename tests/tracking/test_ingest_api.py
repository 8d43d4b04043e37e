"""The tracking API against a real server, on SQLite and PostgreSQL: what is refused, and that refusing
stores nothing."""

from __future__ import annotations

import gzip
import uuid
from typing import Any

import orjson
import pytest

from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server
from tests.helpers import count_derived, count_events, message_ids, track

OK_TRACK = {"userId": "u1", "event": "Product Viewed", "properties": {"product_id": "p1"}}

# (case, endpoint, body (dict, or bytes sent as is), extra headers, status, field named in the problem)
BAD_INPUT: list[tuple[str, str, Any, dict[str, str], int, str]] = [
    ("not json", "track", b"{nope", {}, 400, "body"),
    ("json array body", "track", b"[1, 2]", {}, 400, "body"),
    ("no identity", "track", {"event": "Product Viewed"}, {}, 400, "userId"),
    ("track without event", "track", {"userId": "u1"}, {}, 400, "event"),
    ("empty event name", "track", {"userId": "u1", "event": "  "}, {}, 400, "event"),
    ("event is a number", "track", {"userId": "u1", "event": 12}, {}, 400, "event"),
    ("bad timestamp", "track", {**OK_TRACK, "timestamp": "yesterday"}, {}, 400, "timestamp"),
    ("timestamp far in future", "track", {**OK_TRACK, "timestamp": "2999-01-01T00:00:00Z"}, {}, 400, "timestamp"),
    ("timestamp before 1990", "track", {**OK_TRACK, "timestamp": "1970-01-02T00:00:00Z"}, {}, 400, "timestamp"),
    ("properties is a list", "track", {**OK_TRACK, "properties": [1]}, {}, 400, "properties"),
    ("context is a string", "track", {**OK_TRACK, "context": "web"}, {}, 400, "context"),
    ("userId is an object", "track", {**OK_TRACK, "userId": {"id": 1}}, {}, 400, "userId"),
    ("anonymousId is empty", "page", {"anonymousId": ""}, {}, 400, "anonymousId"),
    ("messageId too long", "track", {**OK_TRACK, "messageId": "m" * 300}, {}, 400, "messageId"),
    ("identify traits is a list", "identify", {"userId": "u1", "traits": ["a"]}, {}, 400, "traits"),
    ("group without groupId", "group", {"userId": "u1"}, {}, 400, "groupId"),
    ("alias without previousId", "alias", {"userId": "u1"}, {}, 400, "previousId"),
    ("type does not match endpoint", "track", {**OK_TRACK, "type": "page"}, {}, 400, "type"),
    ("externalIds item without id", "track",
     {**OK_TRACK, "context": {"externalIds": [{"type": "loyalty_card"}]}}, {}, 400, "context.externalIds[0].id"),
    ("order revenue not a number", "track",
     {"userId": "u1", "event": "Order Completed", "properties": {"revenue": "lots"}}, {}, 400, "properties.revenue"),
    ("order products not a list", "track",
     {"userId": "u1", "event": "Order Completed", "properties": {"products": "p1"}}, {}, 400, "properties.products"),
    ("product price not a number", "track",
     {"userId": "u1", "event": "Product Added", "properties": {"products": [{"product_id": "p", "price": "x"}]}},
     {}, 400, "properties.products[0].price"),
    ("ordered product without id", "track",
     {"userId": "u1", "event": "Order Completed", "properties": {"products": [{"price": 3}]}},
     {}, 400, "properties.products[0].product_id"),
    ("sentAt is not a date", "batch", {"batch": [OK_TRACK | {"type": "track"}], "sentAt": "soon"}, {}, 400, "sentAt"),
    ("batch is not a list", "batch", {"batch": {"a": 1}}, {}, 400, "batch"),
    ("batch is empty", "batch", {"batch": []}, {}, 400, "batch"),
    ("batch message of unknown type", "batch", {"batch": [{"type": "purchase", "userId": "u"}]}, {}, 400,
     "batch[0].type"),
    ("gzip header, plain body", "track", orjson.dumps(OK_TRACK), {"Content-Encoding": "gzip"}, 400, "body"),
    ("unsupported encoding", "track", orjson.dumps(OK_TRACK), {"Content-Encoding": "br"}, 400, "Content-Encoding"),
    ("message over 32 KB", "track", {**OK_TRACK, "properties": {"blob": "x" * 33_000}}, {}, 413, "body"),
    ("batch over 500 KB", "batch",
     {"batch": [OK_TRACK | {"type": "track", "properties": {"blob": "x" * 30_000}}] * 18}, {}, 413, "body"),
    ("batch item over 32 KB", "batch",
     {"batch": [OK_TRACK | {"type": "track", "properties": {"blob": "x" * 33_000}}]}, {}, 413, "batch[0]"),
]  # fmt: skip


def _post(server: Server, endpoint: str, body: Any, key: str, headers: dict[str, str] | None = None):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    with server.client() as client:
        return client.post(
            f"/v1/{endpoint}",
            content=content,
            auth=(key, ""),
            headers={"Content-Type": "application/json", **(headers or {})},
        )


@pytest.mark.parametrize(
    ("case", "endpoint", "body", "headers", "status", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_refused_with_the_field_and_stores_nothing(
    server: Server, store: Store, workspace: CreatedWorkspace,
    case: str, endpoint: str, body: Any, headers: dict[str, str], status: int, field: str,
) -> None:  # fmt: skip
    response = _post(server, endpoint, body, workspace.write_key, headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    fields = [error["field"] for error in problem["errors"]]
    assert field in fields, problem
    assert all(error["reason"] for error in problem["errors"])
    assert count_events(store, workspace.id) == 0
    assert count_derived(store, workspace.id) == (0, 0)


def test_a_batch_with_bad_messages_is_refused_whole_naming_each_index(
    server: Server, store: Store, workspace: CreatedWorkspace
) -> None:
    batch = [track(), track(event=""), track(), {"type": "page"}, track(timestamp="not a time")]
    response = _post(server, "batch", {"batch": batch}, workspace.write_key)

    assert response.status_code == 400
    problem = response.json()
    assert problem["invalid_indexes"] == [1, 3, 4]
    assert {(e["index"], e["field"]) for e in problem["errors"]} >= {
        (1, "batch[1].event"), (3, "batch[3].userId"), (4, "batch[4].timestamp"),
    }  # fmt: skip
    assert count_events(store, workspace.id) == 0


def test_unknown_or_missing_key_is_401_and_stores_nothing(
    server: Server, store: Store, workspace: CreatedWorkspace
) -> None:
    for auth in ({"auth": ("afw_not-a-real-key", "")}, {}):
        with server.client() as client:
            response = client.post("/v1/track", json=track(), **auth)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
    assert count_events(store, workspace.id) == 0


def test_resending_a_message_id_stores_nothing_new_and_succeeds(
    server: Server, store: Store, workspace: CreatedWorkspace
) -> None:
    message = track(messageId="order-42-viewed")
    first = _post(server, "track", message, workspace.write_key)
    second = _post(server, "track", message, workspace.write_key)
    in_batch = _post(server, "batch", {"batch": [message, message, track(messageId="fresh")]}, workspace.write_key)

    assert first.json() == {"success": True, "accepted": 1, "duplicates": 0}
    assert second.status_code == 200
    assert second.json() == {"success": True, "accepted": 0, "duplicates": 1}
    assert in_batch.json() == {"success": True, "accepted": 1, "duplicates": 2}
    assert sorted(message_ids(store, workspace.id)) == ["fresh", "order-42-viewed"]
    with server.client() as client:
        profile = client.get("/v1/profiles/user-1", headers={"Authorization": f"Bearer {workspace.secret_key}"}).json()
    assert profile["event_counts"] == {"Product Viewed": 2}


def test_gzip_bodies_and_body_write_key_are_accepted(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    batch = {"batch": [track(), track(event="order completed", properties={"order_id": "o", "revenue": 5})],
             "writeKey": workspace.write_key}  # fmt: skip
    with server.client() as client:
        response = client.post(
            "/v1/batch",
            content=gzip.compress(orjson.dumps(batch)),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    with server.client() as client:
        events = client.get(
            "/v1/profiles/user_id:user-1/events", headers={"Authorization": f"Bearer {workspace.secret_key}"}
        ).json()["data"]
    assert {e["event"] for e in events} == {"Product Viewed", "Order Completed"}  # canonical e-commerce name


def test_clock_skew_is_corrected_from_sent_at(server: Server, workspace: CreatedWorkspace) -> None:
    # The device clock is 2 hours behind: it stamped the event 10 s before sending it.
    message = track(messageId=str(uuid.uuid4()), timestamp="2020-01-01T10:00:00Z", sentAt="2020-01-01T10:00:10Z")
    with server.client() as client:
        assert client.post("/v1/track", json=message, auth=(workspace.write_key, "")).status_code == 200
        events = client.get(
            "/v1/profiles/user-1/events", headers={"Authorization": f"Bearer {workspace.secret_key}"}
        ).json()["data"]
    from datetime import UTC, datetime

    stored = datetime.fromisoformat(events[0]["timestamp"].replace("Z", "+00:00"))
    received = datetime.fromisoformat(events[0]["receivedAt"].replace("Z", "+00:00"))
    assert abs((received - stored).total_seconds() - 10) < 0.01
    assert stored.astimezone(UTC).year == datetime.now(UTC).year


def test_context_is_kept_whole_and_enriched(server: Server, workspace: CreatedWorkspace) -> None:
    context = {
        "ip": "88.26.0.1",
        "timezone": "Europe/Madrid",
        "locale": "es-ES",
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "campaign": {"source": "newsletter", "medium": "email", "name": "rebajas"},
        "weather": {"condition": "rain", "temperature_c": 9},
        "device": {"id": "dev-1", "model": "iPhone15,2"},
    }
    message = track(messageId=str(uuid.uuid4()), timestamp="2026-03-06T20:30:00Z", context=context)
    with server.client() as client:
        assert client.post("/v1/track", json=message, auth=(workspace.write_key, "")).status_code == 200
        event = client.get(
            "/v1/profiles/user-1/events", headers={"Authorization": f"Bearer {workspace.secret_key}"}
        ).json()["data"][0]
    assert event["context"] == context
    enrichment = event["enrichment"]
    assert enrichment["geo"] == {"country": "ES", "source": "ip"}
    assert enrichment["daypart"] == "evening"  # 21:30 in Madrid
    assert enrichment["day_of_week"] == "friday"
    assert enrichment["device"]["type"] == "mobile"
    assert enrichment["campaign"]["name"] == "rebajas"
    assert enrichment["weather"]["condition"] == "rain"
