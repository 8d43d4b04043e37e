"""Content-based similar items on real catalogs: the UCI Online Retail products (titles only, 3,798 products)
and the Flipkart sample (titles, long descriptions, brands, category paths, some brands missing)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp

from afinidad.errors import InvalidInput
from afinidad.recommend.content import ContentIndex, ProductText, blend_neighbours, product_terms, top_neighbours
from afinidad.recommend.interactions import NOT_PRODUCTS
from afinidad.recommend.models import ItemKnn
from tests.conftest import data_path

K = 10


@dataclass(frozen=True)
class Retail:
    products: list[ProductText]
    purchases: sp.csr_matrix  # customers x `bought_ids`
    bought_ids: list[str]

    def title(self, product_id: str) -> str:
        return self.by_id[product_id].title

    @property
    def by_id(self) -> dict[str, ProductText]:
        return {product.product_id: product for product in self.products}


@pytest.fixture(scope="module")
def retail() -> Retail:
    """Products as the catalog import makes them (afinidad/catalog/mappings/online-retail-products.toml): one
    per upper-cased StockCode, titled by its most common description; non-products, cancellations and
    zero-price adjustments left out. Beside them, which known customer bought which product."""
    titles: dict[str, Counter[str]] = defaultdict(Counter)
    bought: set[tuple[str, str]] = set()
    with gzip.open(data_path("uci-online-retail", "online_retail.csv.gz"), "rt", newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        for invoice, code, description, quantity, _, price, customer, _ in rows:
            code = code.strip().upper()
            if code in NOT_PRODUCTS or code.startswith("GIFT_") or invoice.startswith("C") or float(price) <= 0:
                continue
            titles[code][description.strip()] += 1
            if customer.strip() and float(quantity) > 0:
                bought.add((customer.strip(), code))
    products = [ProductText(code, counts.most_common(1)[0][0]) for code, counts in titles.items()]
    customers = {customer: row for row, customer in enumerate(sorted({customer for customer, _ in bought}))}
    bought_ids = sorted({code for _, code in bought})
    column = {code: position for position, code in enumerate(bought_ids)}
    pairs = np.array([(customers[customer], column[code]) for customer, code in bought])
    purchases = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])),
                              shape=(len(customers), len(bought_ids)))  # fmt: skip
    return Retail(products, purchases, bought_ids)


@pytest.fixture(scope="module")
def retail_index(retail: Retail) -> ContentIndex:
    return ContentIndex(n_neighbours=K).fit(retail.products)


@pytest.fixture(scope="module")
def flipkart() -> list[ProductText]:
    """As the catalog's Flipkart mapping imports them: the category path without its last element (the
    product's own name), so the 6 products whose path is only their name have no category; 5 have no brand."""
    with data_path("flipkart-catalog-head48", "flipkart_com-ecommerce_sample_head48.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    products = []
    for row in rows:
        levels = [level.strip() for level in json.loads(row["product_category_tree"])[0].split(">") if level.strip()]
        products.append(ProductText(row["pid"], row["product_name"], row["description"] or None, row["brand"] or None,
                                    " > ".join(levels[:-1]), "en"))  # fmt: skip
    return products


def family(retail: Retail, start: str) -> set[str]:
    return {product.product_id for product in retail.products if product.title.split()[:2] == start.split()}


def neighbour_ids(index: ContentIndex, product_id: str, k: int = K) -> list[str]:
    links = index.neighbours(k)
    row = index.index[product_id]
    return [str(index.product_ids_[code]) for code in links.indices[links.indptr[row] : links.indptr[row + 1]]]


# -- what a shopper would see ---------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["LUNCH BAG", "JUMBO BAG"])
def test_bags_of_one_kind_are_each_others_neighbours(retail: Retail, retail_index: ContentIndex, start: str) -> None:
    """The shop sells its bags in design lines ("LUNCH BAG WOODLAND", "JUMBO BAG WOODLAND ANIMALS"), so a bag's
    nearest products mix its kind and its design: most of a lunch bag's five nearest are lunch bags all the
    same, and each has one among its ten, where chance would give one in hundreds."""
    members = family(retail, start)
    assert len(members) >= 10, f"the data has {len(members)} products starting with {start!r}"
    in_top_five = []
    for product_id in members:
        nearest = neighbour_ids(retail_index, product_id)
        assert members & set(nearest), f"{retail.title(product_id)}: {[retail.title(i) for i in nearest]}"
        in_top_five.append(len(members & set(nearest[:5])) / min(5, len(members) - 1))
    chance = (len(members) - 1) / (len(retail.products) - 1)
    assert np.mean(in_top_five) > 0.5, f"{np.mean(in_top_five):.2f} of the five nearest; chance: {chance:.3f}"


def test_a_new_product_finds_its_kind(retail: Retail, retail_index: ContentIndex) -> None:
    """A lunch bag in a design the shop never sold, written as a person would (lower case, plural): the
    trained vocabulary still places it among the lunch bags."""
    vocabulary = {word for product in retail.products for word in product.title.lower().split()}
    assert "flamingo" not in vocabulary
    lunch_bags = family(retail, "LUNCH BAG")
    for text in ("LUNCH BAG FLAMINGO DESIGN", "Lunch bags with flamingos"):
        nearest = retail_index.query(ProductText("NEW-1", text), k=5)
        assert [neighbour.product_id in lunch_bags for neighbour in nearest] == [True] * 5, nearest
        assert all(0 < neighbour.similarity <= 1 for neighbour in nearest)


def test_a_query_never_returns_the_product_itself(retail: Retail, retail_index: ContentIndex) -> None:
    product = retail.by_id["20725"]  # LUNCH BAG RED RETROSPOT, as trained: it would be its own best match
    assert "20725" not in [neighbour.product_id for neighbour in retail_index.query(product, k=5)]
    expected = neighbour_ids(retail_index, "20725", k=5)
    assert [neighbour.product_id for neighbour in retail_index.query(product, k=5)] == expected


def test_flipkart_products_meet_their_department(flipkart: list[ProductText]) -> None:
    """With descriptions, brands and category paths: a product whose category (three levels) another product
    shares finds a product of its own department before any other department (products without a category,
    whose department is unknown, are passed over); shorts without a brand, description or category still
    find the cycling shorts."""
    index = ContentIndex(n_neighbours=K).fit(flipkart)
    department = {product.product_id: product.category.split(" > ")[0] for product in flipkart}
    leaf = Counter(" > ".join(product.category.split(" > ")[:3]) for product in flipkart if product.category)
    checked = 0
    for product in flipkart:
        if product.category and leaf[" > ".join(product.category.split(" > ")[:3])] > 1:
            departments = [department[other] for other in neighbour_ids(index, product.product_id) if department[other]]
            assert departments and departments[0] == department[product.product_id], product.title
            checked += 1
    assert checked >= 25  # 28 products in the sample share their three-level category
    shorts = {product.product_id for product in flipkart if "Cycling Shorts" in product.title}
    nearest = index.query(ProductText("NEW-2", "Women's Cycling Shorts"), k=3)
    assert {neighbour.product_id for neighbour in nearest} <= shorts


# -- the shape of the answer ---------------------------------------------------------------------------------


def test_neighbours_are_the_brute_force_cosine_top_k(retail_index: ContentIndex) -> None:
    """The chunked search gives what the dense product of all vectors gives: per row the same best scores,
    best first, self excluded, at most k, nothing at or below the floor."""
    dense = (retail_index.vectors_ @ retail_index.vectors_.T).toarray()
    np.fill_diagonal(dense, -np.inf)
    links = retail_index.neighbours()
    assert links.shape == dense.shape and links.dtype == np.float32
    for row in range(links.shape[0]):
        columns = links.indices[links.indptr[row] : links.indptr[row + 1]]
        scores = links.data[links.indptr[row] : links.indptr[row + 1]]
        above = np.sort(dense[row][dense[row] > retail_index.min_similarity])[::-1][:K]
        assert row not in columns and len(scores) == len(above) <= K
        np.testing.assert_allclose(scores, np.minimum(above, 1.0), atol=1e-5)
        np.testing.assert_allclose(scores, np.minimum(dense[row, columns], 1.0), atol=1e-5)
        assert np.all(np.diff(scores) <= 0)


def test_chunks_do_not_change_the_answer(retail_index: ContentIndex) -> None:
    one_chunk = top_neighbours(retail_index.vectors_, K, work_per_chunk=10**12)
    many_chunks = top_neighbours(retail_index.vectors_, K, work_per_chunk=20_000)
    assert (one_chunk != many_chunks).nnz == 0
    assert np.array_equal(one_chunk.indices, many_chunks.indices)  # and the same order within rows


def test_fewer_neighbours_are_the_first_ones(retail_index: ContentIndex) -> None:
    five, ten = retail_index.neighbours(5), retail_index.neighbours()
    assert np.diff(five.indptr).max() == 5
    for row in range(0, ten.shape[0], 97):
        start = ten.indptr[row]
        assert list(five.indices[five.indptr[row] : five.indptr[row + 1]]) == list(ten.indices[start : start + 5])


def test_stored_index_gives_identical_neighbours(retail: Retail, retail_index: ContentIndex) -> None:
    blob = retail_index.to_bytes()
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:  # plain arrays: no pickle needed to read
        assert all(arrays[name].dtype != object for name in arrays.files)
    loaded = ContentIndex.from_bytes(blob)
    before, after = retail_index.neighbours(), loaded.neighbours()
    for part in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(before, part), getattr(after, part))
    assert list(loaded.product_ids_) == list(retail_index.product_ids_)
    new = [ProductText("NEW-1", "LUNCH BAG FLAMINGO DESIGN"), *retail.products[:50]]
    assert (loaded.transform(new) != retail_index.transform(new)).nnz == 0
    assert loaded.query(new[0], k=K) == retail_index.query(new[0], k=K)


# -- awkward input -------------------------------------------------------------------------------------------


def test_products_without_usable_text_get_no_neighbours(retail: Retail) -> None:
    empty = [ProductText("EMPTY-1", ""), ProductText("EMPTY-2", "?"), ProductText("EMPTY-3", "- . -", None, "", "")]
    index = ContentIndex(n_neighbours=K).fit([*retail.products, *empty])
    links = index.neighbours()
    for product in empty:
        code = index.index[product.product_id]
        assert links.indptr[code + 1] == links.indptr[code]  # links to none
        assert links.getcol(code).nnz == 0  # and none to it
        assert index.query(product) == []
    assert np.diff(links.indptr).mean() > K / 2  # the others are unaffected


def test_a_catalog_with_no_usable_text_at_all() -> None:
    index = ContentIndex().fit([ProductText("A", ""), ProductText("B", "?")])
    assert index.neighbours().shape == (2, 2) and index.neighbours().nnz == 0
    assert index.query(ProductText("C", "lunch bag")) == []
    assert ContentIndex.from_bytes(index.to_bytes()).query(ProductText("C", "lunch bag")) == []
    assert ContentIndex().fit([]).neighbours().shape == (0, 0)


def test_missing_brand_description_and_category_are_just_absent() -> None:
    full = ProductText("A", "Zapatos rojos", "Piel, suela de goma", "Camper", "Calzado > Zapatos", "es")
    bare = ProductText("B", "Zapato rojo", language="es")
    assert "brand:camper" in product_terms(full) and "category:calzado > zapatos" in product_terms(full)
    assert product_terms(bare) == ["zapat", "roj", "zapat roj"] * 2  # stems meet: plural and singular
    index = ContentIndex().fit([full, bare, ProductText("C", "Lámpara de mesa", None, None, "", None)])
    assert neighbour_ids(index, "B") == ["A"]
    assert neighbour_ids(index, "C") == []


def test_a_repeated_product_id_is_refused() -> None:
    with pytest.raises(InvalidInput, match="given twice"):
        ContentIndex().fit([ProductText("A", "lunch bag"), ProductText("A", "jumbo bag")])


# -- blending with behaviour ----------------------------------------------------------------------------------


def test_blend_tops_up_behaviour_with_content() -> None:
    behaviour = sp.csr_matrix(np.array([[0, 4.0, 2.0], [1.0, 0, 0], [0, 0, 0]], dtype=np.float32))
    content = sp.csr_matrix(np.array([[0, 0.9, 0.2, 0.5], [0.3, 0, 0.8, 0], [0.6, 0.7, 0, 0.1], [0.4, 0, 0, 0]]))
    ids, links = blend_neighbours(behaviour, ["a", "b", "c"], content, ["b", "d", "a", "new"], k=3)
    assert list(ids) == ["a", "b", "c", "d", "new"]
    rows = {str(ids[row]): dict(zip(ids[links.indices[links.indptr[row] : links.indptr[row + 1]]].tolist(),
                                    links.data[links.indptr[row] : links.indptr[row + 1]].tolist(), strict=True))
            for row in range(len(ids))}  # fmt: skip
    assert rows["a"] == {"b": 2.0, "c": 1.5, "d": pytest.approx(0.7)}  # behaviour (to (1, 2]) first, then content
    assert list(rows["a"]) == ["b", "c", "d"]
    assert rows["b"] == {"a": 2.0, "d": pytest.approx(0.9), "new": pytest.approx(0.5)}  # "a" once, from behaviour
    assert rows["new"] == {"b": pytest.approx(0.4)}  # unknown to behaviour: content only
    assert rows["c"] == {}
    assert rows["d"] == {"a": pytest.approx(0.8), "b": pytest.approx(0.3)}


def test_blend_on_real_behaviour(retail: Retail, retail_index: ContentIndex) -> None:
    """Item-kNN on who bought what, blended with the content neighbours: products bought by nobody known
    (guest orders only) get their content neighbours; products with k behavioural links keep exactly those."""
    behaviour = ItemKnn(neighbours=K).fit(retail.purchases).similarity.tocsr()
    ids, links = blend_neighbours(behaviour, retail.bought_ids, retail_index.neighbours(), retail_index.product_ids_,
                                  k=K)  # fmt: skip
    code = {str(item): position for position, item in enumerate(ids)}
    never_bought = [product_id for product_id in retail_index.product_ids_ if product_id not in set(retail.bought_ids)]
    assert never_bought and all(code[product_id] >= len(retail.bought_ids) for product_id in never_bought)
    content = retail_index.neighbours()
    for product_id in never_bought:
        row, own = code[product_id], retail_index.index[product_id]
        start, end = links.indptr[row], links.indptr[row + 1]
        blended = dict(zip(ids[links.indices[start:end]].tolist(), links.data[start:end].tolist(), strict=True))
        start, end = content.indptr[own], content.indptr[own + 1]
        similar = retail_index.product_ids_[content.indices[start:end]].tolist()
        assert blended == dict(zip(similar, content.data[start:end].tolist(), strict=True))
    behaviour_links = np.diff(behaviour.indptr)
    full = np.flatnonzero(behaviour_links >= K)  # item-kNN's rows can hold more than k
    assert len(full) > 100
    for row in full[:200]:
        assert sorted(links.indices[links.indptr[row] : links.indptr[row + 1]]) == sorted(
            behaviour.indices[behaviour.indptr[row] : behaviour.indptr[row + 1]]
        )
    counts = np.diff(links.indptr)
    topped_up = np.flatnonzero((behaviour_links < K) & (counts[: len(retail.bought_ids)] > behaviour_links))
    assert len(topped_up) > 0 and counts[topped_up].max() == K
    assert links.data.max() <= 2.0 and links.data.min() > 0
