"""Uplift targeting: whom an action changes, learned from a past randomized campaign, and the best action per
customer, "send nothing" included.

A response model ranks customers by how likely they are to visit; a campaign should rank them by how much
*more* likely the e-mail makes them (the uplift, treatment rate minus control rate for people like them).
Customers who visit anyway, or who are put off, are where budget and goodwill are wasted. Because the campaign
was randomized, treated and control customers are comparable, and two standard learners recover the uplift:

- `TwoModelUplift` (the T-learner): one model per group, uplift = treated prediction - control prediction.
  Works with any scikit-learn classifier or regressor, so with any outcome.
- `ClassTransformationUplift` (Jaskowski & Jaroszewicz 2012): for a binary outcome and a 50/50 split, with
  Z = Y*T + (1-Y)*(1-T), uplift = 2 P(Z=1 | x) - 1, so a single classifier learns the uplift directly. For an
  unequal split the rows are reweighted to a 50/50 split (treated by 0.5/p, control by 0.5/(1-p)), where the
  same identity holds.
- `SingleModelUplift` (the S-learner): one model with the treatment flag as a feature (and, optionally, its
  products with every feature), uplift = prediction with the flag at 1 - prediction with it at 0.
- `TransformedOutcomeUplift` (Athey & Imbens 2015): for any outcome (spend), Y* = Y (T-p) / (p(1-p)) has the
  uplift as its conditional mean, so any regressor learns it.

`NextBestAction` fits one uplift model per action against the same control and picks, for each customer, the
action with the highest predicted uplift when it is above 0, and nothing otherwise (`best_action`).

The evaluation follows scikit-uplift's definitions exactly, so figures can be compared with the literature:
`qini_curve`, `qini_auc_score` (normalised by the perfect curve) and `uplift_at_k` (strategy "overall");
`random_targeting` measures the same figures for random scores, the baseline every model must beat, and
`policy_value` estimates the outcome rate a targeting rule would reach, from the randomized campaign itself
(inverse propensity weighting).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.pipeline import Pipeline

from afinidad.errors import FieldProblem, InvalidInput

__all__ = [
    "ClassTransformationUplift",
    "NextBestAction",
    "PolicyEstimate",
    "SingleModelUplift",
    "TargetingScores",
    "TransformedOutcomeUplift",
    "TwoModelUplift",
    "best_action",
    "perfect_qini_curve",
    "policy_value",
    "qini_auc_score",
    "qini_curve",
    "random_targeting",
    "uplift_at_k",
]


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}", [FieldProblem(field=field, reason=reason)])


def _binary_treatment(treatment: ArrayLike, n_rows: int) -> np.ndarray:
    flags = np.asarray(treatment).ravel()
    if flags.size != n_rows:
        raise _invalid("treatment", f"expected {n_rows} treatment flags, got {flags.size}")
    if not np.isin(flags, (0, 1)).all():
        raise _invalid("treatment", "treatment flags must be 0 (control) or 1 (treated)")
    flags = flags.astype(int)
    if flags.min() == flags.max():
        raise _invalid("treatment", "both treated and control rows are needed")
    return flags


def _outcomes(y: ArrayLike) -> np.ndarray:
    outcomes = np.asarray(y, dtype=float).ravel()
    if np.isnan(outcomes).any():
        raise _invalid("y", "outcomes must not be missing")
    return outcomes


def _positive_score(model: Any, X: Any) -> np.ndarray:
    """A fitted model's expected outcome: P(y = 1) for a classifier, the prediction for a regressor."""
    if is_classifier(model) or hasattr(model, "predict_proba"):
        classes = list(model.classes_)
        return np.asarray(model.predict_proba(X))[:, classes.index(1)]
    return np.asarray(model.predict(X), dtype=float)


def _rows(X: Any, mask: np.ndarray) -> Any:
    return X[mask] if not hasattr(X, "iloc") else X.iloc[np.flatnonzero(mask)]


def _treatment_share(flags: np.ndarray, share: float | None) -> float:
    p = float(flags.mean()) if share is None else float(share)
    if not 0.0 < p < 1.0:
        raise _invalid("treatment_share", f"must lie strictly between 0 and 1, got {p}")
    return p


def _sample_weight(model: Any, weights: np.ndarray) -> dict[str, np.ndarray]:
    """`fit` keyword for row weights; a pipeline routes them to its last step."""
    if isinstance(model, Pipeline):
        return {f"{model.steps[-1][0]}__sample_weight": weights}
    return {"sample_weight": weights}


class TwoModelUplift(BaseEstimator):
    """T-learner: separate models for treated and control rows; the uplift is the difference of their
    predictions. Simple and outcome-agnostic; its weakness is that each model learns the outcome, not the
    difference, so noise in either shows up in the uplift. `control_estimator` defaults to a clone of
    `estimator`."""

    def __init__(self, estimator: Any, control_estimator: Any = None) -> None:
        self.estimator = estimator
        self.control_estimator = control_estimator

    def fit(self, X: Any, y: ArrayLike, treatment: ArrayLike) -> TwoModelUplift:
        outcomes = _outcomes(y)
        flags = _binary_treatment(treatment, outcomes.size)
        control_template = self.estimator if self.control_estimator is None else self.control_estimator
        self.treatment_model_ = clone(self.estimator).fit(_rows(X, flags == 1), outcomes[flags == 1])
        self.control_model_ = clone(control_template).fit(_rows(X, flags == 0), outcomes[flags == 0])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted uplift per row: expected outcome if treated minus if not."""
        return _positive_score(self.treatment_model_, X) - _positive_score(self.control_model_, X)


class SingleModelUplift(BaseEstimator):
    """S-learner: one model learns the outcome from the features plus the treatment flag; the uplift is its
    prediction with the flag set to 1 minus with it set to 0. It uses every row for the shared part of the
    outcome, which helps when the effect is small beside the base rate; but a model that does not let the flag
    interact with the features (a linear one, without `interactions`) can only shift everybody's score by the
    same amount on its own scale. `interactions` adds the product of the flag with every feature, as
    scikit-uplift's SoloModel(method="treatment_interaction"); the columns are [features, (products,) flag],
    its column order. Features must be numeric."""

    def __init__(self, estimator: Any, interactions: bool = False) -> None:
        self.estimator = estimator
        self.interactions = interactions

    def _with_flag(self, X: Any, flags: np.ndarray) -> np.ndarray:
        features = np.asarray(X, dtype=float)
        if features.ndim != 2:
            raise _invalid("X", "expected a 2-D matrix of numeric features")
        columns = [features, features * flags[:, None]] if self.interactions else [features]
        return np.column_stack([*columns, flags])

    def fit(self, X: Any, y: ArrayLike, treatment: ArrayLike) -> SingleModelUplift:
        outcomes = _outcomes(y)
        flags = _binary_treatment(treatment, outcomes.size)
        self.model_ = clone(self.estimator).fit(self._with_flag(X, flags.astype(float)), outcomes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        rows = np.asarray(X, dtype=float).shape[0]
        treated = _positive_score(self.model_, self._with_flag(X, np.ones(rows)))
        return treated - _positive_score(self.model_, self._with_flag(X, np.zeros(rows)))


class ClassTransformationUplift(BaseEstimator):
    """Class transformation for a binary outcome: one classifier on Z = Y*T + (1-Y)*(1-T), uplift =
    2 P(Z=1|x) - 1. One model learns the difference itself, which suits weak signals; it needs a
    randomized treatment with a known share p (`treatment_share`, estimated from the rows when None).

    When p is not 0.5 the rows are weighted 0.5/p (treated) and 0.5/(1-p) (control): under those weights the
    split is 50/50 and independent of x, so P_w(Z=1|x) = (P(Y=1|T=1,x) + 1 - P(Y=1|T=0,x)) / 2 and the identity
    holds. The estimator must then accept `sample_weight` in `fit` (a pipeline's last step); at exactly 0.5
    no weights are passed."""

    def __init__(self, estimator: Any, treatment_share: float | None = None) -> None:
        self.estimator = estimator
        self.treatment_share = treatment_share

    def fit(self, X: Any, y: ArrayLike, treatment: ArrayLike) -> ClassTransformationUplift:
        outcomes = _outcomes(y)
        if not np.isin(outcomes, (0.0, 1.0)).all():
            raise _invalid("y", "class transformation needs a 0/1 outcome; use TransformedOutcomeUplift otherwise")
        flags = _binary_treatment(treatment, outcomes.size)
        self.treatment_share_ = _treatment_share(flags, self.treatment_share)
        transformed = (outcomes == flags).astype(int)
        model = clone(self.estimator)
        if abs(self.treatment_share_ - 0.5) < 1e-12:
            model.fit(X, transformed)
        else:
            weights = np.where(flags == 1, 0.5 / self.treatment_share_, 0.5 / (1.0 - self.treatment_share_))
            model.fit(X, transformed, **_sample_weight(model, weights))
        self.model_ = model
        return self

    def predict(self, X: Any) -> np.ndarray:
        return 2.0 * _positive_score(self.model_, X) - 1.0


class TransformedOutcomeUplift(BaseEstimator):
    """Transformed outcome for any outcome (spend, margin): a regressor on Y* = Y (T - p) / (p (1 - p)), whose
    conditional mean is the uplift. Unbiased but noisy (Y* is large and signed), so it wants a regularised
    regressor and more rows than the other two."""

    def __init__(self, regressor: Any, treatment_share: float | None = None) -> None:
        self.regressor = regressor
        self.treatment_share = treatment_share

    def fit(self, X: Any, y: ArrayLike, treatment: ArrayLike) -> TransformedOutcomeUplift:
        outcomes = _outcomes(y)
        flags = _binary_treatment(treatment, outcomes.size)
        p = self.treatment_share_ = _treatment_share(flags, self.treatment_share)
        self.model_ = clone(self.regressor).fit(X, outcomes * (flags - p) / (p * (1.0 - p)))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(X), dtype=float)


def best_action(uplifts: ArrayLike, actions: Sequence[Hashable], nothing: Hashable) -> np.ndarray:
    """Per row, the action with the highest predicted uplift if that uplift is above 0, else `nothing`.

    `uplifts` has one column per action in `actions` (each against doing nothing). An action that is expected to
    change nothing, or to put the customer off, is never worth its cost and its risk to goodwill."""
    table = np.asarray(uplifts, dtype=float)
    if table.ndim != 2 or table.shape[1] != len(actions):
        raise _invalid("uplifts", f"expected one column per action ({len(actions)}), got shape {table.shape}")
    labels = np.asarray(list(actions) + [nothing], dtype=object)
    best = np.argmax(table, axis=1)
    worth_it = table[np.arange(table.shape[0]), best] > 0.0
    return labels[np.where(worth_it, best, len(actions))]


class NextBestAction(BaseEstimator):
    """One uplift model per action, each fitted on that action's rows and the control rows, and the best
    action per customer by `best_action`, where "nothing" is the control label itself (so a choice can be
    compared with what the campaign did). `model` is any uplift estimator here (cloned per action)."""

    def __init__(self, model: Any, control: Hashable) -> None:
        self.model = model
        self.control = control

    def fit(self, X: Any, y: ArrayLike, action: ArrayLike) -> NextBestAction:
        outcomes = _outcomes(y)
        labels = np.asarray(action, dtype=object).ravel()
        if labels.size != outcomes.size:
            raise _invalid("action", f"expected {outcomes.size} actions, got {labels.size}")
        if not (labels == self.control).any():
            raise _invalid("control", f"no row received the control action {self.control!r}")
        self.actions_ = tuple(sorted({label for label in labels if label != self.control}, key=str))
        if not self.actions_:
            raise _invalid("action", "no action besides the control")
        self.models_: dict[Hashable, Any] = {}
        for label in self.actions_:
            rows = (labels == label) | (labels == self.control)
            treated = (labels[rows] == label).astype(int)
            self.models_[label] = clone(self.model).fit(_rows(X, rows), outcomes[rows], treated)
        return self

    def predict_uplift(self, X: Any) -> np.ndarray:
        """Predicted uplift of every action (columns in `actions_` order) against the control."""
        return np.column_stack([self.models_[label].predict(X) for label in self.actions_])

    def predict(self, X: Any) -> np.ndarray:
        """The chosen action per row: an action label, or the control label for "send nothing"."""
        return best_action(self.predict_uplift(X), self.actions_, self.control)


# -- evaluation ---------------------------------------------------------------------------------------------


def _evaluation_inputs(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> tuple[np.ndarray, ...]:
    outcomes = _outcomes(y_true)
    scores = np.asarray(uplift, dtype=float).ravel()
    if scores.size != outcomes.size:
        raise _invalid("uplift", f"expected {outcomes.size} scores, got {scores.size}")
    return outcomes, scores, _binary_treatment(treatment, outcomes.size)


def qini_curve(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve (Radcliffe 2007): targeting the top n by score, the incremental outcomes gained,
    treated outcomes minus control outcomes scaled to the treated count, at every distinct score threshold.

    Identical to `sklift.metrics.qini_curve`: rows sorted by descending score (stable, ties keep the later row
    first), one point per distinct score, starting at (0, 0). Returns (number targeted, incremental outcomes)."""
    outcomes, scores, flags = _evaluation_inputs(y_true, uplift, treatment)
    order = np.argsort(scores, kind="mergesort")[::-1]
    outcomes, flags, scores = outcomes[order], flags[order], scores[order]
    thresholds = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    treated = np.cumsum(flags, dtype=float)[thresholds]
    treated_outcomes = np.cumsum(outcomes * flags)[thresholds]
    control_outcomes = np.cumsum(outcomes * (1 - flags))[thresholds]
    targeted = thresholds + 1
    control = targeted - treated
    ratio = np.divide(treated, control, out=np.zeros_like(treated), where=control != 0)
    gains = treated_outcomes - control_outcomes * ratio
    if gains[0] != 0 or targeted[0] != 0:
        targeted, gains = np.r_[0, targeted], np.r_[0.0, gains]
    return targeted, gains


def perfect_qini_curve(
    y_true: ArrayLike, treatment: ArrayLike, negative_effect: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The best Qini curve these outcomes allow: treated responders first and, with `negative_effect`, control
    responders (people the action would have put off) last; without it, scikit-uplift's curve that rises to
    the total effect at x = total effect and stays flat (defined only for a positive total effect)."""
    outcomes = _outcomes(y_true)
    flags = _binary_treatment(treatment, outcomes.size)
    if negative_effect:
        return qini_curve(outcomes, outcomes * flags - outcomes * (1 - flags), flags)
    total = outcomes[flags == 1].sum() - (flags == 1).sum() * outcomes[flags == 0].sum() / (flags == 0).sum()
    if total <= 0:
        raise _invalid("negative_effect", "without negative effects the perfect curve needs a positive total effect")
    return np.array([0.0, total, outcomes.size]), np.array([0.0, total, total])


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def qini_auc_score(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike, negative_effect: bool = True) -> float:
    """Normalised area under the Qini curve (the Qini coefficient as scikit-uplift computes it): the area
    between the model's curve and the random-targeting diagonal, over the same area for the perfect curve.
    0 is random targeting, 1 perfect; negative is worse than random."""
    outcomes, scores, flags = _evaluation_inputs(y_true, uplift, treatment)
    x_actual, y_actual = qini_curve(outcomes, scores, flags)
    x_perfect, y_perfect = perfect_qini_curve(outcomes, flags, negative_effect)
    baseline = _area(np.array([0.0, x_perfect[-1]]), np.array([0.0, y_perfect[-1]]))
    return (_area(x_actual, y_actual) - baseline) / (_area(x_perfect, y_perfect) - baseline)


def uplift_at_k(y_true: ArrayLike, uplift: ArrayLike, treatment: ArrayLike, k: float | int = 0.3) -> float:
    """Uplift among the top k by score: treated outcome rate minus control outcome rate among the first
    `int(n * k)` rows (k a fraction in (0, 1)) or the first k rows (k an int), both groups together.

    This is `sklift.metrics.uplift_at_k(..., strategy="overall")`: "if we mail the top 30%, how much more
    do they do than if we mailed none of them". NaN when the top k holds no treated or no control row."""
    outcomes, scores, flags = _evaluation_inputs(y_true, uplift, treatment)
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        if not 0 < k < outcomes.size:
            raise _invalid("k", f"an integer k must lie in 1..{outcomes.size - 1}, got {k}")
        size = int(k)
    else:
        if not 0.0 < float(k) < 1.0:
            raise _invalid("k", f"a fractional k must lie in (0, 1), got {k}")
        size = int(outcomes.size * float(k))
    top = np.argsort(scores, kind="mergesort")[::-1][:size]
    treated, control = outcomes[top][flags[top] == 1], outcomes[top][flags[top] == 0]
    if treated.size == 0 or control.size == 0:
        return float("nan")
    return float(treated.mean() - control.mean())


class TargetingScores(NamedTuple):
    """How well a ranking targets: normalised Qini AUC and uplift among the top k."""

    qini_auc: float
    uplift_at_k: float


def random_targeting(
    y_true: ArrayLike, treatment: ArrayLike, k: float = 0.3, repeats: int = 100, seed: int = 0
) -> TargetingScores:
    """The figures random scores reach on these rows, averaged over `repeats` random rankings: the baseline
    a model must beat (Qini AUC 0 and the overall uplift in expectation, measured rather than assumed)."""
    outcomes = _outcomes(y_true)
    flags = _binary_treatment(treatment, outcomes.size)
    rng = np.random.default_rng(seed)
    scores = [rng.random(outcomes.size) for _ in range(repeats)]
    return TargetingScores(
        qini_auc=float(np.mean([qini_auc_score(outcomes, score, flags) for score in scores])),
        uplift_at_k=float(np.mean([uplift_at_k(outcomes, score, flags, k) for score in scores])),
    )


class PolicyEstimate(NamedTuple):
    """Expected outcome per customer under a targeting rule, with its standard error."""

    value: float
    standard_error: float


def policy_value(
    y_true: ArrayLike,
    action: ArrayLike,
    chosen: ArrayLike,
    shares: Mapping[Hashable, float] | None = None,
) -> PolicyEstimate:
    """What a targeting rule would earn, estimated from a randomized campaign by inverse propensity weighting:
    the mean of outcome x [campaign did what the rule chooses] / P(campaign does that).

    `action` is what the campaign did to each row, `chosen` what the rule would do; `shares` the campaign's
    probability of each action (the observed shares when None, which is the usual, slightly more precise,
    choice for a randomized test). Unbiased because the campaign's assignment did not depend on the customer."""
    outcomes = _outcomes(y_true)
    done = np.asarray(action, dtype=object).ravel()
    wanted = np.asarray(chosen, dtype=object).ravel()
    if not outcomes.size == done.size == wanted.size:
        raise _invalid("chosen", "outcomes, actions and choices must have the same length")
    labels, counts = np.unique(done.astype(str), return_counts=True)
    observed = {label: count / done.size for label, count in zip(labels, counts, strict=True)}
    probability = {str(label): share for label, share in (shares or {}).items()} or observed
    missing = ({str(label) for label in wanted} | set(observed)) - set(probability)
    if missing:
        raise _invalid("shares", f"no probability for {sorted(missing)}: the estimate needs one for every action")
    propensity = np.array([probability[label] for label in done.astype(str)])
    terms = outcomes * (done.astype(str) == wanted.astype(str)) / propensity
    return PolicyEstimate(float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(terms.size)))
