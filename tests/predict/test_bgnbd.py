"""BG/NBD: the published CDNOW parameters, recovery of known parameters from simulated customers, the
forecasts against the formulas they come from, and defined answers for customers with little or no history."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from afinidad.errors import InvalidInput
from afinidad.predict import BetaGeometricNbd, BgNbdParams, CustomerSummary, ModelNotFitted
from afinidad.predict.bgnbd import _growth, _NegativeLogLikelihood
from tests.predict.simulation import simulate_bgnbd

PUBLISHED = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # Fader, Hardie & Lee 2005, CDNOW sample


def test_reproduces_the_published_cdnow_parameters(sample_bgnbd: BetaGeometricNbd) -> None:
    fitted = sample_bgnbd.params_
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(PUBLISHED, name), rel=0.01), name
    assert sample_bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)  # the paper's LL
    assert sample_bgnbd.converged_


def test_recovers_the_parameters_and_forecasts_of_simulated_customers() -> None:
    truth = BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
    ages = np.random.default_rng(1).uniform(27.0, 39.0, 40_000)
    customers = simulate_bgnbd(truth, ages, holdout=39.0, seed=2)
    model = BetaGeometricNbd().fit(customers.frequency, customers.recency, customers.T)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(model.params_, name) == pytest.approx(getattr(truth, name), rel=0.1), name
    forecast = model.expected_purchases(39.0, customers.frequency, customers.recency, customers.T)
    assert forecast.sum() == pytest.approx(customers.holdout_frequency.sum(), rel=0.03)
    alive = model.probability_alive(customers.frequency, customers.recency, customers.T)
    assert alive.mean() == pytest.approx(customers.alive_at_T.mean(), abs=0.01)
    repeaters = customers.frequency > 0  # P(alive) ranks: the truly alive score higher
    assert alive[repeaters & customers.alive_at_T].mean() > alive[repeaters & ~customers.alive_at_T].mean() + 0.2


def test_gradient_is_exact(sample_summary: CustomerSummary) -> None:
    objective = _NegativeLogLikelihood(
        sample_summary.frequency, sample_summary.recency, sample_summary.T, np.ones(len(sample_summary)), 0.05
    )
    for point in (np.zeros(4), np.log([0.24, 4.4, 0.79, 2.4]), np.log([2.0, 0.5, 3.0, 0.3])):
        numeric = approx_fprime(point, lambda log_params: objective(log_params)[0], 1e-7)
        assert objective(point)[1] == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_expectation_matches_the_papers_formula_and_stays_finite_for_heavy_buyers() -> None:
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, T, t = np.array([0.0, 1.0, 5.0, 20.0]), np.array([38.0, 30.0, 20.0, 39.0]), 39.0
    z = t / (alpha + T + t)
    direct = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
    )
    assert _growth(r, a, b, x, z) == pytest.approx(direct, rel=1e-9)
    heavy = _growth(r, a, b, np.array([300.0, 3000.0]), np.array([0.5, 0.5]))
    assert np.isfinite(heavy).all() and heavy[1] > heavy[0] > 0
    near_one = _growth(r, 1.0 + 1e-9, b, x, z)  # a = 1 is 0/0 in the formula
    assert near_one == pytest.approx(0.5 * (_growth(r, 0.99, b, x, z) + _growth(r, 1.01, b, x, z)), rel=1e-3)


def test_customers_with_no_repeat_purchases_or_no_orders_get_defined_answers(sample_bgnbd: BetaGeometricNbd) -> None:
    model = sample_bgnbd
    new = model.expected_purchases_new(39.0)
    no_orders = model.expected_purchases(39.0, 0, 0, 0)
    one_purchase_long_ago = model.expected_purchases(39.0, 0, 0, 38.86)
    assert np.isfinite([new, no_orders, one_purchase_long_ago]).all()
    assert no_orders == pytest.approx(new) and new == pytest.approx(1.195, abs=0.001)
    assert 0 < one_purchase_long_ago < new  # silence over 39 weeks says this one buys little
    assert model.probability_alive(0, 0, 0) == 1.0 and model.probability_alive(0, 0, 38.86) == 1.0
    assert model.expected_purchases(0.0, 3, 10, 20) == 0.0
    assert model.expected_purchases_new([0.0, 1.0, 39.0, 78.0]).tolist() == pytest.approx(
        [0.0, 0.0532, 1.1950, 1.8580], abs=1e-4
    )


def test_forecasts_broadcast_horizons_against_customers(sample_bgnbd: BetaGeometricNbd) -> None:
    frequency, recency, T = np.array([0.0, 2.0, 7.0]), np.array([0.0, 30.43, 28.0]), np.array([38.86, 38.86, 30.0])
    grid = sample_bgnbd.expected_purchases(np.array([[13.0], [26.0], [39.0]]), frequency, recency, T)
    assert grid.shape == (3, 3)
    assert (np.diff(grid, axis=0) > 0).all()
    assert grid[2] == pytest.approx(sample_bgnbd.expected_purchases(39.0, frequency, recency, T))


def test_the_time_unit_only_rescales_alpha(sample_summary: CustomerSummary, sample_bgnbd: BetaGeometricNbd) -> None:
    in_days = BetaGeometricNbd().fit(sample_summary.frequency, sample_summary.recency * 7, sample_summary.T * 7)
    weekly, daily = sample_bgnbd.params_, in_days.params_
    assert daily.alpha == pytest.approx(7 * weekly.alpha, rel=1e-4)
    assert (daily.r, daily.a, daily.b) == pytest.approx((weekly.r, weekly.a, weekly.b), rel=1e-4)


def test_weights_count_customers(sample_summary: CustomerSummary) -> None:
    frequency, recency, T = sample_summary.frequency[:500], sample_summary.recency[:500], sample_summary.T[:500]
    doubled = BetaGeometricNbd().fit(
        np.r_[frequency, frequency[:100]], np.r_[recency, recency[:100]], np.r_[T, T[:100]]
    )
    weights = np.r_[np.full(100, 2.0), np.ones(400)]
    weighted = BetaGeometricNbd().fit(frequency, recency, T, weights=weights)
    assert weighted.params_.r == pytest.approx(doubled.params_.r, rel=1e-5)
    assert weighted.params_.b == pytest.approx(doubled.params_.b, rel=1e-5)


def test_the_penalizer_shrinks_the_parameters(sample_summary: CustomerSummary, sample_bgnbd: BetaGeometricNbd) -> None:
    penalized = BetaGeometricNbd(penalizer=0.1).fit(sample_summary.frequency, sample_summary.recency, sample_summary.T)
    assert penalized.params_.b < sample_bgnbd.params_.b
    assert penalized.log_likelihood_ < sample_bgnbd.log_likelihood_


def test_errors_before_fitting_and_on_impossible_customers(sample_bgnbd: BetaGeometricNbd) -> None:
    with pytest.raises(ModelNotFitted):
        BetaGeometricNbd().expected_purchases(10, 1, 1, 2)
    with pytest.raises(InvalidInput, match="Invalid customer summary"):
        sample_bgnbd.probability_alive(2, 30, 20)  # last purchase after the end
    with pytest.raises(InvalidInput):
        sample_bgnbd.expected_purchases(10, np.nan, 0, 1)
    with pytest.raises(InvalidInput):
        sample_bgnbd.expected_purchases(-1, 1, 1, 2)
    with pytest.raises(InvalidInput, match="no customers"):
        BetaGeometricNbd().fit([], [], [])


def test_customers_who_all_drop_out_alike_still_get_finite_forecasts() -> None:
    # Nearly the same dropout chance for everyone: the likelihood pins only a / (a + b), the unbounded fit
    # ran off to a ~ 2e4, b ~ 3e6 on such data and every forecast came out NaN (seen on a demo workspace).
    truth = BgNbdParams(r=1.2, alpha=2.5, a=60_000.0, b=8_000_000.0)
    ages = np.random.default_rng(1).uniform(1.0, 6.0, 150)
    customers = simulate_bgnbd(truth, ages, holdout=13.0, seed=11)
    model = BetaGeometricNbd().fit(customers.frequency, customers.recency, customers.T)
    assert model.params_.a + model.params_.b < 1e4  # held at the cap, the ratio still learned
    forecast = model.expected_purchases(13.0, customers.frequency, customers.recency, customers.T)
    assert np.isfinite(forecast).all() and forecast.sum() == pytest.approx(customers.holdout_frequency.sum(), rel=0.3)
