"""The two per-customer statistics of purchase timing that a frequency/recency summary leaves out, and that
the models beyond BG/NBD need to be fitted (never to forecast):

- the sum of the logarithms of the intervals between consecutive purchase days (`litt` in Platzer &
  Reutterer 2016). With Erlang-k or gamma inter-purchase times the likelihood has a factor
  exp((k-1) * litt), so the regularity k can only be estimated with it (`CondensedNbd`);
- the sum of the logarithms of the customer's tenure at each repeat purchase. A purchase rate that changes
  as a power of tenure multiplies the likelihood by c^x * exp((c-1) * that sum), so the trend c can only be
  estimated with it (`TenureTrend`).

Kept apart from `transactions.summarise`, whose summary every model reads, so that the customers and their
order are the same (one row per customer who bought by the calibration end, ordered by label) while the
summary itself stays the four numbers of Fader & Hardie."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict.transactions import DAYS_PER_UNIT, TimeUnit, Transactions, _day


@dataclass(frozen=True)
class TimingSummary:
    """Per customer, in the order of `summarise`: `frequency` (repeat purchase days in the calibration, to
    check the alignment), `log_interval_sum` (sum over the `frequency` intervals between consecutive purchase
    days of log(interval in `unit`)) and `log_tenure_sum` (sum over the repeat purchase days of log(time since
    the first purchase, in `unit`)). Both are 0 for a customer without repeat purchases."""

    customer_ids: np.ndarray
    frequency: np.ndarray
    log_interval_sum: np.ndarray
    log_tenure_sum: np.ndarray
    unit: TimeUnit = "weeks"

    def __len__(self) -> int:
        return len(self.customer_ids)


def timing_summary(
    transactions: Transactions, calibration_end: date | str | np.datetime64, unit: TimeUnit = "weeks"
) -> TimingSummary:
    """The timing statistics of the calibration period (orders up to `calibration_end` inclusive), purchases
    counted per day as in `summarise`."""
    if unit not in DAYS_PER_UNIT:
        raise InvalidInput(f"Unknown time unit {unit!r}.", [FieldProblem("unit", "one of days, weeks")])
    calibration_day = _day(calibration_end, "calibration_end").astype(np.int64)
    labels, codes = np.unique(np.asarray(transactions.customers).astype(str), return_inverse=True)
    days = np.asarray(transactions.dates, dtype="datetime64[D]").astype(np.int64)
    kept = days <= calibration_day
    codes, days = codes[kept].astype(np.int64), days[kept]
    offset = days.min(initial=0)
    keys = np.unique((codes << 32) | (days - offset))  # one purchase per customer and day, sorted
    customer, day = keys >> 32, (keys & 0xFFFFFFFF) + offset
    first_of_customer = np.r_[True, customer[1:] != customer[:-1]][: len(keys)]
    first_index = np.flatnonzero(first_of_customer)
    row = np.cumsum(first_of_customer) - 1
    repeat = ~first_of_customer
    days_per_unit = DAYS_PER_UNIT[unit]
    previous_day = np.r_[day[:1], day[:-1]]
    interval = (day - previous_day) / days_per_unit
    tenure = (day - day[first_index][row]) / days_per_unit
    rows = len(first_index)
    with np.errstate(divide="ignore"):
        log_interval = np.where(repeat, np.log(np.where(repeat, interval, 1.0)), 0.0)
        log_tenure = np.where(repeat, np.log(np.where(repeat, tenure, 1.0)), 0.0)
    return TimingSummary(
        customer_ids=labels[customer[first_index]],
        frequency=np.bincount(row, weights=repeat, minlength=rows),
        log_interval_sum=np.bincount(row, weights=log_interval, minlength=rows),
        log_tenure_sum=np.bincount(row, weights=log_tenure, minlength=rows),
        unit=unit,
    )
