"""Choosing the purchase model from the calibration alone (BIC), and what every candidate then does on CDNOW's
39-week holdout, which played no part in the choice (docs/predictions.md, "Beyond BG/NBD on the full CDNOW").

The figures, in short: the rule picks MBG/NBD with a tenure trend on the master and BG/NBD with a tenure
trend on the sample. No candidate comes within 5% of the holdout's total: all forecast 11.5% to 20% too few
purchases. The picks beat BG/NBD on the mean absolute error, not on the total (and on the master not on the
RMSE)."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.errors import InvalidInput
from afinidad.predict import BgNbdParams, GammaGamma, compare_holdout
from afinidad.predict.cnbd import CnbdParams
from afinidad.predict.selection import parameter_count, rank_by_bic
from afinidad.predict.trend import TenureTrendParams
from tests.predict.cdnow_candidates import candidates, cdnow

# name: (predicted total, relative error, MAE, RMSE) against the 39-week holdout
HOLDOUT = {
    "master": {
        "BG/NBD": (16_873.7, -0.1428, 0.8187, 1.7329),
        "Pareto/NBD": (17_153.2, -0.1286, 0.7938, 1.7262),
        "MBG/NBD": (15_933.6, -0.1905, 0.7945, 1.7396),
        "BG/CNBD-k": (16_873.7, -0.1428, 0.8187, 1.7329),
        "MBG/CNBD-k": (15_933.6, -0.1905, 0.7945, 1.7396),
        "BG/NBD + trend": (16_547.9, -0.1593, 0.8142, 1.7325),
        "MBG/NBD + trend": (15_821.9, -0.1962, 0.7966, 1.7427),
        "Pareto/NBD + trend": (16_051.7, -0.1845, 0.7872, 1.7372),
    },
    "sample": {
        "BG/NBD": (1_653.4, -0.1215, 0.7855, 1.6080),
        "Pareto/NBD": (1_665.5, -0.1150, 0.7545, 1.6028),
        "MBG/NBD": (1_576.7, -0.1622, 0.7648, 1.6072),
        "BG/CNBD-k": (1_653.4, -0.1215, 0.7855, 1.6080),
        "MBG/CNBD-k": (1_576.7, -0.1622, 0.7648, 1.6072),
        "BG/NBD + trend": (1_604.7, -0.1473, 0.7770, 1.6058),
        "MBG/NBD + trend": (1_553.9, -0.1744, 0.7642, 1.6082),
        "Pareto/NBD + trend": (1_526.8, -0.1887, 0.7464, 1.6061),
    },
}
# BIC order on the calibration, best first, with the log-likelihoods
BIC_ORDER = {
    "master": [
        ("MBG/NBD + trend", -95_259.6), ("BG/NBD + trend", -95_266.3), ("Pareto/NBD + trend", -95_325.4),
        ("MBG/NBD", -95_337.0), ("MBG/CNBD-k", -95_337.0), ("BG/NBD", -95_368.4), ("BG/CNBD-k", -95_368.4),
        ("Pareto/NBD", -95_415.1),
    ],
    "sample": [
        ("BG/NBD + trend", -9_568.5), ("MBG/NBD + trend", -9_569.9), ("MBG/NBD", -9_582.1), ("BG/NBD", -9_582.4),
        ("Pareto/NBD + trend", -9_579.7), ("MBG/CNBD-k", -9_582.1), ("BG/CNBD-k", -9_582.4), ("Pareto/NBD", -9_595.0),
    ],
}  # fmt: skip


@pytest.mark.parametrize("which", ["sample", "master"])
def test_bic_on_the_calibration_picks_a_tenure_trend(which: str) -> None:
    summary, _ = cdnow(which)
    ranking = rank_by_bic(candidates(which), len(summary))
    assert [(score.name, round(score.log_likelihood, 1)) for score in ranking] == BIC_ORDER[which]
    assert [score.parameters for score in ranking if "CNBD" in score.name] == [5, 5]  # k counts


@pytest.mark.parametrize("which", ["sample", "master"])
def test_holdout_figures_of_every_candidate(which: str) -> None:
    summary, _ = cdnow(which)
    models = candidates(which)
    comparisons = {name: compare_holdout(model, summary) for name, model in models.items()}
    for name, (total, relative, mae, rmse) in HOLDOUT[which].items():
        comparison = comparisons[name]
        assert comparison.predicted_total == pytest.approx(total, abs=1.0), name
        assert comparison.relative_error == pytest.approx(relative, abs=0.0005), name
        assert comparison.mean_absolute_error == pytest.approx(mae, abs=0.0005), name
        assert comparison.root_mean_squared_error == pytest.approx(rmse, abs=0.0005), name
    # The honest result: nothing fitted on the calibration alone comes within 5% of the holdout's total.
    assert all(comparison.relative_error < -0.11 for comparison in comparisons.values())
    pick = rank_by_bic(models, len(summary))[0].name
    bgnbd = comparisons["BG/NBD"]
    assert comparisons[pick].mean_absolute_error < bgnbd.mean_absolute_error
    assert comparisons[pick].relative_error < bgnbd.relative_error
    if which == "master":  # and 0.01 worse in RMSE there (on the sample 0.002 better)
        assert comparisons[pick].root_mean_squared_error > bgnbd.root_mean_squared_error


def test_backtest_inside_the_calibration_does_not_see_the_holdout_shortfall() -> None:
    """Refitted on the calibration up to 1997-06-30 and checked on its last 13 weeks, the master's models are
    all within 5% of the total: the calibration holds no sign of the holdout's 13-20% shortfall. MBG/NBD is
    best there on the total and MAE."""
    summary, _ = cdnow("master", "1997-06-30", "1997-09-30")
    models = candidates("master", "1997-06-30", "1997-09-30")
    comparisons = {name: compare_holdout(model, summary) for name, model in models.items()}
    assert summary.holdout_frequency.sum() == 7_293
    for name, comparison in comparisons.items():
        assert abs(comparison.relative_error) < 0.05, name
    assert comparisons["MBG/NBD"].relative_error == pytest.approx(-0.0142, abs=0.0005)
    assert min(comparisons, key=lambda name: comparisons[name].mean_absolute_error) in ("MBG/NBD", "MBG/CNBD-k")


def test_parameter_count_and_bad_input() -> None:
    assert parameter_count(BgNbdParams(0.2, 4.0, 0.8, 2.0)) == 4
    assert parameter_count(CnbdParams(2, 0.2, 4.0, 0.8, 2.0)) == 5
    assert parameter_count(TenureTrendParams(0.9, BgNbdParams(0.2, 4.0, 0.8, 2.0))) == 5
    with pytest.raises(InvalidInput):
        rank_by_bic({}, 10)


def test_every_candidate_plugs_into_lifetime_value() -> None:
    """Each model has the interface `GammaGamma.customer_value` needs; 12-month values on the sample."""
    summary, _ = cdnow("sample")
    repeaters = (summary.frequency > 0) & (summary.mean_value > 0)
    spend = GammaGamma().fit(summary.frequency[repeaters], summary.mean_value[repeaters])
    calibration = (summary.frequency, summary.recency, summary.T, summary.mean_value)
    values = {
        name: spend.customer_value(model, *calibration, horizon_months=12, discount_rate=0.01)
        for name, model in candidates("sample").items()
    }
    assert all(np.isfinite(value).all() and (value >= 0).all() for value in values.values())
    assert values["BG/CNBD-k"].sum() == pytest.approx(values["BG/NBD"].sum(), rel=1e-4)
    assert values["MBG/NBD + trend"].sum() == pytest.approx(67_065, rel=0.001)
