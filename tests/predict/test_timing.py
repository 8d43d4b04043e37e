"""The timing statistics: hand-checked sums, purchases per day as in `summarise`, and the same customers in
the same order as `summarise` on CDNOW."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.predict import Transactions, parse_dates, summarise
from afinidad.predict.timing import timing_summary
from tests.predict.cdnow_candidates import cdnow


def orders(*rows: tuple[str, str]) -> Transactions:
    return Transactions(np.array([customer for customer, _ in rows]), parse_dates([day for _, day in rows]))


def test_sums_of_log_intervals_and_log_tenures() -> None:
    history = orders(
        ("b", "2024-01-01"),
        ("a", "2024-01-01"),
        ("a", "2024-01-08"),
        ("a", "2024-01-08"),  # a second order on the same day is the same purchase
        ("a", "2024-01-22"),
        ("a", "2024-03-01"),  # after the calibration end: ignored
        ("c", "2024-02-15"),  # first order after the end: not a customer yet
    )
    timing = timing_summary(history, "2024-01-31")
    assert timing.customer_ids.tolist() == ["a", "b"]
    assert timing.frequency.tolist() == [2.0, 0.0]
    assert timing.log_interval_sum == pytest.approx([np.log(1.0) + np.log(2.0), 0.0])  # gaps of 1 and 2 weeks
    assert timing.log_tenure_sum == pytest.approx([np.log(1.0) + np.log(3.0), 0.0])  # at 1 and 3 weeks
    in_days = timing_summary(history, "2024-01-31", unit="days")
    assert in_days.log_interval_sum == pytest.approx(timing.log_interval_sum + timing.frequency * np.log(7.0))
    assert in_days.log_tenure_sum == pytest.approx(timing.log_tenure_sum + timing.frequency * np.log(7.0))


def test_matches_the_customers_and_frequencies_of_summarise_on_cdnow() -> None:
    summary, timing = cdnow("sample")
    assert len(timing) == len(summary) == 2_357
    assert (timing.customer_ids == summary.customer_ids).all()
    assert (timing.frequency == summary.frequency).all()
    assert (timing.log_interval_sum[summary.frequency == 0] == 0).all()
    # the intervals add up to the recency, so their mean log is at most log(recency / x) (Jensen)
    repeat = summary.frequency > 0
    mean_log = timing.log_interval_sum[repeat] / summary.frequency[repeat]
    assert (mean_log <= np.log(summary.recency[repeat] / summary.frequency[repeat]) + 1e-9).all()


def test_rejects_an_unknown_unit() -> None:
    with pytest.raises(InvalidInput, match="time unit"):
        timing_summary(orders(("a", "2024-01-01")), "2024-01-31", unit="months")  # type: ignore[arg-type]


def test_an_empty_history_gives_no_customers() -> None:
    timing = timing_summary(orders(("a", "2024-03-01")), "2024-01-31")
    assert len(timing) == 0 and len(summarise(orders(("a", "2024-03-01")), "2024-01-31")) == 0
