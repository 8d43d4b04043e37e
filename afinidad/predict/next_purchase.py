"""When someone will buy next, and what: the "when" from the fitted BG/NBD, the "what" from the categories
they bought, weighted towards recent orders and shrunk towards what everyone buys.

- **When:** while a customer is active, purchases arrive at a gamma-distributed rate; given x repeat
  purchases by age T, the chance of no purchase in the next t is ((alpha + T) / (alpha + T + t))^(r + x)
  (the posterior gamma's Laplace transform). Its median, t = (alpha + T)(2^(1/(r + x)) - 1), is the expected
  date if they are still a customer, and P(alive) says how likely that is.
- **What:** each category's share of the person's order lines, each line weighted by 0.5^(age / half-life),
  plus `prior_weight` pseudo-lines spread as the whole shop's shares: a one-order customer leans on the
  shop's habits, a regular one on their own.

Pure: arrays in, numbers out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from afinidad.predict.bgnbd import BgNbdParams


def purchase_timing(
    params: BgNbdParams, frequency: np.ndarray, T: np.ndarray, alive: np.ndarray, within: float
) -> tuple[np.ndarray, np.ndarray]:
    """(median time to the next purchase if still a customer, P(a purchase within `within`)), in the
    model's time unit."""
    x, age = np.asarray(frequency, dtype=np.float64), np.asarray(T, dtype=np.float64)
    shape, scale = params.r + x, params.alpha + age
    median = scale * np.expm1(np.log(2.0) / shape)
    none_within = np.exp(shape * (np.log(scale) - np.log(scale + within)))
    return median, np.asarray(alive) * (1.0 - none_within)


@dataclass(frozen=True)
class Likely:
    category: str
    probability: float


class CategoryAffinity:
    """Most likely categories of the next order (an estimator: `fit` returns self)."""

    def __init__(self, half_life_days: float = 90.0, prior_weight: float = 2.0) -> None:
        self.half_life_days = half_life_days
        self.prior_weight = prior_weight

    def fit(self, customers: np.ndarray, categories: np.ndarray, days: np.ndarray, as_of: np.datetime64,
            shares: dict[str, float] | None = None) -> CategoryAffinity:  # fmt: skip
        """One entry per order line: who, which category (None/"" unknown: skipped), which day. The shop's
        shares come from these lines, or from `shares` (kept with a model version, so that explaining one
        person needs only their own lines)."""
        known = np.array([bool(c) for c in categories], dtype=bool)
        customers, categories = np.asarray(customers)[known].astype(str), np.asarray(categories)[known].astype(str)
        age = (np.datetime64(as_of, "D") - np.asarray(days, dtype="datetime64[D]")[known]).astype(np.float64)
        weight = np.power(0.5, np.maximum(age, 0.0) / self.half_life_days)
        self.categories_ = np.unique(np.concatenate([categories, np.array(sorted(shares or {}), dtype=str)]))
        code = {name: position for position, name in enumerate(self.categories_)}
        if shares is not None:
            counts = np.array([float(shares.get(str(name), 0.0)) for name in self.categories_])
        else:
            counts = np.bincount([code[c] for c in categories], minlength=len(self.categories_)).astype(np.float64)
        self.shares_ = counts / counts.sum() if counts.sum() else counts
        self.weights_: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(self.categories_)))
        for customer, category, w in zip(customers, categories, weight, strict=True):
            self.weights_[customer][code[category]] += w
        self.weights_ = dict(self.weights_)
        return self

    def probabilities(self, customer: str) -> np.ndarray:
        own = self.weights_.get(str(customer), np.zeros(len(self.categories_)))
        blended = own + self.prior_weight * self.shares_
        total = blended.sum()
        return blended / total if total else blended

    def top(self, customer: str, k: int = 3) -> list[Likely]:
        probabilities = self.probabilities(customer)
        order = np.lexsort((self.categories_, -probabilities))[:k]
        return [Likely(str(self.categories_[i]), round(float(probabilities[i]), 4)) for i in order]


def top_k_hit_rate(model: CategoryAffinity, next_categories: dict[str, set[str]], k: int = 3) -> tuple[float, float]:
    """Share of customers whose later orders include one of their top-k categories, beside the share for
    the shop's k most common categories (the baseline)."""
    if not next_categories:
        return 0.0, 0.0
    popular = {str(c) for c in model.categories_[np.argsort(-model.shares_, kind="stable")[:k]]}
    mine = sum(bool({likely.category for likely in model.top(customer, k)} & bought)
               for customer, bought in next_categories.items())  # fmt: skip
    base = sum(bool(popular & bought) for bought in next_categories.values())
    return mine / len(next_categories), base / len(next_categories)
