"""Catalog search on SQLite (FTS5) and PostgreSQL (tsvector): relevance with English and Spanish stems,
filters, facets, and an index that follows every upsert, stock change and delete."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from afinidad.catalog.analysis import query_terms, stems
from afinidad.catalog.facets import category_facet, price_facet
from afinidad.catalog.products import ProductIn, StockUpdate
from afinidad.catalog.search import SearchQuery, search_catalog
from afinidad.catalog.service import delete_product, set_stock, upsert_products
from afinidad.errors import InvalidInput
from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server

SHOP: dict[str, dict[str, Any]] = {
    "es-zapato": {"title": "Zapato de cuero negro", "brand": "Camper", "category": "Calzado > Zapatos",
                  "price": "89.00", "currency": "EUR", "language": "es",
                  "description": "Zapato clásico para la oficina, suela de goma."},
    "es-zapatilla": {"title": "Zapatillas de correr ligeras", "brand": "Joma", "category": "Calzado > Deportivas",
                     "price": "59.90", "sale_price": "44.90", "currency": "EUR", "language": "es",
                     "stock": {"madrid": 0}},
    "es-camion": {"title": "Camión de juguete", "brand": "Playgo", "category": "Juguetes > Vehículos",
                  "price": "19.95", "currency": "EUR", "language": "es", "stock": {"madrid": 3}},
    "en-running": {"title": "Running shoes for men", "brand": "Nike", "category": "Shoes > Sports",
                   "price": "120", "currency": "EUR", "language": "en", "stock": {"web": 5},
                   "description": "Lightweight shoes built for long runs."},
    "en-boots": {"title": "Leather boots", "brand": "Camper", "category": "Shoes > Boots", "price": "150",
                 "currency": "EUR", "language": "en", "description": "Waterproof boots for running errands in rain."},
    "en-mug": {"title": "Ceramic mug", "brand": "Barro", "category": "Home > Kitchen", "price": "9.5",
               "currency": "EUR", "description": "A mug that goes with shoes? No: with coffee."},
    "en-retired": {"title": "Retired running shoes", "brand": "Nike", "category": "Shoes > Sports",
                   "price": "80", "currency": "EUR", "language": "en", "active": False},
}  # fmt: skip


@pytest.fixture()
def shop(store: Store, workspace: CreatedWorkspace) -> str:
    with store.session() as session:
        upsert_products(session, workspace.id, [(pid, ProductIn(**body)) for pid, body in SHOP.items()])
    return workspace.id


def _search(store: Store, workspace_id: str, **kwargs: Any) -> dict[str, Any]:
    with store.reader() as session:
        return search_catalog(session, workspace_id, SearchQuery(**kwargs))


def _ids(result: dict[str, Any]) -> list[str]:
    return [item["id"] for item in result["items"]]


def test_spanish_stems_match_plural_and_singular(store: Store, shop: str) -> None:
    assert _ids(_search(store, shop, q="zapatos")) == ["es-zapato"]
    assert _ids(_search(store, shop, q="zapatos negros")) == ["es-zapato"]
    assert _ids(_search(store, shop, q="juguetes camion")) == ["es-camion"]  # no accent typed, still found
    assert _ids(_search(store, shop, q="zapatilla")) == ["es-zapatilla"]


def test_english_stems_and_title_outranks_description(store: Store, shop: str) -> None:
    result = _search(store, shop, q="running shoe")
    # in the title beats in the description; the inactive product is never shown
    assert _ids(result)[0] == "en-running"
    assert set(_ids(result)) == {"en-running", "en-boots"}
    assert result["total"] == 2
    assert _ids(_search(store, shop, q="runs")) == ["en-running", "en-boots"] or set(
        _ids(_search(store, shop, q="runs"))
    ) == {"en-running", "en-boots"}
    assert _search(store, shop, q="sofa")["total"] == 0


def test_prefix_search_as_you_type(store: Store, shop: str) -> None:
    assert _search(store, shop, q="zapatil")["total"] == 0
    assert _ids(_search(store, shop, q="zapatil", prefix=True)) == ["es-zapatilla"]
    assert set(_ids(_search(store, shop, q="zap", prefix=True))) == {"es-zapato", "es-zapatilla"}
    assert _ids(_search(store, shop, q="cerami", prefix=True)) == ["en-mug"]


def test_filters(store: Store, shop: str) -> None:
    assert set(_ids(_search(store, shop, category="Calzado"))) == {"es-zapato", "es-zapatilla"}
    assert set(_ids(_search(store, shop, category="Shoes>Sports"))) == {"en-running"}
    assert _search(store, shop, category="Shoe")["total"] == 0  # a category, not a text prefix
    assert set(_ids(_search(store, shop, brands=("camper",)))) == {"es-zapato", "en-boots"}
    # price filters read the price paid: the running shoes' sale price 44.90 is under 50
    cheap = _search(store, shop, max_price=Decimal("50"))
    assert set(_ids(cheap)) == {"es-zapatilla", "es-camion", "en-mug"}
    assert set(_ids(_search(store, shop, min_price=Decimal("100"), max_price=Decimal("150")))) == {
        "en-running",
        "en-boots",
    }
    # untracked stock counts as available; tracked stock must be above zero somewhere
    assert "es-zapatilla" not in _ids(_search(store, shop, in_stock=True, limit=100))
    assert _ids(_search(store, shop, in_stock=False)) == ["es-zapatilla"]
    assert _ids(_search(store, shop, q="shoes", brands=("Nike",), in_stock=True)) == ["en-running"]


def test_facets_count_every_match(store: Store, shop: str) -> None:
    result = _search(store, shop, limit=2)
    assert result["total"] == 6 and len(result["items"]) == 2
    facets = result["facets"]
    assert {f["value"]: f["count"] for f in facets["brand"]} == {"Camper": 2, "Nike": 1, "Joma": 1, "Playgo": 1,
                                                                  "Barro": 1}  # fmt: skip
    assert {f["value"]: f["count"] for f in facets["category"]} == {"Calzado": 2, "Shoes": 2, "Juguetes": 1,
                                                                     "Home": 1}  # fmt: skip
    assert facets["in_stock"] == {"yes": 5, "no": 1}
    assert sum(r["count"] for r in facets["price"]) == 6
    below = _search(store, shop, category="Shoes")["facets"]["category"]
    assert below == [{"value": "Shoes > Boots", "count": 1}, {"value": "Shoes > Sports", "count": 1}]


def test_sorting_and_paging(store: Store, shop: str) -> None:
    by_price = _ids(_search(store, shop, sort="price_asc", facets=False))
    assert by_price == ["en-mug", "es-camion", "es-zapatilla", "es-zapato", "en-running", "en-boots"]
    assert _ids(_search(store, shop, sort="price_asc", limit=2, offset=2)) == by_price[2:4]
    assert _ids(_search(store, shop, sort="price_desc", limit=1)) == ["en-boots"]


def test_index_follows_changes(store: Store, shop: str) -> None:
    with store.session() as session:
        upsert_products(session, shop, [("en-mug", ProductIn(title="Porcelain teapot", price="30", currency="EUR"))])
    assert _search(store, shop, q="mug")["total"] == 0
    assert _ids(_search(store, shop, q="teapot")) == ["en-mug"]
    with store.session() as session:
        set_stock(session, shop, [StockUpdate(product_id="es-zapatilla", location="madrid", quantity=4)])
    assert "es-zapatilla" in _ids(_search(store, shop, in_stock=True))
    with store.session() as session:
        delete_product(session, shop, "es-camion")
    assert _search(store, shop, q="camion")["total"] == 0
    with store.session() as session:  # deactivating takes a product out of search
        upsert_products(session, shop, [("es-zapato", ProductIn(**(SHOP["es-zapato"] | {"active": False})))])
    assert _search(store, shop, q="zapato")["total"] == 0


def test_workspaces_do_not_see_each_others_products(store: Store, shop: str, workspace: CreatedWorkspace) -> None:
    from afinidad.workspaces.service import create_workspace

    with store.session() as session:
        other = create_workspace(session, f"other-{workspace.name}")
    assert _search(store, other.id, q="zapatos")["total"] == 0
    assert _search(store, other.id)["total"] == 0


def test_bad_search_is_refused(store: Store, shop: str) -> None:
    for kwargs, field in [
        ({"sort": "random"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"min_price": Decimal(5), "max_price": Decimal(1)}, "min_price"),
        ({"language": "xx"}, "language"),
    ]:
        with pytest.raises(InvalidInput) as raised:
            _search(store, shop, **kwargs)
        assert raised.value.problems[0].field == field


def test_analysis_is_language_aware() -> None:
    assert stems("Zapatos rojos", ["es"]) == ["zapat", "roj"]
    assert stems("The running shoes", ["en"]) == ["run", "shoe"]
    assert stems("camión", ["es"]) == stems("camion", ["es"])
    terms = query_terms("de los zapatos", ["en", "es"])
    assert [t.word for t in terms] == ["zapatos"] and set(terms[0].alternatives) == {"zapat", "zapato"}


def test_facet_shapes() -> None:
    ranges = price_facet([(3, 10), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 30)], max_ranges=3)
    assert len(ranges) == 3 and sum(r["count"] for r in ranges) == 46
    assert ranges[0] == {"from": 5, "to": 10, "count": 10} and ranges[-1]["count"] == 30
    assert category_facet([("A > B > C", 2), ("A > D", 1), ("E", 4)], "A") == [
        {"value": "A > B", "count": 2},
        {"value": "A > D", "count": 1},
    ]


def test_search_over_http(server: Server, workspace: CreatedWorkspace) -> None:
    with server.client(headers={"Authorization": f"Bearer {workspace.secret_key}"}) as client:
        for pid in ("es-zapato", "en-running"):
            assert client.put(f"/v1/catalog/products/{pid}", json=SHOP[pid]).status_code == 200
        response = client.get("/v1/catalog/search", params={"q": "zapatos", "brand": ["Camper", "Nike"]})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [item["id"] for item in body["items"]] == ["es-zapato"]
        assert body["items"][0]["price"] == "89" and body["facets"]["brand"] == [{"value": "Camper", "count": 1}]
        bad = client.get("/v1/catalog/search", params={"sort": "random"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "sort"
    with server.client(headers={"Authorization": f"Bearer {workspace.write_key}"}) as client:
        assert client.get("/v1/catalog/search", params={"q": "zapatos"}).status_code == 403


def test_broad_searches_rank_candidates_and_estimate_facets(
    store: Store, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import afinidad.catalog.search as search

    exact = _search(store, shop, q="shoes")
    assert exact["total"] == 3 and exact["facets"]["exhaustive"] is True
    # from here on, a search is broad when more than one product matches and the page is one product
    monkeypatch.setattr(search, "EXACT_LIMIT", 1)
    monkeypatch.setattr(search, "CANDIDATES", 1)
    broad = _search(store, shop, q="shoes", limit=1)
    assert broad["total"] == 3  # the total stays exact
    assert _ids(broad) == ["en-running"]  # the title match is a candidate whatever the first matches are
    assert broad["facets"]["exhaustive"] is False
    assert sum(broad["facets"]["in_stock"].values()) == 3  # counted over 2 of 3, scaled to the total
    # other sorts stay exact over every match
    assert _ids(_search(store, shop, sort="price_asc", limit=1, offset=1)) == ["es-camion"]
    assert [_ids(_search(store, shop, q="shoes", sort="price_desc", limit=1, offset=i)) for i in range(3)] == [
        ["en-boots"], ["en-running"], ["en-mug"]]  # fmt: skip
    # deep pages widen the candidates: every page of a broad search has a product
    assert all(_ids(_search(store, shop, q="shoes", limit=1, offset=i)) for i in range(3))


def test_an_unchanged_product_is_left_alone(store: Store, shop: str) -> None:
    from afinidad.catalog.service import get_product, history

    with store.reader() as session:
        before = get_product(session, shop, "es-camion")
    with store.session() as session:  # the same product again, as a daily feed sends it
        upsert_products(session, shop, [("es-camion", ProductIn(**SHOP["es-camion"]))])
    with store.reader() as session:
        assert get_product(session, shop, "es-camion")["updated_at"] == before["updated_at"]
        assert len(history(session, shop, "es-camion")) == 2  # price and stock when created, nothing since
    with store.session() as session:  # only the stock differs: the product stays, search sees the new stock
        upsert_products(session, shop, [("es-camion", ProductIn(**(SHOP["es-camion"] | {"stock": {"madrid": 0}})))])
    with store.reader() as session:
        assert get_product(session, shop, "es-camion")["updated_at"] == before["updated_at"]
    assert "es-camion" in _ids(_search(store, shop, in_stock=False))
