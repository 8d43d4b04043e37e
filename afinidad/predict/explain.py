"""Why a model expects what it does of one customer, as data a console or a message can show.

Both purchase models forecast purchases as P(still a customer) x (purchases of an active customer), and the
second depends on the customer's history only through its estimated purchase rate, (r + x) / (alpha + T):
the prior's r purchases in alpha time units plus the customer's own x in T. So the two factors with effects
are the rate against a typical new customer's (r / alpha), driven by the number of repeat purchases over the
customer's age, and the probability of still being a customer, driven by the time since the last purchase.
The age is reported as context."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from afinidad.predict._base import PurchaseModel, customer_arrays, fitted
from afinidad.predict.transactions import TimeUnit

FactorName = Literal["repeat_purchases", "time_since_last_purchase", "customer_age"]
Effect = Literal["raises", "lowers", "neutral"]


@dataclass(frozen=True)
class Factor:
    """One reason: its `value` in `unit`, whether it raises or lowers the forecast, and by what factor
    (`multiplier`: 3.9 means the forecast is 3.9 times what it would be without this reason; 1.0 for
    context), with a sentence saying so."""

    name: FactorName
    value: float
    unit: str
    effect: Effect
    multiplier: float
    text: str


@dataclass(frozen=True)
class PurchaseExplanation:
    """A customer's forecast over `horizon` and the factors behind it, the strongest first."""

    expected_purchases: float
    horizon: float
    unit: TimeUnit
    probability_alive: float
    purchase_rate: float  # purchases per unit while still a customer
    typical_purchase_rate: float  # a new customer's, r / alpha
    new_customer_expected_purchases: float
    factors: tuple[Factor, ...]

    @property
    def text(self) -> str:
        return "; ".join(factor.text for factor in self.factors)


def explain_purchases(
    model: PurchaseModel, frequency: float, recency: float, T: float, horizon: float, unit: TimeUnit = "weeks"
) -> PurchaseExplanation:
    """Explain `model.expected_purchases(horizon, frequency, recency, T)` for one customer (times in
    `unit`, the unit the model was fitted in; "ago" means before the end of the customer's history, T)."""
    params = fitted(model)
    x_array, t_array, age_array = customer_arrays(frequency, recency, T)
    x, t_x, age = float(x_array), float(t_array), float(age_array)
    expected = float(model.expected_purchases(horizon, x, t_x, age))
    alive = float(model.probability_alive(x, t_x, age))
    rate = (params.r + x) / (params.alpha + age)
    typical = params.r / params.alpha
    rate_ratio = rate / typical
    singular = unit.removesuffix("s")

    if age == 0:
        history = Factor("repeat_purchases", 0.0, "purchases", "neutral", 1.0,
                         "no purchase history yet: forecast as a typical new customer")  # fmt: skip
    else:
        purchases = "no repeat purchase" if x == 0 else f"{_count(x)} repeat purchase{'s' if x != 1 else ''}"
        history = Factor(
            "repeat_purchases", x, "purchases", _effect(rate_ratio), rate_ratio,
            f"{purchases} in {_count(age)} {_plural(age, unit)}: about {rate:.2g} a {singular} while a customer, "
            f"{rate_ratio:.2g} times a typical new customer's {typical:.2g}",
        )  # fmt: skip
    since = age - t_x
    if x > 0:
        since_text = f"last purchase {_count(since)} {_plural(since, unit)} ago"
    elif age > 0:
        since_text = f"no purchase since the first, {_count(age)} {_plural(age, unit)} ago"
    else:
        since_text = "no time to drop out yet"
    silence = Factor("time_since_last_purchase", since, unit, _effect(alive), alive,
                     f"{since_text}: {alive:.0%} likely still a customer")  # fmt: skip
    age_text = f"customer for {_count(age)} {_plural(age, unit)}" if age > 0 else "new customer"
    context = Factor("customer_age", age, unit, "neutral", 1.0, age_text)
    ranked = sorted((history, silence), key=lambda factor: -abs(math.log(max(factor.multiplier, 1e-300))))
    return PurchaseExplanation(
        expected_purchases=expected,
        horizon=float(horizon),
        unit=unit,
        probability_alive=alive,
        purchase_rate=rate,
        typical_purchase_rate=typical,
        new_customer_expected_purchases=float(model.expected_purchases_new(horizon)),
        factors=(*ranked, context),
    )


def _effect(multiplier: float) -> Effect:
    if multiplier > 1.05:
        return "raises"
    if multiplier < 0.95:
        return "lowers"
    return "neutral"


def _count(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or float(np.round(value)) == value else f"{value:.1f}"


def _plural(value: float, unit: str) -> str:
    return unit.removesuffix("s") if _count(value) == "1" else unit
