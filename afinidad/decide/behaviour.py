"""What a person had done before a moment, as the numbers an uplift model reads: how much, how recently and
how long they have been around. Pure: event rows in, a matrix out; the same function serves training (as of
each unit's exposure, so nothing the campaign caused leaks in) and scoring (as of now).

Everyone gets a row, a person with no history too (counts 0, recencies at the horizon), so that the model
can say what to do with someone new. Recencies are in whole days, so that a person asked about minutes after
the exposures the model learned from looks the same as then."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np

from afinidad.decide.outcomes import Happened, number

HORIZON_DAYS = 365.0  # history read, and the recency of "never"
ORDER = "Order Completed"
VIEW = "Product Viewed"
FEATURES: tuple[str, ...] = ("events", "orders", "revenue", "product_views", "days_since_last_event",
                             "days_since_last_order", "days_since_first_event", "active_days")  # fmt: skip


def behaviour(units: Sequence[str], as_of: Mapping[str, datetime], events: Iterable[Happened]) -> np.ndarray:
    """One row per unit (in `units` order) of `FEATURES`, from its events strictly before `as_of[unit]` and
    within `HORIZON_DAYS` of it."""
    index = {unit: i for i, unit in enumerate(units)}
    matrix = np.zeros((len(units), len(FEATURES)))
    matrix[:, 4:7] = HORIZON_DAYS
    days: list[set] = [set() for _ in units]
    for event in events:
        i = index.get(event.unit)
        if i is None:
            continue
        age = (as_of[event.unit] - event.at).total_seconds() / 86_400
        if not 0 < age <= HORIZON_DAYS:
            continue
        row = matrix[i]
        row[0] += 1
        if event.event == ORDER:
            row[1] += 1
            row[2] += number(event.properties.get("revenue"))
            row[5] = min(row[5], age)
        elif event.event == VIEW:
            row[3] += 1
        row[4] = min(row[4], age)
        row[6] = max(row[6], age) if row[0] > 1 else age
        days[i].add(event.at.date())
    matrix[:, 7] = [len(d) for d in days]
    # whole days: a model must not split on the minutes between an exposure and a later question
    matrix[:, 4:7] = np.floor(matrix[:, 4:7])
    return matrix
