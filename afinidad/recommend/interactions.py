"""Interactions: who touched what, when. The one input every recommender and the evaluation read, built from
the workspace's events or from a file (MovieLens, Online Retail, any CSV with user, item and time columns)."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from afinidad.errors import FieldProblem, InvalidInput


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays of (user code, item code, time in seconds); `user_ids` / `item_ids` map codes back to
    the labels of the source. Repeats are kept: the matrix sums them, the split orders them by time."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def subset(self, mask: np.ndarray) -> Interactions:
        return Interactions(self.users[mask], self.items[mask], self.times[mask], self.user_ids, self.item_ids)

    def matrix(self, binary: bool = True) -> sp.csr_matrix:
        """Users x items; binary (touched or not) by default: implicit feedback, as the protocol says."""
        data = np.ones(len(self.users), dtype=np.float32)
        matrix = sp.csr_matrix((data, (self.users, self.items)), shape=self.shape, dtype=np.float32)
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix


def from_columns(users: Iterable[str], items: Iterable[str], times: Iterable[float]) -> Interactions:
    user_labels, user_codes = np.unique(np.asarray(list(users), dtype=object).astype(str), return_inverse=True)
    item_labels, item_codes = np.unique(np.asarray(list(items), dtype=object).astype(str), return_inverse=True)
    return Interactions(
        user_codes.astype(np.int32), item_codes.astype(np.int32), np.asarray(list(times), dtype=np.float64),
        user_labels, item_labels,
    )  # fmt: skip


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.strip())
    return moment.timestamp()


def _open(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8", newline="") if gzipped else path.open(encoding="utf-8", newline="")


def read_csv(
    path: Path,
    *,
    user_column: str = "user",
    item_column: str = "item",
    timestamp_column: str = "timestamp",
) -> Interactions:
    """Any interactions file with a header: user, item and time columns (seconds since 1970, or ISO 8601).
    Rows with an empty user or item are skipped; a time that cannot be read is an error naming the line."""
    users, items, times = [], [], []
    with _open(path) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (user_column, item_column, timestamp_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(
                f"{path.name} lacks column(s) {', '.join(missing)} (header: {', '.join(reader.fieldnames or [])}).",
                [FieldProblem(column, "not in the header") for column in missing],
            )
        for line, row in enumerate(reader, start=2):
            user, item = row[user_column].strip(), row[item_column].strip()
            if not user or not item:
                continue
            try:
                times.append(_seconds(row[timestamp_column]))
            except ValueError:
                raise InvalidInput(
                    f"{path.name} line {line}: {row[timestamp_column]!r} is not a time.",
                    [FieldProblem(timestamp_column, f"line {line}: not seconds since 1970 nor ISO 8601")],
                ) from None
            users.append(user)
            items.append(item)
    return from_columns(users, items, times)


def movielens_100k(folder: Path) -> Interactions:
    """MovieLens 100k's `u.data` (user, item, rating, unix time): every rating counts as an interaction."""
    data = np.loadtxt(folder / "u.data", dtype=np.int64)
    return from_columns(data[:, 0].astype(str), data[:, 1].astype(str), data[:, 3].astype(np.float64))


MOVIELENS_FOLDS = ("u1", "u2", "u3", "u4", "u5")


def movielens_100k_folds(folder: Path) -> list[tuple[Interactions, Interactions]]:
    """The five (`uN.base`, `uN.test`) pairs MovieLens ships for 5-fold cross validation: disjoint test
    sets, 80,000 / 20,000 ratings each. Coded with `movielens_100k`'s user and item labels, so one code means
    the same movie in every fold and in `u.data`, whatever a fold happens to leave out."""
    whole = movielens_100k(folder)

    def read(name: str) -> Interactions:
        rows = np.loadtxt(folder / name, dtype=np.int64)
        users = np.searchsorted(whole.user_ids, rows[:, 0].astype(str))
        items = np.searchsorted(whole.item_ids, rows[:, 1].astype(str))
        if not (np.isin(rows[:, 0].astype(str), whole.user_ids).all() and
                np.isin(rows[:, 1].astype(str), whole.item_ids).all()):  # fmt: skip
            raise InvalidInput(f"{name} holds users or items that u.data does not.",
                               [FieldProblem(name, "not a MovieLens 100k fold of this u.data")])  # fmt: skip
        return Interactions(users.astype(np.int32), items.astype(np.int32), rows[:, 3].astype(np.float64),
                            whole.user_ids, whole.item_ids)  # fmt: skip

    return [(read(f"{fold}.base"), read(f"{fold}.test")) for fold in MOVIELENS_FOLDS]


# Online Retail rows that are not a customer choosing a product (postage, fees, manual lines, vouchers).
NOT_PRODUCTS = {"POST", "DOT", "C2", "M", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "B", "PADS"}


def online_retail(path: Path) -> Interactions:
    """UCI Online Retail: one interaction per known customer and product bought (cancellations, guests and
    non-product lines left out), at the invoice's time."""
    users, items, times = [], [], []
    with _open(path) as handle:
        for row in csv.DictReader(handle):
            customer, code = row["CustomerID"].strip(), row["StockCode"].strip().upper()
            if not customer or row["InvoiceNo"].startswith(("C", "A")) or code in NOT_PRODUCTS:
                continue
            if code.startswith("GIFT_") or float(row["Quantity"]) <= 0:
                continue
            users.append(customer.removesuffix(".0"))
            items.append(code)
            times.append(datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S").timestamp())
    return from_columns(users, items, times)
