"""Bought together on real baskets: Online Retail's best-known pairs come out on top, and raw popularity
does not (a best-seller is not paired with everything)."""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict

import numpy as np

from afinidad.recommend.baskets import basket_matrix, lift_matrix
from afinidad.recommend.interactions import NOT_PRODUCTS
from tests.conftest import data_path


def test_online_retail_known_pairs() -> None:
    orders: dict[str, set[str]] = defaultdict(set)
    with gzip.open(data_path("uci-online-retail", "online_retail.csv.gz"), "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["InvoiceNo"].startswith(("C", "A")) and row["StockCode"].upper() not in NOT_PRODUCTS:
                orders[row["InvoiceNo"]].add(row["StockCode"].upper())
    codes = sorted({code for order in orders.values() for code in order})
    index = {code: i for i, code in enumerate(codes)}
    lifts = lift_matrix(basket_matrix(([index[c] for c in order] for order in orders.values()), len(codes)))

    def best(code: str, k: int = 3) -> list[str]:
        row = lifts[index[code]]
        return [codes[i] for i in row.indices[np.argsort(-row.data)][:k]]

    # the Regency teacups in three colours, and the jumbo bags, are the data set's classic pairs
    assert set(best("22697", 2)) == {"22698", "22699"}  # green -> pink, roses
    assert "22697" in best("22699") and "22423" in best("22697", 4)  # ... and the matching cake stand
    assert "22386" in best("85099B", 1)  # jumbo bag red retrospot -> pink polkadot
    # a best-seller is not everyone's first companion, as it would be by raw co-occurrence counts
    firsts = [best(code, 1)[0] for code in codes if lifts[index[code]].nnz]
    most_common_first = max(set(firsts), key=firsts.count)
    assert firsts.count(most_common_first) < 0.05 * len(firsts)


def test_the_demo_shops_planted_companions_are_recovered() -> None:
    from afinidad.demo.assortment import companions
    from afinidad.demo.catalog import generate_catalog
    from afinidad.demo.simulator import simulate

    planted = companions(generate_catalog(7), 7)
    orders = [[line["product_id"] for line in m["properties"]["products"]]
              for m in simulate(seed=7, shoppers=300, days=60) if m.get("event") == "Order Completed"]  # fmt: skip
    codes = sorted({p for order in orders for p in order})
    index = {code: i for i, code in enumerate(codes)}
    lifts = lift_matrix(basket_matrix(([index[p] for p in order] for order in orders), len(codes)))
    recovered = [
        any(
            codes[i] in planted[product]
            for i in lifts[index[product]].indices[np.argsort(-lifts[index[product]].data)][:3]
        )
        for product in planted
        if product in index
    ]
    assert sum(recovered) / len(recovered) > 0.5  # measured 74 of 119; popularity would pair all with a few
