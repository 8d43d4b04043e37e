"""Churn: the probability that a customer with a purchase history makes no purchase in the next H days.

Two ways, for two situations:

- **From the purchase model** (`probability_no_purchase`), which needs no labels: BG/NBD's probability of no
  purchase in the next t time units given the history. P(alive) alone is a poor churn score under BG/NBD,
  since a customer can only drop out right after a purchase, so every customer without a repeat purchase is
  certainly "alive" however long it has been silent; the probability of no purchase in the horizon also
  counts a live customer's slow rate.
- **Supervised** (`SupervisedChurn`), when there is enough history to label: `Propensity` trained on
  `customer_features` at an earlier cutoff with the label "no purchase in the H days after it", then applied
  at a later cutoff. It can use the rhythm and trend of the purchases, which the purchase model ignores."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import ArrayLike

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import ModelNotFitted, customer_arrays, fitted, horizon_array
from afinidad.predict.bgnbd import BetaGeometricNbd
from afinidad.predict.features import customer_features, lapsed_labels
from afinidad.predict.propensity import Propensity, PropensityExplanation
from afinidad.predict.transactions import Transactions, _day


def probability_no_purchase(
    model: BetaGeometricNbd, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> np.ndarray:
    """P(X(T, T+t) = 0 | frequency, recency, T) under a fitted BG/NBD model (times in its unit).

    A customer buys nothing in the next t either because it has dropped out, or because it is alive and its
    Poisson clock does not ring in t (under BG/NBD it can only drop out right after a purchase, so an alive
    customer without a purchase stays alive). Given the history and alive, its purchase rate is
    gamma(r + x, alpha + T) (the "alive" term of the likelihood, lambda^x e^(-lambda T) (1-p)^x, factorises),
    and E[e^(-lambda t)] under that gamma is ((alpha + T) / (alpha + T + t))^(r + x). Hence

        P(X = 0) = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t))^(r + x).

    For a customer without repeat purchases (P(alive) = 1) this is ((alpha + T) / (alpha + T + t))^r; the
    tests check the formula against customers simulated from the model."""
    params = fitted(model)
    x, t_x, age = customer_arrays(frequency, recency, T)
    horizon = horizon_array(t)
    alive = model.probability_alive(x, t_x, age)
    silent_while_alive = np.exp((params.r + x) * (np.log(params.alpha + age) - np.log(params.alpha + age + horizon)))
    return 1.0 - alive + alive * silent_while_alive


def default_churn_propensity() -> Propensity:
    """The trees `SupervisedChurn` uses unless given others (why: in its docstring)."""
    return Propensity(num_leaves=7, min_child_samples=50, learning_rate=0.02)


@dataclass(frozen=True)
class ChurnScores:
    """Per customer (ordered by label), the probability of no purchase in the `horizon_days` after `at`."""

    customer_ids: np.ndarray
    probability: np.ndarray
    at: np.datetime64
    horizon_days: int

    def __len__(self) -> int:
        return len(self.customer_ids)


class SupervisedChurn:
    """A learned churn model: `fit(transactions, cutoff)` builds `customer_features` at `cutoff`, labels each
    customer with `lapsed_labels` over the `horizon_days` after it and fits a copy of `propensity`
    (`default_churn_propensity()` if None); `predict_proba(transactions, at)` scores every customer known at
    `at` from its history up to `at`. Train at a cutoff whose horizon has ended, score at the present: the
    model never sees the period it forecasts.

    The default trees are smaller and slower-learning than `Propensity`'s (7 leaves, 50 customers a leaf,
    learning rate 0.02), since churn is learned from a few thousand customers, not tens of thousands of rows:
    chosen by a backtest inside Online Retail's calibration period (trained at 2011-03-12, checked on the
    lapses after 2011-06-10), where they reached AUC 0.752 against 0.739 with `Propensity`'s defaults.

    Learned: `model_` (the fitted Propensity), `cutoff_`, `n_customers_` and `lapsed_rate_` (the share of
    training customers who lapsed)."""

    def __init__(
        self, horizon_days: int = 90, trend_window_days: int = 90, propensity: Propensity | None = None
    ) -> None:
        self.horizon_days = horizon_days
        self.trend_window_days = trend_window_days
        self.propensity = propensity

    def fit(self, transactions: Transactions, cutoff: date | str | np.datetime64) -> SupervisedChurn:
        """Orders after cutoff + horizon_days are not read; the transactions must reach that day."""
        cutoff_day = _day(cutoff, "cutoff")
        dates = np.asarray(transactions.dates, dtype="datetime64[D]")
        if not len(dates) or dates.max() <= cutoff_day:
            raise InvalidInput(
                "No orders after the cutoff to label lapses with.",
                [FieldProblem("cutoff", "on or after the last order: train at an earlier cutoff")],
            )
        features = customer_features(transactions, cutoff_day, self.trend_window_days)
        labels = lapsed_labels(transactions, features.customer_ids, cutoff_day, self.horizon_days)
        model = copy.deepcopy(self.propensity) if self.propensity is not None else default_churn_propensity()
        self.model_ = model.fit(features.columns, labels)
        self.cutoff_ = cutoff_day
        self.n_customers_ = len(features)
        self.lapsed_rate_ = float(labels.mean())
        return self

    def predict_proba(self, transactions: Transactions, at: date | str | np.datetime64) -> ChurnScores:
        """Every customer who bought by `at`, scored from its orders up to `at` (later ones are ignored)."""
        model = self._fitted()
        features = customer_features(transactions, at, self.trend_window_days)
        return ChurnScores(features.customer_ids, model.predict_proba(features.columns), features.cutoff,
                           self.horizon_days)  # fmt: skip

    def explain(
        self, transactions: Transactions, at: date | str | np.datetime64, customer_id: str, max_factors: int = 5
    ) -> PropensityExplanation:
        """The main factors behind one customer's churn score at `at`."""
        model = self._fitted()
        features = customer_features(transactions, at, self.trend_window_days)
        position = np.flatnonzero(features.customer_ids == str(customer_id))
        if len(position) == 0:
            raise InvalidInput(f"Customer {customer_id!r} has no order by {features.cutoff}.",
                               [FieldProblem("customer_id", "no order by the date")])  # fmt: skip
        row = {name: values[position[0]] for name, values in features.columns.items()}
        return model.explain(row, max_factors)

    def _fitted(self) -> Propensity:
        model = getattr(self, "model_", None)
        if model is None:
            raise ModelNotFitted("SupervisedChurn is not fitted: call fit() first.")
        return model
