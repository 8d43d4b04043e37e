"""Per-unit metric values: only what followed a unit's first exposure counts (within the metric's window and
before the experiment stopped), the pre-period becomes the CUPED covariate, ratios keep their denominators,
and property filters and odd property values behave."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from afinidad.decide.experiments import Metric, check_experiment, check_metric
from afinidad.decide.outcomes import Exposure, Happened, first_exposures, metric_values, number
from afinidad.errors import InvalidInput

T0 = datetime(2026, 3, 1, 12)
UNITS = {"ann": Exposure("a", T0), "bob": Exposure("b", T0 + timedelta(days=1))}
EVENTS = [
    Happened("ann", "Order Completed", T0 - timedelta(days=2), {"revenue": 10}),  # before: the covariate
    Happened("ann", "Order Completed", T0 - timedelta(days=30), {"revenue": 99}),  # before the pre-period
    Happened("ann", "Order Completed", T0 + timedelta(hours=1), {"revenue": "25.5", "coupon": "X"}),
    Happened("ann", "Order Completed", T0 + timedelta(days=9), {"revenue": 4}),  # outside a 7-day window
    Happened("bob", "Order Completed", T0, {"revenue": 50}),  # before bob's exposure: pre-period
    Happened("bob", "Order Completed", T0 + timedelta(days=2), {"revenue": True}),  # a bool is not money
    Happened("bob", "Product Viewed", T0 + timedelta(days=2), {}),
    Happened("bob", "Product Viewed", T0 + timedelta(days=3), {}),
    Happened("eve", "Order Completed", T0 + timedelta(days=2), {"revenue": 1000}),  # not in the experiment
    Happened("bob", "Order Completed", T0 + timedelta(days=40), {"revenue": 7}),  # after it stopped
]
UNTIL = T0 + timedelta(days=20)


def _metric(**fields: object) -> Metric:
    return check_metric({"name": "m", "event": "Order Completed", **fields})


def test_conversion_counts_once_after_exposure_and_the_pre_period_is_the_covariate() -> None:
    values = metric_values(_metric(), UNITS, EVENTS, UNTIL, cuped_days=14)
    assert values.values.tolist() == [1.0, 1.0] and values.covariate.tolist() == [1.0, 1.0]
    assert values.denominators is None
    assert metric_values(_metric(), UNITS, EVENTS, UNTIL).covariate is None  # CUPED off


def test_revenue_sums_numbers_within_the_window_and_ignores_what_is_not_money() -> None:
    values = metric_values(_metric(kind="revenue"), UNITS, EVENTS, UNTIL, cuped_days=14)
    assert values.values.tolist() == [29.5, 0.0] and values.covariate.tolist() == [10.0, 50.0]
    windowed = metric_values(_metric(kind="revenue", window_days=7), UNITS, EVENTS, UNTIL)
    assert windowed.values.tolist() == [25.5, 0.0]
    coupons = metric_values(_metric(kind="revenue", where={"coupon": "X"}), UNITS, EVENTS, UNTIL)
    assert coupons.values.tolist() == [25.5, 0.0]
    assert [number(v) for v in ("3", "x", None, float("inf"), False, 2)] == [3.0, 0.0, 0.0, 0.0, 0.0, 2.0]


def test_ratio_and_count_metrics() -> None:
    views = metric_values(_metric(kind="count", event="Product Viewed"), UNITS, EVENTS, UNTIL)
    assert views.values.tolist() == [0.0, 2.0]
    per_view = metric_values(_metric(kind="ratio", denominator_event="Product Viewed"), UNITS, EVENTS, UNTIL)
    assert per_view.values.tolist() == [2.0, 1.0] and per_view.denominators.tolist() == [0.0, 2.0]
    assert per_view.covariate is None


def test_first_exposure_wins_and_switchers_are_counted() -> None:
    units, switched = first_exposures([("ann", "b", T0 + timedelta(hours=2)), ("ann", "a", T0), ("bob", "a", T0),
                                       ("bob", "a", T0 + timedelta(days=1))])  # fmt: skip
    assert units == {"ann": Exposure("a", T0), "bob": Exposure("a", T0)} and switched == 1


@pytest.mark.parametrize(
    "metric, field",
    [({"kind": "ratio"}, "metric"), ({"kind": "count", "property": "revenue"}, "metric"),
     ({"kind": "sum"}, "metric.kind"), ({"window_days": 0}, "metric.window_days"),
     ({"denominator_event": "X"}, "metric")],
)  # fmt: skip
def test_bad_metrics_name_their_field(metric: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_metric({"name": "m", "event": "E", **metric})
    assert refused.value.problems[0].field == field


def test_an_experiment_defaults_its_control_and_revenue_property() -> None:
    experiment = check_experiment({"key": "k", "variants": [{"id": "x", "weight": 100 / 3}, {"id": "y", "weight":
                                   100 / 3}, {"id": "z", "weight": 100 / 3}], "metrics": [{"name": "r", "kind":
                                   "revenue", "event": "Order Completed"}]})  # fmt: skip
    assert experiment.control == "x" and experiment.metrics[0].property == "revenue"
    assert np.isclose(sum(experiment.weights.values()), 100)
