"""Unified profiles over the real API, on SQLite and PostgreSQL: one person across channels, the over-merge
guard, the timeline, and a rebuild from events that gives back the same profiles."""

from __future__ import annotations

import uuid
from typing import Any

from afinidad.profiles import service
from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server


def _send(server: Server, workspace: CreatedWorkspace, messages: list[dict[str, Any]]) -> None:
    with server.client() as client:
        for message in messages:
            message.setdefault("messageId", str(uuid.uuid4()))
            response = client.post(f"/v1/{message['type']}", json=message, auth=(workspace.write_key, ""))
            assert response.status_code == 200, response.text


def _get(server: Server, workspace: CreatedWorkspace, path: str) -> Any:
    with server.client() as client:
        response = client.get(path, headers={"Authorization": f"Bearer {workspace.secret_key}"})
    assert response.status_code == 200, response.text
    return response.json()


def _journey(suffix: str) -> list[dict[str, Any]]:
    """Ana across four channels, each step in a separate request, as real clients send them."""
    web, user, card = f"cookie-{suffix}", f"u-{suffix}", f"LC-{suffix}"
    email = f"ana.{suffix}@example.com"
    return [
        {"type": "page", "anonymousId": web, "name": "Home", "timestamp": "2026-05-01T09:00:00Z"},
        {"type": "track", "anonymousId": web, "event": "Product Viewed", "properties": {"product_id": "p1"},
         "timestamp": "2026-05-01T09:01:00Z"},
        {"type": "identify", "anonymousId": web, "userId": user, "traits": {"email": email.upper(), "name": "Ana"},
         "timestamp": "2026-05-01T09:02:00Z"},
        {"type": "screen", "anonymousId": f"install-{suffix}", "name": "Catalog", "timestamp": "2026-05-02T20:00:00Z",
         "context": {"externalIds": [{"id": f"ios-{suffix}", "type": "app_device_id", "collection": "users"}]}},
        {"type": "track", "userId": user, "event": "Product Added", "timestamp": "2026-05-02T20:01:00Z",
         "properties": {"product_id": "p2", "price": 10, "quantity": 1},
         "context": {"externalIds": [{"id": f"ios-{suffix}", "type": "app_device_id", "collection": "users"}]}},
        {"type": "track", "anonymousId": f"esp-{suffix}", "event": "Email Opened", "timestamp": "2026-05-03T07:00:00Z",
         "context": {"traits": {"email": email}}},
        {"type": "track", "anonymousId": f"pos-{card}", "event": "Order Completed", "timestamp": "2026-05-04T12:00:00Z",
         "properties": {"order_id": "o1", "revenue": 30, "products": [{"product_id": "p3", "price": 30}]},
         "context": {"channel": "store", "externalIds": [{"id": card, "type": "loyalty_card"}]}},
        {"type": "identify", "anonymousId": f"pos-{card}", "traits": {"email": email, "phone": "+34 612 34 56 78"},
         "timestamp": "2026-05-04T12:01:00Z",
         "context": {"channel": "store", "externalIds": [{"id": card, "type": "loyalty_card"}]}},
    ]  # fmt: skip


def test_one_profile_across_web_app_email_and_store(server: Server, workspace: CreatedWorkspace) -> None:
    _send(server, workspace, _journey("a1"))

    by_card = _get(server, workspace, "/v1/profiles/loyalty_card:LC-a1")
    for lookup in ("u-a1", "user_id:u-a1", "cookie-a1", "email:ANA.a1@example.com", "app_device_id:ios-a1",
                   "%2B34612345678", "esp-a1", by_card["id"]):  # fmt: skip
        assert _get(server, workspace, f"/v1/profiles/{lookup}")["id"] == by_card["id"], lookup
    kinds = {(i["kind"], i["value"]) for i in by_card["identities"]}
    assert kinds >= {
        ("user_id", "u-a1"), ("anonymous_id", "cookie-a1"), ("anonymous_id", "install-a1"),
        ("app_device_id", "ios-a1"), ("email", "ana.a1@example.com"), ("anonymous_id", "esp-a1"),
        ("loyalty_card", "LC-a1"), ("anonymous_id", "pos-LC-a1"), ("phone", "+34612345678"),
    }  # fmt: skip
    assert by_card["traits"]["name"] == "Ana"
    assert by_card["first_seen"].startswith("2026-05-01T09:00")
    assert by_card["last_seen"].startswith("2026-05-04T12:01")
    assert by_card["event_counts"] == {
        "identify": 2, "Email Opened": 1, "Order Completed": 1, "Product Added": 1, "Product Viewed": 1,
        "page": 1, "screen": 1,
    }  # fmt: skip
    assert by_card["total_events"] == 8
    merges = _get(server, workspace, f"/v1/profiles/{by_card['id']}/merges")["data"]
    assert [m["outcome"] for m in merges].count("merged") == 2  # the app install and the store card joined
    assert all(m["messageId"] for m in merges)

    # The timeline spans every channel, newest first, in stable pages.
    pages, cursor = [], None
    while True:
        query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        page = _get(server, workspace, f"/v1/profiles/u-a1/events{query}")
        pages.append(page["data"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    events = [e for page in pages for e in page]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert len({e["messageId"] for e in events}) == 8
    assert [e["timestamp"] for e in events] == sorted((e["timestamp"] for e in events), reverse=True)
    assert {e["enrichment"]["channel"] for e in events} >= {"store"}


def test_shared_tablet_and_test_email_do_not_merge_people(server: Server, workspace: CreatedWorkspace) -> None:
    messages: list[dict[str, Any]] = []
    for n in range(7):
        messages.append({"type": "track", "anonymousId": "family-tablet", "userId": f"member-{n}", "event": "Login"})
    for n in range(9):
        messages.append({"type": "page", "anonymousId": f"visitor-{n}", "name": "Checkout"})
        messages.append({"type": "identify", "anonymousId": f"visitor-{n}", "traits": {"email": "test@test.com"}})
    _send(server, workspace, messages)

    members = {_get(server, workspace, f"/v1/profiles/member-{n}")["id"] for n in range(7)}
    assert len(members) == 7
    tablet = _get(server, workspace, "/v1/profiles/anonymous_id:family-tablet")
    assert tablet["shared"] is True and tablet["id"] not in members
    visitors = [_get(server, workspace, f"/v1/profiles/visitor-{n}")["id"] for n in range(9)]
    biggest_group = max(visitors.count(profile) for profile in visitors)
    assert biggest_group <= 5  # the default limit: an identifier seen on more than 5 profiles stops linking
    assert len(set(visitors)) >= 9 - 5 + 1
    assert _get(server, workspace, "/v1/profiles/email:test@test.com")["shared"] is True


def _snapshot(store: Store, workspace_id: str, lookups: list[str]) -> dict[str, Any]:
    with store.reader() as session:
        result = {}
        for lookup in lookups:
            profile = service.get_profile(session, workspace_id, lookup)
            profile["identities"] = sorted((i["kind"], i["value"], i["blocked"]) for i in profile["identities"])
            result[lookup] = profile
        return result


def test_rebuild_from_events_gives_the_same_profiles(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    _send(server, workspace, _journey("r1") + _journey("r2"))
    tablet = [{"type": "track", "anonymousId": "tab", "userId": f"m{n}", "event": "x"} for n in range(8)]
    _send(server, workspace, tablet)
    lookups = ["u-r1", "u-r2", "LC-r1", "esp-r2", "anonymous_id:tab", "m0", "m7"]
    before = _snapshot(store, workspace.id, lookups)

    with store.session() as session:
        replayed = service.rebuild(session, workspace.id)
    after = _snapshot(store, workspace.id, lookups)

    assert replayed == 24
    assert after == before
    with store.reader() as session:
        assert service.count_profiles(session, workspace.id) == 2 + 8
