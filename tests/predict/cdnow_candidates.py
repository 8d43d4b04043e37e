"""CDNOW summaries with their timing statistics, and every purchase-model candidate fitted on a calibration,
computed once per test run (shared by the tests of the models beyond BG/NBD)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from afinidad.predict import BetaGeometricNbd, CustomerSummary, ParetoNbd, Transactions, read_cdnow, summarise
from afinidad.predict.cnbd import CondensedNbd
from afinidad.predict.mbgnbd import ModifiedBetaGeometricNbd
from afinidad.predict.timing import TimingSummary, timing_summary
from afinidad.predict.trend import TenureTrend
from tests.conftest import data_path

CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"
FILES = {"sample": "CDNOW_sample.txt", "master": "CDNOW_master.txt"}


@lru_cache
def transactions(which: str) -> Transactions:
    return read_cdnow(data_path("cdnow", FILES[which]))


@lru_cache
def cdnow(
    which: str, calibration_end: str = CALIBRATION_END, holdout_end: str = HOLDOUT_END
) -> tuple[CustomerSummary, TimingSummary]:
    orders = transactions(which)
    return summarise(orders, calibration_end, holdout_end), timing_summary(orders, calibration_end)


@lru_cache
def candidates(which: str, calibration_end: str = CALIBRATION_END, holdout_end: str = HOLDOUT_END) -> dict[str, Any]:
    """Every candidate, fitted on the calibration only (the timing statistics are of the calibration too)."""
    summary, timing = cdnow(which, calibration_end, holdout_end)
    x, t_x, T = summary.frequency, summary.recency, summary.T
    return {
        "BG/NBD": BetaGeometricNbd().fit(x, t_x, T),
        "Pareto/NBD": ParetoNbd().fit(x, t_x, T),
        "MBG/NBD": ModifiedBetaGeometricNbd().fit(x, t_x, T),
        "BG/CNBD-k": CondensedNbd().fit(x, t_x, T, log_interval_sum=timing.log_interval_sum),
        "MBG/CNBD-k": CondensedNbd(dropout_at_zero=True).fit(x, t_x, T, log_interval_sum=timing.log_interval_sum),
        "BG/NBD + trend": TenureTrend(BetaGeometricNbd()).fit(x, t_x, T, log_tenure_sum=timing.log_tenure_sum),
        "MBG/NBD + trend": TenureTrend(ModifiedBetaGeometricNbd()).fit(x, t_x, T, log_tenure_sum=timing.log_tenure_sum),
        "Pareto/NBD + trend": TenureTrend(ParetoNbd()).fit(x, t_x, T, log_tenure_sum=timing.log_tenure_sum),
    }
