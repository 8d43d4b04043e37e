"""BG/CNBD-k and MBG/CNBD-k repeat-purchase models (Platzer & Reutterer 2016, "Ticking Away the Moments:
Timing Regularity Helps to Better Predict Customer Activity", Marketing Science 35(5)).

BG/NBD (or MBG/NBD, with `dropout_at_zero`) with Erlang-k instead of exponential times between purchases:
a customer's next purchase comes after k exponential "phases" of rate lambda, so with k > 1 purchases come
regularly, and a silence much longer than the customer's usual interval says more surely that it has left.
k = 1 is BG/NBD (MBG/NBD) exactly. Kept because regularity is the one thing a frequency/recency model cannot
see, and whether a data set has it is decided by the likelihood: on CDNOW it picks k = 1 (no regularity; the
docs give the figures), so the model then forecasts as BG/NBD or MBG/NBD.

- Fitting needs, for choosing k, each customer's sum of log inter-purchase times (`log_interval_sum`, from
  `timing.timing_summary`): the likelihood has the factor exp((k-1) litt) / Gamma(k)^x. For a fixed k that
  factor is constant, so forecasts need only frequency, recency and T. k is searched upwards from 1 and the
  search stops at the first k whose likelihood is lower, as BTYDplus does.
- The likelihood (the paper's, in the form of BTYDplus's `xbgcnbd.LL`) is, with s = r + k x and
  D = T - t_x: the drop-out branch B(a+1, b+x-1+d)/B(a,b) (alpha+t_x)^-s, and the active branch
  B(a, b+x+d)/B(a,b) (alpha+T)^-s sum_{j<k} Gamma(s+j)/(Gamma(s) j!) (D/(alpha+T))^j, where d is 1 with
  drop-out at the first purchase. Term j is "j of the k phases of the next interval have passed by T".
- The forecasts are exact. Given active and j phases done, lambda is gamma(s + j, alpha + T) and p is
  beta(a, b + x + d); the phases in the next t are then negative binomial, and purchase n comes with phase
  n k - j: E = sum_n E[(1-p)^(n-1)] P(phases >= n k - j), the last factor a regularized incomplete beta
  function. (BTYDplus approximates this expectation; here the sum is taken until its terms vanish.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeResult
from scipy.special import betaln, gammaln, logsumexp

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import (
    customer_arrays,
    fit_log_parameters,
    fit_rows,
    fitted,
    horizon_array,
    unique_rows,
)

_CELLS_PER_CHUNK = 2_000_000  # forecast work is done on (customers x purchases) blocks of at most this size


@dataclass(frozen=True)
class CnbdParams:
    """k: Erlang order of the times between purchases (1: exponential); r, alpha: gamma prior of the phase
    rate lambda (a purchase every k phases, so r / (k alpha) purchases per time unit on average); a, b: beta
    prior of the drop-out probability at a purchase."""

    k: int
    r: float
    alpha: float
    a: float
    b: float


class CondensedNbd:
    """BG/CNBD-k (`dropout_at_zero=False`) or MBG/CNBD-k (`True`) estimator with the interface of
    `BetaGeometricNbd`. `k=None` estimates k from 1 to `max_k` (needs `log_interval_sum` in `fit`); an
    integer fixes it. Maximum likelihood by L-BFGS-B over the log-parameters with finite differences, times
    scaled so that the longest age is 10."""

    def __init__(
        self,
        k: int | None = None,
        dropout_at_zero: bool = False,
        max_k: int = 12,
        tol: float = 1e-12,
        max_iterations: int = 1000,
    ) -> None:
        self.k = k
        self.dropout_at_zero = dropout_at_zero
        self.max_k = max_k
        self.tol = tol
        self.max_iterations = max_iterations

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        log_interval_sum: ArrayLike | None = None,
        weights: ArrayLike | None = None,
    ) -> CondensedNbd:
        """Fit for the given k, or for k = 1, 2, ... until the likelihood falls. `log_likelihoods_` maps each
        k tried to its log-likelihood, which includes the timing factor when `log_interval_sum` is given
        (otherwise it is left out, being constant for a fixed k)."""
        if self.k is None and log_interval_sum is None:
            raise InvalidInput(
                "Estimating k needs each customer's sum of log inter-purchase times.",
                [FieldProblem("log_interval_sum", "required when k is None (see timing_summary)")],
            )
        if self.k is not None and (int(self.k) != self.k or self.k < 1):
            raise InvalidInput("k must be a positive integer.", [FieldProblem("k", "not a positive integer")])
        (x, t_x, age), counts, (x_rows, t_rows, age_rows), row_weights, scale = fit_rows(frequency, recency, T, weights)
        litt = None if log_interval_sum is None else _timing_array(log_interval_sum, x.shape)
        orders = [int(self.k)] if self.k is not None else range(1, self.max_k + 1)
        self.log_likelihoods_: dict[int, float] = {}
        best: tuple[float, CnbdParams, OptimizeResult] | None = None
        for k in orders:
            objective = _NegativeLogLikelihood(k, self.dropout_at_zero, x_rows, t_rows, age_rows, row_weights)
            result = fit_log_parameters(objective, np.zeros(4), self.max_iterations, self.tol, gradient=False)
            r, alpha, a, b = np.exp(result.x)
            params = CnbdParams(k=k, r=float(r), alpha=float(alpha / scale), a=float(a), b=float(b))
            log_likelihood = float(np.sum(counts * _log_likelihood(params, self.dropout_at_zero, x, t_x, age, litt)))
            self.log_likelihoods_[k] = log_likelihood
            if best is not None and log_likelihood < best[0]:
                break
            best = (log_likelihood, params, result)
        assert best is not None
        self.log_likelihood_, self.params_, result = best[0], best[1], best[2]
        self.n_iterations_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    def log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, log_interval_sum: ArrayLike | None = None
    ) -> np.ndarray:
        """Each customer's log-likelihood; with `log_interval_sum`, the density of its repeat purchase times
        (comparable with the other models' likelihoods), without it that density up to a factor constant in
        the parameters."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        litt = None if log_interval_sum is None else _timing_array(log_interval_sum, x.shape)
        return _log_likelihood(params, self.dropout_at_zero, x, t_x, age, litt)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active at T | history). 1 for a customer without repeat purchases under BG/CNBD-k; under
        MBG/CNBD-k below 1, b / (a + b) for a customer whose first purchase is now."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        alive, _ = _posterior(params, self.dropout_at_zero, x, t_x, age)
        return alive

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """E[purchases in the next t time units | frequency, recency, T], exact (see the module)."""
        params = fitted(self)
        x, t_x, age = customer_arrays(frequency, recency, T)
        horizon = horizon_array(t)
        horizon, x, t_x, age = np.broadcast_arrays(horizon, x, t_x, age)
        shape = x.shape
        horizon, x, t_x, age = (values.ravel() for values in (horizon, x, t_x, age))
        alive, phases = _posterior(params, self.dropout_at_zero, x, t_x, age)
        (x_rows, age_rows, horizon_rows), _, row_of = unique_rows((x, age, horizon), np.ones(len(x)))
        if_alive = _expected_if_alive(params, self.dropout_at_zero, x_rows, age_rows, horizon_rows)[row_of]
        return (alive * np.sum(phases * if_alive, axis=1)).reshape(shape)

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)] for a customer who has just made a first purchase: `expected_purchases(t, 0, 0, 0)`."""
        return self.expected_purchases(t, 0.0, 0.0, 0.0)


def _timing_array(log_interval_sum: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    try:
        values = np.broadcast_to(np.asarray(log_interval_sum, dtype=np.float64), shape)
    except ValueError:
        raise InvalidInput(
            "log_interval_sum does not match the customers.", [FieldProblem("log_interval_sum", "wrong length")]
        ) from None
    if not np.isfinite(values).all():
        raise InvalidInput("Invalid log_interval_sum.", [FieldProblem("log_interval_sum", "NaN or infinite")])
    return values


def _log_branches(
    params: CnbdParams, dropout_at_zero: bool, x: np.ndarray, t_x: np.ndarray, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The log of the active branch's k terms (shape (..., k)) and of the drop-out branch, without the
    factors common to both (alpha^r Gamma(s)/Gamma(r), 1/B(a, b), the timing factor)."""
    k, r, alpha, a, b = params.k, params.r, params.alpha, params.a, params.b
    d = 1.0 if dropout_at_zero else 0.0
    s = r + k * x
    j = np.arange(k, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_share = np.log((age - t_x) / (alpha + age))[..., None]
        phase_terms = np.where(
            j == 0, 0.0, gammaln(s[..., None] + j) - gammaln(s)[..., None] - gammaln(j + 1.0) + j * log_share
        )
        can_drop = (x > 0) | dropout_at_zero
        dropped = np.where(
            can_drop, betaln(a + 1.0, np.where(can_drop, b + x - 1.0 + d, 1.0)) - s * np.log(alpha + t_x), -np.inf
        )
    active = (betaln(a, b + x + d) - s * np.log(alpha + age))[..., None] + phase_terms
    return active, dropped


def _log_likelihood(
    params: CnbdParams,
    dropout_at_zero: bool,
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    litt: np.ndarray | None,
) -> np.ndarray:
    k, r, alpha, a, b = params.k, params.r, params.alpha, params.a, params.b
    active, dropped = _log_branches(params, dropout_at_zero, x, t_x, age)
    s = r + k * x
    log_likelihood = (
        gammaln(s) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        + np.logaddexp(logsumexp(active, axis=-1), dropped)
    )  # fmt: skip
    if litt is not None:
        log_likelihood = log_likelihood + (k - 1) * litt - x * gammaln(k)
    return log_likelihood


def _posterior(
    params: CnbdParams, dropout_at_zero: bool, x: np.ndarray, t_x: np.ndarray, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P(active at T) and, given active, the probabilities of j = 0 .. k-1 phases of the next interval
    having passed (shape (..., k))."""
    active, dropped = _log_branches(params, dropout_at_zero, x, t_x, age)
    log_active = logsumexp(active, axis=-1)
    alive = np.exp(log_active - np.logaddexp(log_active, dropped))
    return alive, np.exp(active - log_active[..., None])


def _expected_if_alive(
    params: CnbdParams, dropout_at_zero: bool, x: np.ndarray, age: np.ndarray, horizon: np.ndarray
) -> np.ndarray:
    """E[purchases in the next `horizon` | active at T, j phases done] for j = 0 .. k-1 (shape (n, k)).

    With N the phases in the horizon (negative binomial: shape s + j, success probability
    z = t / (alpha + T + t)) and M = floor((j + N) / k) the purchases they complete, it is
    E[g(M)], g(M) = sum_{n=1..M} E[(1-p)^(n-1)] = sum_{n=1..M} B(a, b'+n-1) / B(a, b'), b' = b + x + d:
    a sum of positive terms, taken to 12 standard deviations past the mean of N. (The same as summing
    E[(1-p)^(n-1)] P(N >= n k - j), the form in the module docstring, but with log-gammas instead of
    incomplete beta functions: ten times faster.) Rows are done in blocks sorted by how many terms they need."""
    k, r, alpha, a, b = params.k, params.r, params.alpha, params.a, params.b
    d = 1.0 if dropout_at_zero else 0.0
    s = r + k * x
    z = horizon / (alpha + age + horizon)
    mean_phases = (s + k) * z / (1.0 - z)
    phases_needed = np.ceil(mean_phases + 12.0 * np.sqrt(mean_phases / (1.0 - z)) + 10.0).astype(np.int64)
    result = np.zeros((len(x), k))
    order = np.argsort(phases_needed, kind="stable")
    needs = phases_needed[order]
    start = 0
    while start < len(order):
        stop = min(len(order), start + max(1, _CELLS_PER_CHUNK // int(needs[start])))
        while stop - start > 1 and (stop - start) * needs[stop - 1] > _CELLS_PER_CHUNK:
            stop = start + max(1, _CELLS_PER_CHUNK // int(needs[stop - 1]))
        rows = order[start:stop]
        phases = np.arange(int(needs[stop - 1]) + 1, dtype=np.float64)
        purchases = np.arange(1, len(phases) // k + 2, dtype=np.float64)
        b_alive = (b + x[rows] + d)[:, None]
        survive = np.exp(betaln(a, b_alive + purchases - 1.0) - betaln(a, b_alive))  # E[(1-p)^(n-1)]
        counted = np.concatenate([np.zeros((len(rows), 1)), np.cumsum(survive, axis=1)], axis=1)  # g(M)
        with np.errstate(divide="ignore"):
            log_z, log_1_z = np.log(z[rows])[:, None], np.log1p(-z[rows])[:, None]
        log_factorial = gammaln(phases + 1.0)
        for done in range(k):
            shape = (s[rows] + done)[:, None]
            with np.errstate(invalid="ignore"):
                log_pmf = (
                    gammaln(shape + phases) - gammaln(shape) - log_factorial + shape * log_1_z
                    + np.where(phases > 0, phases * log_z, 0.0)
                )  # fmt: skip
            completed = ((done + phases) // k).astype(np.int64)
            result[rows, done] = np.sum(np.exp(log_pmf) * counted[:, completed], axis=1)
        start = stop
    return result


class _NegativeLogLikelihood:
    """Mean negative log-likelihood of distinct (x, t_x, T) rows with weights, for a fixed k (the timing
    factor, constant in the parameters, left out)."""

    def __init__(
        self, k: int, dropout_at_zero: bool, x: np.ndarray, t_x: np.ndarray, age: np.ndarray, weights: np.ndarray
    ):
        self.k, self.dropout_at_zero = k, dropout_at_zero
        self.x, self.t_x, self.age, self.weights, self.total = x, t_x, age, weights, weights.sum()

    def __call__(self, log_params: np.ndarray) -> float:
        r, alpha, a, b = np.exp(log_params)
        params = CnbdParams(k=self.k, r=r, alpha=alpha, a=a, b=b)
        with np.errstate(over="ignore", invalid="ignore"):
            values = _log_likelihood(params, self.dropout_at_zero, self.x, self.t_x, self.age, None)
        value = -float(np.sum(self.weights * values)) / self.total
        return value if np.isfinite(value) else 1e300
