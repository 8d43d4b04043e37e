"""The tenure trend: exponent 1 is the base model exactly, the exponent and the forecasts are recovered from
customers simulated with a trend, CDNOW's calibration asks for a falling rate, and customers with little or
no history get defined answers."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.predict import BetaGeometricNbd, ModelNotFitted, ParetoNbd
from afinidad.predict.mbgnbd import ModifiedBetaGeometricNbd
from afinidad.predict.trend import TenureTrend
from tests.predict.cdnow_candidates import candidates, cdnow
from tests.predict.timing_simulation import simulate_condensed


@pytest.mark.parametrize("base", [BetaGeometricNbd, ModifiedBetaGeometricNbd])
def test_exponent_1_is_the_base_model(base: type) -> None:
    summary, timing = cdnow("sample")
    x, t_x, T = summary.frequency, summary.recency, summary.T
    trend = TenureTrend(base(), exponent=1.0).fit(x, t_x, T, log_tenure_sum=timing.log_tenure_sum)
    plain = base().fit(x, t_x, T)
    assert trend.params_.exponent == 1.0 and trend.params_.base == plain.params_
    assert trend.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-9)
    horizons = np.array([[1.0], [39.0]])
    assert trend.expected_purchases(horizons, x, t_x, T) == pytest.approx(plain.expected_purchases(horizons, x, t_x, T))
    assert trend.probability_alive(x, t_x, T) == pytest.approx(plain.probability_alive(x, t_x, T))
    assert trend.expected_purchases_new(39.0) == pytest.approx(plain.expected_purchases_new(39.0))


def test_recovers_a_falling_purchase_rate_from_simulated_customers() -> None:
    ages = np.random.default_rng(4).uniform(27.0, 39.0, 40_000)
    customers = simulate_condensed(1, 0.5, 3.0, 0.8, 2.5, ages, 39.0, seed=4, tenure_exponent=0.75)
    calibration = (customers.frequency, customers.recency, customers.T)
    model = TenureTrend(BetaGeometricNbd()).fit(*calibration, log_tenure_sum=customers.log_tenure_sum)
    assert model.params_.exponent == pytest.approx(0.75, abs=0.03)
    assert model.params_.base.r == pytest.approx(0.5, rel=0.1) and model.params_.base.a == pytest.approx(0.8, rel=0.15)
    forecast = model.expected_purchases(39.0, *calibration)
    assert forecast.sum() == pytest.approx(customers.holdout_frequency.sum(), rel=0.02)
    # without the trend, BG/NBD reads the fading rate as customers leaving (a mean drop-out probability of
    # 0.31 instead of 0.24) and fits clearly worse
    untrended = BetaGeometricNbd().fit(*calibration)
    assert untrended.params_.a / (untrended.params_.a + untrended.params_.b) > 0.28
    assert model.log_likelihood_ > untrended.log_likelihood_ + 100


def test_cdnow_calibration_asks_for_a_rate_falling_with_tenure() -> None:
    """The profile likelihood puts c near 0.9 on both files and every base, a rate falling about 7% for
    each doubling of tenure (2^(c-1)); the gain is 12 to 102 log-likelihood points for one parameter."""
    for which, gains in (("sample", (13.0, 12.0, 15.0)), ("master", (102.0, 77.0, 89.0))):
        models = candidates(which)
        for (trend, plain), gain in zip(
            (("BG/NBD + trend", "BG/NBD"), ("MBG/NBD + trend", "MBG/NBD"), ("Pareto/NBD + trend", "Pareto/NBD")),
            gains,
            strict=True,
        ):
            assert 0.87 < models[trend].params_.exponent < 0.92, (which, trend)
            assert models[trend].log_likelihood_ - models[plain].log_likelihood_ == pytest.approx(gain, abs=2.0)


def test_customers_with_no_repeat_purchases_or_no_orders_get_defined_answers() -> None:
    model = candidates("sample")["BG/NBD + trend"]
    new = model.expected_purchases_new(np.array([0.0, 1.0, 39.0]))
    assert new[0] == 0.0 and np.all(np.diff(new) > 0)
    assert model.expected_purchases(39.0, 0, 0, 0) == pytest.approx(new[2])
    assert 0 < model.expected_purchases(39.0, 0, 0, 38.86) < new[2]
    assert model.probability_alive(0, 0, 0) == 1.0
    assert model.expected_purchases(0.0, 3, 10, 20) == 0.0


def test_errors() -> None:
    with pytest.raises(InvalidInput, match="log tenure"):
        TenureTrend().fit([1, 0], [2, 0], [3, 3])
    with pytest.raises(InvalidInput, match="positive"):
        TenureTrend(exponent=-1.0).fit([1, 0], [2, 0], [3, 3])
    with pytest.raises(ModelNotFitted):
        TenureTrend(ParetoNbd()).probability_alive(1, 1, 2)
    with pytest.raises(InvalidInput):
        candidates("sample")["BG/NBD + trend"].expected_purchases(-1.0, 1, 1, 2)
