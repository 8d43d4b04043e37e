"""RFM: recency, frequency and monetary scores, and the named groups marketers know them by.

Scores. Each customer with orders gets 1..`bins` (quintiles by default) on days since the last order (fewer
days score higher: recent = high), number of orders and total spend. The bin edges are learned by `Rfm.fit`
and kept, so that customers scored later (new ones, or the same ones next week) are scored on the same edges
and a score keeps its meaning until the model is refitted.

Ties. Quantile edges put equal values on both sides of an edge, and the usual fix (ranking with ties broken
by row order, as `pd.qcut(x.rank(method="first"))` does) gives two customers with the same 1 order different
scores depending on where they sit in the file. Here equal values always get the same score, and a tied group
gets the score where the middle of the group falls: a value's score is ceil(bins x p), where p is the share of
customers below it plus half the share equal to it (its mid-rank percentile). Without ties this is exactly the
quantile bin. With a heavy tie, the group lands in the bin that holds most of it and a bin may stay empty:
when 34% of customers have ordered once, their p is 0.17 and they all score 1 on frequency, the 2-order
customers (p about 0.44) score 3, and no one scores 2 — rather than one-order customers scattered over
scores 1 and 2, or all pushed up to 2 with nobody at 1. A value between the fitted ones scores like the
largest fitted value below it, so the scoring is a step function with `bins - 1` edges.

Groups. The grid over the R and F scores that is commonly published with these names, for instance in the
segment map `seg_map` used by many RFM tutorials, with the names and meanings of Putler's RFM segment table
(https://www.putler.com/rfm-analysis/):

    F:            1              2              3              4              5
    R=5     New customers  Pot. loyalists Pot. loyalists   Champions      Champions
    R=4     Promising      Pot. loyalists Pot. loyalists   Loyal          Loyal
    R=3     About to sleep About to sleep Need attention   Loyal          Loyal
    R=2     Hibernating    Hibernating    At risk          At risk        Can't lose them
    R=1     Lost           Hibernating    At risk          At risk        Can't lose them

The grid has no Lost; Putler's Lost ("lowest recency, frequency and monetary scores") is its bottom corner,
R=1 and F=1. M does not move a customer between groups (the grid is R x F, and M is strongly correlated with
F); it is there to rank within a group. With another number of bins, a score is put on the 1..5 scale by
where the middle of its bin falls, ceil(5 x (score - 1/2) / bins), before the grid is read: with 3 bins,
1, 2, 3 become 1, 3, 5. A customer with no order has scores 0 and the group "No
purchase yet", not an error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from afinidad.errors import AfinidadError, FieldProblem, InvalidInput
from afinidad.predict.transactions import Transactions

NO_PURCHASE = "No purchase yet"
GRID_BINS = 5

# Group name -> one line for marketers: who they are and what to do.
GROUPS: dict[str, str] = {
    "Champions": "Bought recently, buy often and spend the most: reward them, ask for reviews, early access.",
    "Loyal customers": "Buy often and spend well: upsell, loyalty programme, ask for referrals.",
    "Potential loyalists": "Recent customers with a few orders: offer membership or a loyalty programme.",
    "New customers": "Bought very recently for the first time: onboard them and earn the second order.",
    "Promising": "Recent, but only one order: build awareness with offers that bring them back.",
    "Need attention": "Average recency and frequency: limited-time offers based on what they bought.",
    "About to sleep": "Below-average recency and few orders: reconnect before they are gone.",
    "At risk": "Used to buy often but not for a while: personal win-back messages.",
    "Can't lose them": "Were among the most frequent buyers, long gone: win them back at any reasonable cost.",
    "Hibernating": "Last order long ago, few orders: relevant offers and discounts, low effort.",
    "Lost": "Lowest recency and frequency: one reactivation attempt, then leave them be.",
    NO_PURCHASE: "Known to us but has never ordered: welcome offer towards a first purchase.",
}

# GRID[r - 1][f - 1]: the group of R score r and F score f on the 1..5 scale.
GRID: tuple[tuple[str, ...], ...] = (
    ("Lost", "Hibernating", "At risk", "At risk", "Can't lose them"),
    ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"),
    ("About to sleep", "About to sleep", "Need attention", "Loyal customers", "Loyal customers"),
    ("Promising", "Potential loyalists", "Potential loyalists", "Loyal customers", "Loyal customers"),
    ("New customers", "Potential loyalists", "Potential loyalists", "Champions", "Champions"),
)


class RfmNotFitted(AfinidadError):
    """RFM scores asked for before `fit` learned the bin edges."""

    title = "RFM not fitted"


@dataclass(frozen=True)
class RfmSummary:
    """What RFM reads, one row per customer: days since the last order (NaN for a customer without orders),
    the number of orders and the total spend. Build it with `rfm_summary` or directly."""

    customer_ids: np.ndarray
    recency_days: np.ndarray
    orders: np.ndarray
    spend: np.ndarray

    def __post_init__(self) -> None:
        length = len(self.customer_ids)
        problems = []
        for name in ("recency_days", "orders", "spend"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            object.__setattr__(self, name, values)
            if values.shape != (length,):
                problems.append(FieldProblem(name, f"{values.size} values for {length} customers"))
        if problems:
            raise InvalidInput("The RFM summary's columns differ in length.", problems)
        bought = self.orders > 0
        checks = (
            ("orders", ~np.isfinite(self.orders) | (self.orders < 0) | (self.orders != np.round(self.orders)),
             "not a whole number >= 0"),
            ("spend", ~np.isfinite(self.spend) | (self.spend < 0), "negative or not a number"),
            ("recency_days", bought & ~(np.isfinite(self.recency_days) & (self.recency_days >= 0)),
             "negative or missing for a customer with orders"),
        )  # fmt: skip
        for name, bad, reason in checks:
            if bad.any():
                problems.append(FieldProblem(name, reason, int(np.flatnonzero(bad)[0])))
        if problems:
            raise InvalidInput("Invalid RFM summary.", problems)
        object.__setattr__(self, "customer_ids", np.asarray(self.customer_ids).astype(str))

    def __len__(self) -> int:
        return len(self.customer_ids)


@dataclass(frozen=True)
class RfmScores:
    """1..bins per customer and dimension, 0 for a customer without orders."""

    recency: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray


def rfm_summary(
    transactions: Transactions,
    as_of: date | str | np.datetime64 | None = None,
    customers: Sequence[str] = (),
) -> RfmSummary:
    """Per customer (sorted): days from the last order on or before `as_of` (default: the last order's day)
    to `as_of`, the number of orders (one per entry of `transactions`) and their total amount (0 without
    amounts). `customers` adds known customers with no order, who get the defined answer "No purchase yet"."""
    if len(transactions) == 0 and not customers:
        raise InvalidInput("No orders and no customers.", [FieldProblem("transactions", "empty")])
    days = np.asarray(transactions.dates, dtype="datetime64[D]")
    amounts = (np.zeros(len(days)) if transactions.amounts is None
               else np.asarray(transactions.amounts, dtype=np.float64))  # fmt: skip
    bad = ~np.isfinite(amounts) | (amounts < 0)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            f"Order {index} has amount {amounts[index]}: returns and cancellations are not orders.",
            [FieldProblem("amounts", "negative or not a number", index)],
        )
    if np.isnat(days).any():
        raise InvalidInput("An order has no date.", [FieldProblem("dates", "missing", int(np.isnat(days).argmax()))])
    end = _day(as_of) if as_of is not None else (days.max() if len(days) else np.datetime64("NaT", "D"))
    kept = days <= end
    labels = np.unique(np.concatenate([np.asarray(transactions.customers).astype(str)[kept],
                                       np.asarray(list(customers), dtype=str)]))  # fmt: skip
    row = np.searchsorted(labels, np.asarray(transactions.customers).astype(str)[kept])
    orders = np.bincount(row, minlength=len(labels))
    spend = np.bincount(row, weights=amounts[kept], minlength=len(labels))
    last = np.full(len(labels), np.iinfo(np.int64).min)
    np.maximum.at(last, row, days[kept].astype(np.int64))
    recency = np.where(orders > 0, end.astype(np.int64) - last, np.nan).astype(np.float64)
    return RfmSummary(labels, recency, orders, spend)


class Rfm:
    """RFM scoring with `bins` bins per dimension (5: quintiles) and the named groups of the R x F grid."""

    def __init__(self, bins: int = 5) -> None:
        self.bins = bins

    def fit(self, summary: RfmSummary) -> Rfm:
        """Learn the bin edges from the customers with orders in `summary`."""
        if not isinstance(self.bins, int) or self.bins < 2:
            raise InvalidInput("bins must be an integer of at least 2.", [FieldProblem("bins", "less than 2")])
        bought = summary.orders > 0
        if not bought.any():
            raise InvalidInput("No customer with orders to learn the RFM bins from.",
                               [FieldProblem("summary", "no customer with orders")])  # fmt: skip
        # Recency is binned on minus the days, so that the higher score is the more recent customer.
        self.recency_edges_ = -_edges(-summary.recency_days[bought], self.bins)
        self.frequency_edges_ = _edges(summary.orders[bought], self.bins)
        self.monetary_edges_ = _edges(summary.spend[bought], self.bins)
        return self

    def score(self, summary: RfmSummary) -> RfmScores:
        """Scores on the fitted edges: 1 + the number of edges at or below the value (for recency, at or above
        the days since the last order); 0 for a customer without orders."""
        if getattr(self, "frequency_edges_", None) is None:
            raise RfmNotFitted("Rfm is not fitted: call fit() first.")
        bought = summary.orders > 0
        recency = 1 + np.searchsorted(-self.recency_edges_, -np.nan_to_num(summary.recency_days), side="right")
        frequency = 1 + np.searchsorted(self.frequency_edges_, summary.orders, side="right")
        monetary = 1 + np.searchsorted(self.monetary_edges_, summary.spend, side="right")
        return RfmScores(*(np.where(bought, scores, 0) for scores in (recency, frequency, monetary)))

    def groups(self, summary: RfmSummary) -> np.ndarray:
        """The named group of each customer (see GROUPS), "No purchase yet" for a customer without orders."""
        return groups_of(self.score(summary), self.bins)


def groups_of(scores: RfmScores, bins: int = 5) -> np.ndarray:
    """The R x F grid read for scores on 1..`bins` (0 = no orders)."""
    names = np.array([NO_PURCHASE, *(name for row in GRID for name in row)], dtype=object)
    r = _on_grid_scale(scores.recency, bins)
    f = _on_grid_scale(scores.frequency, bins)
    cell = np.where((r > 0) & (f > 0), 1 + (r - 1) * GRID_BINS + (f - 1), 0)
    return names[cell]


def _on_grid_scale(scores: np.ndarray, bins: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.int64)
    return np.where(scores > 0, -(-(GRID_BINS * (2 * scores - 1)) // (2 * bins)), 0)  # ceil(5 (s - 1/2) / bins)


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """The `bins - 1` edges of the mid-rank rule: edge s (for score s + 1) is the smallest fitted value whose
    score is at least s + 1, +inf when no value reaches it. Exact integer arithmetic, so ties at a boundary
    cannot fall either way by rounding."""
    distinct, counts = np.unique(values, return_counts=True)
    below = np.cumsum(counts) - counts
    n = int(counts.sum())
    scores = -(-(bins * (2 * below + counts)) // (2 * n))  # ceil(bins * (below + counts / 2) / n)
    scores = np.clip(scores, 1, bins)
    return np.array([distinct[scores >= s].min() if (scores >= s).any() else np.inf for s in range(2, bins + 1)])


def _day(value: date | str | np.datetime64) -> np.datetime64:
    try:
        day = np.datetime64(value, "D")
    except (TypeError, ValueError):
        raise InvalidInput(f"{value!r} is not a date.", [FieldProblem("as_of", "not a date")]) from None
    if np.isnat(day):
        raise InvalidInput("as_of is not a date.", [FieldProblem("as_of", "not a date")])
    return day
