"""RFM on UCI Online Retail (4,339 customers with a CustomerID, cancellations left out) and on small cases
worked out by hand: the tie rule, recency scored so that recent is high, edges reused for new customers, the
grid, a customer with no orders, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.predict.transactions import Transactions
from afinidad.segments import GROUPS, NO_PURCHASE, Rfm, RfmNotFitted, RfmScores, RfmSummary, groups_of, rfm_summary

ONLINE_RETAIL_CUSTOMERS = 4_339


def summary(recency: list[float], orders: list[int], spend: list[float]) -> RfmSummary:
    return RfmSummary(np.array([f"c{i}" for i in range(len(orders))]), np.array(recency), np.array(orders),
                      np.array(spend))  # fmt: skip


@pytest.fixture(scope="module")
def retail_summary(retail_orders: Transactions) -> RfmSummary:
    return rfm_summary(retail_orders)


@pytest.fixture(scope="module")
def retail_rfm(retail_summary: RfmSummary) -> Rfm:
    return Rfm().fit(retail_summary)


def test_every_online_retail_customer_is_in_exactly_one_group(retail_summary: RfmSummary, retail_rfm: Rfm) -> None:
    groups = retail_rfm.groups(retail_summary)
    assert len(retail_summary) == ONLINE_RETAIL_CUSTOMERS
    sizes = {name: int((groups == name).sum()) for name in GROUPS}
    assert sum(sizes.values()) == ONLINE_RETAIL_CUSTOMERS
    assert set(groups) <= set(GROUPS)
    assert sizes[NO_PURCHASE] == 0  # everyone in the file has ordered
    assert all(size > 0 for name, size in sizes.items() if name != NO_PURCHASE)  # every group is populated


def test_group_sizes_and_spend_as_documented(retail_summary: RfmSummary, retail_rfm: Rfm) -> None:
    """The table in docs/segments.md: customers and mean spend (£, rounded) per group."""
    documented = {
        "Champions": (604, 7126), "Loyal customers": (688, 3213), "Potential loyalists": (484, 1211),
        "New customers": (67, 349), "Promising": (170, 315), "Need attention": (304, 896),
        "About to sleep": (295, 402), "At risk": (701, 1060), "Can't lose them": (64, 2791),
        "Hibernating": (337, 438), "Lost": (625, 437),
    }  # fmt: skip
    groups = retail_rfm.groups(retail_summary)
    measured = {name: (int((groups == name).sum()), round(retail_summary.spend[groups == name].mean()))
                for name in documented}  # fmt: skip
    assert measured == documented
    assert retail_rfm.recency_edges_.tolist() == [178, 71, 32, 12]
    assert retail_rfm.frequency_edges_.tolist() == [2, 2, 4, 6]
    assert retail_rfm.monetary_edges_ == pytest.approx([250.15, 490.22, 942.26, 2059.45])


def test_champions_spend_more_than_hibernating_and_lost(retail_summary: RfmSummary, retail_rfm: Rfm) -> None:
    groups = retail_rfm.groups(retail_summary)
    mean_spend = {name: retail_summary.spend[groups == name].mean() for name in GROUPS if (groups == name).any()}
    assert mean_spend["Champions"] > mean_spend["Hibernating"]
    assert mean_spend["Champions"] > mean_spend["Lost"]
    assert mean_spend["Champions"] == max(mean_spend.values())
    champions, lost = groups == "Champions", groups == "Lost"
    assert retail_summary.recency_days[champions].max() < retail_summary.recency_days[lost].min()


def test_scores_are_quintiles_where_values_are_distinct(retail_summary: RfmSummary, retail_rfm: Rfm) -> None:
    scores = retail_rfm.score(retail_summary)
    monetary = np.bincount(scores.monetary, minlength=6)[1:]  # spend has few ties: five equal bins
    assert monetary.min() >= 0.19 * ONLINE_RETAIL_CUSTOMERS and monetary.max() <= 0.21 * ONLINE_RETAIL_CUSTOMERS
    recent = retail_summary.recency_days == retail_summary.recency_days.min()
    assert (scores.recency[recent] == 5).all()  # recent = high
    oldest = retail_summary.recency_days == retail_summary.recency_days.max()
    assert (scores.recency[oldest] == 1).all()


def test_the_many_one_order_customers_all_score_one_on_frequency(retail_summary: RfmSummary, retail_rfm: Rfm) -> None:
    """34% of the customers ordered once: their mid-rank percentile is 17%, so they all score 1; the two-order
    customers sit around 44% and score 3; no one scores 2."""
    scores = retail_rfm.score(retail_summary)
    one_order = retail_summary.orders == 1
    assert 0.33 < one_order.mean() < 0.35
    assert (scores.frequency[one_order] == 1).all()
    assert (scores.frequency[retail_summary.orders == 2] == 3).all()
    assert not (scores.frequency == 2).any()
    for orders in np.unique(retail_summary.orders):  # equal values, equal scores
        assert len(np.unique(scores.frequency[retail_summary.orders == orders])) == 1


def test_mid_rank_rule_by_hand() -> None:
    # Ten customers, frequencies 1,1,1,1,1,1,2,2,3,9: the six 1s sit at p = 0.3 -> ceil(1.5) = 2,
    # the two 2s at 0.7 -> 4, the 3 at 0.85 -> 5, the 9 at 0.95 -> 5. Scores 1 and 3 stay empty.
    orders = [1, 1, 1, 1, 1, 1, 2, 2, 3, 9]
    data = summary([float(i) for i in range(10)], orders, [10.0 * (i + 1) for i in range(10)])
    rfm = Rfm().fit(data)
    assert rfm.score(data).frequency.tolist() == [2, 2, 2, 2, 2, 2, 4, 4, 5, 5]
    assert rfm.score(data).monetary.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert rfm.score(data).recency.tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]  # 0 days ago is the most recent


def test_new_customers_are_scored_on_the_fitted_edges() -> None:
    fitted = summary([0, 10, 20, 30, 40, 50, 60, 70, 80, 90], [1] * 10, [100.0 * (i + 1) for i in range(10)])
    rfm = Rfm().fit(fitted)
    later = summary([5, 95, 1000], [1, 1, 1], [150.0, 5000.0, 0.0])
    scores = rfm.score(later)
    assert scores.recency.tolist() == [5, 1, 1]
    assert scores.monetary.tolist() == [1, 5, 1]
    refitted = Rfm().fit(later)  # refitting moves the edges: the same customer may score differently
    assert refitted.score(later).monetary.tolist() != scores.monetary.tolist()


def test_the_grid() -> None:
    grid = groups_of(RfmScores(np.array([5, 5, 5, 4, 4, 3, 3, 3, 2, 1, 1, 1, 0]),
                               np.array([5, 2, 1, 4, 1, 1, 3, 5, 3, 5, 2, 1, 0]),
                               np.ones(13, dtype=int)))  # fmt: skip
    assert grid.tolist() == [
        "Champions", "Potential loyalists", "New customers", "Loyal customers", "Promising", "About to sleep",
        "Need attention", "Loyal customers", "At risk", "Can't lose them", "Hibernating", "Lost", NO_PURCHASE,
    ]  # fmt: skip
    assert all(GROUPS[name] for name in grid)  # each group has its line for marketers


def test_other_numbers_of_bins() -> None:
    data = summary([float(i) for i in range(30)], [1 + i // 3 for i in range(30)], [float(i) for i in range(30)])
    for bins in (3, 10):
        rfm = Rfm(bins=bins).fit(data)
        scores = rfm.score(data)
        for values in (scores.recency, scores.frequency, scores.monetary):
            assert values.min() == 1 and values.max() == bins
        assert set(rfm.groups(data)) <= set(GROUPS)
    # On the grid, a score counts where the middle of its bin falls: with 3 bins 1, 2, 3 read as 1, 3, 5.
    three = RfmScores(np.array([3, 1, 2, 1]), np.array([3, 1, 2, 3]), np.ones(4, dtype=int))
    assert groups_of(three, bins=3).tolist() == ["Champions", "Lost", "Need attention", "Can't lose them"]
    ten = RfmScores(np.array([10, 1, 6]), np.array([9, 2, 5]), np.ones(3, dtype=int))
    assert groups_of(ten, bins=10).tolist() == ["Champions", "Lost", "Need attention"]


def test_a_customer_without_orders_gets_a_defined_group(retail_orders: Transactions, retail_rfm: Rfm) -> None:
    data = rfm_summary(retail_orders, customers=["signed-up-yesterday"])
    assert len(data) == ONLINE_RETAIL_CUSTOMERS + 1
    row = data.customer_ids.tolist().index("signed-up-yesterday")
    assert data.orders[row] == 0 and data.spend[row] == 0 and np.isnan(data.recency_days[row])
    scores = retail_rfm.score(data)
    assert (scores.recency[row], scores.frequency[row], scores.monetary[row]) == (0, 0, 0)
    assert retail_rfm.groups(data)[row] == NO_PURCHASE
    only_new = rfm_summary(Transactions(np.array([], dtype=str), np.array([], dtype="datetime64[D]")), customers=["a"])
    assert retail_rfm.groups(only_new).tolist() == [NO_PURCHASE]


def test_summary_from_orders_by_hand() -> None:
    orders = Transactions(np.array(["a", "b", "a", "a"]),
                          np.array(["2024-01-01", "2024-01-05", "2024-01-08", "2024-02-01"], dtype="datetime64[D]"),
                          np.array([10.0, 5.0, 20.0, 99.0]))  # fmt: skip
    data = rfm_summary(orders, as_of="2024-01-10")  # the February order is after as_of
    assert data.customer_ids.tolist() == ["a", "b"]
    assert data.recency_days.tolist() == [2.0, 5.0]
    assert data.orders.tolist() == [2.0, 1.0]
    assert data.spend.tolist() == [30.0, 5.0]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: rfm_summary(Transactions(np.array(["a"]), np.array(["2024-01-01"], dtype="datetime64[D]"),
                                          np.array([-5.0]))), "amounts"),
        (lambda: rfm_summary(Transactions(np.array([], dtype=str), np.array([], dtype="datetime64[D]"))),
         "transactions"),
        (lambda: rfm_summary(Transactions(np.array(["a"]), np.array(["2024-01-01"], dtype="datetime64[D]")),
                             as_of="soon"), "as_of"),
        (lambda: summary([1.0], [-1], [5.0]), "orders"),
        (lambda: summary([1.0], [1], [-5.0]), "spend"),
        (lambda: summary([np.nan], [2], [5.0]), "recency_days"),
        (lambda: RfmSummary(np.array(["a", "b"]), np.array([1.0]), np.array([1, 1]), np.array([1.0, 2.0])),
         "recency_days"),
        (lambda: Rfm(bins=1).fit(summary([1.0], [1], [5.0])), "bins"),
        (lambda: Rfm().fit(summary([np.nan], [0], [0.0])), "summary"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(build, field: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput) as raised:
        build()
    assert field in [problem.field for problem in raised.value.problems]


def test_scoring_before_fitting_is_an_error() -> None:
    with pytest.raises(RfmNotFitted):
        Rfm().score(summary([1.0], [1], [5.0]))
