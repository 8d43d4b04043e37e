"""The official server-side libraries of Segment (`segment-analytics-python`) and RudderStack
(`rudder-sdk-python`), pointed at a real `afinidad serve` on SQLite and PostgreSQL: every call they make
arrives exactly once, a refusal is reported to the app and not retried, and a rate limit is waited out
without losing anything. These are the clients our users already run; a change that breaks them fails here."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import rudderstack.analytics
import rudderstack.analytics.request
import segment.analytics
import segment.analytics.request

from afinidad.store.engine import Store
from afinidad.store.migrate import upgrade
from afinidad.workspaces.service import CreatedWorkspace, create_workspace
from tests.conftest import Server, start_server
from tests.helpers import message_ids


@dataclass(frozen=True)
class Library:
    name: str
    client_class: type
    session: requests.Session  # the module-wide session each library posts through


SEGMENT = Library("segment", segment.analytics.Client, segment.analytics.request._session)
RUDDERSTACK = Library("rudderstack", rudderstack.analytics.Client, rudderstack.analytics.request._session)
LIBRARIES = [pytest.param(SEGMENT, id="segment"), pytest.param(RUDDERSTACK, id="rudderstack")]

ORDER = {
    "order_id": "o-1001",
    "revenue": 49.0,
    "currency": "EUR",
    "products": [
        {"product_id": "p-1", "sku": "SKU-1", "name": "Taza", "price": 19.9, "quantity": 1},
        {"product_id": "p-2", "sku": "SKU-2", "name": "Plato", "price": 14.55, "quantity": 2},
    ],
}


@dataclass
class Wire:
    """What a library really sent and heard back, seen through its `requests` session's response hook."""

    responses: list[tuple[float, requests.Response]] = field(default_factory=list)

    def record(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self.responses.append((time.monotonic(), response))

    @property
    def statuses(self) -> list[int]:
        return [response.status_code for _, response in self.responses]


@dataclass
class Failures:
    """The `on_error` callback both libraries call with (error, batch) when they give a batch up."""

    calls: list[tuple[Exception, list[dict[str, Any]]]] = field(default_factory=list)

    def __call__(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        self.calls.append((error, batch))


def _watch(monkeypatch: pytest.MonkeyPatch, library: Library) -> Wire:
    wire = Wire()
    monkeypatch.setitem(library.session.hooks, "response", [wire.record])
    return wire


def _read(server: Server, workspace: CreatedWorkspace, path: str) -> Any:
    with server.client() as client:
        response = client.get(path, headers={"Authorization": f"Bearer {workspace.secret_key}"})
    assert response.status_code == 200, response.text
    return response.json()


@dataclass(frozen=True)
class Journey:
    user_id: str
    anonymous_id: str
    legacy_id: str
    email: str
    message_ids: list[str]


def _shop_and_buy(client: Any, tag: str) -> Journey:
    """A visitor browses anonymously, signs in, buys, opens the app, joins an account, and an old id is aliased:
    every call the libraries offer, in the order a shop sends them."""
    user_id, anonymous_id, legacy_id = f"{tag}-user", f"{tag}-anon", f"{tag}-legacy"
    email = f"{tag}@example.com"
    calls = [
        client.page(anonymous_id=anonymous_id, name="Home", properties={"url": "https://shop.example/"}),
        client.track(anonymous_id=anonymous_id, event="Product Viewed", properties={"product_id": "p-1"}),
        client.identify(user_id=user_id, anonymous_id=anonymous_id, traits={"email": email, "first_name": "Ana"}),
        client.track(user_id=user_id, anonymous_id=anonymous_id, event="Order Completed", properties=ORDER),
        client.screen(user_id=user_id, name="Order Confirmation"),
        client.group(user_id=user_id, group_id=f"{tag}-acme", traits={"name": "Acme"}),
        client.alias(previous_id=legacy_id, user_id=user_id),
    ]
    assert all(queued for queued, _ in calls)
    return Journey(user_id, anonymous_id, legacy_id, email, [message["messageId"] for _, message in calls])


@pytest.fixture()
def clients() -> Iterator[list[Any]]:
    """Clients a test opens; their consumer threads are stopped even when the test fails."""
    opened: list[Any] = []
    yield opened
    for client in opened:
        if client.consumers:
            client.join()


def _client(clients: list[Any], library: Library, write_key: str, host: str, **options: Any) -> Any:
    client = library.client_class(write_key, host=host, gzip=True, upload_interval=0.05, **options)
    clients.append(client)
    return client


@pytest.mark.parametrize("sync_mode", [False, True], ids=["queued", "sync"])
@pytest.mark.parametrize("library", LIBRARIES)
def test_every_call_of_the_library_is_stored_once_on_one_profile(
    server: Server, store: Store, workspace: CreatedWorkspace, monkeypatch: pytest.MonkeyPatch,
    clients: list[Any], library: Library, sync_mode: bool,
) -> None:  # fmt: skip
    wire = _watch(monkeypatch, library)
    failures = Failures()
    client = _client(clients, library, workspace.write_key, server.base_url, sync_mode=sync_mode, on_error=failures)

    journey = _shop_and_buy(client, f"{library.name}-{uuid.uuid4().hex[:8]}")
    if not sync_mode:
        client.flush()
        client.join()

    assert failures.calls == []
    assert wire.statuses and set(wire.statuses) == {200}
    assert {response.request.url for _, response in wire.responses} == {f"{server.base_url}/v1/batch"}
    assert {response.request.headers["Content-Encoding"] for _, response in wire.responses} == {"gzip"}
    if sync_mode:
        assert len(wire.responses) == len(journey.message_ids)  # one request per call, none retried

    stored = Counter(message_ids(store, workspace.id))
    assert stored == Counter(journey.message_ids)  # every messageId the library made, each exactly once

    profile = _read(server, workspace, f"/v1/profiles/{journey.user_id}")
    for identifier in (f"anonymous_id:{journey.anonymous_id}", f"anonymous_id:{journey.legacy_id}", journey.email):
        assert _read(server, workspace, f"/v1/profiles/{identifier}")["id"] == profile["id"]
    identities = {(identity["kind"], identity["value"]) for identity in profile["identities"]}
    assert identities >= {
        ("user_id", journey.user_id), ("anonymous_id", journey.anonymous_id),
        ("anonymous_id", journey.legacy_id), ("email", journey.email),
    }  # fmt: skip
    assert profile["total_events"] == len(journey.message_ids)
    assert profile["event_counts"]["Order Completed"] == 1

    timeline = _read(server, workspace, f"/v1/profiles/{journey.user_id}/events?limit=500")["data"]
    assert sorted(event["messageId"] for event in timeline) == sorted(journey.message_ids)
    order = next(event for event in timeline if event["event"] == "Order Completed")
    assert order["userId"] == journey.user_id
    assert order["properties"]["revenue"] == ORDER["revenue"]
    assert [(p["product_id"], p["price"], p["quantity"]) for p in order["properties"]["products"]] == [
        ("p-1", 19.9, 1), ("p-2", 14.55, 2),
    ]  # fmt: skip
    assert order["context"]["library"]["name"] == "analytics-python"


@pytest.mark.parametrize(
    "library",
    [
        pytest.param(SEGMENT, id="segment"),
        pytest.param(RUDDERSTACK, id="rudderstack"),  # sends identify traits only as `context.traits`
    ],
)
def test_identify_traits_from_the_library_reach_the_profile(
    server: Server, workspace: CreatedWorkspace, clients: list[Any], library: Library
) -> None:
    client = _client(clients, library, workspace.write_key, server.base_url, sync_mode=True)
    user_id = f"{library.name}-{uuid.uuid4().hex[:8]}"

    client.identify(user_id=user_id, traits={"email": f"{user_id}@example.com", "first_name": "Ana", "plan": "gold"})

    traits = _read(server, workspace, f"/v1/profiles/{user_id}")["traits"]
    assert traits == {"email": f"{user_id}@example.com", "first_name": "Ana", "plan": "gold"}


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_refused_message_is_reported_to_on_error_and_not_retried(
    server: Server, store: Store, workspace: CreatedWorkspace, monkeypatch: pytest.MonkeyPatch,
    clients: list[Any], library: Library,
) -> None:  # fmt: skip
    wire = _watch(monkeypatch, library)
    failures = Failures()
    client = _client(clients, library, workspace.write_key, server.base_url, upload_size=1, on_error=failures)

    started = time.monotonic()
    _, refused = client.track(user_id="u-1", event="   ")  # passes the library's checks, not ours
    client.flush()
    _, accepted = client.track(user_id="u-1", event="Product Viewed", properties={"product_id": "p-1"})
    client.flush()
    client.join()

    assert wire.statuses == [400, 200]  # the 400 was sent once: both libraries treat it as final
    assert time.monotonic() - started < 5  # and no backoff was waited
    [(error, batch)] = failures.calls
    assert getattr(error, "status", None) == 400
    assert getattr(error, "code", None) == "invalid-input"  # read from our problem details
    assert [message["messageId"] for message in batch] == [refused["messageId"]]
    assert message_ids(store, workspace.id) == [accepted["messageId"]]


def test_segment_waits_out_a_429_and_every_event_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clients: list[Any]
) -> None:
    url = f"sqlite:///{tmp_path / 'limited.db'}"
    store = Store.from_url(url)
    upgrade(store.engine)
    with store.session() as session:
        workspace = create_workspace(session, "rate-limited")
    limited = start_server(url, tmp_path / "s.log", AFINIDAD_RATE_LIMIT_PER_SECOND="2", AFINIDAD_RATE_LIMIT_BURST="2")
    wire = _watch(monkeypatch, SEGMENT)
    failures = Failures()
    try:
        client = _client(clients, SEGMENT, workspace.write_key, limited.base_url, upload_size=1, on_error=failures)
        sent = [
            client.track(user_id="u-1", event="Product Viewed", properties={"product_id": f"p-{n}"})[1]["messageId"]
            for n in range(7)
        ]
        client.flush()
        client.join()
    finally:
        limited.stop()

    assert failures.calls == []
    assert wire.statuses.count(200) == len(sent)
    assert wire.statuses.count(429) >= 1
    for (at, response), (next_at, _) in zip(wire.responses, wire.responses[1:], strict=False):
        if response.status_code == 429:
            retry_after = int(response.headers["Retry-After"])
            assert retry_after >= 1
            assert next_at - at >= retry_after * 0.95  # the library waited as long as it was told
    stored = Counter(message_ids(store, workspace.id))
    store.dispose()
    assert stored == Counter(sent)
