"""The ranking metrics and the time split, on cases small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from afinidad.recommend import metrics
from afinidad.recommend.interactions import from_columns
from afinidad.recommend.models import Ease, ItemKnn, Popularity, Rp3Beta, top_k
from afinidad.recommend.splits import time_split


def test_metrics_by_hand() -> None:
    top = np.array([[3, 1, 2], [0, 1, 2]])
    test = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]]), dtype=np.float32)
    users = np.array([0, 2])  # user 0 wants items 1 and 3; user 2 wants item 0
    hits = metrics.hits_of(top, test, users)
    assert hits.tolist() == [[True, True, False], [True, False, False]]
    relevant = np.array([2, 1])
    assert metrics.ndcg(hits, relevant, 3) == pytest.approx(1.0)  # both perfect
    assert metrics.recall(hits, relevant, 1) == pytest.approx((0.5 + 1.0) / 2)
    late = np.array([[False, True, False]])
    assert metrics.ndcg(late, np.array([1]), 3) == pytest.approx(1 / math.log2(3))
    assert metrics.average_precision(late, np.array([1]), 3) == pytest.approx(0.5)
    assert metrics.coverage(top, 4, 3) == 1.0 and metrics.coverage(top, 8, 1) == 0.25


def test_time_split_takes_each_users_latest_and_drops_repeats() -> None:
    data = from_columns(
        ["a"] * 10 + ["b"] * 2 + ["c"],
        [f"i{n}" for n in range(10)] + ["x", "x"] + ["y"],
        [10 - n for n in range(10)] + [1, 2] + [5],
    )
    train, test = time_split(data)
    label = data.item_ids
    a = data.user_ids.tolist().index("a")
    assert sorted(label[test.items[test.users == a]]) == ["i0", "i1"]  # the two latest of ten
    assert len(train) == 8 + 1 + 1 and len(test) == 2  # b's repeat of x is not a test item; c has one only


def test_models_rank_what_fits_and_never_what_the_user_has() -> None:
    # two tastes: users 0-3 share items 0-2, users 4-7 share items 3-5
    rows = [[1, 1, 1, 0, 0, 0]] * 4 + [[0, 0, 0, 1, 1, 1]] * 4
    train = sp.csr_matrix(np.array(rows, dtype=np.float32))
    train[0, 2] = 0  # user 0 has not yet seen item 2
    train.eliminate_zeros()
    for model in (Ease(regularization=1.0), ItemKnn(10), Rp3Beta(neighbours=10)):
        top = top_k(model.fit(train), train, np.array([0]), 3)
        assert top[0, 0] == 2, model.name
        assert not {0, 1} & set(top[0].tolist())
    assert top_k(Popularity().fit(train), train, np.array([4]), 1)[0, 0] in (0, 1, 2)


def test_ease_refuses_a_catalog_too_large_for_memory() -> None:
    with pytest.raises(ValueError, match="dense"):
        Ease(max_items=5).fit(sp.csr_matrix((3, 6), dtype=np.float32))


def test_sparse_models_fit_a_100k_item_catalog() -> None:
    rng = np.random.default_rng(7)
    users, items = rng.integers(0, 20_000, 200_000), rng.zipf(1.3, 200_000) % 100_000
    train = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=(20_000, 100_000))
    train.sum_duplicates()
    model = Rp3Beta(neighbours=50).fit(train)
    assert model.similarity.shape == (100_000, 100_000) and model.similarity.nnz <= 100_000 * 50
    assert top_k(model, train, np.arange(5), 10).shape == (5, 10)


def test_a_small_personal_score_still_outranks_popularity(store, workspace) -> None:  # type: ignore[no-untyped-def]
    from afinidad.catalog.products import ProductIn
    from afinidad.catalog.service import upsert_products
    from afinidad.recommend.artifacts import ItemModel
    from afinidad.recommend.serving import _choose
    from afinidad.recommend.slots import SlotRules

    with store.session() as session:
        upsert_products(session, workspace.id, [(p, ProductIn(title=p, price="1", currency="EUR")) for p in "abc"])
    model = ItemModel(np.array(["a", "b", "c"]), sp.csr_matrix((3, 3), dtype=np.float32),
                      np.array([1000.0, 500.0, 1.0], dtype=np.float32))  # fmt: skip
    scores = np.array([0.0, 0.0, 0.0001])  # RP3beta-sized: a probability, not a count
    with store.reader() as session:
        chosen = _choose(session, workspace.id, model, scores, set(), SlotRules(), 3)
    assert [model.item_ids[choice.code] for choice in chosen] == ["c", "a", "b"]
