"""A purchase rate that trends with tenure, for any of the purchase models: the model's story runs in the
time tau = u^c, where u is the time since the customer's first purchase. A customer's purchase rate lambda
in tau is then lambda c u^(c-1) in real time: falling with tenure for c < 1 (a burst of buying after
acquisition that fades), rising for c > 1, constant for c = 1 (the base model itself). Under BG/NBD and
MBG/NBD drop-out happens at purchases, so only the purchase rate changes; under Pareto/NBD the lifetime is
exponential in tau, so its hazard trends too.

Why this form: BG/NBD and Pareto/NBD explain all of a cohort's decline by customers leaving; a trend lets the
data say how much of it is customers buying less while they stay. It keeps every formula of the base model
(its likelihood in tau, its forecasts at tau-horizons (T+t)^c - T^c) and adds one parameter, which is
estimated, never set: the likelihood of the repeat purchase times u_i is the base likelihood in tau times
the Jacobian prod c u_i^(c-1), so c needs each customer's sum of log u_i (`timing.timing_summary`'s
`log_tenure_sum`) and is found by maximising the profile likelihood over c (one base fit per trial c)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import customer_arrays, fitted, horizon_array
from afinidad.predict.bgnbd import BetaGeometricNbd


@dataclass(frozen=True)
class TenureTrendParams:
    """exponent: c, the purchase rate moves with tenure u as u^(c-1); base: the base model's parameters,
    with times in the transformed scale (alpha in weeks^c when the unit is weeks)."""

    exponent: float
    base: Any


class TenureTrend:
    """A purchase model with a tenure trend, with the interface of `BetaGeometricNbd`. `base` is an unfitted
    BG/NBD, MBG/NBD or Pareto/NBD (or any estimator with `fit(frequency, recency, T, weights=...)`,
    `log_likelihood_` and the forecasts); it is copied for each fit. `exponent=None` estimates c within
    `bounds` (needs `log_tenure_sum` in `fit`); a number fixes it."""

    def __init__(
        self,
        base: Any = None,
        exponent: float | None = None,
        bounds: tuple[float, float] = (0.3, 3.0),
        tol: float = 1e-5,
    ) -> None:
        self.base = base
        self.exponent = exponent
        self.bounds = bounds
        self.tol = tol

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        log_tenure_sum: ArrayLike | None = None,
        weights: ArrayLike | None = None,
    ) -> TenureTrend:
        """Fit the base model in the time u^c, for the given c or the c of the highest likelihood.
        `log_likelihood_` is the likelihood of the repeat purchase times in real time (comparable with the
        other models') when `log_tenure_sum` is given; without it the Jacobian's sum of log u is left out."""
        if self.exponent is None and log_tenure_sum is None:
            raise InvalidInput(
                "Estimating the tenure trend needs each customer's sum of log tenure at its repeat purchases.",
                [FieldProblem("log_tenure_sum", "required when exponent is None (see timing_summary)")],
            )
        x, t_x, age = customer_arrays(frequency, recency, T)
        x, t_x, age = x.ravel(), t_x.ravel(), age.ravel()
        counts = np.ones(len(x)) if weights is None else np.broadcast_to(np.asarray(weights, dtype=np.float64), x.shape)
        log_tenures = None if log_tenure_sum is None else _tenure_array(log_tenure_sum, x.shape)

        def fit_at(exponent: float) -> tuple[Any, float]:
            model = copy.deepcopy(self.base if self.base is not None else BetaGeometricNbd())
            model.fit(x, t_x**exponent, age**exponent, weights=weights)
            jacobian = np.sum(counts * x) * np.log(exponent)
            if log_tenures is not None:
                jacobian += (exponent - 1.0) * float(np.sum(counts * log_tenures))
            return model, float(model.log_likelihood_) + float(jacobian)

        if self.exponent is None:
            search = minimize_scalar(
                lambda exponent: -fit_at(exponent)[1], bounds=self.bounds, method="bounded",
                options={"xatol": self.tol},
            )  # fmt: skip
            exponent = float(search.x)
        else:
            exponent = float(self.exponent)
            if not np.isfinite(exponent) or exponent <= 0:
                raise InvalidInput("The tenure exponent must be positive.", [FieldProblem("exponent", "<= 0")])
        self.base_, self.log_likelihood_ = fit_at(exponent)
        self.params_ = TenureTrendParams(exponent=exponent, base=self.base_.params_)
        self.converged_ = bool(getattr(self.base_, "converged_", True))
        return self

    def log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, log_tenure_sum: ArrayLike | None = None
    ) -> np.ndarray:
        """Each customer's log-likelihood in real time (without `log_tenure_sum`, up to its (c-1) sum log u)."""
        params = fitted(self)
        c = params.exponent
        x, t_x, age = customer_arrays(frequency, recency, T)
        values = self.base_.log_likelihood(x, t_x**c, age**c) + x * np.log(c)
        if log_tenure_sum is not None:
            values = values + (c - 1.0) * _tenure_array(log_tenure_sum, x.shape)
        return values

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active at T | history): the base model's, in the transformed time."""
        c = fitted(self).exponent
        x, t_x, age = customer_arrays(frequency, recency, T)
        return self.base_.probability_alive(x, t_x**c, age**c)

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """E[purchases in the next t time units]: the base model's over the transformed span from T^c to
        (T+t)^c."""
        c = fitted(self).exponent
        x, t_x, age = customer_arrays(frequency, recency, T)
        horizon = horizon_array(t)
        return self.base_.expected_purchases((age + horizon) ** c - age**c, x, t_x**c, age**c)

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)] for a customer who has just made a first purchase: the base model's at t^c."""
        c = fitted(self).exponent
        return self.base_.expected_purchases_new(horizon_array(t) ** c)


def _tenure_array(log_tenure_sum: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    try:
        values = np.broadcast_to(np.asarray(log_tenure_sum, dtype=np.float64), shape)
    except ValueError:
        raise InvalidInput(
            "log_tenure_sum does not match the customers.", [FieldProblem("log_tenure_sum", "wrong length")]
        ) from None
    if not np.isfinite(values).all():
        raise InvalidInput("Invalid log_tenure_sum.", [FieldProblem("log_tenure_sum", "NaN or infinite")])
    return values
