"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves for Customer Base
Analysis"; Fader & Hardie's note "The Gamma-Gamma Model of Monetary Value", 2013), and customer lifetime value.

Each purchase's value is gamma distributed (shape p, scale 1/nu) around a customer's own mean, and nu varies
across customers (gamma: shape q, rate gamma). A customer's expected spend per purchase is then a weighted
average of the population mean p*gamma/(q-1) and the customer's own mean, the weight of its own growing with
its number of repeat purchases. It assumes spend does not depend on how often a customer buys, which is why
it is a separate model, multiplied with a purchase model's forecast to give lifetime value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import (
    PurchaseModel,
    customer_arrays,
    fit_log_parameters,
    fit_weights,
    fitted,
)

# Time units per month, the values `lifetimes` uses for its monthly discounting.
PERIODS_PER_MONTH: dict[str, float] = {"days": 30.0, "weeks": 4.345}


@dataclass(frozen=True)
class GammaGammaParams:
    """p: shape of a purchase's value around the customer's mean; q, gamma: shape and rate of the
    customers' nu. The population's mean spend per purchase is p * gamma / (q - 1) (for q > 1)."""

    p: float
    q: float
    gamma: float


class GammaGamma:
    """Gamma-Gamma estimator: `fit(frequency, mean_value)` on the customers with repeat purchases, then the
    expected spend per future purchase of any customer, and its lifetime value with a purchase model.

    `mean_value` is the mean value of a customer's repeat purchases (`CustomerSummary.mean_value`).
    `penalizer` adds `penalizer * (p^2 + q^2 + gamma^2)` to the mean negative log-likelihood."""

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-12, max_iterations: int = 1000) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iterations = max_iterations

    def fit(self, frequency: ArrayLike, mean_value: ArrayLike, weights: ArrayLike | None = None) -> GammaGamma:
        """Maximum likelihood (L-BFGS-B on the log-parameters, exact gradient) over the customers with at
        least one repeat purchase and a positive mean value; the others carry no information on spend and are
        left out, so a whole summary can be passed."""
        x, values = _spend_arrays(frequency, mean_value)
        x, values = x.ravel(), values.ravel()
        counts = fit_weights(weights, len(x))
        usable = (x > 0) & (values > 0) & (counts > 0)
        if not usable.any():
            raise InvalidInput(
                "No customer with repeat purchases of a positive value to fit spend on.",
                [FieldProblem("frequency", "no customer with frequency > 0 and mean_value > 0")],
            )
        objective = _NegativeLogLikelihood(x[usable], values[usable], counts[usable], self.penalizer)
        start = np.log([1.0, 2.0, float(np.median(values[usable]))])
        result = fit_log_parameters(objective, start, self.max_iterations, self.tol)
        p, q, gamma = np.exp(result.x)
        self.params_ = GammaGammaParams(p=float(p), q=float(q), gamma=float(gamma))
        self.log_likelihood_ = -float(objective(result.x)[0] - objective.penalty(result.x)) * objective.total
        self.n_customers_ = int(usable.sum())
        self.n_iterations_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    @property
    def population_mean_value(self) -> float:
        """The expected spend per purchase of a customer the model knows nothing about: p*gamma/(q-1), or
        infinity when q <= 1 (the fitted spread of spend is then too wide for a mean to exist)."""
        params = fitted(self)
        return params.p * params.gamma / (params.q - 1.0) if params.q > 1.0 else float("inf")

    def expected_mean_value(self, frequency: ArrayLike, mean_value: ArrayLike) -> np.ndarray:
        """E[spend per purchase | frequency, mean_value] (FHL 2005 "RFM and CLV"):
        (p*gamma + p*x*m) / (p*x + q - 1). A customer without repeat purchases gets the population mean."""
        params = fitted(self)
        x, values = _spend_arrays(frequency, mean_value)
        p, q, gamma = params.p, params.q, params.gamma
        with np.errstate(divide="ignore", invalid="ignore"):
            shrunk = (p * gamma + p * x * values) / (p * x + q - 1.0)
        return np.where(x > 0, shrunk, self.population_mean_value)

    def customer_value(
        self,
        purchase_model: PurchaseModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        mean_value: ArrayLike,
        horizon_months: int = 12,
        discount_rate: float = 0.01,
        unit: Literal["days", "weeks"] = "weeks",
    ) -> np.ndarray:
        """Customer lifetime value over `horizon_months`: each month's expected purchases (from the fitted
        `purchase_model`, whose time unit is `unit`) times the expected spend per purchase, discounted at
        `discount_rate` per month and summed, as `lifetimes.GammaGammaFitter.customer_lifetime_value` does
        (a month is 4.345 weeks or 30 days). Spend is revenue unless `mean_value` is a margin.

        A customer with no orders (frequency 0, recency 0, T 0) is valued as one making its first purchase
        now: the repeat purchases a new customer makes, at the population's mean spend."""
        if horizon_months < 0 or discount_rate <= -1.0 or unit not in PERIODS_PER_MONTH:
            raise InvalidInput("Invalid lifetime value settings.", [
                FieldProblem("horizon_months", "not negative"), FieldProblem("discount_rate", "above -1"),
                FieldProblem("unit", "days or weeks")])  # fmt: skip
        spend = self.expected_mean_value(frequency, mean_value)
        x, t_x, age = customer_arrays(frequency, recency, T)
        months = np.arange(1, int(horizon_months) + 1, dtype=np.float64)
        periods = months * PERIODS_PER_MONTH[unit]
        cumulative = purchase_model.expected_purchases(
            periods.reshape((-1,) + (1,) * x.ndim), x[np.newaxis], t_x[np.newaxis], age[np.newaxis]
        )
        per_month = np.diff(cumulative, axis=0, prepend=0.0)
        discount = (1.0 + discount_rate) ** -months
        return spend * np.tensordot(discount, per_month, axes=(0, 0))


def _spend_arrays(frequency: ArrayLike, mean_value: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, values = np.broadcast_arrays(np.asarray(frequency, dtype=np.float64), np.asarray(mean_value, dtype=np.float64))
    problems = [FieldProblem(name, "negative, NaN or infinite") for name, array in (("frequency", x),
                ("mean_value", values)) if not np.isfinite(array).all() or (array < 0).any()]  # fmt: skip
    if problems:
        raise InvalidInput("Invalid spend summary.", problems)
    return x, values


class _NegativeLogLikelihood:
    """Mean negative log-likelihood of (x, mean value) with weights, and its gradient in the log-parameters.
    It is the density of a mean of x gamma values, with the terms that do not depend on the parameters kept,
    so the value is the true log-likelihood of the mean values."""

    def __init__(self, x: np.ndarray, values: np.ndarray, weights: np.ndarray, penalizer: float) -> None:
        self.x, self.values, self.weights, self.penalizer = x, values, weights, penalizer
        self.total = float(weights.sum())
        self.log_values, self.log_x = np.log(values), np.log(x)
        self.x_values = x * values

    def penalty(self, log_params: np.ndarray) -> float:
        params = np.exp(log_params)
        return self.penalizer * float(np.sum(params * params))

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = params = np.exp(log_params)
        x, w = self.x, self.weights
        px = p * x
        log_gamma_xm = np.log(gamma + self.x_values)
        log_likelihood = (
            gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
            + (px - 1.0) * self.log_values + px * self.log_x - (px + q) * log_gamma_xm
        )  # fmt: skip
        psi_pxq = digamma(px + q)
        gradient = np.array([
            np.sum(w * x * (psi_pxq - digamma(px) + self.log_values + self.log_x - log_gamma_xm)),
            np.sum(w * (psi_pxq - digamma(q) + np.log(gamma) - log_gamma_xm)),
            np.sum(w * (q / gamma - (px + q) / (gamma + self.x_values))),
        ])  # fmt: skip
        value = -float(np.sum(w * log_likelihood)) / self.total + self.penalizer * float(np.sum(params * params))
        gradient = (-gradient / self.total + 2.0 * self.penalizer * params) * params
        return value, gradient
