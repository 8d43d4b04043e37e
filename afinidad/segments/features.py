"""Per-customer behavioural features from order lines, the input of the learned micro-segments.

The features are the ones a marketer reads a segment by: how recently, how often and how much a customer buys
(recency, orders, spend, tenure, days between orders), what a basket looks like (value, distinct products,
price per unit), when it is bought (weekend share, daypart shares), what is bought (spend share per category)
and through which channel (order share per channel). Nothing here knows a particular data set: the input is
plain parallel arrays (or records) of customer, time, product, quantity and unit price, with optional order,
category and channel.

Each feature has a kind (`money`, `count`, `days`, `share`) so that the clustering can transform it without
knowing its name: money, counts and durations are skewed and get a log, shares are already on [0, 1]."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput

FeatureKind = Literal["money", "count", "days", "share"]

# Local hours at which each daypart starts; a daypart runs until the next one starts (night wraps midnight).
DAYPARTS: tuple[tuple[str, int], ...] = (("night", 0), ("morning", 5), ("afternoon", 12), ("evening", 17))
NIGHT_FROM_HOUR = 22  # 22:00-04:59 is night as well
SECONDS_PER_DAY = 86_400

# Per-customer features before the category and channel shares, with their kind.
BASE_FEATURES: tuple[tuple[str, FeatureKind], ...] = (
    ("recency_days", "days"),  # days from the last order to `as_of`
    ("orders", "count"),  # distinct orders
    ("spend", "money"),  # sum of quantity x unit price
    ("tenure_days", "days"),  # days from the first order to `as_of`
    ("days_between_orders", "days"),  # mean gap between orders; see `customer_features`
    ("basket_value", "money"),  # spend per order
    ("basket_items", "count"),  # distinct products per order
    ("unit_price", "money"),  # spend per unit bought: the price level
    ("weekend_share", "share"),  # share of orders placed on Saturday or Sunday
)
CATEGORY_PREFIX = "category_share:"
CHANNEL_PREFIX = "channel_share:"
DAYPART_PREFIX = "daypart_share:"


@dataclass(frozen=True)
class OrderLines:
    """Parallel arrays, one entry per order line. `times` are local wall-clock times (datetime64[s]): weekday
    and daypart are read from them as given. `orders` names the order a line belongs to; without it, a
    customer's lines with the same time are one order. `categories` and `channels` may hold None where unknown,
    or be None altogether. Build one from records with `OrderLines.from_records`; construction checks the
    values and raises InvalidInput naming the field."""

    customers: np.ndarray
    times: np.ndarray
    products: np.ndarray
    quantities: np.ndarray
    unit_prices: np.ndarray
    orders: np.ndarray | None = None
    categories: np.ndarray | None = None
    channels: np.ndarray | None = None

    def __post_init__(self) -> None:
        checked = _checked_columns(
            {name: getattr(self, name) for name in ("customers", "times", "products", "quantities", "unit_prices")},
            {name: getattr(self, name) for name in ("orders", "categories", "channels")},
        )
        for name, values in checked.items():
            object.__setattr__(self, name, values)

    def __len__(self) -> int:
        return len(self.customers)

    def subset(self, mask: np.ndarray) -> OrderLines:
        """The lines where `mask` is true (a time window, one country, ...), already checked."""
        picked = {name: None if values is None else values[mask] for name, values in vars(self).items()}
        subset = object.__new__(OrderLines)
        for name, values in picked.items():
            object.__setattr__(subset, name, values)
        return subset

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> OrderLines:
        """Order lines from mappings with keys `customer`, `time`, `product`, `quantity`, `unit_price` and
        optionally `order`, `category`, `channel` (missing or None where unknown)."""
        rows = list(records)
        columns: dict[str, list[Any]] = {key: [] for key in _RECORD_KEYS}
        for index, record in enumerate(rows):
            for key in _REQUIRED_RECORD_KEYS:
                if record.get(key) is None:
                    raise InvalidInput(f"Order line {index} has no {key}.", [FieldProblem(key, "missing", index)])
            for key in _RECORD_KEYS:
                columns[key].append(record.get(key))
        optional = {
            field: np.array(columns[key], dtype=object) if any(v is not None for v in columns[key]) else None
            for key, field in (("order", "orders"), ("category", "categories"), ("channel", "channels"))
        }
        return cls(
            customers=np.array(columns["customer"], dtype=object),
            times=np.array(columns["time"], dtype=object),
            products=np.array(columns["product"], dtype=object),
            quantities=np.array(columns["quantity"], dtype=object),
            unit_prices=np.array(columns["unit_price"], dtype=object),
            **optional,
        )


_REQUIRED_RECORD_KEYS = ("customer", "time", "product", "quantity", "unit_price")
_RECORD_KEYS = (*_REQUIRED_RECORD_KEYS, "order", "category", "channel")


@dataclass(frozen=True)
class CustomerFeatures:
    """One row per customer (`customer_ids`, sorted), one column per feature (`names`, with their `kinds`),
    measured at `as_of`. Customers listed without any order have `orders` 0, `spend` 0 and NaN where a
    feature needs an order (recency, tenure, gaps, basket, price, shares): they have no behaviour yet."""

    customer_ids: np.ndarray
    names: tuple[str, ...]
    kinds: tuple[FeatureKind, ...]
    values: np.ndarray
    as_of: np.datetime64

    def __len__(self) -> int:
        return len(self.customer_ids)

    def column(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise InvalidInput(f"No feature {name!r}.", [FieldProblem("feature", f"one of {', '.join(self.names)}")])
        return self.values[:, self.names.index(name)]

    @property
    def has_orders(self) -> np.ndarray:
        return self.column("orders") > 0


def customer_features(
    lines: OrderLines,
    as_of: date | datetime | str | np.datetime64 | None = None,
    customers: Sequence[str] = (),
    max_categories: int = 8,
    max_channels: int = 4,
    categories: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
) -> CustomerFeatures:
    """The features of every customer with a line on or before `as_of` (default: the last line's time), plus
    the `customers` listed without any (a row of no behaviour, so that they get a defined answer downstream).

    Shares are of orders for timing and channel (a line counts as its share of its order, so an order split
    over two channels counts half to each) and of spend for categories: "buyers of home decor" is about where
    the money goes. Only the `max_categories` categories and `max_channels` channels with the most spend / most
    orders get a column, so that a long tail of labels does not swamp the other features; lines without a
    category or channel count in the denominators but have no column. `categories` / `channels` name the
    columns instead (a fitted model's `categories_` / `channels_`, so that a batch scored later has the columns
    the model was fitted on, at 0 for a category the batch never bought).

    `days_between_orders` is the mean gap between a customer's orders (first to last order over the number of
    gaps). For a one-order customer it is the days since that order: the gap so far, a lower bound, rather than
    a missing value the clustering could not place."""
    if len(lines) == 0:
        raise InvalidInput("No order lines.", [FieldProblem("lines", "empty")])
    if max_categories < 0 or max_channels < 0:
        field = "max_categories" if max_categories < 0 else "max_channels"
        raise InvalidInput(f"{field} must not be negative.", [FieldProblem(field, "negative")])
    seconds = lines.times.astype(np.int64)
    end = seconds.max() if as_of is None else _as_of_seconds(as_of)
    kept = seconds <= end
    if not kept.any():
        raise InvalidInput("No order line on or before as_of.", [FieldProblem("as_of", "before every order line")])

    labels = np.unique(np.concatenate([lines.customers[kept], np.asarray(list(customers), dtype=str)]))
    customer = np.searchsorted(labels, lines.customers[kept])
    seconds = seconds[kept]
    quantity = lines.quantities[kept]
    line_spend = quantity * lines.unit_prices[kept]
    # An order is a (customer, order label) pair: two customers never share an order label's order.
    order_labels = _codes(lines.orders[kept]) if lines.orders is not None else seconds - seconds.min()
    _, order = np.unique(customer * (order_labels.max() + 1) + order_labels, return_inverse=True)
    order = order.ravel()
    order_count = int(order.max()) + 1
    order_customer = np.zeros(order_count, dtype=np.int64)
    order_customer[order] = customer
    order_start = np.full(order_count, np.iinfo(np.int64).max)
    np.minimum.at(order_start, order, seconds)
    line_weight = 1.0 / np.bincount(order, minlength=order_count)[order]  # each order counts 1 over its lines

    rows = len(labels)
    orders = np.bincount(order_customer, minlength=rows).astype(np.float64)
    spend = np.bincount(customer, weights=line_spend, minlength=rows)
    units = np.bincount(customer, weights=quantity, minlength=rows)
    products = _codes(lines.products[kept])
    order_products = np.unique(order * (products.max() + 1) + products) // (products.max() + 1)
    products_per_customer = np.bincount(order_customer[order_products], minlength=rows)
    first = np.full(rows, np.iinfo(np.int64).max)
    last = np.full(rows, np.iinfo(np.int64).min)
    np.minimum.at(first, order_customer, order_start)
    np.maximum.at(last, order_customer, order_start)

    bought = orders > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recency = np.where(bought, (end - last) / SECONDS_PER_DAY, np.nan)
        tenure = np.where(bought, (end - first) / SECONDS_PER_DAY, np.nan)
        gaps = np.where(orders > 1, (last - first) / SECONDS_PER_DAY / (orders - 1), recency)
        weekday = (order_start // SECONDS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        weekend = np.bincount(order_customer, weights=weekday >= 5, minlength=rows) / orders
        columns: dict[str, tuple[FeatureKind, np.ndarray]] = {
            "recency_days": ("days", recency),
            "orders": ("count", orders),
            "spend": ("money", spend),
            "tenure_days": ("days", tenure),
            "days_between_orders": ("days", gaps),
            "basket_value": ("money", np.where(bought, spend / orders, np.nan)),
            "basket_items": ("count", np.where(bought, products_per_customer / orders, np.nan)),
            "unit_price": ("money", np.where(units > 0, spend / units, np.nan)),
            "weekend_share": ("share", weekend),
        }
        dayparts = _daypart((seconds % SECONDS_PER_DAY) // 3600)
        for name in (name for name, _ in DAYPARTS):
            columns[DAYPART_PREFIX + name] = ("share", _share(customer, dayparts == name, line_weight, orders))
        if lines.categories is not None or categories is not None:
            category = lines.categories[kept] if lines.categories is not None else np.full(len(customer), None)
            chosen = list(categories) if categories is not None else _top_labels(category, line_spend, max_categories)
            for name in chosen:
                share = _share(customer, category == name, line_spend, spend)
                columns[CATEGORY_PREFIX + name] = ("share", np.where(bought, np.nan_to_num(share), np.nan))
        if lines.channels is not None or channels is not None:
            channel = lines.channels[kept] if lines.channels is not None else np.full(len(customer), None)
            for name in list(channels) if channels is not None else _top_labels(channel, line_weight, max_channels):
                columns[CHANNEL_PREFIX + name] = ("share", _share(customer, channel == name, line_weight, orders))
    return CustomerFeatures(
        customer_ids=labels,
        names=tuple(columns),
        kinds=tuple(kind for kind, _ in columns.values()),
        values=np.column_stack([values for _, values in columns.values()]),
        as_of=np.datetime64(int(end), "s"),
    )


def _daypart(hour: np.ndarray) -> np.ndarray:
    starts = np.array([start for _, start in DAYPARTS])
    names = np.array([name for name, _ in DAYPARTS], dtype=object)
    part = names[np.searchsorted(starts, hour, side="right") - 1]
    part[hour >= NIGHT_FROM_HOUR] = "night"
    return part


def _top_labels(labels: np.ndarray, weights: np.ndarray, keep: int) -> list[str]:
    """The `keep` labels with the most weight (ties by name); None is never a label."""
    known = labels != None  # noqa: E711 - elementwise over an object array
    names, codes = np.unique(labels[known].astype(str), return_inverse=True)
    weight = np.bincount(codes.ravel(), weights=weights[known], minlength=len(names))
    return sorted(names.tolist(), key=lambda name: (-weight[np.searchsorted(names, name)], name))[:keep]


def _share(customer: np.ndarray, selected: np.ndarray, weights: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Each customer's sum of `weights` over its `selected` lines, as a share of its total (NaN without one)."""
    summed = np.bincount(customer[selected], weights=weights[selected], minlength=len(totals))
    return np.divide(summed, totals, out=np.full(len(totals), np.nan), where=totals > 0)


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1].ravel().astype(np.int64)


def _as_of_seconds(value: date | datetime | str | np.datetime64) -> int:
    try:
        if isinstance(value, date) and not isinstance(value, datetime):
            # A date means the whole day: every line of that day is on or before it.
            return int(np.datetime64(value, "D").astype("datetime64[s]").astype(np.int64)) + SECONDS_PER_DAY - 1
        moment = np.datetime64(value, "s")
    except (TypeError, ValueError):
        raise InvalidInput(f"{value!r} is not a time.", [FieldProblem("as_of", "not a date or time")]) from None
    if np.isnat(moment):
        raise InvalidInput("as_of is not a time.", [FieldProblem("as_of", "not a date or time")])
    return int(moment.astype(np.int64))


def _checked_columns(required: dict[str, Any], optional: dict[str, Any]) -> dict[str, np.ndarray]:
    """The columns as typed arrays of one length, or InvalidInput listing every field that is wrong."""
    length = len(required["customers"])
    arrays = {name: np.asarray(values) for name, values in {**required, **optional}.items() if values is not None}
    problems = [
        FieldProblem(name, f"{array.size} values for {length} order lines")
        for name, array in arrays.items()
        if array.ndim != 1 or len(array) != length
    ]
    if problems:
        raise InvalidInput("The order line columns differ in length.", problems)
    columns: dict[str, np.ndarray] = {}
    for name in ("customers", "products", "orders"):
        if name in arrays:
            text = arrays[name].astype(str)
            missing = (np.char.str_len(np.char.strip(text)) == 0) | _none_mask(arrays[name])
            if missing.any():
                problems.append(FieldProblem(name, "missing", int(np.flatnonzero(missing)[0])))
            columns[name] = text
    for name in ("categories", "channels"):
        if name in arrays:
            labels = np.where(_none_mask(arrays[name]), None, arrays[name].astype(str)).astype(object)
            labels[labels == ""] = None
            columns[name] = labels
    columns["times"] = _checked_times(arrays["times"], problems)
    for name, reason in (("quantities", "not a positive number"), ("unit_prices", "not a number >= 0")):
        try:
            numbers = arrays[name].astype(np.float64)
        except (TypeError, ValueError):
            bad = next(i for i, value in enumerate(arrays[name]) if not _is_number(value))
            problems.append(FieldProblem(name, "not a number", bad))
            continue
        invalid = ~np.isfinite(numbers) | ((numbers <= 0) if name == "quantities" else (numbers < 0))
        if invalid.any():
            index = int(np.flatnonzero(invalid)[0])
            detail = f"{reason} ({numbers[index]}); returns and cancellations are not purchases: leave them out"
            problems.append(FieldProblem(name, detail, index))
        columns[name] = numbers
    if problems:
        raise InvalidInput("Invalid order lines.", problems)
    return columns


def _none_mask(values: np.ndarray) -> np.ndarray:
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return np.array([value is None for value in values], dtype=bool)


def _checked_times(values: np.ndarray, problems: list[FieldProblem]) -> np.ndarray:
    try:
        times = values.astype("datetime64[s]")
    except (TypeError, ValueError):
        bad = next(i for i, value in enumerate(values) if not _is_time(value))
        problems.append(FieldProblem("times", "not a date or time", bad))
        return np.zeros(len(values), dtype="datetime64[s]")
    if np.isnat(times).any():
        problems.append(FieldProblem("times", "missing", int(np.flatnonzero(np.isnat(times))[0])))
    return times


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_time(value: Any) -> bool:
    try:
        np.datetime64(value, "s")
    except (TypeError, ValueError):
        return False
    return value is not None
