"""BG/CNBD-k and MBG/CNBD-k: k = 1 is BG/NBD and MBG/NBD exactly, k and the parameters are recovered from
regular customers simulated from known parameters, the exact forecasts match what those customers did, CDNOW
shows no regularity (k = 1), and customers with little or no history get defined answers."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.predict import BetaGeometricNbd, BgNbdParams, ModelNotFitted, compare_holdout
from afinidad.predict.cnbd import CnbdParams, CondensedNbd
from afinidad.predict.mbgnbd import MbgNbdParams, ModifiedBetaGeometricNbd
from tests.predict.cdnow_candidates import candidates, cdnow
from tests.predict.timing_simulation import simulate_condensed


def with_params(model: CondensedNbd, params: CnbdParams) -> CondensedNbd:
    model.params_ = params
    return model


@pytest.mark.parametrize("dropout_at_zero", [False, True])
def test_k_1_is_bgnbd_or_mbgnbd_exactly(dropout_at_zero: bool) -> None:
    summary, _ = cdnow("sample")
    x, t_x, T = summary.frequency, summary.recency, summary.T
    horizons = np.array([[0.0], [1.0], [39.0], [104.0]])
    for r, alpha, a, b in ((0.25, 4.8, 0.72, 2.16), (0.64, 7.3, 1.3, 1.2)):
        condensed = with_params(CondensedNbd(k=1, dropout_at_zero=dropout_at_zero), CnbdParams(1, r, alpha, a, b))
        reference = ModifiedBetaGeometricNbd() if dropout_at_zero else BetaGeometricNbd()
        reference.params_ = (MbgNbdParams if dropout_at_zero else BgNbdParams)(r, alpha, a, b)
        assert condensed.expected_purchases(horizons, x, t_x, T) == pytest.approx(
            reference.expected_purchases(horizons, x, t_x, T), rel=1e-8, abs=1e-300
        )
        assert condensed.probability_alive(x, t_x, T) == pytest.approx(
            reference.probability_alive(x, t_x, T), abs=1e-12
        )
        assert condensed.log_likelihood(x, t_x, T) == pytest.approx(reference.log_likelihood(x, t_x, T), rel=1e-12)


def test_recovers_k_and_the_parameters_of_regular_customers() -> None:
    truth = CnbdParams(k=3, r=0.8, alpha=3.0, a=0.8, b=2.5)
    ages = np.random.default_rng(1).uniform(27.0, 39.0, 12_000)
    customers = simulate_condensed(3, truth.r, truth.alpha, truth.a, truth.b, ages, 39.0, seed=2)
    model = CondensedNbd().fit(
        customers.frequency, customers.recency, customers.T, log_interval_sum=customers.log_interval_sum
    )
    assert model.params_.k == 3
    assert list(model.log_likelihoods_) == [1, 2, 3, 4]  # the search stops at the first fall
    assert model.log_likelihoods_[1] < model.log_likelihoods_[2] < model.log_likelihoods_[3]
    for name in ("r", "alpha", "a", "b"):
        assert getattr(model.params_, name) == pytest.approx(getattr(truth, name), rel=0.15), name
    forecast = model.expected_purchases(39.0, customers.frequency, customers.recency, customers.T)
    assert forecast.sum() == pytest.approx(customers.holdout_frequency.sum(), rel=0.04)


@pytest.mark.parametrize(
    ("dropout_at_zero", "truth"),
    [(False, CnbdParams(k=3, r=0.8, alpha=3.0, a=0.8, b=2.5)), (True, CnbdParams(k=2, r=0.5, alpha=2.0, a=0.6, b=2.0))],
)
def test_exact_forecasts_match_simulated_customers(dropout_at_zero: bool, truth: CnbdParams) -> None:
    ages = np.random.default_rng(1).uniform(27.0, 39.0, 30_000)
    customers = simulate_condensed(
        truth.k, truth.r, truth.alpha, truth.a, truth.b, ages, 39.0, seed=3, dropout_at_zero=dropout_at_zero
    )
    model = with_params(CondensedNbd(k=truth.k, dropout_at_zero=dropout_at_zero), truth)
    forecast = model.expected_purchases(39.0, customers.frequency, customers.recency, customers.T)
    assert forecast.sum() == pytest.approx(customers.holdout_frequency.sum(), rel=0.015)
    alive = model.probability_alive(customers.frequency, customers.recency, customers.T)
    assert alive.mean() == pytest.approx(customers.alive_at_T.mean(), abs=0.01)
    # Regularity: a one-time repeat buyer silent for 5-15 weeks is due to buy again and is forecast more than
    # one who has just bought; the simulated customers agree.
    gap = customers.T - customers.recency
    one = customers.frequency == 1
    just_bought, due = one & (gap < 5), one & (gap >= 5) & (gap < 15)
    assert forecast[due].mean() > forecast[just_bought].mean()
    assert customers.holdout_frequency[due].mean() > customers.holdout_frequency[just_bought].mean()
    for group in (just_bought, due, customers.frequency >= 4):
        assert forecast[group].mean() == pytest.approx(customers.holdout_frequency[group].mean(), rel=0.06)


@pytest.mark.parametrize("which", ["sample", "master"])
def test_cdnow_shows_no_regularity(which: str) -> None:
    """The likelihood falls steeply from k = 1 to k = 2 on both files, so both models stop at k = 1 and
    forecast as BG/NBD and MBG/NBD (their holdout figures agree to 0.1 purchase)."""
    summary, _ = cdnow(which)
    models = candidates(which)
    for condensed_name, reference_name in (("BG/CNBD-k", "BG/NBD"), ("MBG/CNBD-k", "MBG/NBD")):
        condensed, reference = models[condensed_name], models[reference_name]
        assert condensed.params_.k == 1 and list(condensed.log_likelihoods_) == [1, 2]
        assert condensed.log_likelihoods_[2] < condensed.log_likelihoods_[1] - 250
        assert condensed.log_likelihood_ == pytest.approx(reference.log_likelihood_, abs=0.01)
        for name in ("r", "alpha", "a", "b"):
            assert getattr(condensed.params_, name) == pytest.approx(getattr(reference.params_, name), rel=1e-4)
        assert compare_holdout(condensed, summary).predicted_total == pytest.approx(
            compare_holdout(reference, summary).predicted_total, abs=0.1
        )


def test_customers_with_no_repeat_purchases_or_no_orders_get_defined_answers() -> None:
    regular = with_params(CondensedNbd(k=2), CnbdParams(k=2, r=0.5, alpha=2.0, a=0.6, b=2.0))
    regular_mbg = with_params(CondensedNbd(k=2, dropout_at_zero=True), CnbdParams(k=2, r=0.5, alpha=2.0, a=0.6, b=2.0))
    for model in (regular, regular_mbg):
        new = model.expected_purchases_new(np.array([0.0, 1.0, 39.0, 78.0]))
        assert new[0] == 0.0 and np.all(np.diff(new) > 0) and np.isfinite(new).all()
        assert model.expected_purchases(39.0, 0, 0, 0) == pytest.approx(new[2])
        assert 0 < model.expected_purchases(39.0, 0, 0, 38.86) < new[2]
        assert model.expected_purchases(0.0, 3, 10, 20) == 0.0
        grid = model.expected_purchases(
            np.array([[13.0], [39.0]]), np.array([0.0, 2.0, 7.0]), np.array([0, 30, 28]), 38.0
        )
        assert grid.shape == (2, 3) and (grid[1] > grid[0]).all()
    assert regular.probability_alive(0, 0, 0) == 1.0 and regular.probability_alive(0, 0, 38.86) == 1.0
    assert regular_mbg.probability_alive(0, 0, 0) == pytest.approx(2.0 / 2.6)  # b / (a + b)


def test_errors() -> None:
    with pytest.raises(InvalidInput, match="log inter-purchase"):
        CondensedNbd().fit([1, 0], [2, 0], [3, 3])
    with pytest.raises(InvalidInput, match="positive integer"):
        CondensedNbd(k=0).fit([1, 0], [2, 0], [3, 3])
    with pytest.raises(InvalidInput, match="does not match"):
        CondensedNbd().fit([1, 0], [2, 0], [3, 3], log_interval_sum=[0.1, 0.0, 0.0])
    with pytest.raises(ModelNotFitted):
        CondensedNbd().expected_purchases(10, 1, 1, 2)
