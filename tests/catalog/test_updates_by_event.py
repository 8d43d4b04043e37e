"""Stock and price sent as tracked events change the catalog (with history, source "event"), on SQLite and
PostgreSQL through the real server; malformed ones are refused and change nothing; ones the catalog cannot
take (unknown product, other currency, sale above price) are kept as events and skipped."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from afinidad.catalog.search import SearchQuery, search_catalog
from afinidad.catalog.updates import parse_update
from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server
from tests.helpers import count_events


def _track(client: Any, workspace: CreatedWorkspace, event: str, properties: dict[str, Any]) -> Any:
    message = {"userId": "warehouse", "event": event, "properties": properties, "messageId": str(uuid.uuid4())}
    return client.post("/v1/track", json=message, auth=(workspace.write_key, ""))


def test_stock_and_price_events_update_the_catalog(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    secret = {"Authorization": f"Bearer {workspace.secret_key}"}
    with server.client() as client:
        product = {"title": "Botas", "price": "100", "sale_price": "90", "currency": "EUR", "stock": {"madrid": 2}}
        assert client.put("/v1/catalog/products/boot", json=product, headers=secret).status_code == 200
        for event, properties in [
            ("Inventory Updated", {"product_id": "boot", "location": "madrid", "quantity": 0}),
            ("inventory updated", {"sku": "boot", "location": "web", "quantity": 7}),
            ("Price Updated", {"product_id": "boot", "price": 120, "sale_price": None, "currency": "eur"}),
            ("Price Updated", {"product_id": "nope", "price": 1}),  # unknown: kept, skipped
            ("Price Updated", {"product_id": "boot", "price": 10, "currency": "USD"}),  # other currency: skipped
            ("Price Updated", {"product_id": "boot", "sale_price": 150}),  # above the price: skipped
        ]:
            assert _track(client, workspace, event, properties).status_code == 200
        with store.reader() as session:  # search filters read the new price and stock at once
            assert search_catalog(session, workspace.id, SearchQuery(min_price=Decimal("110")))["total"] == 1
            assert search_catalog(session, workspace.id, SearchQuery(max_price=Decimal("100")))["total"] == 0
            assert search_catalog(session, workspace.id, SearchQuery(in_stock=True))["total"] == 1
        _track(client, workspace, "Inventory Updated", {"product_id": "boot", "location": "web", "quantity": 0})
        with store.reader() as session:
            assert search_catalog(session, workspace.id, SearchQuery(in_stock=True))["total"] == 0
        _track(client, workspace, "Inventory Updated", {"product_id": "boot", "location": "web", "quantity": 7})
        got = client.get("/v1/catalog/products/boot", headers=secret).json()
        assert got["stock"] == {"madrid": 0, "web": 7} and got["price"] == "120" and got["sale_price"] is None
        history = client.get("/v1/catalog/products/boot/history", headers=secret).json()["data"]
        from_events = {(h["field"], h["location"], h["old"], h["new"]) for h in history if h["source"] == "event"}
        assert from_events == {("stock", "madrid", "2", "0"), ("stock", "web", None, "7"),
                               ("price", None, "100", "120"), ("sale_price", None, "90", None),
                               ("stock", "web", "7", "0"), ("stock", "web", "0", "7")}  # fmt: skip
        before = count_events(store, workspace.id)
        for properties, field in [
            ({"product_id": "boot", "quantity": -1}, "properties.quantity"),
            ({"product_id": "boot", "quantity": 2.5}, "properties.quantity"),
            ({"quantity": 3}, "properties.product_id"),
        ]:
            response = _track(client, workspace, "Inventory Updated", properties)
            assert response.status_code == 400 and response.json()["errors"][0]["field"] == field
        response = _track(client, workspace, "Price Updated", {"product_id": "boot", "price": "free"})
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == "properties.price"
        assert count_events(store, workspace.id) == before
        assert client.get("/v1/catalog/products/boot", headers=secret).json()["stock"] == {"madrid": 0, "web": 7}


def test_parse_update_shapes() -> None:
    update, problems = parse_update("Price Updated", {"product_id": 42, "sale_price": "9.90"})
    assert problems == [] and update is not None
    assert (update.product_id, update.price, str(update.sale_price), update.clear_sale) == ("42", None, "9.90", False)
    assert parse_update("Price Updated", {"product_id": "a"})[1] == [
        ("properties.price", "a price update needs price and/or sale_price")
    ]
    assert parse_update("Product Viewed", {"product_id": "a"}) == (None, [])
