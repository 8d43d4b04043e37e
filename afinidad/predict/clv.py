"""Customer lifetime value as the platform runs it: BG/NBD for how many purchases, Gamma-Gamma for how much
each, fitted together on a customer summary, measured on a holdout before it is trusted, and compared
with the version before it (drift) so a change in the data shows before the scores are used.

Pure: summaries in, parameters, scores and figures out. `predict.service` reads a workspace's orders."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from afinidad.predict.bgnbd import BetaGeometricNbd, BgNbdParams
from afinidad.predict.churn import probability_no_purchase
from afinidad.predict.evaluation import HoldoutComparison, compare_holdout
from afinidad.predict.gamma_gamma import GammaGamma, GammaGammaParams
from afinidad.predict.transactions import CustomerSummary, Transactions, summarise

HORIZON_WEEKS = 13.0  # the purchases forecast stored on profiles: the next quarter
CLV_MONTHS = 12
SCORE_NAMES = ("expected_orders_90d", "probability_alive", "churn", "clv_12m")


@dataclass(frozen=True)
class Scores:
    """Per customer of a summary, in its order."""

    customer_ids: np.ndarray
    expected_orders_90d: np.ndarray
    probability_alive: np.ndarray
    churn: np.ndarray  # P(no order in the next 90 days): lapsed, or alive but quiet (see churn.py)
    clv_12m: np.ndarray


class LifetimeValue:
    """BG/NBD + Gamma-Gamma on weekly summaries (an estimator: `fit` returns self)."""

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, summary: CustomerSummary) -> LifetimeValue:
        self.purchases_ = BetaGeometricNbd(penalizer=self.penalizer).fit(summary.frequency, summary.recency,
                                                                          summary.T)  # fmt: skip
        repeaters = (summary.frequency > 0) & (summary.mean_value > 0)
        self.spend_: GammaGamma | None = None
        if repeaters.sum() >= 10:  # too few repeat buyers to learn spend: value falls back to purchases only
            self.spend_ = GammaGamma(penalizer=self.penalizer).fit(summary.frequency[repeaters],
                                                                    summary.mean_value[repeaters])  # fmt: skip
        return self

    def score(self, summary: CustomerSummary) -> Scores:
        x, t_x, age = summary.frequency, summary.recency, summary.T
        alive = self.purchases_.probability_alive(x, t_x, age)
        expected = self.purchases_.expected_purchases(HORIZON_WEEKS, x, t_x, age)
        if self.spend_ is not None:
            value = self.spend_.customer_value(self.purchases_, x, t_x, age, summary.mean_value,
                                               horizon_months=CLV_MONTHS, unit="weeks")  # fmt: skip
        else:
            value = np.zeros(len(x))
        silent = probability_no_purchase(self.purchases_, HORIZON_WEEKS, x, t_x, age)
        return Scores(summary.customer_ids, expected, alive, silent, value)

    def params(self) -> dict[str, Any]:
        found: dict[str, Any] = {"bgnbd": asdict(self.purchases_.params_)}
        if self.spend_ is not None:
            found["gamma_gamma"] = asdict(self.spend_.params_)
        return found

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LifetimeValue:
        model = cls()
        model.purchases_ = BetaGeometricNbd()
        model.purchases_.params_ = BgNbdParams(**params["bgnbd"])
        model.spend_ = None
        if "gamma_gamma" in params:
            model.spend_ = GammaGamma()
            model.spend_.params_ = GammaGammaParams(**params["gamma_gamma"])
        return model


@dataclass(frozen=True)
class Evaluation:
    """A fit on the calibration period, forecast against the holdout."""

    params: dict[str, Any]
    comparison: HoldoutComparison
    spend_rank_correlation: float | None  # Spearman of 12-month CLV against actual holdout spend
    calibration_customers: int


def evaluate(transactions: Transactions, calibration_end: Any, holdout_end: Any) -> Evaluation:
    summary = summarise(transactions, calibration_end, holdout_end, unit="weeks")
    model = LifetimeValue().fit(summary)
    comparison = compare_holdout(model.purchases_, summary)
    correlation = None
    if transactions.amounts is not None and summary.holdout_value is not None and len(summary) > 2:
        value = model.score(summary).clv_12m
        if np.ptp(value) > 0 and np.ptp(summary.holdout_value) > 0:
            correlation = float(spearmanr(value, summary.holdout_value).statistic)
    return Evaluation(model.params(), comparison, correlation, len(summary))


def deciles(values: np.ndarray) -> list[float]:
    """The score distribution a version keeps, for the next version's drift check."""
    if len(values) == 0:
        return []
    return [float(q) for q in np.quantile(values, np.linspace(0.1, 0.9, 9), method="inverted_cdf")]


def population_stability(previous_deciles: list[float], values: np.ndarray) -> float | None:
    """PSI of new scores against the previous version's deciles (each of the ten bins held 10% then):
    under 0.1 is stable, 0.1-0.25 a moderate shift, above 0.25 a major one (the usual credit-scoring
    reading). Where deciles tie (many equal scores), the empty bins between them give their 10% to the
    bin that holds the tied value."""
    if len(previous_deciles) != 9 or len(values) == 0:
        return None
    edges = np.asarray(previous_deciles, dtype=np.float64)
    # bin i holds (edges[i-1], edges[i]]: a value equal to a decile counts in the bin that decile closes
    actual = np.bincount(np.searchsorted(edges, values, side="left"), minlength=10) / len(values)
    expected = np.full(10, 0.1)
    for i in range(1, 9):
        if edges[i] == edges[i - 1]:
            first = int(np.searchsorted(edges, edges[i], side="left"))
            expected[first] += expected[i]
            expected[i] = 0.0
    kept = expected > 0
    share, base = np.clip(actual[kept], 1e-4, None), expected[kept]
    return float(np.sum((share - base) * np.log(share / base)))


def drift_reading(psi: float | None) -> str:
    if psi is None:
        return "no earlier version to compare with"
    return "stable" if psi < 0.1 else "moderate shift" if psi < 0.25 else "major shift"
