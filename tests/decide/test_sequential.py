"""Always-valid intervals: peeking at an A/A test every 100 users keeps the false-positive rate at the nominal
level, where repeated t-tests do not; with a real effect the intervals still cover it and the test rejects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from afinidad.decide.sequential import (
    always_valid_p_value,
    confidence_radius,
    log_likelihood_ratio,
    mixture_estimate,
    peek,
    tuned_mixing_variance,
)
from afinidad.errors import InvalidInput

RUNS, UNITS_PER_ARM, EVERY, ALPHA = 1000, 5000, 100, 0.05
# Nominal 0.05 plus about two standard errors of a rate estimated from 1,000 runs.
MARGIN = 0.015


def _naive_rejection_rate(treatment: np.ndarray, control: np.ndarray, sizes: np.ndarray) -> float:
    """Share of runs in which a Welch t-test (scipy's) at any look had p < alpha."""
    rejected = np.zeros(len(treatment), dtype=bool)
    for size in sizes:
        result = stats.ttest_ind(treatment[:, :size], control[:, :size], axis=1, equal_var=False)
        rejected |= result.pvalue < ALPHA
    return float(rejected.mean())


@pytest.mark.parametrize(
    ("metric", "unit_variance"),
    [("normal", 1.0), ("conversion at 10%", 0.09), ("revenue, lognormal", math.expm1(1.0) * math.e)],
)
def test_peeking_at_an_a_a_test_every_100_users_keeps_the_false_positive_rate(
    metric: str, unit_variance: float
) -> None:
    rng = np.random.default_rng(2024)
    draw = {
        "normal": lambda: rng.standard_normal((RUNS, UNITS_PER_ARM)),
        "conversion at 10%": lambda: (rng.random((RUNS, UNITS_PER_ARM)) < 0.10).astype(float),
        "revenue, lognormal": lambda: rng.lognormal(0.0, 1.0, (RUNS, UNITS_PER_ARM)),
    }[metric]
    treatment, control = draw(), draw()
    tau_squared = tuned_mixing_variance(unit_variance, units_per_arm=1000, alpha=ALPHA)
    path = peek(treatment, control, tau_squared, every=EVERY, alpha=ALPHA)
    always_valid = float(path.rejected.mean())
    naive = _naive_rejection_rate(treatment, control, path.units_per_arm)
    print(f"\nA/A ({metric}), {RUNS} runs of up to {UNITS_PER_ARM} users per arm, peeking every {EVERY} "
          f"({len(path.units_per_arm)} looks), alpha {ALPHA}: always-valid rejection rate {always_valid:.3f}, "
          f"naive repeated t-tests {naive:.3f}")  # fmt: skip
    assert len(path.units_per_arm) == UNITS_PER_ARM // EVERY
    assert always_valid <= ALPHA + MARGIN
    assert naive >= 3 * ALPHA
    # The running intersection of the intervals contains the true difference (0) whenever nothing was rejected.
    contains_zero = ((path.ci_low <= 0) & (path.ci_high >= 0)).all(axis=-1)
    assert np.mean(contains_zero) >= 1 - ALPHA - MARGIN


def test_with_a_real_effect_the_intervals_cover_it_and_the_test_stops_early() -> None:
    rng = np.random.default_rng(7)
    effect = 0.1
    treatment = rng.standard_normal((RUNS, UNITS_PER_ARM)) + effect
    control = rng.standard_normal((RUNS, UNITS_PER_ARM))
    path = peek(treatment, control, tuned_mixing_variance(1.0, 1000), every=EVERY)
    covered = ((path.ci_low <= effect) & (path.ci_high >= effect)).all(axis=-1).mean()
    stopped = path.first_rejection[path.rejected]
    print(f"\neffect 0.1 sd: rejected in {path.rejected.mean():.3f} of runs, median stop at {np.median(stopped):.0f} "
          f"users per arm; the effect stayed inside every interval in {covered:.3f} of runs")  # fmt: skip
    assert path.rejected.mean() > 0.9
    assert np.median(stopped) < 3000  # a fixed-horizon test with 80% power needs about 1,600 per arm
    assert covered >= 1 - ALPHA


def test_the_likelihood_ratio_is_the_normal_mixture_integral() -> None:
    difference, variance, tau_squared = 0.12, 0.003, 0.02

    def integrand(theta: float) -> float:
        likelihood = stats.norm.pdf(difference, theta, math.sqrt(variance))
        return likelihood * stats.norm.pdf(theta, 0.0, math.sqrt(tau_squared))

    mixture, _ = integrate.quad(integrand, -2, 2, points=[difference])
    expected = mixture / stats.norm.pdf(difference, 0.0, math.sqrt(variance))
    assert math.exp(log_likelihood_ratio(difference, variance, tau_squared)) == pytest.approx(expected, rel=1e-7)


def test_interval_and_p_value_agree() -> None:
    """Zero lies outside the always-valid interval exactly when the always-valid p-value is below alpha."""
    variance, tau_squared = 0.004, 0.03
    radius = float(confidence_radius(variance, tau_squared, ALPHA))
    for difference in np.linspace(-2 * radius, 2 * radius, 81):
        p_value = float(always_valid_p_value(difference, variance, tau_squared))
        if abs(abs(difference) - radius) > 1e-9:
            assert (p_value < ALPHA) == (abs(difference) > radius)


def test_tuned_mixing_variance_makes_the_interval_narrowest_at_the_planned_size() -> None:
    unit_variance, planned = 2.5, 4000
    tuned = tuned_mixing_variance(unit_variance, planned)
    variance = 2 * unit_variance / planned
    best = float(confidence_radius(variance, tuned))
    for factor in (0.25, 0.5, 0.8, 1.25, 2.0, 4.0):
        assert best < float(confidence_radius(variance, tuned * factor))
    # At the planned size the always-valid interval costs about 1.6x the fixed-horizon one.
    fixed = stats.norm.ppf(0.975) * math.sqrt(variance)
    assert 1.4 < best / fixed < 1.8


def test_one_look_matches_the_last_look_of_a_path_and_running_bounds_only_tighten() -> None:
    rng = np.random.default_rng(3)
    treatment, control = rng.normal(0.2, 1, 1234), rng.normal(0, 1, 1500)
    path = peek(treatment, control, 0.01, every=100)
    single = mixture_estimate(treatment[:1234], control[:1234], 0.01)
    assert path.units_per_arm[-1] == 1234 and path.units_per_arm[-2] == 1200  # the partial last look
    assert path.difference[-1] == pytest.approx(single.difference)
    assert path.p_value[-1] <= single.p_value
    assert path.ci_low[-1] >= single.ci_low - 1e-12 and path.ci_high[-1] <= single.ci_high + 1e-12
    assert (np.diff(path.ci_high - path.ci_low) <= 1e-12).all()
    assert (np.diff(path.p_value) <= 0).all()


def test_constant_arms_do_not_divide_by_zero() -> None:
    same = mixture_estimate(np.ones(50), np.ones(50), 0.1)
    assert same.p_value == 1.0 and same.ci_low == same.ci_high == 0.0
    apart = mixture_estimate(np.ones(50), np.zeros(50), 0.1)
    assert apart.p_value == 0.0


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: tuned_mixing_variance(1.0, 100, alpha=1.5), "alpha"),
        (lambda: tuned_mixing_variance(0.0, 100), "unit_variance"),
        (lambda: confidence_radius(0.1, -1.0), "tau_squared"),
        (lambda: peek(np.zeros(10), np.zeros(10), 0.1, every=1), "every"),
        (lambda: peek(np.zeros(10), np.zeros(10), 0.1, every=20), "every"),
        (lambda: mixture_estimate([1.0], [1.0, 2.0], 0.1), "treatment"),
    ],
)
def test_bad_input_is_refused(call, field: str) -> None:  # noqa: ANN001 - a lambda
    with pytest.raises(InvalidInput) as refused:
        call()
    assert refused.value.problems[0].field == field
