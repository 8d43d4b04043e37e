"""The CDNOW data the predict tests share: the published 2,357-customer sample and the full 23,570-customer
master, each summarised with the 39-week calibration (to 1997-09-30) and the 39-week holdout (to 1998-06-30)
of Fader, Hardie & Lee (2005). Read once per run; tests skip when the data folder is absent."""

from __future__ import annotations

import pytest

from afinidad.predict import BetaGeometricNbd, CustomerSummary, ParetoNbd, read_cdnow, summarise
from tests.conftest import data_path

CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"


@pytest.fixture(scope="session")
def sample_summary() -> CustomerSummary:
    return summarise(read_cdnow(data_path("cdnow", "CDNOW_sample.txt")), CALIBRATION_END, HOLDOUT_END)


@pytest.fixture(scope="session")
def master_summary() -> CustomerSummary:
    return summarise(read_cdnow(data_path("cdnow", "CDNOW_master.txt")), CALIBRATION_END, HOLDOUT_END)


@pytest.fixture(scope="session")
def sample_bgnbd(sample_summary: CustomerSummary) -> BetaGeometricNbd:
    return BetaGeometricNbd().fit(sample_summary.frequency, sample_summary.recency, sample_summary.T)


@pytest.fixture(scope="session")
def sample_pareto(sample_summary: CustomerSummary) -> ParetoNbd:
    return ParetoNbd().fit(sample_summary.frequency, sample_summary.recency, sample_summary.T)
