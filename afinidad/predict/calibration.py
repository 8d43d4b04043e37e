"""How good a model's probabilities are, and how to make them honest.

A propensity or churn score is used two ways: to rank customers (who to call first), which ROC AUC and the
lift in the top decile measure, and as a probability (how many of these 1,000 will buy), which only holds if
it is calibrated: among customers scored 0.2, a fifth should convert. The Brier score mixes both; the
reliability table and the expected calibration error (ECE) show the second alone. Boosted trees rank well but
their raw probabilities drift with the number of trees and the class balance, so `Propensity` maps its raw
scores through one of the two calibrators here, fitted on data the trees did not see.

`stratified_split` is the one way data is held out in this package (for early stopping, for calibration and
for evaluation): seeded, so a figure can be reproduced, and stratified, so a rare outcome lands in every part
at its overall rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import ModelNotFitted

BinStrategy = Literal["quantile", "uniform"]


@dataclass(frozen=True)
class ReliabilityBin:
    """Customers whose predicted probability fell in [`lower`, `upper`]: how many, what the model said on
    average and how often the outcome really happened."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class ProbabilityReport:
    """Every check of a set of predicted probabilities against outcomes, as `evaluate_probabilities` gives it."""

    count: int
    base_rate: float
    roc_auc: float
    brier_score: float
    expected_calibration_error: float
    lift_at_top_decile: float
    reliability: tuple[ReliabilityBin, ...]


def roc_auc(y: ArrayLike, scores: ArrayLike) -> float:
    """The probability that a random positive is scored above a random negative (ties count half): the
    Mann-Whitney statistic from average ranks, so it needs no threshold and any monotone score works."""
    outcomes, values = _outcomes_and_scores(y, scores, "scores")
    positives = int(outcomes.sum())
    negatives = len(outcomes) - positives
    if positives == 0 or negatives == 0:
        raise InvalidInput("ROC AUC needs both outcomes.", [FieldProblem("y", "only one class")])
    ranks = rankdata(values)
    return float((ranks[outcomes == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def brier_score(y: ArrayLike, probabilities: ArrayLike) -> float:
    """Mean squared difference between the probability and the 0/1 outcome (0 is perfect; always saying the
    base rate p scores p(1-p))."""
    outcomes, values = _outcomes_and_probabilities(y, probabilities)
    return float(np.mean((values - outcomes) ** 2))


def reliability_table(
    y: ArrayLike, probabilities: ArrayLike, bins: int = 10, strategy: BinStrategy = "quantile"
) -> tuple[ReliabilityBin, ...]:
    """Mean predicted probability against the observed rate per bin. "quantile" (the default) makes bins of
    equal count, deciles for 10, so every row rests on as many customers (with a rare outcome, equal-width
    bins leave the upper ones nearly empty); "uniform" makes bins of equal width on [0, 1] and leaves out the
    empty ones."""
    outcomes, values = _outcomes_and_probabilities(y, probabilities)
    if bins < 1:
        raise InvalidInput("At least one bin.", [FieldProblem("bins", "less than 1")])
    if strategy == "quantile":
        order = np.argsort(values, kind="stable")
        groups = [chunk for chunk in np.array_split(order, bins) if len(chunk)]
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
        bin_of = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
        groups = [np.flatnonzero(bin_of == index) for index in range(bins)]
        groups = [group for group in groups if len(group)]
    else:
        raise InvalidInput(f"Unknown bin strategy {strategy!r}.", [FieldProblem("strategy", "quantile or uniform")])
    return tuple(
        ReliabilityBin(
            lower=float(values[group].min()),
            upper=float(values[group].max()),
            count=len(group),
            mean_predicted=float(values[group].mean()),
            observed_rate=float(outcomes[group].mean()),
        )
        for group in groups
    )


def expected_calibration_error(
    y: ArrayLike, probabilities: ArrayLike, bins: int = 10, strategy: BinStrategy = "quantile"
) -> float:
    """The count-weighted mean of |mean predicted - observed rate| over the reliability table's bins: how far,
    on average, a customer's probability is from what happened to customers scored like it."""
    table = reliability_table(y, probabilities, bins, strategy)
    total = sum(row.count for row in table)
    return float(sum(row.count * abs(row.mean_predicted - row.observed_rate) for row in table) / total)


def lift_at(y: ArrayLike, scores: ArrayLike, fraction: float = 0.1) -> float:
    """The outcome rate among the top `fraction` by score over the overall rate: how many times better than
    random a campaign sent to that share of customers does. Ties at the cut are broken by input order."""
    outcomes, values = _outcomes_and_scores(y, scores, "scores")
    if not 0.0 < fraction <= 1.0:
        raise InvalidInput("The fraction must be in (0, 1].", [FieldProblem("fraction", "not in (0, 1]")])
    base_rate = outcomes.mean()
    if base_rate == 0:
        raise InvalidInput("Lift needs at least one positive outcome.", [FieldProblem("y", "no positive")])
    top = np.argsort(-values, kind="stable")[: max(1, int(round(fraction * len(values))))]
    return float(outcomes[top].mean() / base_rate)


def evaluate_probabilities(
    y: ArrayLike, probabilities: ArrayLike, bins: int = 10, strategy: BinStrategy = "quantile"
) -> ProbabilityReport:
    """All the checks at once, for a report or a test."""
    outcomes, values = _outcomes_and_probabilities(y, probabilities)
    table = reliability_table(outcomes, values, bins, strategy)
    return ProbabilityReport(
        count=len(outcomes),
        base_rate=float(outcomes.mean()),
        roc_auc=roc_auc(outcomes, values),
        brier_score=brier_score(outcomes, values),
        expected_calibration_error=float(
            sum(row.count * abs(row.mean_predicted - row.observed_rate) for row in table) / len(outcomes)
        ),
        lift_at_top_decile=lift_at(outcomes, values, 0.1),
        reliability=table,
    )


def stratified_split(y: ArrayLike, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (kept, held out), each sorted, with `fraction` of each outcome's rows held out (rounded
    per outcome), drawn with `seed`."""
    labels = np.asarray(y).ravel()
    if not 0.0 < fraction < 1.0:
        raise InvalidInput("The held-out fraction must be in (0, 1).", [FieldProblem("fraction", "not in (0, 1)")])
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        held_out.append(rng.permutation(rows)[: int(round(fraction * len(rows)))])
    held = np.sort(np.concatenate(held_out)) if held_out else np.empty(0, dtype=np.int64)
    mask = np.zeros(len(labels), dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), held


class PlattScaling:
    """Platt's sigmoid, P = 1 / (1 + exp(-(a * score + b))), fitted by maximum likelihood on Platt's (1999)
    smoothed targets (positives (n+ + 1) / (n+ + 2), negatives 1 / (n- + 2)), which keep it from becoming a
    step when the scores separate the outcomes. Two parameters: it needs little data and keeps the ranking,
    but it can only stretch and shift the score, not bend it."""

    def fit(self, scores: ArrayLike, y: ArrayLike) -> PlattScaling:
        outcomes, values = _outcomes_and_scores(y, scores, "scores")
        positives = outcomes.sum()
        negatives = len(outcomes) - positives
        targets = np.where(outcomes == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))

        def negative_log_likelihood(params: np.ndarray) -> tuple[float, np.ndarray]:
            logits = params[0] * values + params[1]
            loss = -np.sum(targets * log_expit(logits) + (1.0 - targets) * log_expit(-logits))
            residual = expit(logits) - targets
            return float(loss), np.array([np.sum(residual * values), np.sum(residual)])

        result = minimize(negative_log_likelihood, np.array([1.0, 0.0]), jac=True, method="BFGS")
        self.slope_, self.intercept_ = float(result.x[0]), float(result.x[1])
        return self

    def predict(self, scores: ArrayLike) -> np.ndarray:
        if not hasattr(self, "slope_"):
            raise ModelNotFitted("PlattScaling is not fitted: call fit() first.")
        return expit(self.slope_ * np.asarray(scores, dtype=np.float64) + self.intercept_)

    def to_dict(self) -> dict[str, float]:
        return {"slope": self.slope_, "intercept": self.intercept_}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> PlattScaling:
        loaded = cls()
        loaded.slope_, loaded.intercept_ = float(data["slope"]), float(data["intercept"])
        return loaded


class IsotonicCalibration:
    """The best non-decreasing map from score to probability (pool adjacent violators, scikit-learn's
    `IsotonicRegression`), clipped outside the fitted range. It can correct any monotone distortion, but each
    step rests on the rows in it, so it needs a thousand or so rows to beat Platt (Niculescu-Mizil & Caruana
    2005), and it turns nearby scores into ties.

    Plain isotonic regression says 0 for the lowest block when it holds no positive and 1 for the highest
    when it holds no negative: certainty from a few dozen rows (on the bank data, 201 held-out customers got
    0 and one of them subscribed). So one positive is added at the lowest score and one negative at the
    highest, Laplace's rule at the only two places where 0 and 1 can arise."""

    def fit(self, scores: ArrayLike, y: ArrayLike) -> IsotonicCalibration:
        outcomes, values = _outcomes_and_scores(y, scores, "scores")
        padded_values = np.concatenate([[values.min()], values, [values.max()]])
        padded_outcomes = np.concatenate([[1.0], outcomes, [0.0]])
        self.regression_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
            padded_values, padded_outcomes
        )
        return self

    def predict(self, scores: ArrayLike) -> np.ndarray:
        points = getattr(self, "points_", None)
        if points is not None:  # loaded: the fitted steps, interpolated and clipped as IsotonicRegression does
            return np.interp(np.asarray(scores, dtype=np.float64), points[0], points[1])
        if not hasattr(self, "regression_"):
            raise ModelNotFitted("IsotonicCalibration is not fitted: call fit() first.")
        return np.asarray(self.regression_.predict(np.asarray(scores, dtype=np.float64)), dtype=np.float64)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": self.regression_.X_thresholds_.tolist(), "y": self.regression_.y_thresholds_.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> IsotonicCalibration:
        loaded = cls()
        loaded.points_ = (np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64))
        return loaded


def binary_outcomes(y: ArrayLike, field: str = "y") -> np.ndarray:
    """0/1 as float from booleans or the numbers 0 and 1; anything else (NaN, 2, "yes") is InvalidInput."""
    values = np.asarray(y).ravel()
    if values.dtype.kind == "b":
        return values.astype(np.float64)
    if values.dtype.kind not in "iuf":
        raise InvalidInput(f"{field} must be 0/1 or boolean.", [FieldProblem(field, f"not binary ({values.dtype})")])
    numbers = values.astype(np.float64)
    if not np.isin(numbers, (0.0, 1.0)).all():
        strange = numbers[~np.isin(numbers, (0.0, 1.0))][:3]
        raise InvalidInput(
            f"{field} must be 0/1 or boolean.", [FieldProblem(field, f"not binary (values such as {strange.tolist()})")]
        )
    return numbers


def _outcomes_and_scores(y: ArrayLike, scores: ArrayLike, field: str) -> tuple[np.ndarray, np.ndarray]:
    outcomes = binary_outcomes(y)
    values = np.asarray(scores, dtype=np.float64).ravel()
    if len(values) != len(outcomes):
        raise InvalidInput(
            f"{len(outcomes)} outcomes but {len(values)} {field}.", [FieldProblem(field, "length differs from y")]
        )
    if len(values) == 0:
        raise InvalidInput("Nothing to evaluate.", [FieldProblem("y", "empty")])
    if not np.isfinite(values).all():
        raise InvalidInput(f"{field} must be finite.", [FieldProblem(field, "NaN or infinite")])
    return outcomes, values


def _outcomes_and_probabilities(y: ArrayLike, probabilities: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    outcomes, values = _outcomes_and_scores(y, probabilities, "probabilities")
    if ((values < 0) | (values > 1)).any():
        raise InvalidInput("Probabilities must be in [0, 1].", [FieldProblem("probabilities", "outside [0, 1]")])
    return outcomes, values
