"""Gamma-Gamma spend and lifetime value: the published CDNOW parameters, recovery from simulated spend,
shrinkage toward the population mean, and lifetime value by hand (and against `lifetimes` when installed)."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.predict import BetaGeometricNbd, CustomerSummary, GammaGamma, GammaGammaParams, ParetoNbd
from tests.conftest import data_path

# Fader, Hardie & Lee 2005 ("RFM and CLV"), as `lifetimes` documents for the CDNOW sample's 946 repeat buyers
PUBLISHED = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


@pytest.fixture(scope="module")
def spend(sample_summary: CustomerSummary) -> GammaGamma:
    return GammaGamma().fit(sample_summary.frequency, sample_summary.mean_value)


def test_reproduces_the_published_cdnow_parameters(spend: GammaGamma) -> None:
    for name in ("p", "q", "gamma"):
        assert getattr(spend.params_, name) == pytest.approx(getattr(PUBLISHED, name), rel=0.01), name
    assert spend.n_customers_ == 946 and spend.converged_


def test_the_shipped_zbar_gives_the_same_parameters(spend: GammaGamma) -> None:
    shipped = np.genfromtxt(
        data_path("cdnow", "cdnow_customers_summary_with_transactions.csv"), delimiter=",", names=True
    )
    from_csv = GammaGamma().fit(shipped["x"], shipped["zbar"])
    for name in ("p", "q", "gamma"):
        assert getattr(from_csv.params_, name) == pytest.approx(getattr(PUBLISHED, name), rel=0.01), name
        assert getattr(from_csv.params_, name) == pytest.approx(getattr(spend.params_, name), rel=0.001), name


def test_recovers_simulated_spend() -> None:
    truth = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    rng = np.random.default_rng(5)
    frequency = rng.integers(1, 12, 20_000).astype(np.float64)
    nu = rng.gamma(truth.q, 1.0 / truth.gamma, len(frequency))
    mean_value = rng.gamma(truth.p * frequency, 1.0 / nu) / frequency  # the mean of x gamma(p, nu) values
    fitted = GammaGamma().fit(frequency, mean_value).params_
    assert (fitted.p, fitted.q, fitted.gamma) == pytest.approx((truth.p, truth.q, truth.gamma), rel=0.1)


def test_expected_spend_shrinks_toward_the_population_mean(spend: GammaGamma) -> None:
    p, q, gamma = spend.params_.p, spend.params_.q, spend.params_.gamma
    population = p * gamma / (q - 1)
    assert spend.population_mean_value == pytest.approx(population) and population == pytest.approx(35.17, abs=0.01)
    expected = spend.expected_mean_value([0, 1, 10, 100], [0.0, 100.0, 100.0, 100.0])
    assert expected[0] == pytest.approx(population)  # no repeat purchase: nothing but the population
    assert population < expected[1] < expected[2] < expected[3] < 100.0  # the more purchases, the more its own
    assert expected[1] == pytest.approx((p * gamma + p * 100.0) / (p + q - 1))


def test_lifetime_value_by_hand(
    sample_summary: CustomerSummary, sample_bgnbd: BetaGeometricNbd, spend: GammaGamma
) -> None:
    frequency, recency, T, value = 2.0, 30.43, 38.86, 22.35
    undiscounted = spend.customer_value(
        sample_bgnbd, frequency, recency, T, value, horizon_months=12, discount_rate=0.0
    )
    expected = sample_bgnbd.expected_purchases(12 * 4.345, frequency, recency, T) * spend.expected_mean_value(
        frequency, value
    )
    assert undiscounted == pytest.approx(expected)
    months = np.arange(1, 13)
    cumulative = sample_bgnbd.expected_purchases(months * 4.345, frequency, recency, T)
    by_month = np.diff(np.r_[0.0, cumulative]) / 1.01**months
    discounted = spend.customer_value(sample_bgnbd, frequency, recency, T, value, horizon_months=12, discount_rate=0.01)
    assert discounted == pytest.approx(by_month.sum() * spend.expected_mean_value(frequency, value))
    in_days = spend.customer_value(sample_bgnbd, frequency, recency, T, value, horizon_months=12, unit="days")
    assert in_days != pytest.approx(discounted)  # 12 months of 30 days under a model fitted in weeks: misuse
    everyone = spend.customer_value(
        sample_bgnbd, sample_summary.frequency, sample_summary.recency, sample_summary.T, sample_summary.mean_value
    )
    assert everyone.shape == (2_357,) and np.isfinite(everyone).all() and (everyone > 0).all()


def test_customers_without_orders_or_repeat_purchases_are_valued(
    sample_bgnbd: BetaGeometricNbd, sample_pareto: ParetoNbd, spend: GammaGamma
) -> None:
    for purchases in (sample_bgnbd, sample_pareto):
        new = spend.customer_value(purchases, 0, 0, 0, 0, horizon_months=12, discount_rate=0.0)
        assert new == pytest.approx(purchases.expected_purchases_new(12 * 4.345) * spend.population_mean_value)
        one_order_long_ago = spend.customer_value(purchases, 0, 0, 38.86, 0)
        assert 0 < one_order_long_ago < new
    assert spend.customer_value(sample_bgnbd, [0, 3], [0, 20], [0, 30], [0, 40], horizon_months=0).tolist() == [0, 0]


def test_errors(spend: GammaGamma, sample_bgnbd: BetaGeometricNbd) -> None:
    with pytest.raises(InvalidInput, match="No customer with repeat purchases"):
        GammaGamma().fit([0, 0, 3], [0.0, 0.0, 0.0])
    with pytest.raises(InvalidInput):
        spend.expected_mean_value(2, -5.0)
    with pytest.raises(InvalidInput):
        spend.customer_value(sample_bgnbd, 1, 1, 2, 10, horizon_months=-1)


def test_matches_lifetimes_customer_lifetime_value(
    sample_summary: CustomerSummary, sample_bgnbd: BetaGeometricNbd, spend: GammaGamma
) -> None:
    """`lifetimes` is not a dependency: installed for the benchmark only, this compares when it is there."""
    pandas = pytest.importorskip("pandas")
    lifetimes = pytest.importorskip("lifetimes")
    repeat = sample_summary.frequency > 0
    columns = [pandas.Series(values[repeat]) for values in (sample_summary.frequency, sample_summary.recency,
                                                             sample_summary.T, sample_summary.mean_value)]  # fmt: skip
    purchases = lifetimes.BetaGeoFitter().fit(*columns[:3])
    theirs = lifetimes.GammaGammaFitter().fit(columns[0], columns[3])
    their_value = theirs.customer_lifetime_value(purchases, *columns, time=12, discount_rate=0.01, freq="W")
    purchases_all = BetaGeometricNbd().fit(*(values[repeat] for values in (sample_summary.frequency,
                                             sample_summary.recency, sample_summary.T)))  # fmt: skip
    ours = spend.customer_value(purchases_all, *(values[repeat] for values in (sample_summary.frequency,
                                sample_summary.recency, sample_summary.T, sample_summary.mean_value)))  # fmt: skip
    assert ours == pytest.approx(their_value.to_numpy(), rel=1e-3)
