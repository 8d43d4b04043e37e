"""Always-valid inference for a difference in means, so people may look at an experiment whenever they like.

A fixed-horizon t-test is valid once, at the sample size planned in advance; looking every day and stopping at
the first p < 0.05 rejects far more often than 5% when nothing differs (the tests show about five times more at
50 looks). The mixture sequential probability ratio test of Johari, Koomen, Pekelis & Walsh (2017, "Peeking at
A/B tests") fixes this: the likelihood ratio of "the difference is theta" against "the difference is the null",
averaged over theta ~ N(null, tau^2), is a martingale under the null, so by Ville's inequality it exceeds 1/alpha
with probability at most alpha *ever*. Its inverse is an always-valid p-value and the set of differences it does
not reject is a confidence sequence: the normal-mixture boundary of Robbins (1970), in the form of Howard,
Ramdas, McAuliffe & Sekhon (2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences").

The statistics are Gaussian approximations: the difference of the arms' means, with variance
s_t^2 / n_t + s_c^2 / n_c from the observed (plug-in) variances, as in Johari et al.; the guarantee holds as the
central limit theorem does, which the A/A simulation in the tests checks from 100 units per arm on. The mixing
variance tau^2 chooses where the interval is narrowest; `tuned_mixing_variance` picks it for a planned size."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from afinidad.errors import FieldProblem, InvalidInput

# A variance of exactly zero (every unit identical so far) would divide by zero; any smaller positive number
# gives the right limits (no evidence when the difference equals the null, certainty when it does not).
_SMALLEST_VARIANCE = 1e-300


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidInput("alpha must lie strictly between 0 and 1.", [FieldProblem("alpha", "between 0 and 1")])


def _check_tau(tau_squared: float) -> None:
    if not (math.isfinite(tau_squared) and tau_squared > 0.0):
        raise InvalidInput("The mixing variance must be positive.", [FieldProblem("tau_squared", "must be > 0")])


def tuned_mixing_variance(unit_variance: float, units_per_arm: float, alpha: float = 0.05) -> float:
    """The tau^2 that makes the confidence sequence narrowest when each arm holds `units_per_arm` units whose
    metric has variance `unit_variance` (the variance of the difference is then V = 2 * unit_variance / n).

    Writing r = tau^2 / V, the squared half-width in standard errors is (1 + 1/r) (2 log(1/alpha) + log(1 + r)),
    minimal where r = 2 log(1/alpha) + log(1 + r) (about 8.2 for alpha = 0.05), a fixed point reached by
    iterating since the right side's slope is below 1. Choose the size where a decision is most likely to be
    made, e.g. the fixed-horizon sample size; the sequence stays valid at every other size, only wider."""
    _check_alpha(alpha)
    if not (unit_variance > 0 and units_per_arm > 0):
        raise InvalidInput("The unit variance and the planned units per arm must be positive.",
                           [FieldProblem("unit_variance", "must be > 0"),
                            FieldProblem("units_per_arm", "must be > 0")])  # fmt: skip
    threshold = 2.0 * math.log(1.0 / alpha)
    ratio = threshold
    for _ in range(200):
        ratio = threshold + math.log1p(ratio)
    return ratio * 2.0 * unit_variance / units_per_arm


def log_likelihood_ratio(
    difference: ArrayLike, variance: ArrayLike, tau_squared: float, null: float = 0.0
) -> np.ndarray:
    """log of the normal-mixture likelihood ratio for an observed `difference` with sampling `variance` V:
    0.5 log(V / (V + tau^2)) + (difference - null)^2 tau^2 / (2 V (V + tau^2)). Element-wise, any shape."""
    _check_tau(tau_squared)
    distance = np.asarray(difference, dtype=float) - null
    variance = np.maximum(np.asarray(variance, dtype=float), _SMALLEST_VARIANCE)
    with np.errstate(over="ignore"):
        return 0.5 * np.log(variance / (variance + tau_squared)) + distance**2 * tau_squared / (
            2.0 * variance * (variance + tau_squared)
        )


def always_valid_p_value(
    difference: ArrayLike, variance: ArrayLike, tau_squared: float, null: float = 0.0
) -> np.ndarray:
    """min(1, 1 / likelihood ratio) at one look. Its running minimum over looks is the always-valid p-value of
    Johari et al.; the value at a single look is already valid at any stopping time, only less sharp."""
    return np.minimum(1.0, np.exp(-log_likelihood_ratio(difference, variance, tau_squared, null)))


def confidence_radius(variance: ArrayLike, tau_squared: float, alpha: float = 0.05) -> np.ndarray:
    """Half-width of the always-valid interval: every theta with likelihood ratio below 1/alpha, i.e.
    |difference - theta| < sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + 0.5 log((V + tau^2) / V)))."""
    _check_alpha(alpha)
    _check_tau(tau_squared)
    observed = np.asarray(variance, dtype=float)
    variance = np.maximum(observed, _SMALLEST_VARIANCE)
    width = 2.0 * variance * (variance + tau_squared) / tau_squared
    radius = np.sqrt(width * (math.log(1.0 / alpha) + 0.5 * np.log((variance + tau_squared) / variance)))
    return np.where(observed > 0, radius, 0.0)


@dataclass(frozen=True)
class SequentialEstimate:
    """The always-valid view of treatment minus control at one look."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    units_treatment: int
    units_control: int


def mixture_estimate(
    treatment: ArrayLike, control: ArrayLike, tau_squared: float, alpha: float = 0.05, null: float = 0.0
) -> SequentialEstimate:
    """Always-valid interval and p-value for mean(treatment) - mean(control) from the units seen so far."""
    treatment, control = _arm(treatment, "treatment"), _arm(control, "control")
    difference = treatment.mean() - control.mean()
    variance = treatment.var(ddof=1) / len(treatment) + control.var(ddof=1) / len(control)
    radius = float(confidence_radius(variance, tau_squared, alpha))
    p_value = float(always_valid_p_value(difference, variance, tau_squared, null))
    return SequentialEstimate(float(difference), float(difference - radius), float(difference + radius), p_value,
                              len(treatment), len(control))  # fmt: skip


@dataclass(frozen=True)
class SequentialPath:
    """What someone peeking every `every` units per arm would have seen. Arrays have the inputs' leading shape
    (one row per simulated experiment, say) followed by one entry per look: the interval is the running
    intersection of the looks' intervals and the p-value the running minimum, both still valid."""

    units_per_arm: np.ndarray
    difference: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    alpha: float

    @property
    def rejected(self) -> np.ndarray:
        """Whether the null was rejected at any look (the final running-minimum p-value is at most alpha)."""
        return self.p_value[..., -1] <= self.alpha

    @property
    def first_rejection(self) -> np.ndarray:
        """Units per arm at the first look that rejected, 0 where none did."""
        below = self.p_value <= self.alpha
        first = np.argmax(below, axis=-1)
        return np.where(below.any(axis=-1), self.units_per_arm[first], 0)


def peek(
    treatment: ArrayLike,
    control: ArrayLike,
    tau_squared: float,
    every: int = 100,
    alpha: float = 0.05,
    null: float = 0.0,
) -> SequentialPath:
    """Look after every `every` units per arm (units in arrival order along the last axis) and compute the
    always-valid interval and p-value at each look. Vectorised over any leading axes, so thousands of simulated
    experiments run at once. Looks stop at the shorter arm; a last, partial look is added at its length."""
    _check_alpha(alpha)
    _check_tau(tau_squared)
    treatment, control = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    if every < 2:
        raise InvalidInput("Looks need at least two units per arm.", [FieldProblem("every", "must be at least 2")])
    if treatment.shape[:-1] != control.shape[:-1]:
        raise InvalidInput("The arms' leading shapes differ.", [FieldProblem("control", "same leading shape")])
    length = min(treatment.shape[-1], control.shape[-1])
    if length < every:
        raise InvalidInput("Fewer units than one look.", [FieldProblem("every", f"at most {length}")])
    sizes = np.arange(every, length + 1, every)
    if sizes[-1] != length:
        sizes = np.append(sizes, length)
    # One shift for both arms keeps sums of squares small (a precise variance) without changing the difference.
    shift = control[..., :1]
    means_t, variances_t = _running_moments(treatment[..., :length] - shift, sizes)
    means_c, variances_c = _running_moments(control[..., :length] - shift, sizes)
    difference = means_t - means_c
    variance = (variances_t + variances_c) / sizes
    radius = confidence_radius(variance, tau_squared, alpha)
    p_value = np.minimum.accumulate(always_valid_p_value(difference, variance, tau_squared, null), axis=-1)
    ci_low = np.maximum.accumulate(difference - radius, axis=-1)
    ci_high = np.minimum.accumulate(difference + radius, axis=-1)
    return SequentialPath(sizes, difference, ci_low, ci_high, p_value, alpha)


def _running_moments(values: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance (ddof 1) of the first `size` values, for each size, along the last axis."""
    sums = np.cumsum(values, axis=-1)[..., sizes - 1]
    squares = np.cumsum(values * values, axis=-1)[..., sizes - 1]
    means = sums / sizes
    variances = np.maximum(squares - sizes * means**2, 0.0) / (sizes - 1)
    return means, variances


def _arm(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < 2 or not np.isfinite(array).all():
        raise InvalidInput(f"The {name} arm needs at least two finite values.",
                           [FieldProblem(name, "a 1-D array of at least two finite numbers")])  # fmt: skip
    return array
