"""Dynamic prices under guardrails: how demand answers price (elasticity, from the shop's own price and
sales history), the price that maximises revenue or margin, and the guardrails the business sets, which
always win over the model.

- **Elasticity** per product: the slope of log weekly units on log weekly price, with product and week
  effects removed (so a sale in a busy week is not mistaken for price sensitivity), shrunk towards its
  category's slope by how uncertain it is (a product with five price points borrows from its category; one
  with fifty speaks for itself). A slope is kept within [-6, -0.1]: demand that rises with price is noise in
  this model's eyes, not a licence to raise prices without end.
- **The best price** under constant elasticity e: margin is highest at cost * e / (1 + e) when e < -1;
  revenue alone has no interior optimum (it moves monotonically with price), so the guardrails decide.
- **Guardrails**, each recorded when it binds, softest first so that the harder one has the last word when
  two conflict: maximum change per day from the current price, the competitor ceiling (never more than X%
  above a competitor's price), the ceiling, then the floor and the minimum margin over cost, which no other
  rule can undercut. Prices vary by product, time, stock and demand only: nothing here takes a person.

Pure: arrays and numbers in, proposals out; `afinidad.decide` services keep them for approval."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput

Objective = Literal["revenue", "margin"]
ELASTICITY_BOUNDS = (-6.0, -0.1)


@dataclass(frozen=True)
class Guardrails:
    """What the business allows. Money is in the product's currency; shares are fractions (0.05 = 5%)."""

    floor: float | None = None
    ceiling: float | None = None
    min_margin: float | None = None  # over cost: price >= cost * (1 + min_margin)
    max_change_per_day: float | None = 0.1  # |new - current| / current, per day since the last change
    max_above_competitor: float | None = None  # price <= competitor * (1 + this)
    require_approval: bool = True

    def check(self) -> None:
        problems = []
        for name in ("floor", "ceiling"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value <= 0):
                problems.append(FieldProblem(name, "must be a positive amount"))
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            problems.append(FieldProblem("floor", "must not be above the ceiling"))
        for name in ("min_margin", "max_change_per_day", "max_above_competitor"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0 or value > 10):
                problems.append(FieldProblem(name, "must be a share between 0 and 10"))
        if problems:
            raise InvalidInput("Invalid pricing guardrails; nothing was changed.", problems)


@dataclass(frozen=True)
class Proposal:
    """A price for one product, why, and what it is expected to do."""

    product_id: str
    current_price: float
    price: float
    model_price: float  # what the model alone would set
    elasticity: float
    expected_units_change: float  # (price / current) ^ elasticity - 1
    expected_revenue_change: float
    expected_margin_change: float | None
    binding: tuple[str, ...] = field(default_factory=tuple)  # guardrails that moved the price
    status: Literal["proposed", "approved"] = "proposed"

    @property
    def reason(self) -> str:
        moved = self.price - self.current_price
        direction = "lower" if moved < 0 else "higher" if moved > 0 else "unchanged"
        text = (f"Demand elasticity {self.elasticity:.2f}: a {direction} price "
                f"({self.current_price:.2f} -> {self.price:.2f}) is expected to change units by "
                f"{self.expected_units_change:+.1%} and revenue by {self.expected_revenue_change:+.1%}")  # fmt: skip
        if self.binding:
            text += f"; held by the guardrails: {', '.join(self.binding)}"
        return text


def weekly_panel(products: np.ndarray, weeks: np.ndarray, units: np.ndarray, revenue: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Order lines -> one row per (product, week): units and the average price paid (revenue / units)."""
    keys, inverse = np.unique(np.stack([products.astype(str), weeks.astype(str)]), axis=1, return_inverse=True)
    inverse = inverse.ravel()
    total_units = np.bincount(inverse, weights=units)
    total_revenue = np.bincount(inverse, weights=revenue)
    kept = (total_units > 0) & (total_revenue > 0)
    return keys[0][kept], keys[1][kept], total_units[kept], total_revenue[kept] / total_units[kept]


@dataclass(frozen=True)
class Elasticity:
    product_id: str
    value: float
    own: float | None  # the product's own slope, before shrinking (None: too few price points)
    standard_error: float | None
    weeks: int


class ElasticityModel:
    """Log-log elasticities per product, shrunk towards the category (an estimator: `fit` returns self)."""

    def __init__(self, min_weeks: int = 8, min_price_points: int = 3, prior_strength: float = 0.25) -> None:
        self.min_weeks = min_weeks
        self.min_price_points = min_price_points
        self.prior_strength = prior_strength  # the category prior's variance (its slope's spread across products)

    def fit(self, products: np.ndarray, weeks: np.ndarray, units: np.ndarray, prices: np.ndarray,
            categories: dict[str, str] | None = None) -> ElasticityModel:  # fmt: skip
        if len(products) == 0:
            raise InvalidInput("No sales to learn from.", [FieldProblem("products", "empty")])
        if (np.asarray(units) <= 0).any() or (np.asarray(prices) <= 0).any():
            raise InvalidInput("Units and prices must be positive.", [FieldProblem("prices", "not positive")])
        log_q, log_p = np.log(units), np.log(prices)
        # remove week effects (seasonality, promotions across the shop) by demeaning within each week
        week_codes = np.unique(weeks, return_inverse=True)[1].ravel()
        log_q = log_q - (np.bincount(week_codes, weights=log_q) / np.bincount(week_codes))[week_codes]
        log_p = log_p - (np.bincount(week_codes, weights=log_p) / np.bincount(week_codes))[week_codes]
        own: dict[str, tuple[float, float, int]] = {}
        for product in np.unique(products):
            rows = products == product
            x, y = log_p[rows], log_q[rows]
            if rows.sum() < self.min_weeks or len(np.unique(np.round(prices[rows], 2))) < self.min_price_points:
                continue
            x_centered = x - x.mean()
            spread = float(np.sum(x_centered**2))
            if spread <= 1e-8:
                continue
            slope = float(np.sum(x_centered * (y - y.mean())) / spread)
            residual = y - y.mean() - slope * x_centered
            variance = float(np.sum(residual**2) / max(len(x) - 2, 1)) / spread
            own[str(product)] = (slope, math.sqrt(variance), int(rows.sum()))
        groups = categories or {}
        slopes_by_group: dict[str, list[float]] = {}
        for product, (slope, _, _) in own.items():
            slopes_by_group.setdefault(groups.get(product, ""), []).append(slope)
        overall = float(np.median([s for s, _, _ in own.values()])) if own else -1.5
        self.category_prior_ = {group: float(np.median(values)) for group, values in slopes_by_group.items()}
        self.overall_prior_ = float(np.clip(overall, *ELASTICITY_BOUNDS))
        self.elasticities_: dict[str, Elasticity] = {}
        counts = dict(zip(*np.unique(products, return_counts=True), strict=True))
        for product in np.unique(products):
            product = str(product)
            prior = self.category_prior_.get(groups.get(product, ""), self.overall_prior_)
            if product in own:
                slope, error, n = own[product]
                weight = self.prior_strength / (self.prior_strength + error**2)  # precision weighting
                value = weight * slope + (1 - weight) * prior
                found = Elasticity(product, float(np.clip(value, *ELASTICITY_BOUNDS)), slope, error, n)
            else:
                found = Elasticity(product, float(np.clip(prior, *ELASTICITY_BOUNDS)), None, None,
                                   int(counts[product]))  # fmt: skip
            self.elasticities_[product] = found
        return self

    def of(self, product_id: str) -> Elasticity:
        found = self.elasticities_.get(product_id)
        if found is None:
            return Elasticity(product_id, self.overall_prior_, None, None, 0)
        return found


def propose(
    product_id: str,
    current_price: float,
    elasticity: float,
    guardrails: Guardrails,
    *,
    cost: float | None = None,
    competitor_price: float | None = None,
    days_since_change: float = 1.0,
    objective: Objective = "margin",
) -> Proposal:
    """The price for one product: the model's best, then every guardrail in order (see the module)."""
    guardrails.check()
    problems = []
    if not math.isfinite(current_price) or current_price <= 0:
        problems.append(FieldProblem("current_price", "must be a positive amount"))
    if cost is not None and (not math.isfinite(cost) or cost < 0):
        problems.append(FieldProblem("cost", "must not be negative"))
    if competitor_price is not None and (not math.isfinite(competitor_price) or competitor_price <= 0):
        problems.append(FieldProblem("competitor_price", "must be a positive amount"))
    if objective == "margin" and cost is None:
        objective = "revenue"  # without a cost there is no margin to maximise
    if problems:
        raise InvalidInput("Invalid pricing input; nothing was changed.", problems)
    e = float(np.clip(elasticity, *ELASTICITY_BOUNDS))
    if objective == "margin" and cost is not None and e < -1:
        model_price = cost * e / (1 + e)
    elif e < -1:  # revenue falls as price rises: as low as the guardrails allow
        model_price = 0.0
    else:  # inelastic: revenue rises with price; the guardrails stop it
        model_price = math.inf
    price, binding = model_price, []

    def bound(value: float | None, name: str, upper: bool) -> None:
        nonlocal price
        if value is None:
            return
        if (upper and price > value) or (not upper and price < value):
            price = value
            binding.append(name)

    # softest first, hardest last, so that a harder limit always has the final word when two conflict
    if guardrails.max_change_per_day is not None:
        step = guardrails.max_change_per_day * max(days_since_change, 0.0)
        bound(current_price * (1 + step), "maximum change per day", upper=True)
        bound(current_price * (1 - step), "maximum change per day", upper=False)
    if competitor_price is not None and guardrails.max_above_competitor is not None:
        bound(competitor_price * (1 + guardrails.max_above_competitor), "competitor", upper=True)
    bound(guardrails.ceiling, "ceiling", upper=True)
    if not math.isfinite(price):
        price = current_price  # nothing bounded an inelastic product from above: keep the price
        binding.append("no ceiling set")
    bound(guardrails.floor, "floor", upper=False)
    if cost is not None and guardrails.min_margin is not None:
        bound(cost * (1 + guardrails.min_margin), "minimum margin", upper=False)
    price = round(max(price, 0.01), 2)
    units = (price / current_price) ** e - 1
    revenue = (price / current_price) ** (1 + e) - 1
    margin = None
    if cost is not None and current_price > cost:
        margin = ((price - cost) * (price / current_price) ** e) / (current_price - cost) - 1
    return Proposal(product_id, current_price, price, model_price if math.isfinite(model_price) else math.inf, e,
                    units, revenue, margin, tuple(dict.fromkeys(binding)),
                    "proposed" if guardrails.require_approval else "approved")  # fmt: skip


def violations(price: float, reference_price: float, guardrails: Guardrails, *, cost: float | None = None,
               competitor_price: float | None = None) -> list[FieldProblem]:  # fmt: skip
    """Every guardrail a price set by a person (or approved later, when things moved) would break; empty when
    it is allowed. `reference_price` is the price a day ago, which the daily limit is measured from."""
    guardrails.check()
    if not math.isfinite(price) or price <= 0:
        return [FieldProblem("price", "must be a positive amount")]
    found = []
    if guardrails.floor is not None and price < guardrails.floor - 1e-9:
        found.append(FieldProblem("price", f"below the floor of {guardrails.floor:.2f}"))
    if guardrails.ceiling is not None and price > guardrails.ceiling + 1e-9:
        found.append(FieldProblem("price", f"above the ceiling of {guardrails.ceiling:.2f}"))
    margin = guardrails.min_margin
    if cost is not None and margin is not None and price < cost * (1 + margin) - 1e-9:
        found.append(FieldProblem("price", f"under the minimum margin: at least {cost * (1 + margin):.2f} "
                                  f"({margin:.0%} over the cost)"))  # fmt: skip
    if competitor_price is not None and guardrails.max_above_competitor is not None:
        limit = competitor_price * (1 + guardrails.max_above_competitor)
        if price > limit + 1e-9:
            above = guardrails.max_above_competitor
            found.append(FieldProblem("price", f"more than {above:.0%} above the competitor's "
                                      f"{competitor_price:.2f} (at most {limit:.2f})"))  # fmt: skip
    if guardrails.max_change_per_day is not None and reference_price > 0:
        change = abs(price - reference_price) / reference_price
        if change > guardrails.max_change_per_day + 1e-9:
            most = guardrails.max_change_per_day
            found.append(FieldProblem("price", f"a {change:.0%} change in a day; at most {most:.0%} "
                                      f"from {reference_price:.2f}"))  # fmt: skip
    return found


@dataclass(frozen=True)
class Backtest:
    """What the rule would have done over a period, estimated with the elasticities: units follow
    (rule price / price paid) ^ elasticity from what really sold. A model's counterfactual, not a measurement:
    it is only as right as the elasticities."""

    product_weeks: int
    actual_revenue: float
    rule_revenue: float
    changed_share: float  # share of product-weeks where the rule set another price
    binding: dict[str, int]  # how often each guardrail held the price


def backtest(products: np.ndarray, weeks: np.ndarray, units: np.ndarray, prices: np.ndarray, model: ElasticityModel,
             guardrails: Guardrails, costs: dict[str, float] | None = None) -> Backtest:  # fmt: skip
    """Replay a weekly panel: each week the rule starts from the price paid the week before (a week's
    worth of the daily change limit) and proposes; revenue is estimated as in `Backtest`."""
    order = np.lexsort((weeks, products))
    products, weeks, units, prices = products[order], weeks[order], units[order], prices[order]
    actual = rule = 0.0
    changed, counted = 0, 0
    binding: dict[str, int] = {}
    for i in range(1, len(products)):
        if products[i] != products[i - 1]:
            continue
        product = str(products[i])
        e = model.of(product).value
        cost = (costs or {}).get(product)
        proposal = propose(product, float(prices[i - 1]), e, guardrails, cost=cost, days_since_change=7.0,
                           objective="margin" if cost is not None else "revenue")  # fmt: skip
        sold = units[i] * (proposal.price / prices[i]) ** e
        actual += float(units[i] * prices[i])
        rule += float(sold * proposal.price)
        counted += 1
        changed += proposal.price != round(float(prices[i]), 2)
        for name in proposal.binding:
            binding[name] = binding.get(name, 0) + 1
    return Backtest(counted, actual, rule, changed / counted if counted else 0.0, binding)
