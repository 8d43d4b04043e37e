"""The catalog over the real API, on SQLite and PostgreSQL: products with variants, stock per location,
price and stock history, and bad input that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server

MUG = {
    "title": "Taza de cerámica",
    "description": "Taza artesanal de 350 ml",
    "brand": "Barro",
    "category": "Hogar > Cocina > Tazas",
    "price": "12.90",
    "currency": "eur",
    "cost": "4.10",
    "stock": {"madrid": 5, "online": 20},
    "attributes": {"material": "ceramic", "capacity_ml": 350},
    "image_urls": ["https://img.example.com/mug.jpg"],
    "language": "es-ES",
}


def _call(server: Server, workspace: CreatedWorkspace, method: str, path: str, body: Any = None):  # type: ignore[no-untyped-def]
    with server.client() as client:
        return client.request(method, path, json=body, headers={"Authorization": f"Bearer {workspace.secret_key}"})


def test_products_with_variants_stock_and_history(server: Server, workspace: CreatedWorkspace) -> None:
    assert _call(server, workspace, "PUT", "/v1/catalog/products/mug", MUG).status_code == 200
    red = {**MUG, "title": "Taza roja", "parent_id": "mug", "attributes": {"colour": "red"}, "stock": {"online": 3}}
    assert _call(server, workspace, "PUT", "/v1/catalog/products/mug-red", red).status_code == 200
    # a price change and a stock change are kept as history
    cheaper = {**MUG, "price": "10.50", "sale_price": "9.99"}
    assert _call(server, workspace, "PUT", "/v1/catalog/products/mug", cheaper).status_code == 200
    stock = {"updates": [{"product_id": "mug", "location": "madrid", "quantity": 0}]}
    assert _call(server, workspace, "PUT", "/v1/catalog/stock", stock).json() == {"updated": 1}

    mug = _call(server, workspace, "GET", "/v1/catalog/products/mug").json()
    assert mug["category"] == ["Hogar", "Cocina", "Tazas"]
    assert mug["currency"] == "EUR"
    assert (mug["price"], mug["sale_price"], mug["cost"]) == ("10.5", "9.99", "4.1")
    assert mug["stock"] == {"madrid": 0, "online": 20} and mug["in_stock"] is True
    assert mug["variants"] == ["mug-red"]
    history = _call(server, workspace, "GET", "/v1/catalog/products/mug/history").json()["data"]
    changes = {(h["field"], h["location"], h["old"], h["new"]) for h in history}
    assert ("price", None, "12.9", "10.5") in changes
    assert ("sale_price", None, None, "9.99") in changes
    assert ("stock", "madrid", "5", "0") in changes
    assert ("stock", "madrid", None, "5") in changes

    assert _call(server, workspace, "DELETE", "/v1/catalog/products/mug").status_code == 409  # has a variant
    assert _call(server, workspace, "DELETE", "/v1/catalog/products/mug-red").status_code == 204
    assert _call(server, workspace, "DELETE", "/v1/catalog/products/mug").status_code == 204
    assert _call(server, workspace, "GET", "/v1/catalog/products/mug").status_code == 404


def test_bulk_upsert_is_all_or_nothing(server: Server, workspace: CreatedWorkspace) -> None:
    products = [{"id": f"p{n}", "title": f"Product {n}", "price": n + 1, "currency": "GBP"} for n in range(50)]
    assert _call(server, workspace, "POST", "/v1/catalog/products/bulk", {"products": products}).json() == {
        "stored": 50
    }
    bad = [*products[:3], {"id": "x", "title": "Bad", "price": -1, "currency": "GBP"},
           {"id": "y", "title": "Orphan", "price": 1, "currency": "GBP", "parent_id": "nope"}]  # fmt: skip
    response = _call(server, workspace, "POST", "/v1/catalog/products/bulk", {"products": bad})
    assert response.status_code == 400
    assert response.json()["invalid_indexes"] == [3]
    assert _call(server, workspace, "GET", "/v1/catalog/products/x").status_code == 404
    orphan = _call(server, workspace, "POST", "/v1/catalog/products/bulk", {"products": bad[:3] + bad[4:]})
    assert orphan.status_code == 400
    assert orphan.json()["errors"][0]["field"] == "products[3].parent_id"


BAD = [
    ("negative price", "PUT", "/v1/catalog/products/b", {**MUG, "price": "-1"}, "price"),
    ("price is text", "PUT", "/v1/catalog/products/b", {**MUG, "price": "cheap"}, "price"),
    ("unknown currency", "PUT", "/v1/catalog/products/b", {**MUG, "currency": "EUX"}, "currency"),
    ("negative stock", "PUT", "/v1/catalog/products/b", {**MUG, "stock": {"online": -2}}, "stock.online"),
    ("stock is a float", "PUT", "/v1/catalog/products/b", {**MUG, "stock": {"online": 1.5}}, "stock.online"),
    ("no title", "PUT", "/v1/catalog/products/b", {k: v for k, v in MUG.items() if k != "title"}, "title"),
    ("unknown field", "PUT", "/v1/catalog/products/b", {**MUG, "colour": "red"}, "colour"),
    ("sale above price", "PUT", "/v1/catalog/products/b", {**MUG, "sale_price": "99"}, "body"),
    ("bad image url", "PUT", "/v1/catalog/products/b", {**MUG, "image_urls": ["ftp://x"]}, "image_urls.0"),
    ("unknown parent", "PUT", "/v1/catalog/products/b", {**MUG, "parent_id": "ghost"}, "products[0].parent_id"),
    ("stock of unknown product", "PUT", "/v1/catalog/stock",
     {"updates": [{"product_id": "ghost", "location": "online", "quantity": 1}]}, "updates[0].product_id"),
    ("negative stock update", "PUT", "/v1/catalog/stock",
     {"updates": [{"product_id": "b", "location": "online", "quantity": -1}]}, "updates.0.quantity"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "method", "path", "body", "field"), BAD, ids=[c[0] for c in BAD])
def test_bad_catalog_input_is_refused_and_changes_nothing(
    server: Server, workspace: CreatedWorkspace, case: str, method: str, path: str, body: Any, field: str
) -> None:
    response = _call(server, workspace, method, path, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [error["field"] for error in response.json()["errors"]], response.json()
    assert _call(server, workspace, "GET", "/v1/catalog/products/b").status_code == 404


def test_write_keys_cannot_touch_the_catalog(server: Server, workspace: CreatedWorkspace) -> None:
    with server.client() as client:
        response = client.put(
            "/v1/catalog/products/m", json=MUG, headers={"Authorization": f"Bearer {workspace.write_key}"}
        )
    assert response.status_code == 403
