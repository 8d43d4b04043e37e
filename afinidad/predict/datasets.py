"""Readers for the public data sets the predictions are evaluated on, turned into what the models take: a
labelled table for `Propensity` (UCI Bank Marketing) and `Transactions` for the purchase and churn models
(UCI Online Retail). Like the readers in `transactions`, these are the only functions here that touch files;
what each drops or recodes, and why, is in its docstring."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict.transactions import Transactions, _open_text, parse_dates

# Known only once the call has ended, so a model scoring whom to call cannot have it (the names file says so).
LEAKED_AFTER_THE_CALL = ("duration",)
# Days since the previous campaign's contact; this value means "not contacted before" (bank-full: -1,
# bank-additional: 999), which is a missing value, not a long time.
NOT_CONTACTED_BEFORE = (-1.0, 999.0)


@dataclass(frozen=True)
class LabelledTable:
    """Feature columns by name (numbers as float with NaN for missing, text as object arrays with None for
    missing), which of them are categorical, and the 0/1 outcome per row."""

    features: dict[str, np.ndarray]
    categorical: tuple[str, ...]
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    def rows(self, indices: np.ndarray) -> LabelledTable:
        """The same table restricted to `indices` (a split's part)."""
        return LabelledTable({name: values[indices] for name, values in self.features.items()},
                             self.categorical, self.target[indices])  # fmt: skip


def read_bank_marketing(path: Path) -> LabelledTable:
    """bank-full.csv / bank.csv (17 columns) or bank-additional(-full).csv (21 columns) of Moro, Cortez & Rita
    (2014): ';'-separated with a header, target `y` ("yes": subscribed a term deposit).

    `duration` is dropped: it is the call's length, known only after the outcome. "unknown" (how the data
    marks missing text) becomes missing, and `pdays` of -1 or 999 ("not contacted before") becomes NaN. A
    column is numeric when every value is a number, categorical otherwise."""
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader, None)
        if not header or "y" not in header:
            raise InvalidInput(f"{path.name} has no `y` column.", [FieldProblem("y", "not in the header")])
        records = list(reader)
    target_index = header.index("y")
    if any(len(record) != len(header) for record in records):
        line = next(number for number, record in enumerate(records, start=2) if len(record) != len(header))
        raise InvalidInput(f"{path.name} line {line}: wrong number of columns.", [FieldProblem("line", str(line))])
    texts = list(zip(*records, strict=True)) if records else [() for _ in header]
    answers = texts[target_index]
    if not set(answers) <= {"yes", "no"}:
        raise InvalidInput(f"{path.name}: y is not yes/no.", [FieldProblem("y", "values other than yes and no")])
    features: dict[str, np.ndarray] = {}
    categorical = []
    for name, values in zip(header, texts, strict=True):
        if name == "y" or name in LEAKED_AFTER_THE_CALL:
            continue
        numbers = _as_numbers(values)
        if numbers is None:
            features[name] = np.array([None if value == "unknown" else value for value in values], dtype=object)
            categorical.append(name)
        else:
            if name == "pdays":
                numbers[np.isin(numbers, NOT_CONTACTED_BEFORE)] = math.nan
            features[name] = numbers
    target = np.array([answer == "yes" for answer in answers], dtype=np.int8)
    return LabelledTable(features, tuple(categorical), target)


def read_online_retail(path: Path) -> Transactions:
    """online_retail.csv(.gz) of Chen, Sain & Guo (2012) as orders of known customers: one entry per
    invoice line with its day and value (Quantity x UnitPrice). Left out: lines without a CustomerID
    (guests, who cannot be followed), cancellations (InvoiceNo starting with "C") and lines with a quantity of
    0 or less (returns and stock corrections), so what remains is what customers bought."""
    required = ("InvoiceNo", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
    customers, dates, amounts = [], [], []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(f"{path.name} lacks column(s) {', '.join(missing)}.",
                               [FieldProblem(column, "not in the header") for column in missing])  # fmt: skip
        for line_number, row in enumerate(reader, start=2):
            customer = row["CustomerID"].strip()
            if not customer or row["InvoiceNo"].startswith("C"):
                continue
            try:
                quantity, price = float(row["Quantity"]), float(row["UnitPrice"])
            except ValueError:
                raise InvalidInput(f"{path.name} line {line_number}: quantity or price is not a number.",
                                   [FieldProblem("Quantity", f"line {line_number}")]) from None  # fmt: skip
            if quantity <= 0:
                continue
            customers.append(customer.removesuffix(".0"))
            dates.append(row["InvoiceDate"])
            amounts.append(quantity * price)
    return Transactions(np.array(customers, dtype=str), parse_dates(dates), np.array(amounts, dtype=np.float64))


def _as_numbers(values: tuple[str, ...]) -> np.ndarray | None:
    try:
        return np.array([float(value) for value in values], dtype=np.float64)
    except ValueError:
        return None
