"""BG/NBD repeat-purchase model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way").

While active, a customer buys at a Poisson rate lambda (gamma distributed across customers, shape r and rate
alpha); after each purchase it drops out with probability p (beta distributed, a and b). Chosen as the default
purchase model because its likelihood is in closed form (elementary functions and log-gammas), so a fit on
tens of thousands of customers takes milliseconds, and it reproduces the published CDNOW parameters, which
the tests check. Formulas are those of the paper (log-likelihood, E[X(t)], conditional expectation) and of
Fader, Hardie & Lee's note "Computing P(alive) Using the BG/NBD Model"; the hypergeometric function in the
expectations is evaluated after Euler's transformation (see `_growth`), whose series converges fast for any
frequency."""

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


@dataclass(frozen=True)
class BgNbdParams:
    """r, alpha: gamma prior of the purchase rate (mean r / alpha purchases per time unit);
    a, b: beta prior of the drop-out probability after a purchase (mean a / (a + b))."""

    r: float
    alpha: float
    a: float
    b: float


MAX_LOG_AB = 9.0


class BetaGeometricNbd:
    """BG/NBD estimator: `fit(frequency, recency, T)` by maximum likelihood, then forecasts per customer.

    `penalizer` adds `penalizer * (r^2 + alpha^2 + a^2 + b^2)` to the mean negative log-likelihood, with
    alpha measured in the time scale used while fitting (the longest age is 10), as `lifetimes` does;
    0 (the default) is plain maximum likelihood."""

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-10, max_iterations: int = 1000) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iterations = max_iterations

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> BetaGeometricNbd:
        """Maximise the log-likelihood with L-BFGS-B over the log-parameters, with its exact gradient."""
        (x, t_x, age), counts, (x_rows, t_rows, age_rows), row_weights, scale = fit_rows(frequency, recency, T, weights)
        objective = _NegativeLogLikelihood(x_rows, t_rows, age_rows, row_weights, self.penalizer)
        # a and b are capped (at e^9, about 8,100): when dropping out hardly varies between customers the
        # likelihood only pins a / (a + b), the fit drifts towards infinity along it, and the forecast's
        # hypergeometric series overflows there; the cap changes the fit's likelihood by a rounding error
        result = fit_log_parameters(objective, np.zeros(4), self.max_iterations, self.tol,
                                    upper=(30.0, 30.0, MAX_LOG_AB, MAX_LOG_AB))  # fmt: skip
        r, alpha, a, b = np.exp(result.x)
        self.params_ = BgNbdParams(r=float(r), alpha=float(alpha / scale), a=float(a), b=float(b))
        self.log_likelihood_ = float(_dot(counts, self.log_likelihood(x, t_x, age)))
        self.n_iterations_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Each customer's log-likelihood under the fitted parameters (FHL 2005)."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        return _log_likelihood(params.r, params.alpha, params.a, params.b, x, t_x, age)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active at T | history). 1 for a customer without repeat purchases: under BG/NBD a customer
        can only drop out right after a purchase."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        return _probability_alive(params, x, t_x, age)

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """E[purchases in the next t time units | frequency, recency, T] (FHL 2005)."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        horizon = horizon_array(t)
        r, alpha, a, b = params.r, params.alpha, params.a, params.b
        z = horizon / (alpha + age + horizon)
        return _growth(r, a, b, x, z) * _probability_alive(params, x, t_x, age)

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)]: repeat purchases in the first t time units of a customer who has just made a first
        purchase (FHL 2005); the same as `expected_purchases(t, 0, 0, 0)`."""
        return self.expected_purchases(t, 0.0, 0.0, 0.0)


def _probability_alive(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds_dead = np.log(a / (b + np.maximum(x, 1.0) - 1.0)) + (r + x) * np.log((alpha + age) / (alpha + t_x))
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def _growth(r: float, a: float, b: float, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(a+b+x-1)/(a-1) * [1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)], the expected purchases of a customer
    known to be active, with z = t / (alpha + T + t).

    Euler's transformation turns the bracket into 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): the
    parameters of the series no longer grow with x, so it converges in a few terms and never overflows for
    heavy buyers. Within 5e-4 of a = 1, where the factor tends to 0/0, the average of its values at
    a = 1 -+ 1e-3 is used (it is smooth in a, so the error is about 1e-6 relative)."""
    if abs(a - 1.0) < 5e-4:
        return 0.5 * (_growth(r, 1.0 - 1e-3, b, x, z) + _growth(r, 1.0 + 1e-3, b, x, z))
    c = a + b + x - 1.0
    series = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return c / (a - 1.0) * (1.0 - np.exp((a - 1.0) * np.log1p(-z)) * series)


def _log_likelihood(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, age: np.ndarray
) -> np.ndarray:
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        survived = -(r + x) * np.log(alpha + age)
        dropped = np.where(
            repeat, np.log(a) - np.log(b + x - 1.0) - (r + x) * np.log(alpha + t_x), -np.inf
        )  # fmt: skip
    return (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        + np.logaddexp(survived, dropped)
    )  # fmt: skip


class _NegativeLogLikelihood:
    """Mean negative log-likelihood of distinct (x, t_x, T) rows with weights, and its gradient in the
    log-parameters. Everything that depends on x alone (log-gammas, digammas) is computed once per distinct
    frequency, and the logarithms once per distinct t_x and T: each evaluation then costs a few passes over
    the rows."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, weights: np.ndarray, penalizer: float):
        self.frequencies, self.x_index = np.unique(x, return_inverse=True)
        self.recencies, self.t_index = np.unique(t_x, return_inverse=True)
        self.ages, self.age_index = np.unique(age, return_inverse=True)
        self.x = x
        self.repeat = x > 0
        self.weights = weights
        self.total = weights.sum()
        self.weight_of_frequency = np.bincount(self.x_index, weights=weights)
        self.penalizer = penalizer

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params = np.exp(log_params)
        xs, wx = self.frequencies, self.weight_of_frequency
        repeat_frequencies = xs > 0
        inverse_b_x_1 = np.divide(1.0, b + xs - 1.0, out=np.zeros_like(xs), where=repeat_frequencies)
        log_b_x_1 = np.log(np.where(repeat_frequencies, b + xs - 1.0, 1.0))

        log_alpha_age = np.log(alpha + self.ages)[self.age_index]
        log_alpha_t = np.log(alpha + self.recencies)[self.t_index]
        r_x = r + self.x
        survived = -r_x * log_alpha_age
        dropped = np.where(self.repeat, np.log(a) - log_b_x_1[self.x_index] - r_x * log_alpha_t, -np.inf)
        combined = np.logaddexp(survived, dropped)
        share_dropped = np.exp(dropped - combined)  # the weight of the "dropped out at t_x" branch
        share_survived = 1.0 - share_dropped
        w = self.weights

        per_frequency = (
            gammaln(r + xs) - gammaln(r) + r * np.log(alpha)
            + gammaln(a + b) + gammaln(b + xs) - gammaln(b) - gammaln(a + b + xs)
        )  # fmt: skip
        log_likelihood = _dot(wx, per_frequency) + _dot(w, combined)

        inverse_alpha_age = (1.0 / (alpha + self.ages))[self.age_index]
        inverse_alpha_t = (1.0 / (alpha + self.recencies))[self.t_index]
        psi_ab_x = digamma(a + b + xs)
        gradient = np.array([
            _dot(wx, digamma(r + xs) - digamma(r) + np.log(alpha))
            - _dot(w, share_survived * log_alpha_age + share_dropped * log_alpha_t),
            self.total * r / alpha
            - _dot(w, r_x * (share_survived * inverse_alpha_age + share_dropped * inverse_alpha_t)),
            _dot(wx, digamma(a + b) - psi_ab_x) + _dot(w, share_dropped) / a,
            _dot(wx, digamma(a + b) + digamma(b + xs) - digamma(b) - psi_ab_x)
            - _dot(w, share_dropped * inverse_b_x_1[self.x_index]),
        ])  # fmt: skip
        value = -log_likelihood / self.total + self.penalizer * _dot(params, params)
        gradient = (-gradient / self.total + 2.0 * self.penalizer * params) * params
        return float(value), gradient


def _dot(left: np.ndarray, right: np.ndarray) -> float:
    """A weighted sum without BLAS: numpy's and scipy's OpenBLAS each keep worker threads that spin after a
    call, and alternating between them (the optimiser is scipy's) made a 20 ms fit take a second on a busy
    2-core machine. (`single_threaded_blas` guards the optimiser's own calls.)"""
    return float(np.sum(left * right))
