"""Dynamic prices through the real API, on SQLite and PostgreSQL: elasticities learned from the shop's orders,
proposals that keep every guardrail (daily change, competitor, floor, minimum margin), a person's approval
before the catalog changes, prices set by hand refused when they break a guardrail (nothing changed), a
competitor feed, and approval turned off."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import CreatedWorkspace, create_workspace, issue_admin_key
from tests.conftest import Server

RULES = {"min_margin": 0.2, "max_change_per_day": 0.1, "max_above_competitor": 0.05,
         "products": {"pen": {"floor": 1.9}}}  # fmt: skip
CATALOG = {"mug": ("10", "4"), "lamp": ("50", "45"), "pen": ("2", None)}


def _shop(store: Store) -> tuple[CreatedWorkspace, str]:
    with store.session() as session:
        shop = create_workspace(session, f"prices-{uuid.uuid4().hex[:8]}")
        return shop, issue_admin_key(session, shop.id)


def _history(store: Store, shop: CreatedWorkspace) -> None:
    """Twelve weeks of orders in which the mug's demand answers its price with elasticity -2."""
    start = datetime.now(UTC) - timedelta(weeks=13)
    messages = []
    for week in range(12):
        mug = [8.0, 9.0, 10.0, 11.0, 12.0][week % 5]
        lines = [{"product_id": "mug", "price": mug, "quantity": round(2000 * mug**-2)},
                 {"product_id": "lamp", "price": 50.0, "quantity": 3}, {"product_id": "pen", "price": 2.0,
                                                                         "quantity": 40}]  # fmt: skip
        messages.append({"type": "track", "userId": f"buyer-{week}", "event": "Order Completed",
                         "timestamp": (start + timedelta(weeks=week)).isoformat(),
                         "properties": {"order_id": f"o{week}", "products": lines}})  # fmt: skip
    report = import_messages(store, shop.id, (ImportedMessage(line=n, message=m) for n, m in enumerate(messages)),
                             Settings())  # fmt: skip
    assert report.stored == len(messages)


def _price(client: httpx.Client, product_id: str) -> float:
    return float(client.get(f"/v1/catalog/products/{product_id}").json()["price"])


def _keeps_the_guardrails(proposal: dict[str, Any], competitor: float | None) -> None:
    price, current, cost = proposal["price"], proposal["current_price"], proposal["expected"]["cost"]
    assert abs(price - current) / current <= 0.1 + 1e-9
    if cost is not None:
        assert price >= cost * 1.2 - 1e-9
    if competitor is not None and not (cost is not None and cost * 1.2 > competitor * 1.05):
        assert price <= competitor * 1.05 + 1e-9  # unless the margin floor is above it (the harder rule wins)
    if proposal["product_id"] == "pen":
        assert price >= 1.9


def test_prices_are_proposed_within_guardrails_and_change_only_when_approved(server: Server, store: Store) -> None:
    shop, admin = _shop(store)
    _history(store, shop)
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        for product_id, (price, cost) in CATALOG.items():
            body = {"title": product_id.title(), "price": price, "currency": "EUR", "cost": cost}
            assert client.put(f"/v1/catalog/products/{product_id}", json=body).status_code == 200
        rules = client.patch("/v1/workspace/settings", json={"pricing": RULES},
                             headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        assert rules.status_code == 200, rules.text
        feed = {"prices": [{"product_id": "lamp", "competitor": "rival", "price": "50.00"}]}
        assert client.post("/v1/prices/competitors", json=feed).json() == {"stored": 1}

        made = client.post("/v1/prices/proposals", json={})
        assert made.status_code == 200, made.text
        proposals = {p["product_id"]: p for p in made.json()["proposals"]}
        assert set(proposals) == {"mug", "lamp", "pen"} and made.json()["require_approval"] is True
        mug, lamp, pen = proposals["mug"], proposals["lamp"], proposals["pen"]
        assert -2.3 < mug["elasticity"] < -1.7  # the demand this test planted
        assert mug["price"] == 9.0 and mug["binding"] == ["maximum change per day"]  # margin optimum is 8
        assert mug["expected"]["units"] > 0 and "Demand elasticity" in mug["reason"]
        assert lamp["price"] == 54.0 and "minimum margin" in lamp["binding"] and "competitor" in lamp["binding"]
        assert pen["price"] == 1.9 and "floor" in pen["binding"]
        for proposal in proposals.values():
            assert proposal["status"] == "proposed"
            _keeps_the_guardrails(proposal, 50.0 if proposal["product_id"] == "lamp" else None)
        assert _price(client, "mug") == 10.0  # nothing applied yet

        approved = client.post(f"/v1/prices/proposals/{mug['id']}/approve", json={"note": "ok for the sale"})
        assert approved.status_code == 200 and approved.json()["status"] == "applied"
        assert _price(client, "mug") == 9.0
        assert client.get("/v1/catalog/products/mug/history").json()["data"][0]["source"] == "pricing"
        assert client.post(f"/v1/prices/proposals/{mug['id']}/approve").status_code == 409
        assert client.post(f"/v1/prices/proposals/{pen['id']}/reject").json()["status"] == "rejected"
        assert _price(client, "pen") == 2.0
        assert [p["product_id"] for p in client.get("/v1/prices/proposals?status=proposed").json()["data"]] == ["lamp"]

        again = client.post("/v1/prices/proposals", json={"product_ids": ["mug"]}).json()
        assert again["proposals"] == [] and again["skipped"][0]["reason"].startswith("its price changed")

        # by hand: the daily limit is measured from the price a day ago (10), so steps cannot creep past it
        for product_id, price, reasons in [("mug", "7", ["change in a day"]), ("mug", "8.5", ["change in a day"]),
                                           ("lamp", "53", ["minimum margin", "above the competitor"]),
                                           ("pen", "1.5", ["floor", "change in a day"])]:  # fmt: skip
            before = _price(client, product_id)
            refused = client.put(f"/v1/prices/{product_id}", json={"price": price})
            assert refused.status_code == 400, refused.text
            problems = refused.json()["errors"]
            assert all(p["field"] == "price" for p in problems) and len(problems) == len(reasons)
            assert all(any(r in p["reason"] for p in problems) for r in reasons), problems
            assert _price(client, product_id) == before  # nothing changed
        assert client.put("/v1/prices/mug", json={"price": "9.5"}).json()["previous_price"] == 9.0
        assert client.put("/v1/prices/nope", json={"price": "9.5"}).status_code == 404

        # approval off: proposals apply at once
        assert client.patch("/v1/workspace/settings", json={"pricing": {**RULES, "require_approval": False}},
                            headers={"Authorization": f"Bearer {admin}"}).status_code == 200  # fmt: skip
        auto = client.post("/v1/prices/proposals", json={"product_ids": ["pen"]}).json()["proposals"]
        assert auto[0]["status"] == "applied" and _price(client, "pen") == 1.9


def test_bad_pricing_input_is_refused_and_changes_nothing(server: Server, store: Store) -> None:
    shop, admin = _shop(store)
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        assert client.post("/v1/prices/proposals", json={}).status_code == 409  # no sales to learn from yet
        body = {"title": "Mug", "price": "10", "currency": "EUR"}
        assert client.put("/v1/catalog/products/mug", json=body).status_code == 200
        for rules, field in [({"max_change_per_day": -1}, "pricing.max_change_per_day"),
                             ({"products": {"mug": {"floor": 5, "ceiling": 4}}}, "pricing.products.mug"),
                             ({"objective": "profit!"}, "pricing.objective")]:  # fmt: skip
            refused = client.patch("/v1/workspace/settings", json={"pricing": rules},
                                   headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
            assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == field, refused.text
        assert client.get("/v1/workspace/settings").json()["pricing"]["max_change_per_day"] == 0.1
        # prices never depend on who is asking: there is nowhere to say who
        personal = client.post("/v1/prices/proposals", json={"user": "ann", "traits": {"income": "high"}})
        assert personal.status_code == 400
        feed = {"prices": [{"product_id": "mug", "competitor": "a", "price": "9"},
                           {"product_id": "ghost", "competitor": "a", "price": "9"},
                           {"product_id": "mug", "competitor": "b", "price": "9", "currency": "USD"}]}  # fmt: skip
        refused = client.post("/v1/prices/competitors", json=feed)
        assert refused.status_code == 400
        assert {(e["index"], e["field"]) for e in refused.json()["errors"]} == {(1, "product_id"), (2, "currency")}
        assert client.put("/v1/prices/mug", json={"price": "-1"}).status_code == 400
        assert client.put("/v1/prices/mug", json={"price": "NaN"}).status_code == 400
        unknown = client.post("/v1/prices/proposals", json={"product_ids": ["ghost"]})
        assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "product_ids"
        assert client.post("/v1/prices/proposals/prc_nope/approve").status_code == 404
        assert client.get("/v1/prices/proposals").json()["data"] == []
