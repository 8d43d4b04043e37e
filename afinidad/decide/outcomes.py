"""Per-unit metric values of an experiment, from the units' first exposures and the events they did. Pure:
the service reads exposures and events, this turns them into the arrays `stats.analyse` compares.

Only what happened after a unit's first exposure counts (and before the experiment stopped, or within the
metric's window); what the same unit did in the `cuped_days` before it is the CUPED covariate, which cannot
depend on the variant and so removes variance without bias."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from afinidad.decide.experiments import Metric


@dataclass(frozen=True)
class Exposure:
    variant: str
    at: datetime


@dataclass(frozen=True)
class Happened:
    """One event of a unit, as the metrics read it."""

    unit: str
    event: str
    at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class MetricValues:
    """One row per unit, in the order of `units`: the metric after exposure, the same before it (None without
    CUPED), and for a ratio metric the denominators (values are then the numerators)."""

    values: np.ndarray
    covariate: np.ndarray | None
    denominators: np.ndarray | None


def number(value: Any) -> float:
    """A property as a number: numbers and numeric strings count, anything else (or a non-finite value) is 0."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return 0.0
    else:
        return 0.0
    return result if math.isfinite(result) else 0.0


def _matches(metric: Metric, event: Happened) -> bool:
    return event.event == metric.event and all(event.properties.get(k) == v for k, v in metric.where.items())


def _amount(metric: Metric, event: Happened) -> float:
    return 1.0 if metric.property is None else number(event.properties.get(metric.property))


def metric_values(
    metric: Metric,
    units: Mapping[str, Exposure],
    events: Iterable[Happened],
    until: datetime,
    cuped_days: float = 0.0,
) -> MetricValues:
    """`metric` for every unit in `units` (keyed by unit id) from `events` (any order, other units ignored)."""
    index = {unit: position for position, unit in enumerate(units)}
    after = np.zeros(len(index))
    before = np.zeros(len(index))
    denominators = np.zeros(len(index))
    window = timedelta(days=metric.window_days) if metric.window_days else None
    pre = timedelta(days=cuped_days)
    for event in events:
        position = index.get(event.unit)
        if position is None:
            continue
        exposed = units[event.unit].at
        end = min(until, exposed + window) if window else until
        if exposed <= event.at < end:
            if _matches(metric, event):
                after[position] += _amount(metric, event)
            if metric.kind == "ratio" and event.event == metric.denominator_event:
                denominators[position] += 1.0
        elif cuped_days and exposed - pre <= event.at < exposed and _matches(metric, event):
            before[position] += _amount(metric, event)
    if metric.kind == "conversion":
        after, before = np.minimum(after, 1.0), np.minimum(before, 1.0)
    if metric.kind == "ratio":
        return MetricValues(after, None, denominators)
    return MetricValues(after, before if cuped_days else None, None)


def first_exposures(exposures: Iterable[tuple[str, str, datetime]]) -> tuple[dict[str, Exposure], int]:
    """Each unit's first (variant, time) from (unit, variant, at) rows, and how many units were seen in more
    than one variant (they are analysed in their first one, as assigned; many of them mean assignment was
    not sticky, e.g. an anonymous visitor who was bucketed before being recognised)."""
    first: dict[str, Exposure] = {}
    variants: dict[str, set[str]] = {}
    for unit, variant, at in exposures:
        seen = first.get(unit)
        if seen is None or at < seen.at:
            first[unit] = Exposure(variant, at)
        variants.setdefault(unit, set()).add(variant)
    return first, sum(1 for names in variants.values() if len(names) > 1)
