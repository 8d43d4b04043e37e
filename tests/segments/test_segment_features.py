"""Behavioural features per customer: a small shop worked out by hand (two channels, a category, a Saturday,
a night order, a customer who never ordered), Online Retail's figures, and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.segments import CustomerFeatures, OrderLines, customer_features

LINES: list[dict[str, Any]] = [
    # Saturday 2 March 2024, morning, on mobile: 2 x decor at 10 and 1 uncategorised at 5.
    {"customer": "ana", "order": "o1", "time": "2024-03-02T10:00:00", "product": "vase", "category": "decor",
     "quantity": 2, "unit_price": 10.0, "channel": "mobile"},
    {"customer": "ana", "order": "o1", "time": "2024-03-02T10:00:00", "product": "card", "category": None,
     "quantity": 1, "unit_price": 5.0, "channel": "mobile"},
    # Monday 4 March, evening, on the web: one more vase.
    {"customer": "ana", "order": "o2", "time": "2024-03-04T19:30:00", "product": "vase", "category": "decor",
     "quantity": 1, "unit_price": 10.0, "channel": "web"},
    # Tuesday 5 March, at night, channel unknown: toys.
    {"customer": "ben", "order": "o3", "time": "2024-03-05T23:30:00", "product": "kite", "category": "toys",
     "quantity": 3, "unit_price": 2.0, "channel": None},
]  # fmt: skip


@pytest.fixture(scope="module")
def shop() -> CustomerFeatures:
    return customer_features(OrderLines.from_records(LINES), customers=["carla"])


def feature(features: CustomerFeatures, customer: str, name: str) -> float:
    return float(features.column(name)[features.customer_ids.tolist().index(customer)])


def test_small_shop_by_hand(shop: CustomerFeatures) -> None:
    assert shop.customer_ids.tolist() == ["ana", "ben", "carla"]
    assert shop.as_of == np.datetime64("2024-03-05T23:30:00")  # the last line
    expected_ana = {
        "orders": 2, "spend": 35.0, "basket_value": 17.5, "basket_items": 1.5, "unit_price": 35.0 / 4,
        "recency_days": 1 + 4 / 24, "tenure_days": 3 + 13.5 / 24, "days_between_orders": 2 + 9.5 / 24,
        "weekend_share": 0.5, "daypart_share:morning": 0.5, "daypart_share:evening": 0.5,
        "daypart_share:night": 0.0, "category_share:decor": 30 / 35, "category_share:toys": 0.0,
        "channel_share:mobile": 0.5, "channel_share:web": 0.5,
    }  # fmt: skip
    for name, value in expected_ana.items():
        assert feature(shop, "ana", name) == pytest.approx(value), name
    # One order, just now: the gap so far is 0 days; the night order; no known channel.
    assert feature(shop, "ben", "days_between_orders") == 0.0
    assert feature(shop, "ben", "daypart_share:night") == 1.0
    assert feature(shop, "ben", "category_share:toys") == 1.0
    assert feature(shop, "ben", "channel_share:mobile") == feature(shop, "ben", "channel_share:web") == 0.0
    # Listed without orders: a defined row, no behaviour.
    assert feature(shop, "carla", "orders") == 0 and feature(shop, "carla", "spend") == 0
    assert np.isnan(feature(shop, "carla", "recency_days"))
    assert shop.has_orders.tolist() == [True, True, False]
    assert dict(zip(shop.names, shop.kinds, strict=True))["spend"] == "money"


def test_as_of_leaves_later_lines_out_and_caps_columns() -> None:
    lines = OrderLines.from_records(LINES)
    early = customer_features(lines, as_of="2024-03-03T00:00:00", max_categories=1, max_channels=1)
    assert early.customer_ids.tolist() == ["ana"]
    assert feature(early, "ana", "orders") == 1
    assert [name for name in early.names if ":" in name and not name.startswith("daypart")] == [
        "category_share:decor", "channel_share:mobile",
    ]  # fmt: skip


def test_without_category_or_channel_there_are_no_such_columns() -> None:
    bare = [{key: value for key, value in line.items() if key not in ("category", "channel", "order")}
            for line in LINES]  # fmt: skip
    features = customer_features(OrderLines.from_records(bare))
    assert not [name for name in features.names if name.startswith(("category_share", "channel_share"))]
    assert feature(features, "ana", "orders") == 2  # one order per customer and time without order ids


def test_online_retail_features(retail_features: CustomerFeatures) -> None:
    assert len(retail_features) == 4_339
    assert retail_features.column("orders").sum() == 18_536  # invoices of known customers, no cancellations
    assert retail_features.column("spend").sum() == pytest.approx(8_911_407.904, abs=0.01)
    assert retail_features.as_of == np.datetime64("2011-12-09T12:50:00")
    # The shop trades on Sundays but not Saturdays, and not at night.
    assert 0.1 < retail_features.column("weekend_share").mean() < 0.2
    assert retail_features.column("daypart_share:night").max() == 0
    assert np.isfinite(retail_features.values).all()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": -1}, "quantities"),
        ({"quantity": 0}, "quantities"),
        ({"unit_price": -0.5}, "unit_prices"),
        ({"unit_price": "cheap"}, "unit_prices"),
        ({"time": "yesterday"}, "times"),
        ({"customer": ""}, "customers"),
        ({"product": None}, "product"),
    ],
)
def test_bad_lines_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        customer_features(OrderLines.from_records([LINES[0], {**LINES[1], **change}]))
    problem = raised.value.problems[0]
    assert (problem.field, problem.index) == (field, 1)


def test_empty_and_misshapen_input() -> None:
    with pytest.raises(InvalidInput) as raised:
        customer_features(OrderLines.from_records([]))
    assert raised.value.problems[0].field == "lines"
    with pytest.raises(InvalidInput) as raised:
        OrderLines(np.array(["a", "b"]), np.array(["2024-01-01"] * 2), np.array(["p"] * 2), np.array([1.0]),
                   np.array([1.0, 1.0]))  # fmt: skip
    assert raised.value.problems[0].field == "quantities"
    with pytest.raises(InvalidInput) as raised:
        customer_features(OrderLines.from_records(LINES), as_of="2020-01-01")
    assert raised.value.problems[0].field == "as_of"
