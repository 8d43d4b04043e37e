"""Kevin Hillstrom's MineThatData e-mail test (2008): 64,000 customers randomised into a Mens e-mail, a Womens
e-mail or no e-mail, with two weeks of visits, conversions and spend. A real randomised experiment with a
pre-period covariate (`history`, dollars spent in the past year), which makes it the reference on which the
experiment statistics are shown: each e-mail against none, with CUPED on `history`.

`read_hillstrom` is the only function here that touches a file; the data are read in place, never copied."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from afinidad.decide.stats import Correction, ExperimentAnalysis, analyse
from afinidad.errors import FieldProblem, InvalidInput

CONTROL = "No E-Mail"
SEGMENTS = ("Mens E-Mail", "Womens E-Mail", CONTROL)
OUTCOMES = ("visit", "conversion", "spend")
COVARIATE = "history"
# The design randomised a third of the customers to each arm.
PLANNED_WEIGHTS = {CONTROL: 100 / 3, "Mens E-Mail": 100 / 3, "Womens E-Mail": 100 / 3}
_COLUMNS = ("segment", COVARIATE, *OUTCOMES)


@dataclass(frozen=True)
class HillstromCampaign:
    """One entry per customer: the arm (`segment`), the pre-period covariate and the three outcomes."""

    segment: np.ndarray
    history: np.ndarray
    visit: np.ndarray
    conversion: np.ndarray
    spend: np.ndarray

    def __len__(self) -> int:
        return len(self.segment)

    def outcome(self, name: str) -> np.ndarray:
        if name not in OUTCOMES:
            raise InvalidInput(f"No outcome {name!r}.", [FieldProblem("outcome", " / ".join(OUTCOMES))])
        return getattr(self, name)


def read_hillstrom(path: Path) -> HillstromCampaign:
    """hillstrom.csv as distributed (header row, 12 columns); only the columns the analysis needs are kept."""
    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in _COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(f"{Path(path).name} lacks columns: {', '.join(missing)}.",
                               [FieldProblem(name, "missing column") for name in missing])  # fmt: skip
        rows = [tuple(row[name] for name in _COLUMNS) for row in reader]
    segment, history, visit, conversion, spend = zip(*rows, strict=True) if rows else ((),) * 5
    segments = np.array(segment, dtype=str)
    unknown = sorted(set(segments.tolist()) - set(SEGMENTS))
    if unknown:
        raise InvalidInput(f"Unknown segments: {', '.join(unknown)}.", [FieldProblem("segment", "unknown value")])
    return HillstromCampaign(
        segments, np.array(history, dtype=float), np.array(visit, dtype=float),
        np.array(conversion, dtype=float), np.array(spend, dtype=float),
    )  # fmt: skip


def analyse_hillstrom(
    campaign: HillstromCampaign, alpha: float = 0.05, use_history: bool = True, correction: Correction = "holm"
) -> dict[str, ExperimentAnalysis]:
    """Each e-mail against no e-mail for every outcome, CUPED-adjusted by `history` unless `use_history` is
    False; the two e-mails are corrected for as two comparisons with one control."""
    covariate = campaign.history if use_history else None
    return {
        outcome: analyse(campaign.segment, campaign.outcome(outcome), PLANNED_WEIGHTS, control=CONTROL,
                         covariate=covariate, alpha=alpha, correction=correction)
        for outcome in OUTCOMES
    }  # fmt: skip
