"""Forecasts against what CDNOW's customers did next: fitted on the 39-week calibration (to 1997-09-30),
compared with the 39-week holdout (1997-10-01 .. 1998-06-30), never tuned on it.

The figures (docs/predictions.md quotes them):
- sample, 2,357 customers, 1,882 holdout purchase days: BG/NBD forecasts 1,653.4 (-12.1%, MAE 0.785 per
  customer), Pareto/NBD 1,665.5 (-11.5%, MAE 0.755);
- master, 23,570 customers, 19,684 holdout purchase days: BG/NBD 16,873.7 (-14.3%, MAE 0.819), Pareto/NBD
  17,153.2 (-12.9%, MAE 0.794).
Both under-forecast: the cohort's repeat buying decays more slowly after the calibration than either model
expects, and the holdout holds the 1997 holiday season, which nine months of calibration cannot show."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.predict import BetaGeometricNbd, CustomerSummary, ParetoNbd, compare_holdout, holdout_errors

# Mean holdout purchases per calibration frequency 0, 1, ..., 7+ on the sample (FHL 2005, figure 5's buckets)
SAMPLE_CUSTOMERS = [1411, 439, 214, 100, 62, 38, 29, 64]
SAMPLE_ACTUAL = [0.2367, 0.6970, 1.3925, 1.5600, 2.5323, 2.9474, 3.8621, 6.3594]
SAMPLE_BGNBD = [0.2251, 0.5231, 1.0441, 1.5203, 2.1639, 2.6538, 3.5040, 6.1572]


def test_sample_holdout_per_frequency_bucket(sample_summary: CustomerSummary, sample_bgnbd: BetaGeometricNbd) -> None:
    comparison = compare_holdout(sample_bgnbd, sample_summary)
    assert [bucket.frequency for bucket in comparison.buckets] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert [bucket.customers for bucket in comparison.buckets] == SAMPLE_CUSTOMERS
    assert [bucket.actual for bucket in comparison.buckets] == pytest.approx(SAMPLE_ACTUAL, abs=1e-4)
    assert [bucket.predicted for bucket in comparison.buckets] == pytest.approx(SAMPLE_BGNBD, abs=1e-4)
    predicted = [bucket.predicted for bucket in comparison.buckets]
    assert predicted == sorted(predicted)  # more past purchases, more future ones


def test_sample_holdout_totals(
    sample_summary: CustomerSummary, sample_bgnbd: BetaGeometricNbd, sample_pareto: ParetoNbd
) -> None:
    bgnbd = compare_holdout(sample_bgnbd, sample_summary)
    pareto = compare_holdout(sample_pareto, sample_summary)
    assert bgnbd.actual_total == pareto.actual_total == 1_882
    assert bgnbd.predicted_total == pytest.approx(1_653.4, abs=0.1)
    assert bgnbd.relative_error == pytest.approx(-0.121, abs=0.001)
    assert pareto.predicted_total == pytest.approx(1_665.5, abs=0.1)
    assert bgnbd.mean_absolute_error == pytest.approx(0.785, abs=0.001)
    assert pareto.mean_absolute_error == pytest.approx(0.755, abs=0.001)
    # Pareto/NBD is closer on the total and per customer, on the sample as on the master
    assert abs(pareto.relative_error) < abs(bgnbd.relative_error)
    assert pareto.mean_absolute_error < bgnbd.mean_absolute_error


def test_master_holdout(master_summary: CustomerSummary) -> None:
    calibration = (master_summary.frequency, master_summary.recency, master_summary.T)
    bgnbd = compare_holdout(BetaGeometricNbd().fit(*calibration), master_summary)
    pareto = compare_holdout(ParetoNbd().fit(*calibration), master_summary)
    assert bgnbd.customers == 23_570 and bgnbd.actual_total == 19_684
    assert bgnbd.predicted_total == pytest.approx(16_873.7, abs=1.0)  # 14.3% under, as published
    assert bgnbd.relative_error == pytest.approx(-0.143, abs=0.001)
    assert pareto.predicted_total == pytest.approx(17_153.2, abs=1.0)  # 12.9% under
    assert bgnbd.mean_absolute_error == pytest.approx(0.819, abs=0.001)
    assert pareto.mean_absolute_error == pytest.approx(0.794, abs=0.001)
    assert pareto.root_mean_squared_error < bgnbd.root_mean_squared_error
    # both beat forecasting nothing (MAE 0.835) and the calibration's own rate (x / T per week) per customer
    nothing = holdout_errors(np.zeros(len(master_summary)), master_summary.holdout_frequency, master_summary.frequency)
    own_rate = holdout_errors(
        master_summary.frequency / master_summary.T * master_summary.holdout_length,
        master_summary.holdout_frequency,
        master_summary.frequency,
    )
    for model in (bgnbd, pareto):
        assert model.mean_absolute_error < nothing.mean_absolute_error
        assert model.root_mean_squared_error < own_rate.root_mean_squared_error
