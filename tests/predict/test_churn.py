"""Churn (no purchase in the next H days) from BG/NBD and from a supervised model, and CLV, against what
UCI Online Retail's customers did in the 90 days after 2011-09-08 (to 2011-12-07). Nothing is fitted on
those 90 days: BG/NBD and Gamma-Gamma on the calibration (to 2011-09-08), the supervised model on features at
2011-06-10 labelled with the lapses up to 2011-09-08.

Measured on the 3,362 customers who bought by 2011-09-08, 43.3% of whom bought nothing in the holdout
(docs/predictions.md quotes these):
- BG/NBD P(no purchase in 90 days): ROC AUC 0.733 (Brier 0.217; it over-forecasts lapses, 0.540 on average);
- 1 - P(alive) is no churn score here: the fit puts the drop-out probability's mean at ~1e-9 (a ~ 2e-6), so
  P(alive) is about 1 for everyone (AUC 0.36);
- supervised (LightGBM on recency, frequency, spend, gaps and trend): ROC AUC 0.734 (Brier 0.211);
- CLV (BG/NBD x Gamma-Gamma, 90 days) against holdout spend: Spearman 0.513."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from afinidad.errors import InvalidInput
from afinidad.predict import (
    BetaGeometricNbd,
    BgNbdParams,
    CustomerSummary,
    GammaGamma,
    ModelNotFitted,
    Transactions,
    summarise,
)
from afinidad.predict.calibration import evaluate_probabilities
from afinidad.predict.churn import SupervisedChurn, probability_no_purchase
from afinidad.predict.datasets import read_online_retail
from afinidad.predict.features import customer_features, lapsed_labels
from tests.conftest import data_path
from tests.predict.simulation import simulate_bgnbd

CALIBRATION_END = np.datetime64("2011-09-08")
HORIZON_DAYS = 90


@pytest.fixture(scope="module")
def retail() -> Transactions:
    return read_online_retail(data_path("uci-online-retail", "online_retail.csv.gz"))


@pytest.fixture(scope="module")
def calibration_orders(retail: Transactions) -> Transactions:
    """The orders up to the calibration end: all any model may be fitted on."""
    kept = retail.dates <= CALIBRATION_END
    return Transactions(retail.customers[kept], retail.dates[kept], retail.amounts[kept])  # type: ignore[index]


@pytest.fixture(scope="module")
def summary(retail: Transactions) -> CustomerSummary:
    return summarise(retail, CALIBRATION_END, CALIBRATION_END + HORIZON_DAYS, unit="days")


@pytest.fixture(scope="module")
def lapsed(summary: CustomerSummary) -> np.ndarray:
    return (summary.holdout_frequency == 0).astype(int)  # type: ignore[operator]


@pytest.fixture(scope="module")
def bgnbd(summary: CustomerSummary) -> BetaGeometricNbd:
    return BetaGeometricNbd().fit(summary.frequency, summary.recency, summary.T)


# -- BG/NBD's probability of no purchase ------------------------------------------------------------------------


def test_probability_of_no_purchase_matches_customers_drawn_from_the_model() -> None:
    params = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # CDNOW's
    ages = np.random.default_rng(1).uniform(27, 39, 40_000)
    drawn = simulate_bgnbd(params, ages, holdout=39, seed=2)
    model = BetaGeometricNbd()
    model.params_ = params
    predicted = probability_no_purchase(model, 39, drawn.frequency, drawn.recency, drawn.T)
    silent = drawn.holdout_frequency == 0
    assert predicted.mean() == pytest.approx(silent.mean(), abs=0.006)
    for low, high in ((0, 0), (1, 1), (2, 3), (4, 1_000)):
        group = (drawn.frequency >= low) & (drawn.frequency <= high)
        standard_error = np.sqrt(0.25 / group.sum())
        assert predicted[group].mean() == pytest.approx(silent[group].mean(), abs=4 * standard_error)


def test_probability_of_no_purchase_in_closed_cases(bgnbd: BetaGeometricNbd) -> None:
    r, alpha = bgnbd.params_.r, bgnbd.params_.alpha
    assert probability_no_purchase(bgnbd, 30, 0, 0, 50) == pytest.approx(((alpha + 50) / (alpha + 80)) ** r)
    assert probability_no_purchase(bgnbd, 0, 5, 40, 50) == pytest.approx(1.0)  # no time, no purchase
    by_horizon = probability_no_purchase(bgnbd, [10, 30, 90, 365], 5, 40, 50)
    assert np.all(np.diff(by_horizon) < 0) and np.all((by_horizon > 0) & (by_horizon < 1))
    # the longer the silence, the likelier it lasts
    assert probability_no_purchase(bgnbd, 90, 5, 10, 300) > probability_no_purchase(bgnbd, 90, 5, 290, 300)


# -- features and labels ---------------------------------------------------------------------------------------


def test_features_and_labels_by_hand() -> None:
    orders = Transactions(
        customers=np.array(["a", "a", "a", "a", "b", "a", "c"]),
        dates=np.array(
            ["2011-01-01", "2011-01-01", "2011-01-11", "2011-01-31", "2011-02-01", "2011-03-01", "2011-02-20"],
            dtype="datetime64[D]",
        ),  # fmt: skip
        amounts=np.array([10.0, 5.0, 20.0, 30.0, 7.0, 99.0, 1.0]),
    )
    features = customer_features(orders, "2011-02-10", trend_window_days=30)
    assert list(features.customer_ids) == ["a", "b"]  # c first bought after the cutoff
    a = {name: values[0] for name, values in features.columns.items()}
    b = {name: values[1] for name, values in features.columns.items()}
    assert (a["days_since_last_purchase"], a["days_since_first_purchase"], a["purchase_days"]) == (10, 40, 3)
    assert (a["mean_days_between_purchases"], a["longest_gap_days"]) == (15, 20)
    assert a["std_days_between_purchases"] == pytest.approx(np.std([10, 20], ddof=1))
    assert a["overdue_ratio"] == pytest.approx(10 / 15)
    assert (a["purchases_last_window"], a["purchases_previous_window"], a["purchase_trend"]) == (1, 2, -1)
    assert (a["total_spend"], a["spend_last_window"], a["spend_previous_window"]) == (65, 30, 35)
    assert a["mean_spend_per_purchase"] == pytest.approx(65 / 3)
    assert (b["days_since_last_purchase"], b["purchase_days"], b["purchase_trend"], b["total_spend"]) == (9, 1, 1, 7)
    for name in ("mean_days_between_purchases", "std_days_between_purchases", "longest_gap_days", "overdue_ratio"):
        assert np.isnan(b[name])
    assert list(lapsed_labels(orders, features.customer_ids, "2011-02-10", horizon_days=30)) == [0, 1]
    assert list(lapsed_labels(orders, features.customer_ids, "2011-02-10", horizon_days=10)) == [1, 1]
    without_amounts = customer_features(Transactions(orders.customers, orders.dates), "2011-02-10")
    assert "total_spend" not in without_amounts.columns


# -- Online Retail: both churn scores and CLV against the holdout ----------------------------------------------


def test_the_reader_keeps_what_customers_bought(retail: Transactions, summary: CustomerSummary) -> None:
    assert len(retail) == 397_924 and len(np.unique(retail.customers)) == 4_339
    assert (retail.amounts >= 0).all()  # type: ignore[operator]
    assert len(summary) == 3_362


def test_churn_from_bgnbd(bgnbd: BetaGeometricNbd, summary: CustomerSummary, lapsed: np.ndarray) -> None:
    assert lapsed.mean() == pytest.approx(0.433, abs=0.001)
    churn = probability_no_purchase(bgnbd, HORIZON_DAYS, summary.frequency, summary.recency, summary.T)
    report = evaluate_probabilities(lapsed, churn)
    assert report.roc_auc >= 0.70  # measured 0.733
    assert report.brier_score < 0.23  # measured 0.217 (0.246 for always saying 43%)
    # Why 1 - P(alive) is no churn score on this data: the fit leaves almost no drop-out (a ~ 2e-6).
    assert bgnbd.params_.a < 1e-3
    assert bgnbd.probability_alive(summary.frequency, summary.recency, summary.T).min() > 0.99


def test_supervised_churn(calibration_orders: Transactions, summary: CustomerSummary, lapsed: np.ndarray) -> None:
    model = SupervisedChurn(horizon_days=HORIZON_DAYS).fit(calibration_orders, CALIBRATION_END - HORIZON_DAYS)
    assert model.n_customers_ == 2_811 and model.lapsed_rate_ == pytest.approx(0.523, abs=0.001)
    scores = model.predict_proba(calibration_orders, CALIBRATION_END)
    assert np.array_equal(scores.customer_ids, summary.customer_ids)
    report = evaluate_probabilities(lapsed, scores.probability)
    assert report.roc_auc >= 0.70  # measured 0.734, level with BG/NBD's 0.733
    assert report.brier_score < 0.225  # measured 0.211
    explanation = model.explain(calibration_orders, CALIBRATION_END, str(summary.customer_ids[0]), max_factors=3)
    assert len(explanation.factors) == 3
    assert explanation.probability == pytest.approx(scores.probability[0])


def test_supervised_churn_never_reads_past_its_horizon(retail: Transactions, calibration_orders: Transactions) -> None:
    """Given every order, it learns and scores exactly as from the calibration orders alone."""
    cutoff = CALIBRATION_END - HORIZON_DAYS
    from_everything = SupervisedChurn(horizon_days=HORIZON_DAYS).fit(retail, cutoff)
    from_calibration = SupervisedChurn(horizon_days=HORIZON_DAYS).fit(calibration_orders, cutoff)
    first = from_everything.predict_proba(retail, CALIBRATION_END).probability
    second = from_calibration.predict_proba(calibration_orders, CALIBRATION_END).probability
    assert np.array_equal(first, second)


def test_lifetime_value_ranks_holdout_spend(bgnbd: BetaGeometricNbd, summary: CustomerSummary) -> None:
    spend = GammaGamma().fit(summary.frequency, summary.mean_value)
    # three 30-day months, undiscounted: the expected spend over the 90-day holdout
    value = spend.customer_value(bgnbd, summary.frequency, summary.recency, summary.T, summary.mean_value,
                                 horizon_months=3, discount_rate=0.0, unit="days")  # fmt: skip
    assert spearmanr(value, summary.holdout_value).statistic >= 0.45  # measured 0.513


def test_supervised_churn_errors(calibration_orders: Transactions) -> None:
    with pytest.raises(ModelNotFitted):
        SupervisedChurn().predict_proba(calibration_orders, CALIBRATION_END)
    with pytest.raises(InvalidInput) as raised:
        SupervisedChurn().fit(calibration_orders, CALIBRATION_END)  # nothing after it to label with
    assert raised.value.problems[0].field == "cutoff"
    with pytest.raises(InvalidInput) as raised:
        customer_features(calibration_orders, "2009-01-01")
    assert raised.value.problems[0].field == "cutoff"
