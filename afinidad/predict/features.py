"""What a supervised churn model sees of a customer: features of its purchase history up to a cutoff, and
the label of what it did in the days after.

The purchase models read a customer through frequency, recency and age alone; a learned model can use more
of the history: the rhythm of its purchases (the mean and spread of the days between them, and how overdue
the next one is against that rhythm), whether it is buying more or less than before (the trend over the last
two windows) and its spend. Purchases are counted per day, as in `summarise` (several orders on one day are
one purchase), and every feature uses orders up to the cutoff only, so features and labels never overlap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict.transactions import Transactions, _day, summarise


@dataclass(frozen=True)
class CustomerFeatures:
    """One row per customer whose first purchase is on or before `cutoff`, ordered by label: `columns` maps a
    feature's name to its values (days for times; NaN where a customer's history is too short to say, such
    as the spread of the gaps of a customer with fewer than three purchase days)."""

    customer_ids: np.ndarray
    columns: dict[str, np.ndarray]
    cutoff: np.datetime64

    def __len__(self) -> int:
        return len(self.customer_ids)


def customer_features(
    transactions: Transactions, cutoff: date | str | np.datetime64, trend_window_days: int = 90
) -> CustomerFeatures:
    """Per customer, from its purchase days up to `cutoff` (inclusive):

    - `days_since_last_purchase`, `days_since_first_purchase` (tenure), `purchase_days` (frequency, the
      first included);
    - `mean_days_between_purchases`, `std_days_between_purchases`, `longest_gap_days` and
      `overdue_ratio` (days since the last purchase over the mean gap): NaN without enough repeat purchases;
    - `purchases_last_window`, `purchases_previous_window` (the two `trend_window_days` windows before the
      cutoff) and `purchase_trend`, their difference;
    - with amounts: `total_spend`, `mean_spend_per_purchase` (per purchase day), `spend_last_window` and
      `spend_previous_window`."""
    if trend_window_days < 1:
        raise InvalidInput("The trend window must be at least a day.", [FieldProblem("trend_window_days", "< 1")])
    cutoff_day = _day(cutoff, "cutoff")
    summary = summarise(transactions, cutoff_day, unit="days")
    if len(summary) == 0:
        raise InvalidInput("No customer bought by the cutoff.", [FieldProblem("cutoff", "before every purchase")])

    days = np.asarray(transactions.dates, dtype="datetime64[D]").astype(np.int64)
    kept = days <= cutoff_day.astype(np.int64)
    labels = np.asarray(transactions.customers).astype(str)[kept]
    rows = np.searchsorted(summary.customer_ids, labels)  # every label bought by the cutoff, so it is there
    amounts = None if transactions.amounts is None else np.asarray(transactions.amounts, dtype=np.float64)[kept]
    purchase_row, purchase_day, purchase_value = _purchase_days(rows, days[kept], amounts)
    count = len(summary)

    # Gaps between consecutive purchase days of the same customer (purchases are sorted by customer, day).
    same_customer = purchase_row[1:] == purchase_row[:-1]
    gap_row = purchase_row[1:][same_customer]
    gaps = np.diff(purchase_day).astype(np.float64)[same_customer]
    gap_count = np.bincount(gap_row, minlength=count).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.bincount(gap_row, weights=gaps, minlength=count) / gap_count
        square_mean = np.bincount(gap_row, weights=gaps**2, minlength=count) / gap_count
        spread = np.sqrt(np.maximum(square_mean - mean_gap**2, 0.0) * gap_count / (gap_count - 1.0))
    longest_gap = np.full(count, np.nan)
    np.fmax.at(longest_gap, gap_row, gaps)  # fmax ignores the NaN it starts from
    spread[gap_count < 2] = np.nan

    since_last = summary.T - summary.recency
    age_in_days = cutoff_day.astype(np.int64) - purchase_day
    last_window = age_in_days < trend_window_days
    previous_window = (age_in_days >= trend_window_days) & (age_in_days < 2 * trend_window_days)
    purchases_last = np.bincount(purchase_row, weights=last_window, minlength=count)
    purchases_previous = np.bincount(purchase_row, weights=previous_window, minlength=count)
    columns = {
        "days_since_last_purchase": since_last,
        "days_since_first_purchase": summary.T.astype(np.float64),
        "purchase_days": summary.frequency + 1.0,
        "mean_days_between_purchases": mean_gap,
        "std_days_between_purchases": spread,
        "longest_gap_days": longest_gap,
        "overdue_ratio": np.divide(since_last, mean_gap, out=np.full(count, np.nan), where=mean_gap > 0),
        "purchases_last_window": purchases_last,
        "purchases_previous_window": purchases_previous,
        "purchase_trend": purchases_last - purchases_previous,
    }
    if purchase_value is not None:
        total = np.bincount(purchase_row, weights=purchase_value, minlength=count)
        columns |= {
            "total_spend": total,
            "mean_spend_per_purchase": total / columns["purchase_days"],
            "spend_last_window": np.bincount(purchase_row, weights=purchase_value * last_window, minlength=count),
            "spend_previous_window": np.bincount(
                purchase_row, weights=purchase_value * previous_window, minlength=count
            ),
        }
    return CustomerFeatures(summary.customer_ids, columns, cutoff_day)


def lapsed_labels(
    transactions: Transactions,
    customer_ids: np.ndarray,
    cutoff: date | str | np.datetime64,
    horizon_days: int,
) -> np.ndarray:
    """1 for each customer of `customer_ids` with no purchase in the `horizon_days` after `cutoff` (the days
    cutoff+1 .. cutoff+horizon_days), 0 for the others. The transactions must reach the horizon's end: a
    customer whose purchase is not in them counts as lapsed."""
    if horizon_days < 1:
        raise InvalidInput("The horizon must be at least a day.", [FieldProblem("horizon_days", "< 1")])
    start = _day(cutoff, "cutoff").astype(np.int64)
    days = np.asarray(transactions.dates, dtype="datetime64[D]").astype(np.int64)
    in_horizon = (days > start) & (days <= start + horizon_days)
    buyers = np.unique(np.asarray(transactions.customers).astype(str)[in_horizon])
    return (~np.isin(np.asarray(customer_ids).astype(str), buyers)).astype(np.int8)


def _purchase_days(
    rows: np.ndarray, days: np.ndarray, amounts: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Orders folded into purchase days, sorted by customer row then day: each one's row, day and value."""
    offset = days.min(initial=0)
    keys, purchase_of_order = np.unique((rows.astype(np.int64) << 32) | (days - offset), return_inverse=True)
    values = None if amounts is None else np.bincount(purchase_of_order, weights=amounts, minlength=len(keys))
    return keys >> 32, (keys & 0xFFFFFFFF) + offset, values
