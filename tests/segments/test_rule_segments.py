"""Rule segments through the real API, on SQLite and PostgreSQL: defined in text or JSON, filled at once,
kept current by the server as events arrive (in and out within seconds), rebuilt, exported, and refused
with a position and a reason when the rule is wrong."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from afinidad.store.engine import Store
from afinidad.store.models import ProfileScore
from afinidad.workspaces.service import CreatedWorkspace, create_workspace
from tests.conftest import Server


def _shop(store: Store) -> CreatedWorkspace:
    with store.session() as session:
        return create_workspace(session, f"seg-{uuid.uuid4().hex[:8]}")


def _send(server: Server, shop: CreatedWorkspace, *messages: dict[str, Any]) -> None:
    with server.client() as client:
        sent = client.post("/v1/batch", json={"batch": list(messages)}, auth=(shop.write_key, ""))
        assert sent.status_code == 200, sent.text


def _order(user: str, revenue: float) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Order Completed",
            "properties": {"order_id": uuid.uuid4().hex[:10], "revenue": revenue}}  # fmt: skip


def _until(check: Callable[[], bool], seconds: float = 15) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


def _api(server: Server, shop: CreatedWorkspace) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {shop.secret_key}"})


def _member_ids(client: httpx.Client, segment: str) -> set[str]:
    return {m["traits"].get("email") for m in client.get(f"/v1/segments/{segment}/members").json()["members"]}


def test_a_rule_segment_fills_at_once_and_follows_new_events(server: Server, store: Store) -> None:
    shop = _shop(store)
    people = {"ana": ("ES", 2), "bob": ("ES", 1), "eva": ("FR", 3), "ivo": ("ES", 0)}
    messages = []
    for user, (country, orders) in people.items():
        messages.append({"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com",
                                                                          "country": country}})  # fmt: skip
        messages += [_order(user, 60) for _ in range(orders)]
    _send(server, shop, *messages)
    with _api(server, shop) as client:
        _until(lambda: client.get("/v1/workspace").json()["events"] >= 10)
        created = client.post("/v1/segments", json={
            "name": "loyal-spain", "description": "Ordered twice lately, in Spain",
            "text": 'count("Order Completed" in 90d) >= 2 and trait.country = "ES"'})  # fmt: skip
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["size"] == 1 and body["rule"]["all"][0]["event"] == "Order Completed"
        assert body["text"] == 'count("Order Completed" in 90d) >= 2 and trait.country = "ES"'
        assert _member_ids(client, "loyal-spain") == {"ana@example.com"}

        _send(server, shop, _order("bob", 30))  # bob's second order: in, without a rebuild
        took_in = _until(lambda: "bob@example.com" in _member_ids(client, "loyal-spain"))
        _send(server, shop, {"type": "identify", "userId": "ana", "traits": {"country": "PT"}})  # ana moves: out
        took_out = _until(lambda: "ana@example.com" not in _member_ids(client, "loyal-spain"))
        assert took_in < 10 and took_out < 10
        assert client.get("/v1/segments/loyal-spain").json()["size"] == 1
        changes = client.get("/v1/segments/loyal-spain/changes").json()["data"]
        assert [c["entered"] for c in changes[:2]] == [False, True]  # newest first: ana left after bob came

        # JSON rules, other conditions, and a segment reading a segment
        big = client.post(
            "/v1/segments",
            json={
                "name": "big-spenders",
                "rule": {
                    "event": "Order Completed",
                    "measure": "sum",
                    "property": "revenue",
                    "op": "gte",
                    "value": 150,
                },
            },
        )
        assert big.status_code == 201 and big.json()["size"] == 1  # eva: 3 x 60
        either = client.post(
            "/v1/segments", json={"name": "either", "text": 'segment "loyal-spain" or segment "big-spenders"'}
        )
        assert either.json()["size"] == 2
        cycle = client.patch("/v1/segments/big-spenders", json={"text": 'segment "either"'})
        assert cycle.status_code == 400 and "cycle" in cycle.text
        assert client.delete("/v1/segments/big-spenders").status_code == 409  # "either" reads it

        # rebuild, size history and CSV export
        rebuilt = client.post("/v1/segments/loyal-spain/rebuild").json()
        assert rebuilt["size"] == 1 and rebuilt["entered"] == rebuilt["left"] == 0
        assert [point["size"] for point in client.get("/v1/segments/loyal-spain/sizes").json()["data"]][-1] == 1
        exported = client.get("/v1/segments/either/members.csv", params={"traits": "email,country"})
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert exported.headers["content-type"].startswith("text/csv")
        assert {(r["email"], r["country"]) for r in rows} == {("bob@example.com", "ES"), ("eva@example.com", "FR")}


def test_consent_and_stored_scores_in_rules(server: Server, store: Store) -> None:
    shop = _shop(store)
    _send(server, shop, *({"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}}
                          for user in ("kim", "lea")))  # fmt: skip
    with _api(server, shop) as client:
        _until(lambda: client.get("/v1/workspace").json()["profiles"] >= 2)
        assert client.put("/v1/profiles/kim/consent", json={"purposes": {"email": True}}).status_code == 200
        lea = client.get("/v1/profiles/lea").json()["id"]
        with store.session() as session:
            session.add(ProfileScore(workspace_id=shop.id, profile_id=lea, name="churn", value=0.8,
                                     scored_at=datetime.now(UTC).replace(tzinfo=None)))  # fmt: skip
        mailable = client.post("/v1/segments", json={"name": "mailable", "text": "consent.email"}).json()
        assert mailable["size"] == 1 and _member_ids(client, "mailable") == {"kim@example.com"}
        risky = client.post("/v1/segments", json={"name": "risky", "text": "score.churn > 0.5"}).json()
        assert _member_ids(client, "risky") == {"lea@example.com"}
        assert risky["size"] == 1


def test_wrong_rules_are_refused_with_where_and_why(server: Server, store: Store) -> None:
    shop = _shop(store)
    with _api(server, shop) as client:
        for body, field, reason in [
            ({"name": "x", "text": "foo.bar = 1"}, "rule", "column 1: unknown field 'foo'"),
            ({"name": "x", "text": 'count("Order Completed" in 90d) >= "two"'}, "rule", "column 36: expected a number"),
            ({"name": "x", "rule": {"trait": "age", "op": "gt", "value": "old"}}, "rule.value", "must be a number"),
            ({"name": "x", "rule": {"segment": "nope"}}, "rule", "no segment 'nope'"),
            ({"name": "x", "rule": {"consent": "email"}, "text": "consent.email"}, "rule", "exactly one"),
            ({"name": "seg_x", "text": "consent.email"}, "name", "not starting seg_"),
        ]:  # fmt: skip
            refused = client.post("/v1/segments", json=body)
            assert refused.status_code == 400, refused.text
            problem = refused.json()["errors"][0]
            assert problem["field"] == field and reason in problem["reason"], problem
        assert client.get("/v1/segments").json()["data"] == []  # nothing was stored
        assert client.post("/v1/segments", json={"name": "a", "text": "consent.email"}).status_code == 201
        assert client.post("/v1/segments", json={"name": "a", "text": "consent.sms"}).status_code == 409
        assert client.get("/v1/segments/nope").status_code == 404
        assert client.get("/v1/segments/a/members", params={"limit": 0}).status_code == 400
