"""Transactions and the per-customer summary the lifetime-value models read.

The models see a customer only through four numbers: how many repeat purchases it made in the calibration
period (frequency), when the last one was (recency, from the first purchase), how long it has been a customer
(T) and what its repeat purchases were worth on average. Following Fader & Hardie, purchases are counted per
day: several orders on one day are one purchase (their amounts summed), and the first day is not a repeat
purchase. An optional holdout period after the calibration end gives what the customer really did next, to
check the forecasts against.

Readers for the CDNOW files (the data set the models were published on) and for any CSV of customer, date and
amount are here too; they are the only functions in `afinidad.predict` that touch files."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Literal

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput

TimeUnit = Literal["days", "weeks"]
DAYS_PER_UNIT: dict[str, int] = {"days": 1, "weeks": 7}


@dataclass(frozen=True)
class Transactions:
    """Parallel arrays, one entry per order: who (`customers`, text labels), when (`dates`, numpy
    datetime64[D]) and, when the source has it, for how much (`amounts`)."""

    customers: np.ndarray
    dates: np.ndarray
    amounts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.customers)


@dataclass(frozen=True)
class CustomerSummary:
    """One row per customer whose first purchase falls on or before the calibration end, ordered by label.

    Times are in `unit` (days or weeks): `recency` is from the first to the last purchase day of the
    calibration period, `T` from the first purchase day to the calibration end. `mean_value` is the mean value
    of the repeat purchase days (0 for a customer with none, or when the transactions carry no amounts).
    The holdout fields are None without a holdout end; `holdout_value` is all the spend in the holdout."""

    customer_ids: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    mean_value: np.ndarray
    first_purchase: np.ndarray
    calibration_end: np.datetime64
    unit: TimeUnit = "weeks"
    holdout_end: np.datetime64 | None = None
    holdout_frequency: np.ndarray | None = None
    holdout_value: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def holdout_length(self) -> float | None:
        """The holdout period's length in `unit`, the horizon to forecast it with."""
        if self.holdout_end is None:
            return None
        return _in_unit(self.holdout_end - self.calibration_end, self.unit)


def summarise(
    transactions: Transactions,
    calibration_end: date | str | np.datetime64,
    holdout_end: date | str | np.datetime64 | None = None,
    unit: TimeUnit = "weeks",
) -> CustomerSummary:
    """The calibration summary of every customer who bought by `calibration_end` (inclusive) and, with
    `holdout_end`, what each did in the holdout (after the calibration end, up to `holdout_end` inclusive).
    Orders after the last end are ignored; customers whose first order is after the calibration end are left
    out, since a model fitted at the calibration end could not know them."""
    if unit not in DAYS_PER_UNIT:
        raise InvalidInput(f"Unknown time unit {unit!r}.", [FieldProblem("unit", "one of days, weeks")])
    calibration_day = _day(calibration_end, "calibration_end")
    holdout_day = None if holdout_end is None else _day(holdout_end, "holdout_end")
    if holdout_day is not None and holdout_day <= calibration_day:
        raise InvalidInput(
            "The holdout must end after the calibration.", [FieldProblem("holdout_end", "not after calibration_end")]
        )
    last_day = holdout_day if holdout_day is not None else calibration_day
    labels, codes = np.unique(np.asarray(transactions.customers).astype(str), return_inverse=True)
    days = np.asarray(transactions.dates, dtype="datetime64[D]").astype(np.int64)
    amounts = (
        np.zeros(len(days)) if transactions.amounts is None else np.asarray(transactions.amounts, dtype=np.float64)
    )
    kept = days <= last_day.astype(np.int64)
    codes, days, amounts = codes[kept].astype(np.int64), days[kept], amounts[kept]

    # One purchase per customer and day, its orders' amounts summed; sorted by customer, then day.
    offset = days.min(initial=0)
    keys, purchase_of_order = np.unique((codes << 32) | (days - offset), return_inverse=True)
    purchase_value = np.bincount(purchase_of_order, weights=amounts, minlength=len(keys))
    purchase_customer, purchase_day = keys >> 32, (keys & 0xFFFFFFFF) + offset
    first_index = np.flatnonzero(np.r_[True, purchase_customer[1:] != purchase_customer[:-1]][: len(keys)])
    customers = purchase_customer[first_index]
    first_day = purchase_day[first_index]
    row_of_purchase = np.repeat(np.arange(len(customers)), np.diff(np.r_[first_index, len(keys)]))

    in_calibration = purchase_day <= calibration_day.astype(np.int64)
    is_repeat = in_calibration & (purchase_day > first_day[row_of_purchase])
    known = first_day <= calibration_day.astype(np.int64)
    rows = len(customers)
    frequency = np.bincount(row_of_purchase, weights=is_repeat, minlength=rows)
    repeat_value = np.bincount(row_of_purchase, weights=np.where(is_repeat, purchase_value, 0.0), minlength=rows)
    last_day_in_calibration = np.full(rows, np.iinfo(np.int64).min)
    np.maximum.at(last_day_in_calibration, row_of_purchase[in_calibration], purchase_day[in_calibration])
    days_per_unit = DAYS_PER_UNIT[unit]
    summary = {
        "customer_ids": labels[customers],
        "frequency": frequency,
        "recency": (last_day_in_calibration - first_day) / days_per_unit,
        "T": (calibration_day.astype(np.int64) - first_day) / days_per_unit,
        "mean_value": np.divide(repeat_value, frequency, out=np.zeros(rows), where=frequency > 0),
        "first_purchase": first_day.astype("datetime64[D]"),
    }
    holdout: dict[str, np.ndarray | None] = {"holdout_frequency": None, "holdout_value": None}
    if holdout_day is not None:
        in_holdout = ~in_calibration
        holdout["holdout_frequency"] = np.bincount(row_of_purchase, weights=in_holdout, minlength=rows)[known]
        holdout["holdout_value"] = np.bincount(
            row_of_purchase, weights=np.where(in_holdout, purchase_value, 0.0), minlength=rows
        )[known]
    return CustomerSummary(
        **{name: values[known] for name, values in summary.items()},
        calibration_end=calibration_day,
        unit=unit,
        holdout_end=holdout_day,
        **holdout,
    )


def _in_unit(span: np.timedelta64, unit: TimeUnit) -> float:
    return float(span.astype("timedelta64[D]").astype(np.int64)) / DAYS_PER_UNIT[unit]


def _day(value: date | str | np.datetime64, field: str) -> np.datetime64:
    try:
        if isinstance(value, str):
            return parse_dates([value])[0]
        return np.datetime64(value, "D")
    except (ValueError, TypeError):
        raise InvalidInput(f"{value!r} is not a date.", [FieldProblem(field, "not a date")]) from None


# -- readers ------------------------------------------------------------------------------------------------


def parse_dates(texts: Iterable[str]) -> np.ndarray:
    """Days (datetime64[D]) from ISO 8601 dates or date-times (the date as written is kept, whatever the time
    and offset after it) or compact YYYYMMDD. Raises ValueError on the first value that is neither."""
    days = []
    for raw in texts:
        text = raw.strip()
        if len(text) == 8 and text.isdigit():
            days.append(f"{text[:4]}-{text[4:6]}-{text[6:]}")
        elif len(text) >= 10 and text[4] == "-" and text[7] == "-" and (len(text) == 10 or text[10] in "T "):
            days.append(text[:10])
        else:
            raise ValueError(f"{raw!r} is not an ISO 8601 date nor YYYYMMDD")
    return np.array(days, dtype="datetime64[D]")


def read_cdnow(path: Path, use_master_id: bool = False) -> Transactions:
    """CDNOW_master.txt (customer id, date YYYYMMDD, number of CDs, dollar value; `lifetimes` added a header
    line) or CDNOW_sample.txt (master customer id, sample customer id 0001-2357, then the same columns, no
    header). Customers of the sample are named by their sample id, which is the `ID` of the published summary
    files, unless `use_master_id` (to match them with the master file)."""
    customers, dates, amounts = [], [], []
    with path.open(encoding="ascii") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or not fields[0].isdigit():
                continue  # blank, or the header
            if len(fields) not in (4, 5):
                raise InvalidInput(f"{path.name} line {line_number}: {len(fields)} columns, expected 4 or 5.",
                                   [FieldProblem("line", f"line {line_number}: not a CDNOW row")])  # fmt: skip
            customer = fields[0] if len(fields) == 4 or use_master_id else fields[1]
            customers.append(customer)
            dates.append(fields[-3])
            amounts.append(float(fields[-1]))
    return Transactions(np.array(customers), parse_dates(dates), np.array(amounts, dtype=np.float64))


def read_transactions_csv(
    path: Path,
    customer_column: str = "customer",
    date_column: str = "date",
    amount_column: str | None = "amount",
) -> Transactions:
    """Any orders file with a header (optionally gzipped): a customer column, a date column (ISO 8601 or
    YYYYMMDD) and, if present, an amount column. The amount column is optional under its default name;
    a different name that the header lacks is an error, and `amount_column=None` ignores amounts. Rows with
    no customer are skipped; a date or amount that cannot be read is an error naming the line."""
    customers, dates, amounts, line_numbers = [], [], [], []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        required = [customer_column, date_column] + ([amount_column] if amount_column not in (None, "amount") else [])
        missing = [column for column in required if column not in header]
        if missing:
            raise InvalidInput(
                f"{path.name} lacks column(s) {', '.join(missing)} (header: {', '.join(header)}).",
                [FieldProblem(column, "not in the header") for column in missing],
            )
        read_amounts = amount_column is not None and amount_column in header
        for line_number, row in enumerate(reader, start=2):
            customer = (row[customer_column] or "").strip()
            if not customer:
                continue
            customers.append(customer)
            dates.append((row[date_column] or "").strip())
            line_numbers.append(line_number)
            if read_amounts:
                try:
                    amounts.append(float(row[amount_column]))  # type: ignore[index]
                except (TypeError, ValueError):
                    raise InvalidInput(
                        f"{path.name} line {line_number}: {row[amount_column]!r} is not an amount.",  # type: ignore[index]
                        [FieldProblem(str(amount_column), f"line {line_number}: not a number")],
                    ) from None
    try:
        days = parse_dates(dates)
    except ValueError:
        line_number, text = next((line, text) for line, text in zip(line_numbers, dates, strict=True)
                                 if not _is_date(text))  # fmt: skip
        raise InvalidInput(
            f"{path.name} line {line_number}: {text!r} is not a date.",
            [FieldProblem(date_column, f"line {line_number}: not ISO 8601 nor YYYYMMDD")],
        ) from None
    return Transactions(np.array(customers, dtype=str), days, np.array(amounts) if read_amounts else None)


def _is_date(text: str) -> bool:
    try:
        parse_dates([text])
    except ValueError:
        return False
    return True


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")
