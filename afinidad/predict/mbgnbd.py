"""MBG/NBD repeat-purchase model (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of
models for customer base analysis", IJRM 24(3); the same model as Hoppe & Wagner's 2007 CBG/NBD).

BG/NBD with one change: a customer may also drop out right after its first purchase, not only after a repeat
purchase. Under BG/NBD a customer without repeat purchases is certainly still active however long it has been
silent, so its whole forecast rests on the purchase rate; here its probability of being active falls with the
silence as for everyone else. Kept because on CDNOW it has the highest calibration likelihood of the
published models with four parameters, which is the rule that chose it (docs/predictions.md, "Beyond BG/NBD
on the full CDNOW").

The likelihood differs from BG/NBD's only in its beta-function terms, b + x instead of b + x - 1, and in the
drop-out branch existing for x = 0 too; the expectations are BG/NBD's with b + 1 (the drop-out probability of
an active customer who has survived x + 1 drop-out opportunities is beta(a, b + x + 1)). The formulas match
`lifetimes`' ModifiedBetaGeoFitter, which the docs compare."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, expit, gammaln, hyp2f1

from afinidad.predict._base import (
    customer_arrays,
    fit_log_parameters,
    fit_rows,
    fitted,
    horizon_array,
)
from afinidad.predict.bgnbd import _growth


@dataclass(frozen=True)
class MbgNbdParams:
    """r, alpha: gamma prior of the purchase rate; a, b: beta prior of the drop-out probability at each
    purchase, the first one included."""

    r: float
    alpha: float
    a: float
    b: float


class ModifiedBetaGeometricNbd:
    """MBG/NBD estimator with the interface of `BetaGeometricNbd` (maximum likelihood with the exact gradient,
    L-BFGS-B over the log-parameters, times scaled so that the longest age is 10; `penalizer` as there)."""

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-10, max_iterations: int = 1000) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iterations = max_iterations

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> ModifiedBetaGeometricNbd:
        (x, t_x, age), counts, (x_rows, t_rows, age_rows), row_weights, scale = fit_rows(frequency, recency, T, weights)
        objective = _NegativeLogLikelihood(x_rows, t_rows, age_rows, row_weights, self.penalizer)
        result = fit_log_parameters(objective, np.zeros(4), self.max_iterations, self.tol)
        r, alpha, a, b = np.exp(result.x)
        self.params_ = MbgNbdParams(r=float(r), alpha=float(alpha / scale), a=float(a), b=float(b))
        self.log_likelihood_ = float(np.sum(counts * self.log_likelihood(x, t_x, age)))
        self.n_iterations_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Each customer's log-likelihood: the density of its repeat purchase times, as for BG/NBD."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        return _log_likelihood(params.r, params.alpha, params.a, params.b, x, t_x, age)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active at T | history). Below 1 for a customer without repeat purchases too; b / (a + b)
        for a customer whose first purchase is now (T = 0), who may drop out right after it."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        return _probability_alive(params, x, t_x, age)

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """E[purchases in the next t time units | frequency, recency, T]: BG/NBD's expectation for an active
        customer with b + 1, times P(alive)."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        horizon = horizon_array(t)
        z = horizon / (params.alpha + age + horizon)
        return _growth(params.r, params.a, params.b + 1.0, x, z) * _probability_alive(params, x, t_x, age)

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))] for a customer who has
        just made a first purchase; the same as `expected_purchases(t, 0, 0, 0)`."""
        params = fitted(self)
        horizon = horizon_array(t)
        r, alpha, a, b = params.r, params.alpha, params.a, params.b
        if abs(a - 1.0) < 5e-4:  # 0/0 in the formula: as in `_growth`, the mean of a = 1 -+ 1e-3
            return self.expected_purchases(horizon, 0.0, 0.0, 0.0)
        z = horizon / (alpha + horizon)
        return b / (a - 1.0) * (1.0 - np.exp(r * np.log1p(-z)) * hyp2f1(r, b + 1.0, a + b, z))


def _probability_alive(params: MbgNbdParams, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds_dead = np.log(a / (b + x)) + (r + x) * np.log((alpha + age) / (alpha + t_x))
    return expit(-log_odds_dead)


def _log_likelihood(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, age: np.ndarray
) -> np.ndarray:
    survived = -(r + x) * np.log(alpha + age)
    dropped = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + x + 1.0) - gammaln(b) - gammaln(a + b + x + 1.0)
        + np.logaddexp(survived, dropped)
    )  # fmt: skip


class _NegativeLogLikelihood:
    """Mean negative log-likelihood of distinct (x, t_x, T) rows with weights and its gradient in the
    log-parameters, organised as BG/NBD's: terms of x alone once per distinct frequency."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, weights: np.ndarray, penalizer: float):
        self.frequencies, self.x_index = np.unique(x, return_inverse=True)
        self.recencies, self.t_index = np.unique(t_x, return_inverse=True)
        self.ages, self.age_index = np.unique(age, return_inverse=True)
        self.x = x
        self.weights = weights
        self.total = weights.sum()
        self.weight_of_frequency = np.bincount(self.x_index, weights=weights)
        self.penalizer = penalizer

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params = np.exp(log_params)
        xs, wx, w = self.frequencies, self.weight_of_frequency, self.weights
        log_alpha_age = np.log(alpha + self.ages)[self.age_index]
        log_alpha_t = np.log(alpha + self.recencies)[self.t_index]
        r_x = r + self.x
        survived = -r_x * log_alpha_age
        dropped = np.log(a) - np.log(b + xs)[self.x_index] - r_x * log_alpha_t
        combined = np.logaddexp(survived, dropped)
        share_dropped = np.exp(dropped - combined)
        share_survived = 1.0 - share_dropped

        per_frequency = (
            gammaln(r + xs) - gammaln(r) + r * np.log(alpha)
            + gammaln(a + b) + gammaln(b + xs + 1.0) - gammaln(b) - gammaln(a + b + xs + 1.0)
        )  # fmt: skip
        log_likelihood = float(np.sum(wx * per_frequency) + np.sum(w * combined))

        inverse_alpha_age = (1.0 / (alpha + self.ages))[self.age_index]
        inverse_alpha_t = (1.0 / (alpha + self.recencies))[self.t_index]
        psi_ab_x = digamma(a + b + xs + 1.0)
        gradient = np.array([
            np.sum(wx * (digamma(r + xs) - digamma(r) + np.log(alpha)))
            - np.sum(w * (share_survived * log_alpha_age + share_dropped * log_alpha_t)),
            self.total * r / alpha
            - np.sum(w * r_x * (share_survived * inverse_alpha_age + share_dropped * inverse_alpha_t)),
            np.sum(wx * (digamma(a + b) - psi_ab_x)) + np.sum(w * share_dropped) / a,
            np.sum(wx * (digamma(a + b) + digamma(b + xs + 1.0) - digamma(b) - psi_ab_x))
            - np.sum(w * share_dropped / (b + xs)[self.x_index]),
        ])  # fmt: skip
        value = -log_likelihood / self.total + self.penalizer * float(np.sum(params * params))
        gradient = (-gradient / self.total + 2.0 * self.penalizer * params) * params
        return float(value), gradient
