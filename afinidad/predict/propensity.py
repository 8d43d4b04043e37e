"""Propensity: the calibrated probability that a customer does something (converts, buys in a window,
lapses), learned from labelled examples with gradient-boosted trees.

LightGBM is used because it handles what customer tables hold without preparation: numbers on any scale,
categories (split natively on groups of categories, not one-hot), missing values (each split learns which way
they go), and it gives, per prediction, each feature's exact additive share of the score (TreeSHAP,
Lundberg et al. 2020), which is what `explain` reports.

`fit` never sees data it is later judged on, and carves what it needs from the training rows alone, each part
stratified and seeded: a validation part that picks the number of trees (early stopping on log-loss) and a
calibration part on which the trees' raw scores are mapped to probabilities (trees trained on the rest rank
well, but their probabilities drift with the number of trees and the class balance). The map is isotonic
when the calibration part is large enough for its steps to be trusted, Platt's sigmoid otherwise (the rule is
in `Propensity`'s docstring).

The input is a table: a mapping of column name to a column of values (a dict of lists or arrays, or a pandas
DataFrame). Categorical columns are named in `categorical`; every other column must be numeric. None, NaN and
(in categorical columns) the empty string are missing values; a category never seen in training is treated
as missing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm
import numpy as np
from numpy.typing import ArrayLike

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import ModelNotFitted
from afinidad.predict.calibration import IsotonicCalibration, PlattScaling, binary_outcomes, stratified_split

Table = Mapping[str, ArrayLike]
CalibrationMethod = Literal["auto", "isotonic", "platt"]

# The "auto" rule: isotonic from this many calibration rows and this many of the rarer outcome among them.
ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_MINORITY = 100


@dataclass(frozen=True)
class Contribution:
    """One feature's share of a score: its `value` for this customer (None when missing) and how much it
    moved the raw score, in log-odds (positive: toward the outcome), with a sentence saying so."""

    feature: str
    value: float | str | None
    log_odds: float
    text: str


@dataclass(frozen=True)
class PropensityExplanation:
    """Why one customer got its score. `raw_score` is the trees' log-odds before calibration; it is exactly
    `base_value` (the average raw score over the training rows) plus every feature's contribution: the
    `factors` shown (the strongest first) and `other_log_odds`, the rest summed. `probability` is the
    calibrated probability, a monotone function of the raw score."""

    probability: float
    raw_score: float
    base_value: float
    factors: tuple[Contribution, ...]
    other_log_odds: float

    @property
    def text(self) -> str:
        return "; ".join(factor.text for factor in self.factors)


class Propensity:
    """Calibrated gradient-boosted trees for a binary outcome: `fit(X, y)`, then `predict_proba(X)`,
    `decision_function(X)` (raw log-odds) and `explain(row)`.

    Hyper-parameters: `categorical` names the categorical columns. `validation_fraction` and
    `calibration_fraction` are the shares of the training rows held out for early stopping and for
    calibration (the trees learn from the rest). `calibration` is "isotonic", "platt" or "auto": isotonic when
    the calibration part has at least 1,000 rows and 100 of the rarer outcome, Platt otherwise, since
    isotonic regression beats Platt's two parameters only from about a thousand calibration rows
    (Niculescu-Mizil & Caruana 2005) and its steps overfit a rare outcome. The tree settings are LightGBM's
    (`learning_rate`, `num_leaves`, `min_child_samples`, at most `max_trees`, stopping after
    `early_stopping_rounds` without improvement). `n_jobs` is LightGBM's thread count, 1 by default: its
    OpenMP threads fight the BLAS and OpenMP workers other libraries leave spinning (measured on a 2-core
    machine: a 0.5 s fit of 25,000 rows took 6 s with 2 threads once the test suite's imports had run).

    Learned: `feature_names_`, `categorical_`, `categories_` (per categorical column, the values seen),
    `booster_`, `best_iteration_`, `calibration_method_`, `calibrator_`, `base_value_` and
    `feature_importance_` (each feature's share of the trees' total split gain, largest first)."""

    def __init__(
        self,
        categorical: Sequence[str] = (),
        calibration: CalibrationMethod = "auto",
        validation_fraction: float = 0.15,
        calibration_fraction: float = 0.15,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        max_trees: int = 2000,
        early_stopping_rounds: int = 100,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.categorical = categorical
        self.calibration = calibration
        self.validation_fraction = validation_fraction
        self.calibration_fraction = calibration_fraction
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_trees = max_trees
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Table, y: ArrayLike) -> Propensity:
        """Learn the categories, grow trees on the training rows minus the validation and calibration parts
        (stopping when the validation log-loss has not improved for `early_stopping_rounds` trees), then fit
        the calibrator on the calibration part's raw scores."""
        self._check_settings()
        names = _column_names(X)
        categorical = tuple(str(name) for name in self.categorical)
        unknown = [name for name in categorical if name not in names]
        if unknown:
            raise InvalidInput(
                "Categorical columns missing from the table.",
                [FieldProblem(name, "listed in categorical, not in the table") for name in unknown],
            )
        columns = _columns(X, names)
        rows = _row_count(columns)
        outcomes = binary_outcomes(y)
        if len(outcomes) != rows:
            raise InvalidInput(f"{rows} rows but {len(outcomes)} outcomes.", [FieldProblem("y", "length differs")])
        categories = {name: _categories_seen(_category_texts(columns[name], name)) for name in categorical}

        train_rows, validation_rows, calibration_rows = _carve(
            outcomes, self.validation_fraction, self.calibration_fraction, self.random_state
        )
        matrix = _encode(columns, names, categories)
        categorical_indices = [names.index(name) for name in categorical]
        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": self.n_jobs,
            "verbose": -1,
        }
        dataset_params = {"verbose": -1}
        training = lightgbm.Dataset(
            matrix[train_rows], outcomes[train_rows], feature_name=list(names),
            categorical_feature=categorical_indices, params=dataset_params, free_raw_data=True,
        )  # fmt: skip
        validation = lightgbm.Dataset(matrix[validation_rows], outcomes[validation_rows], reference=training)
        booster = lightgbm.train(
            params, training, num_boost_round=self.max_trees, valid_sets=[validation],
            callbacks=[lightgbm.early_stopping(self.early_stopping_rounds, verbose=False)],
        )  # fmt: skip
        best_iteration = int(booster.best_iteration or booster.current_iteration())
        raw = np.asarray(booster.predict(matrix[calibration_rows], num_iteration=best_iteration, raw_score=True))
        method = calibration_method(self.calibration, outcomes[calibration_rows])
        calibrator = IsotonicCalibration() if method == "isotonic" else PlattScaling()
        calibrator.fit(raw, outcomes[calibration_rows])
        gains = booster.feature_importance("gain", iteration=best_iteration)
        total = float(gains.sum()) or 1.0
        ranked = sorted(zip(names, gains, strict=True), key=lambda pair: -pair[1])

        self.feature_names_ = names
        self.categorical_ = categorical
        self.categories_ = categories
        self.booster_ = booster
        self.best_iteration_ = best_iteration
        self.calibration_method_ = method
        self.calibrator_ = calibrator
        self.base_value_ = float(self._contributions(matrix[:1])[0, -1])
        self.feature_importance_ = {name: float(gain) / total for name, gain in ranked}
        return self

    def decision_function(self, X: Table) -> np.ndarray:
        """The trees' raw score per row, in log-odds, before calibration."""
        columns = self._checked_columns(X)
        return self._raw(_encode(columns, self.feature_names_, self.categories_))

    def predict_proba(self, X: Table) -> np.ndarray:
        """The calibrated probability of the outcome per row: a 1-D array (not scikit-learn's two columns,
        since the second is all anyone reads)."""
        raw = self.decision_function(X)
        return self.calibrator_.predict(raw)

    def explain(self, row: Mapping[str, Any], max_factors: int = 5) -> PropensityExplanation:
        """The main factors behind one row's score: every feature's TreeSHAP contribution to the raw score,
        the `max_factors` largest in size first, the rest summed into `other_log_odds`."""
        if max_factors < 0:
            raise InvalidInput("max_factors must not be negative.", [FieldProblem("max_factors", "negative")])
        table = {name: (value if np.ndim(value) else [value]) for name, value in row.items()}
        columns = self._checked_columns(table)
        if _row_count(columns) != 1:
            raise InvalidInput("Explain one row at a time.", [FieldProblem("row", "more than one row")])
        matrix = _encode(columns, self.feature_names_, self.categories_)
        contributions = self._contributions(matrix)[0]
        raw = float(contributions.sum())
        shares = []
        for index, name in enumerate(self.feature_names_):
            value, text_value = self._display(name, columns[name][0], matrix[0, index])
            log_odds = float(contributions[index])
            shares.append(Contribution(name, value, log_odds, f"{name} = {text_value}: {_signed(log_odds)} log-odds"))
        shares.sort(key=lambda share: -abs(share.log_odds))
        shown, rest = shares[:max_factors], shares[max_factors:]
        return PropensityExplanation(
            probability=float(self.calibrator_.predict(np.array([raw]))[0]),
            raw_score=raw,
            base_value=float(contributions[-1]),
            factors=tuple(shown),
            other_log_odds=float(sum(share.log_odds for share in rest)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-safe data (the trees in LightGBM's own text format), for a model version;
        `from_dict` gives back a model that predicts and explains the same."""
        if getattr(self, "feature_names_", None) is None:
            raise ModelNotFitted("Propensity is not fitted: call fit() first.")
        return {"feature_names": list(self.feature_names_), "categorical": list(self.categorical_),
                "categories": {name: list(values) for name, values in self.categories_.items()},
                "trees": self.booster_.model_to_string(num_iteration=self.best_iteration_),
                "best_iteration": self.best_iteration_, "calibration": self.calibration_method_,
                "calibrator": self.calibrator_.to_dict(), "base_value": self.base_value_,
                "feature_importance": self.feature_importance_}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Propensity:
        loaded = cls(categorical=tuple(data["categorical"]))
        loaded.feature_names_ = list(data["feature_names"])
        loaded.categorical_ = tuple(data["categorical"])
        loaded.categories_ = {name: tuple(values) for name, values in data["categories"].items()}
        loaded.booster_ = lightgbm.Booster(model_str=data["trees"])
        loaded.best_iteration_ = int(data["best_iteration"])
        loaded.calibration_method_ = data["calibration"]
        kind = IsotonicCalibration if data["calibration"] == "isotonic" else PlattScaling
        loaded.calibrator_ = kind.from_dict(data["calibrator"])
        loaded.base_value_ = float(data["base_value"])
        loaded.feature_importance_ = dict(data["feature_importance"])
        return loaded

    # -- internals --------------------------------------------------------------------------------------------

    def _check_settings(self) -> None:
        problems = []
        if self.calibration not in ("auto", "isotonic", "platt"):
            problems.append(FieldProblem("calibration", "one of auto, isotonic, platt"))
        for name in ("validation_fraction", "calibration_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                problems.append(FieldProblem(name, "not in (0, 0.5)"))
        if problems:
            raise InvalidInput("Invalid Propensity settings.", problems)

    def _checked_columns(self, X: Table) -> dict[str, np.ndarray]:
        """The table's columns by the training names, or InvalidInput naming every missing or unknown one."""
        names = getattr(self, "feature_names_", None)
        if names is None:
            raise ModelNotFitted("Propensity is not fitted: call fit() first.")
        given = _column_names(X)
        problems = [FieldProblem(name, "missing column") for name in names if name not in given]
        problems += [FieldProblem(name, "unknown column (not in training)") for name in given if name not in names]
        if problems:
            raise InvalidInput("The table's columns differ from the training table's.", problems)
        columns = _columns(X, names)
        _row_count(columns)
        return columns

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.predict(matrix, num_iteration=self.best_iteration_, raw_score=True))

    def _contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per row: each feature's contribution to the raw score, then the base value (the last column)."""
        return np.asarray(self.booster_.predict(matrix, num_iteration=self.best_iteration_, pred_contrib=True))

    def _display(self, name: str, given: Any, encoded: float) -> tuple[float | str | None, str]:
        if name in self.categories_:
            text = _category_texts(np.array([given], dtype=object), name)[0]
            if text is None:
                return None, "missing"
            if math.isnan(encoded):
                return text, f"{text} (not seen in training, taken as missing)"
            return text, text
        if math.isnan(encoded):
            return None, "missing"
        return float(encoded), f"{encoded:g}"


def calibration_method(requested: CalibrationMethod, calibration_outcomes: np.ndarray) -> Literal["isotonic", "platt"]:
    """The calibrator to fit on these outcomes: the one requested, or for "auto" isotonic when there are at
    least `ISOTONIC_MIN_ROWS` of them and `ISOTONIC_MIN_MINORITY` of the rarer outcome, Platt otherwise."""
    if requested != "auto":
        return requested
    positives = int(np.sum(calibration_outcomes))
    minority = min(positives, len(calibration_outcomes) - positives)
    enough = len(calibration_outcomes) >= ISOTONIC_MIN_ROWS and minority >= ISOTONIC_MIN_MINORITY
    return "isotonic" if enough else "platt"


def _carve(
    outcomes: np.ndarray, validation_fraction: float, calibration_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training, validation and calibration rows, each stratified; InvalidInput if one lacks an outcome."""
    kept, calibration_rows = stratified_split(outcomes, calibration_fraction, seed)
    share = validation_fraction / (1.0 - calibration_fraction)
    train_positions, validation_positions = stratified_split(outcomes[kept], share, seed + 1)
    parts = kept[train_positions], kept[validation_positions], calibration_rows
    for part, rows in zip(("training", "validation", "calibration"), parts, strict=True):
        if len(np.unique(outcomes[rows])) < 2:
            raise InvalidInput(
                f"Too few rows of one outcome: the {part} part carved from them has only one.",
                [FieldProblem("y", "needs both outcomes in every held-out part (more rows of the rarer one)")],
            )
    return parts


def _encode(columns: dict[str, np.ndarray], names: Sequence[str], categories: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Float features: numeric columns as they are, categorical ones as the index of the value among the
    categories seen in training (NaN for missing or unseen, which LightGBM treats as missing)."""
    rows = _row_count(columns)
    matrix = np.empty((rows, len(names)), dtype=np.float64)
    problems = []
    for index, name in enumerate(names):
        if name in categories:
            codes = {value: float(code) for code, value in enumerate(categories[name])}
            texts = _category_texts(columns[name], name)
            matrix[:, index] = [math.nan if text is None else codes.get(text, math.nan) for text in texts]
        else:
            try:
                matrix[:, index] = _numbers(columns[name])
            except ValueError as error:
                problems.append(FieldProblem(name, str(error)))
    if problems:
        raise InvalidInput("Numeric columns with values that are not numbers.", problems)
    return matrix


def _column_names(X: Table) -> tuple[str, ...]:
    keys = getattr(X, "keys", None)
    if keys is None:
        raise InvalidInput("X must be a table: a mapping of column name to values.", [FieldProblem("X", "not a table")])
    names = tuple(str(name) for name in keys())
    if not names:
        raise InvalidInput("The table has no columns.", [FieldProblem("X", "no columns")])
    return names


def _columns(X: Table, names: Sequence[str]) -> dict[str, np.ndarray]:
    columns = {}
    for name in names:
        values = np.asarray(X[name])
        if values.ndim != 1:
            raise InvalidInput(f"Column {name} is not one-dimensional.", [FieldProblem(name, "not a column")])
        columns[name] = values
    return columns


def _row_count(columns: dict[str, np.ndarray]) -> int:
    lengths = [len(values) for values in columns.values()]
    rows = max(set(lengths), key=lengths.count)  # the length most columns have; the others are wrong
    if any(length != rows for length in lengths):
        raise InvalidInput(
            "Columns of different lengths.",
            [FieldProblem(name, f"{len(values)} rows, not {rows}") for name, values in columns.items()
             if len(values) != rows],
        )  # fmt: skip
    if rows == 0:
        raise InvalidInput("The table has no rows.", [FieldProblem("X", "no rows")])
    return rows


def _numbers(values: np.ndarray) -> np.ndarray:
    """A numeric column as floats, None and NaN as NaN; ValueError saying why it is not one."""
    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64)
    else:
        numbers = np.empty(len(values), dtype=np.float64)
        for position, value in enumerate(values):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                numbers[position] = math.nan
            elif isinstance(value, (bool, int, float, np.number, np.bool_)):
                numbers[position] = float(value)
            else:
                raise ValueError(f"not a number (row {position}: {value!r}); list it in categorical?")
    if np.isinf(numbers).any():
        raise ValueError("infinite")
    return numbers


def _category_texts(values: np.ndarray, name: str) -> list[str | None]:
    """A categorical column's values as text, None for missing (None, NaN, ""). Whole numbers are written
    without a decimal point, so 2 and 2.0 are the same category."""
    texts: list[str | None] = []
    for value in values.tolist():
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            texts.append(None)
        elif isinstance(value, float) and value.is_integer():
            texts.append(str(int(value)))
        elif isinstance(value, (str, int, float, bool)):
            texts.append(str(value))
        else:
            raise InvalidInput(f"Column {name} holds {type(value).__name__} values.", [FieldProblem(name, "not text")])
    return texts


def _categories_seen(texts: list[str | None]) -> tuple[str, ...]:
    return tuple(sorted({text for text in texts if text is not None}))


def _signed(log_odds: float) -> str:
    return f"{log_odds:+.2g}" if abs(log_odds) < 1 else f"{log_odds:+.1f}"
