"""Experiments through the real API, on SQLite and PostgreSQL: defined, started, assigned sticky per person
with every exposure logged, analysed from the events that followed (goal metrics, a ratio, CUPED from the
pre-period, a guardrail), stopped with a variant shipped; bad definitions and changes refused with nothing
changed."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import Decision
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import CreatedWorkspace, create_workspace
from tests.conftest import Server

CHECKOUT: dict[str, Any] = {
    "key": "checkout",
    "name": "One-page checkout",
    "variants": [{"id": "classic", "weight": 50}, {"id": "onepage", "weight": 50, "content": {"layout": "one"}}],
    "metrics": [
        {"name": "purchase", "kind": "conversion", "event": "Order Completed"},
        {"name": "revenue per user", "kind": "revenue", "event": "Order Completed"},
        {"name": "revenue per order", "kind": "ratio", "event": "Order Completed", "property": "revenue",
         "denominator_event": "Order Completed"},
    ],
    "guardrails": [{"name": "refunds", "kind": "count", "event": "Order Refunded", "higher_is_better": False}],
}  # fmt: skip


def _shop(store: Store) -> CreatedWorkspace:
    with store.session() as session:
        return create_workspace(session, f"lab-{uuid.uuid4().hex[:8]}")


def _api(server: Server, shop: CreatedWorkspace) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {shop.secret_key}"})


def _send(store: Store, shop: CreatedWorkspace, messages: list[dict[str, Any]]) -> None:
    items = (ImportedMessage(line=n + 1, message=m) for n, m in enumerate(messages))
    assert import_messages(store, shop.id, items, Settings()).stored == len(messages)


def _decisions(store: Store, shop: CreatedWorkspace) -> int:
    with store.reader() as session:
        return session.execute(
            select(func.count()).select_from(Decision).where(Decision.workspace_id == shop.id)
        ).scalar_one()


def _order(user: str, revenue: float, at: datetime | None = None) -> dict[str, Any]:
    message = {"type": "track", "userId": user, "event": "Order Completed", "properties": {"revenue": revenue}}
    if at is not None:
        message["timestamp"] = at.isoformat()
    return message


def test_an_experiment_assigns_logs_and_analyses_what_followed(server: Server, store: Store) -> None:
    shop, rng = _shop(store), random.Random(11)
    users = [f"u{i}" for i in range(400)]
    earlier = datetime.now(UTC) - timedelta(days=3)
    loyal = {user for user in users if rng.random() < 0.3}  # ordered before: they order again more often
    _send(store, shop, [{"type": "identify", "userId": user, "traits": {"n": i}} for i, user in enumerate(users)]
          + [_order(user, 30.0, earlier) for user in sorted(loyal)])  # fmt: skip
    with _api(server, shop) as client:
        created = client.post("/v1/experiments", json=CHECKOUT)
        assert created.status_code == 201, created.text
        experiment = created.json()
        assert experiment["status"] == "draft" and experiment["control"] == "classic"
        assert client.post("/v1/experiments/checkout/assign", json={"user": "u0"}).status_code == 409  # a draft
        assert client.post(f"/v1/experiments/{experiment['id']}/start").json()["status"] == "running"

        seen = {}
        for user in users:
            answer = client.post("/v1/experiments/checkout/assign", json={"user": user}).json()
            assert answer["in_experiment"] and answer["decision_id"].startswith("dec_") and answer["propensity"] == 0.5
            seen[user] = answer["variant"]
        again = client.post("/v1/experiments/checkout/assign", json={"user": "u1"}).json()
        assert again["variant"] == seen["u1"]  # sticky: a second exposure, the same unit
        assert 150 < sum(v == "onepage" for v in seen.values()) < 250

        # what followed: the one-page checkout converts more, and its buyers ask for refunds more
        after, bought = [], {user: False for user in users}
        for user in users:
            rate = (0.45 if seen[user] == "onepage" else 0.15) + (0.4 if user in loyal else 0.0)
            if rng.random() < rate:
                after.append(_order(user, 20.0))
                bought[user] = True
                if seen[user] == "onepage" and rng.random() < 0.5:
                    after.append({"type": "track", "userId": user, "event": "Order Refunded"})
        _send(store, shop, after)

        report = client.get("/v1/experiments/checkout/results")
        assert report.status_code == 200, report.text
        result = report.json()
    assert result["units"] == 400 and result["units_in_several_variants"] == 0
    assert result["sample_ratio"]["mismatch"] is False
    purchase, per_user, per_order = result["metrics"]
    for arm in purchase["arms"]:  # each arm's rate is what this test sent
        mine = [user for user in users if seen[user] == arm["variant"]]
        assert arm["units"] == len(mine)
        assert abs(arm["value"] - sum(bought[u] for u in mine) / len(mine)) < 1e-6  # six decimals
    onepage = purchase["comparisons"][0]
    assert onepage["variant"] == "onepage" and onepage["verdict"] == "better" and onepage["significant"]
    assert onepage["chance_to_beat_control"] > 0.99 and onepage["always_valid"]["ci"][0] > 0
    assert onepage["cuped_variance_reduction"] > 0.05  # earlier orders foretell later ones
    assert abs(per_user["arms"][0]["value"] - purchase["arms"][0]["value"] * 20) < 1e-4
    assert per_order["status"] == "analysed" and {arm["value"] for arm in per_order["arms"]} == {20.0}
    refunds = result["guardrails"][0]
    assert refunds["comparisons"][0]["verdict"] == "worse"
    assert "onepage is better than classic on purchase" in result["summary"] and "harms refunds" in result["summary"]


def test_stopping_ships_a_variant_and_running_experiments_keep_their_split(server: Server, store: Store) -> None:
    shop = _shop(store)
    with _api(server, shop) as client:
        assert client.post("/v1/experiments", json={**CHECKOUT, "traffic": 50}).status_code == 201
        client.post("/v1/experiments/checkout/start")
        answers = [client.post("/v1/experiments/checkout/assign", json={"user": f"v{i}"}).json() for i in range(200)]
        inside = [a for a in answers if a["in_experiment"]]
        assert 70 < len(inside) < 130 and all(a["variant"] == "classic" for a in answers if not a["in_experiment"])
        assert _decisions(store, shop) == len(inside)  # only units inside are exposures

        changed = {**CHECKOUT, "variants": [{"id": "classic", "weight": 90}, {"id": "onepage", "weight": 10}]}
        refused = client.put("/v1/experiments/checkout", json=changed)
        assert refused.status_code == 409 and "variants" in refused.json()["detail"]
        assert client.get("/v1/experiments/checkout").json()["variants"][0]["weight"] == 50  # nothing changed
        wider = client.put("/v1/experiments/checkout", json={**CHECKOUT, "traffic": 100})
        assert wider.status_code == 200 and wider.json()["traffic"] == 100

        assert client.post("/v1/experiments/checkout/stop", json={"ship": "gold"}).status_code == 400
        stopped = client.post("/v1/experiments/checkout/stop", json={"ship": "onepage"})
        assert stopped.status_code == 200 and stopped.json()["shipped"] == "onepage"
        before = _decisions(store, shop)
        after = client.post("/v1/experiments/checkout/assign", json={"user": "v1"}).json()
        assert after["variant"] == "onepage" and not after["in_experiment"] and after["decision_id"] is None
        assert _decisions(store, shop) == before
        assert client.post("/v1/experiments/checkout/start").status_code == 409  # stopped stays stopped
        result = client.get("/v1/experiments/checkout/results").json()
        assert result["status"] == "stopped" and result["units"] == len(inside)
        assert result["metrics"][0]["status"] in ("analysed", "collecting")


def test_bad_experiments_are_refused_and_change_nothing(server: Server, store: Store) -> None:
    shop = _shop(store)
    with _api(server, shop) as client:
        for change, field in [
            ({"variants": [{"id": "a", "weight": 60}, {"id": "b", "weight": 30}]}, "variants"),
            ({"variants": [{"id": "a", "weight": 100}]}, "variants"),
            ({"control": "nobody"}, "control"),
            ({"metrics": [{"name": "m", "kind": "ratio", "event": "Order Completed"}]}, "metrics.0"),
            ({"metrics": [{"name": "m", "kind": "conversion", "event": "X", "property": "revenue"}]}, "metrics.0"),
            ({"targeting": {"when": {"mood": ["happy"]}}}, "targeting.when"),
            ({"traffic": 0}, "traffic"),
            ({"key": "has space"}, "key"),
        ]:  # fmt: skip
            refused = client.post("/v1/experiments", json={**CHECKOUT, **change})
            assert refused.status_code == 400, refused.text
            assert refused.json()["errors"][0]["field"] == field, refused.json()
        assert "not 100%" in client.post("/v1/experiments", json={**CHECKOUT, "variants": [
            {"id": "a", "weight": 60}, {"id": "b", "weight": 30}]}).text  # fmt: skip
        assert client.get("/v1/experiments").json()["data"] == []
        for path in ("/v1/experiments/nope", "/v1/experiments/nope/results"):
            assert client.get(path).status_code == 404
        assert client.post("/v1/experiments/nope/assign", json={"user": "x"}).status_code == 404
        assert client.post("/v1/experiments/nope/start").status_code == 404
        assert client.post("/v1/experiments", json=CHECKOUT).status_code == 201
        assert client.post("/v1/experiments", json=CHECKOUT).status_code == 409  # the key is taken
        client.post("/v1/experiments/checkout/start")
        bad_context = client.post("/v1/experiments/checkout/assign", json={"user": "x", "context": {"daypart": "tea"}})
        assert bad_context.status_code == 400 and bad_context.json()["errors"][0]["field"] == "daypart"
    assert _decisions(store, shop) == 0


def test_a_block_run_by_an_experiment_shows_its_assignment_and_feeds_its_results(server: Server, store: Store) -> None:
    shop = _shop(store)
    hero = {"policy": "experiment", "experiment": "hero-test", "variants": [
        {"id": "spring", "content": {"headline": "Spring is here"}},
        {"id": "sale", "content": {"headline": "20% off"}}]}  # fmt: skip
    with _api(server, shop) as client:
        refused = client.put("/v1/blocks/hero", json=hero)  # no such experiment yet
        assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "experiment"
        test = {"key": "hero-test", "variants": [{"id": "spring", "weight": 50}, {"id": "sale", "weight": 50}],
                "metrics": [{"name": "clicks", "event": "Promotion Clicked"}]}  # fmt: skip
        assert client.post("/v1/experiments", json=test).status_code == 201
        short = {**hero, "variants": hero["variants"][:1]}
        refused = client.put("/v1/blocks/hero", json=short)
        assert refused.status_code == 400 and "sale" in refused.json()["errors"][0]["reason"]
        assert client.put("/v1/blocks/hero", json={**hero, "policy": "fixed"}).status_code == 400
        saved = client.put("/v1/blocks/hero", json=hero)
        assert saved.status_code == 200 and saved.json()["experiment"] == "hero-test"
        client.post("/v1/experiments/hero-test/start")
        for i in range(40):
            shown = client.post("/v1/decide", json={"slot": "hero", "user": f"h{i}"}).json()
            assigned = client.post("/v1/experiments/hero-test/assign", json={"user": f"h{i}"}).json()
            assert shown["variant"] == assigned["variant"] and shown["decision_id"].startswith("dec_")
            assert shown["content"]["headline"] == {"spring": "Spring is here", "sale": "20% off"}[shown["variant"]]
        anonymous = client.post("/v1/decide", json={"slot": "hero"}).json()
        assert anonymous["variant"] == "spring" and anonymous["decision_id"] is None  # the control, not logged
        result = client.get("/v1/experiments/hero-test/results").json()
        assert result["units"] == 40 and sum(arm["units"] for arm in result["metrics"][0]["arms"]) == 40


def test_a_visitor_assigned_before_they_had_a_profile_is_counted_once_known(server: Server, store: Store) -> None:
    shop = _shop(store)
    with _api(server, shop) as client:
        assert client.post("/v1/experiments", json=CHECKOUT).status_code == 201
        client.post("/v1/experiments/checkout/start")
        first = client.post("/v1/experiments/checkout/assign", json={"user": "cookie-77"}).json()
        assert first["in_experiment"] and first["profile_id"] is None  # nobody knows cookie-77 yet
        # they browse, then sign in as a known customer, then buy: one person throughout
        _send(store, shop, [{"type": "identify", "userId": "kim"},
                            {"type": "page", "anonymousId": "cookie-77", "name": "Home"},
                            {"type": "identify", "userId": "kim", "anonymousId": "cookie-77"},
                            _order("kim", 35.0)])  # fmt: skip
        result = client.get("/v1/experiments/checkout/results").json()
    assert result["units"] == 1
    arm = next(a for a in result["metrics"][0]["arms"] if a["variant"] == first["variant"])
    assert arm["units"] == 1 and arm["value"] == 1.0  # the order counted for the unit the cookie became
