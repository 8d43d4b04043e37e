"""Pareto/NBD: the published CDNOW parameters, the hypergeometric term against direct numerical integration
on both of its branches and for heavy buyers, recovery from simulated customers, and defined answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from afinidad.predict import CustomerSummary, ParetoNbd, ParetoNbdParams
from afinidad.predict.pareto_nbd import _log_a0, _mean_lifetime_within
from tests.predict.simulation import simulate_pareto_nbd

# Fader & Hardie, "A Note on Implementing the Pareto/NBD Model in MATLAB" (2005): CDNOW sample, LL -9595.0
PUBLISHED = ParetoNbdParams(r=0.55, alpha=10.58, s=0.61, beta=11.67)


def test_reproduces_the_published_cdnow_parameters(sample_pareto: ParetoNbd) -> None:
    for name in ("r", "alpha", "s", "beta"):
        assert getattr(sample_pareto.params_, name) == pytest.approx(getattr(PUBLISHED, name), rel=0.01), name
    assert sample_pareto.log_likelihood_ == pytest.approx(-9595.0, abs=0.1)
    assert sample_pareto.converged_


def log_a0_by_quadrature(params: ParetoNbdParams, x: float, t_x: float, T: float) -> float:
    """log A0, with A0 = (r+s+x) * integral_{t_x}^{T} (alpha+u)^-(r+x) (beta+u)^-(s+1) du (the drop-out
    branch). Integrated over v = (r+x) log((alpha+u) / (alpha+t_x)), in which the integrand decays like
    exp(-v) whatever the frequency."""
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    k = r + x

    def integrand(v: float) -> float:
        u = (alpha + t_x) * np.exp(v / k) - alpha
        return np.exp(-v) * (beta + u) ** -(s + 1) * (alpha + t_x) / k * np.exp(v / k)

    end = k * np.log((alpha + T) / (alpha + t_x))
    split = min(end, 50.0)  # nearly all of the mass is before v = 50; quad misses it on a long interval
    integral = quad(integrand, 0.0, split, epsrel=1e-13, limit=200)[0] + quad(integrand, split, end, limit=200)[0]
    return np.log(r + s + x) + np.log(integral) - k * np.log(alpha + t_x)


@pytest.mark.parametrize(
    "params",
    [
        ParetoNbdParams(0.55, 10.58, 0.61, 11.67),
        ParetoNbdParams(0.6, 11.6, 0.52, 8.8),
        ParetoNbdParams(2.0, 0.1, 3.0, 50.0),
    ],
    ids=["alpha<beta", "alpha>beta", "alpha<<beta"],
)
@pytest.mark.parametrize(("x", "t_x", "T"), [(1, 2.0, 38.0), (7, 30.0, 39.0), (40, 38.0, 39.0), (400, 10.0, 39.0)])
def test_the_hypergeometric_term_matches_integration(params: ParetoNbdParams, x: float, t_x: float, T: float) -> None:
    ours = _log_a0(params, np.array([x]), np.array([t_x]), np.array([T]))[0]
    assert np.isfinite(ours)
    assert ours == pytest.approx(log_a0_by_quadrature(params, x, t_x, T), rel=1e-8, abs=1e-8)


def test_recovers_the_parameters_and_forecasts_of_simulated_customers() -> None:
    truth = ParetoNbdParams(r=0.55, alpha=10.5, s=0.6, beta=11.5)
    ages = np.random.default_rng(3).uniform(27.0, 39.0, 40_000)
    customers = simulate_pareto_nbd(truth, ages, holdout=39.0, seed=4)
    model = ParetoNbd().fit(customers.frequency, customers.recency, customers.T)
    assert model.params_.r == pytest.approx(truth.r, rel=0.1) and model.params_.alpha == pytest.approx(
        truth.alpha, rel=0.15
    )
    forecast = model.expected_purchases(39.0, customers.frequency, customers.recency, customers.T)
    assert forecast.sum() == pytest.approx(customers.holdout_frequency.sum(), rel=0.03)
    alive = model.probability_alive(customers.frequency, customers.recency, customers.T)
    assert alive.mean() == pytest.approx(customers.alive_at_T.mean(), abs=0.015)


def test_defined_answers_for_new_silent_and_heavy_customers(sample_pareto: ParetoNbd) -> None:
    model = sample_pareto
    new = model.expected_purchases_new(39.0)
    assert model.expected_purchases(39.0, 0, 0, 0) == pytest.approx(new) and new == pytest.approx(1.2134, abs=1e-4)
    assert model.probability_alive(0, 0, 0) == 1.0
    assert 0 < model.expected_purchases(39.0, 0, 0, 38.86) < new
    assert 0 < model.probability_alive(0, 0, 38.86) < 1
    heavy = model.expected_purchases(39.0, [500.0, 500.0], [39.0, 5.0], [39.0, 39.0])
    assert np.isfinite(heavy).all() and heavy[0] > 100 and heavy[1] < 1e-3  # silent for 34 weeks after 500


def test_mean_lifetime_is_continuous_at_s_equal_one() -> None:
    at_one = float(_mean_lifetime_within(1.0, np.array([20.0]), np.array([39.0]))[0])
    around = [float(_mean_lifetime_within(s, np.array([20.0]), np.array([39.0]))[0]) for s in (1.0 - 1e-6, 1.0 + 1e-6)]
    assert at_one == pytest.approx(20.0 * np.log(1 + 39.0 / 20.0))
    assert around == pytest.approx([at_one, at_one], rel=1e-5)


def test_pareto_and_bgnbd_agree_on_who_is_valuable(sample_summary: CustomerSummary, sample_pareto: ParetoNbd) -> None:
    from afinidad.predict import BetaGeometricNbd

    bgnbd = BetaGeometricNbd().fit(sample_summary.frequency, sample_summary.recency, sample_summary.T)
    args = (39.0, sample_summary.frequency, sample_summary.recency, sample_summary.T)
    correlation = np.corrcoef(bgnbd.expected_purchases(*args), sample_pareto.expected_purchases(*args))[0, 1]
    assert correlation > 0.98
