"""Off-policy evaluation: what a policy would have earned, estimated from a log that another policy made.

A bandit or an experiment leaves a log of (context, action shown, position, reward, propensity). Before a new
policy is let loose, these estimators answer "what would it have earned on the same traffic?":

- **DM** (direct method): average a reward model's predictions under the new policy. Low variance, biased
  by whatever the model gets wrong.
- **IPW** (inverse propensity weighting): reweight logged rewards by new / logging probability. Unbiased when
  the propensities are right, with variance that grows with the weights.
- **SNIPW** (self-normalised IPW): IPW divided by the mean weight. Slightly biased, bounded by the rewards'
  range, and usually steadier when rewards are rare.
- **DR** (doubly robust): DM plus IPW on the model's residuals. Unbiased when either the propensities or the
  model are right, and lower-variance than IPW when the model is decent.
- **Switch-DR**: DR where the weight is small, DM where it exceeds `max_weight` (Wang et al. 2017).

All are position-aware the way the Open Bandit Pipeline (obp) is: the evaluation policy is an array
`action_dist` of shape (n_rounds, n_actions, len_list), the probability of showing each action at each slot,
and each logged row is weighted by `action_dist[i, action_i, position_i] / pscore_i`. A context-free policy
can pass `np.broadcast_to(table, (n, n_actions, len_list))`, which costs no memory.

Every estimator is a mean of per-round terms (SNIPW a ratio of two means), so each returns the estimate with a
confidence interval: normal (the central limit theorem; the delta method for SNIPW) or a percentile bootstrap
over rounds. The reward models are scikit-learn-shaped estimators; `cross_fit` gives out-of-fold
predictions, as DR needs to keep the model's errors independent of the rows it corrects.

Pure numpy and scipy (and scikit-learn's logistic regression); no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal, Protocol

import numpy as np
import scipy.sparse as sp

Interval = Literal["normal", "bootstrap"]


@dataclass(frozen=True)
class PolicyValue:
    """An estimated policy value (for 0/1 rewards, a click or conversion rate) with its confidence interval."""

    estimator: str
    value: float
    low: float
    high: float
    confidence: float


def inverse_propensity_weighting(
    rewards: np.ndarray,
    actions: np.ndarray,
    positions: np.ndarray,
    pscores: np.ndarray,
    action_dist: np.ndarray,
    *,
    interval: Interval = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> PolicyValue:
    """IPW: the mean of weight x reward (Horvitz & Thompson 1952; Precup et al. 2000)."""
    weights = importance_weights(actions, positions, pscores, action_dist)
    terms = weights * _as_float(rewards, len(weights), "rewards")
    return _estimate("IPW", terms, None, interval, confidence, n_bootstrap, random_state)


def self_normalized_ipw(
    rewards: np.ndarray,
    actions: np.ndarray,
    positions: np.ndarray,
    pscores: np.ndarray,
    action_dist: np.ndarray,
    *,
    interval: Interval = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> PolicyValue:
    """SNIPW: sum of weight x reward over the sum of weights (Swaminathan & Joachims 2015). A weighted mean of
    observed rewards, so it stays within their range (a rate in [0, 1] for clicks)."""
    weights = importance_weights(actions, positions, pscores, action_dist)
    terms = weights * _as_float(rewards, len(weights), "rewards")
    return _estimate("SNIPW", terms, weights, interval, confidence, n_bootstrap, random_state)


def direct_method(
    positions: np.ndarray,
    action_dist: np.ndarray,
    reward_predictions: np.ndarray,
    *,
    interval: Interval = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> PolicyValue:
    """DM: the reward model's expected reward under the evaluation policy, at each logged round's position.
    The interval reflects only the rounds' spread, not the model's error."""
    terms = _model_value(positions, action_dist, reward_predictions)
    return _estimate("DM", terms, None, interval, confidence, n_bootstrap, random_state)


def doubly_robust(
    rewards: np.ndarray,
    actions: np.ndarray,
    positions: np.ndarray,
    pscores: np.ndarray,
    action_dist: np.ndarray,
    reward_predictions: np.ndarray,
    *,
    interval: Interval = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> PolicyValue:
    """DR: DM plus the importance-weighted residual of the logged action (Dudík, Langford & Li 2011)."""
    terms = _doubly_robust_terms(rewards, actions, positions, pscores, action_dist, reward_predictions, np.inf)
    return _estimate("DR", terms, None, interval, confidence, n_bootstrap, random_state)


def switch_doubly_robust(
    rewards: np.ndarray,
    actions: np.ndarray,
    positions: np.ndarray,
    pscores: np.ndarray,
    action_dist: np.ndarray,
    reward_predictions: np.ndarray,
    *,
    max_weight: float = 10.0,
    interval: Interval = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> PolicyValue:
    """Switch-DR: the DR correction only on rounds whose weight is at most `max_weight`; the others trust the
    model alone, trading a little bias for much less variance when a few rounds carry huge weights."""
    if not max_weight > 0:
        raise ValueError("max_weight must be positive")
    terms = _doubly_robust_terms(rewards, actions, positions, pscores, action_dist, reward_predictions, max_weight)
    return _estimate("Switch-DR", terms, None, interval, confidence, n_bootstrap, random_state)


def evaluate_policy(
    rewards: np.ndarray,
    actions: np.ndarray,
    positions: np.ndarray,
    pscores: np.ndarray,
    action_dist: np.ndarray,
    reward_predictions: np.ndarray | None = None,
    *,
    max_weight: float = 10.0,
    interval: Interval = "normal",
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = None,
) -> dict[str, PolicyValue]:
    """Every estimator on one log, keyed by name: IPW and SNIPW always; DM, DR and Switch-DR when reward
    predictions (ideally from `cross_fit`) are given. Their spread is itself a diagnostic: estimates that
    disagree by more than their intervals point at a poor reward model or at weights too large to trust."""
    options = dict(interval=interval, confidence=confidence, n_bootstrap=n_bootstrap, random_state=random_state)
    logged = (rewards, actions, positions, pscores, action_dist)
    values = [inverse_propensity_weighting(*logged, **options), self_normalized_ipw(*logged, **options)]
    if reward_predictions is not None:
        values += [
            direct_method(positions, action_dist, reward_predictions, **options),
            doubly_robust(*logged, reward_predictions, **options),
            switch_doubly_robust(*logged, reward_predictions, max_weight=max_weight, **options),
        ]
    return {value.estimator: value for value in values}


def importance_weights(
    actions: np.ndarray, positions: np.ndarray, pscores: np.ndarray, action_dist: np.ndarray
) -> np.ndarray:
    """Per round: evaluation policy's probability of the logged action at the logged position, over the
    logging policy's (`pscores`)."""
    actions, positions = np.asarray(actions), np.asarray(positions)
    pscores = np.asarray(pscores, dtype=float)
    n = _check_action_dist(action_dist, actions, positions)
    if pscores.shape != (n,):
        raise ValueError("pscores must have one value per round")
    if not np.all((pscores > 0) & (pscores <= 1)):
        raise ValueError("pscores must be in (0, 1]: a logged action must have had a chance to be logged")
    return np.asarray(action_dist)[np.arange(n), actions, positions] / pscores


class RewardModel(Protocol):
    """What DM and DR need from a reward model: fit on logged rounds, then predict the expected reward of every
    action at every position for given contexts, shape (n_rounds, n_actions, len_list)."""

    def fit(
        self,
        contexts: np.ndarray,
        actions: np.ndarray,
        positions: np.ndarray,
        rewards: np.ndarray,
        n_actions: int,
        len_list: int,
    ) -> RewardModel: ...

    def predict(self, contexts: np.ndarray) -> np.ndarray: ...


class CellMeanReward:
    """The reward rate of each (action, position), shrunk towards its position's rate by a Beta prior.

    Context-free, which suits a context-free evaluation policy such as Thompson sampling. With rare rewards
    most cells see a handful of clicks, so the raw means are mostly noise; the prior's strength (pseudo-rounds
    per cell) is, unless given, estimated from the data by empirical Bayes (method of moments on the spread
    of cell rates beyond what binomial noise explains), so it shrinks hard exactly when cells do not differ."""

    def __init__(self, prior_strength: float | None = None) -> None:
        self.prior_strength = prior_strength

    def fit(
        self,
        contexts: np.ndarray,
        actions: np.ndarray,
        positions: np.ndarray,
        rewards: np.ndarray,
        n_actions: int,
        len_list: int,
    ) -> CellMeanReward:
        actions, positions = np.asarray(actions), np.asarray(positions)
        rewards = _as_float(rewards, len(actions), "rewards")
        cells = actions * len_list + positions
        shown = np.bincount(cells, minlength=n_actions * len_list).reshape(n_actions, len_list)
        earned = np.bincount(cells, weights=rewards, minlength=n_actions * len_list).reshape(n_actions, len_list)
        position_rate = earned.sum(axis=0) / np.maximum(shown.sum(axis=0), 1)
        strength = self.prior_strength
        if strength is None:
            strength = _beta_binomial_strength(shown, earned, position_rate)
        self.prior_strength_ = float(strength)
        if np.isinf(strength):  # the cells differ no more than noise: every action gets its position's rate
            self.rates_ = np.tile(position_rate, (n_actions, 1))
        else:
            self.rates_ = (earned + strength * position_rate) / (shown + strength)  # (n_actions, len_list)
        return self

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.rates_, (len(contexts), *self.rates_.shape))


class LogisticReward:
    """Click probability from a logistic regression on user context, action and position, all additive:
    logit = context . w + action effect + position effect.

    Additive features keep prediction cheap: the (n_rounds, n_actions, len_list) logits are a sum of three
    broadcast arrays, never a row per (round, action, position). `C` is scikit-learn's inverse L2 penalty.
    The fit is Newton's method on a sparse design to a tight tolerance: with click rates under 1% the
    likelihood is so flat that L-BFGS at its default tolerance stops with the intercept far from its optimum."""

    def __init__(self, C: float = 1.0, tol: float = 1e-8, max_iter: int = 100) -> None:
        self.C = C
        self.tol = tol
        self.max_iter = max_iter

    def fit(
        self,
        contexts: np.ndarray,
        actions: np.ndarray,
        positions: np.ndarray,
        rewards: np.ndarray,
        n_actions: int,
        len_list: int,
    ) -> LogisticReward:
        from sklearn.linear_model import LogisticRegression

        contexts = np.asarray(contexts, dtype=float)
        actions, positions = np.asarray(actions), np.asarray(positions)
        rewards = _as_float(rewards, len(actions), "rewards")
        n = len(actions)
        features = sp.hstack(
            [sp.csr_matrix(contexts), _indicator(actions, n_actions), _indicator(positions, len_list)], format="csr"
        )
        n_context = contexts.shape[1]
        if len(np.unique(rewards)) < 2:  # nothing to separate: predict the constant rate
            self.context_coef_ = np.zeros(n_context)
            self.action_coef_ = np.zeros(n_actions)
            self.position_coef_ = np.zeros(len_list)
            rate = float(np.clip(rewards.mean() if n else 0.0, 1e-9, 1 - 1e-9))
            self.intercept_ = float(np.log(rate / (1 - rate)))
            return self
        model = LogisticRegression(C=self.C, solver="newton-cholesky", tol=self.tol, max_iter=self.max_iter)
        model.fit(features, rewards > 0)
        coef = model.coef_[0]
        self.context_coef_ = coef[:n_context]
        self.action_coef_ = coef[n_context : n_context + n_actions]
        self.position_coef_ = coef[n_context + n_actions :]
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        context_logit = np.asarray(contexts, dtype=float) @ self.context_coef_ + self.intercept_
        logits = context_logit[:, None, None] + self.action_coef_[None, :, None] + self.position_coef_[None, None, :]
        return 1.0 / (1.0 + np.exp(-logits))


def cross_fit(
    make_model: Callable[[], RewardModel],
    contexts: np.ndarray,
    actions: np.ndarray,
    positions: np.ndarray,
    rewards: np.ndarray,
    n_actions: int,
    len_list: int,
    *,
    n_folds: int = 3,
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Out-of-fold reward predictions (n_rounds, n_actions, len_list): each round is predicted by a model fitted
    on the other folds, so DR's correction is not shrunk by a model that has already seen the round."""
    contexts = np.asarray(contexts)
    actions, positions = np.asarray(actions), np.asarray(positions)
    rewards = np.asarray(rewards)
    n = len(actions)
    if n_folds < 2 or n_folds > n:
        raise ValueError("n_folds must be between 2 and the number of rounds")
    folds = np.random.default_rng(random_state).permutation(n) % n_folds
    predictions = np.empty((n, n_actions, len_list))
    for fold in range(n_folds):
        held_out = folds == fold
        model = make_model().fit(
            contexts[~held_out], actions[~held_out], positions[~held_out], rewards[~held_out], n_actions, len_list
        )
        predictions[held_out] = model.predict(contexts[held_out])
    return predictions


def _doubly_robust_terms(
    rewards: np.ndarray,
    actions: np.ndarray,
    positions: np.ndarray,
    pscores: np.ndarray,
    action_dist: np.ndarray,
    reward_predictions: np.ndarray,
    max_weight: float,
) -> np.ndarray:
    weights = importance_weights(actions, positions, pscores, action_dist)
    n = len(weights)
    rewards = _as_float(rewards, n, "rewards")
    baseline = _model_value(positions, action_dist, reward_predictions)
    logged_prediction = np.asarray(reward_predictions)[np.arange(n), actions, positions]
    correction = np.where(weights <= max_weight, weights * (rewards - logged_prediction), 0.0)
    return baseline + correction


def _model_value(positions: np.ndarray, action_dist: np.ndarray, reward_predictions: np.ndarray) -> np.ndarray:
    """Per round: sum over actions of policy probability x predicted reward, at the round's position."""
    positions = np.asarray(positions)
    reward_predictions = np.asarray(reward_predictions)
    n = len(positions)
    if reward_predictions.shape != np.shape(action_dist) or reward_predictions.shape[0] != n:
        raise ValueError("reward_predictions must have the shape of action_dist: (n_rounds, n_actions, len_list)")
    rounds = np.arange(n)
    policy_at_position = np.asarray(action_dist)[rounds, :, positions]  # (n, n_actions)
    return np.einsum("ij,ij->i", policy_at_position, reward_predictions[rounds, :, positions])


def _estimate(
    name: str,
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    interval: Interval,
    confidence: float,
    n_bootstrap: int,
    random_state: int | np.random.Generator | None,
) -> PolicyValue:
    """The ratio of means sum(numerator) / sum(denominator) (a plain mean when there is no denominator) with
    its interval."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    n = len(numerator)
    if n == 0:
        raise ValueError("no rounds to estimate from")
    weights = np.ones(n) if denominator is None else denominator
    if weights.sum() <= 0:
        raise ValueError("the evaluation policy never takes a logged action: the weights sum to zero")
    value = float(numerator.sum() / weights.sum())
    if interval == "normal":
        influence = (numerator - value * weights) / weights.mean()  # the delta method; plain terms if no ratio
        half = NormalDist().inv_cdf(0.5 + confidence / 2) * influence.std(ddof=1 if n > 1 else 0) / np.sqrt(n)
        low, high = value - half, value + half
    elif interval == "bootstrap":
        low, high = _bootstrap(numerator, weights, confidence, n_bootstrap, random_state)
    else:
        raise ValueError(f"interval must be 'normal' or 'bootstrap', not {interval!r}")
    return PolicyValue(estimator=name, value=value, low=float(low), high=float(high), confidence=confidence)


def _bootstrap(
    numerator: np.ndarray,
    weights: np.ndarray,
    confidence: float,
    n_bootstrap: int,
    random_state: int | np.random.Generator | None,
) -> tuple[float, float]:
    """Percentile interval of the ratio over `n_bootstrap` resamples of the rounds, drawn in chunks so memory
    stays near 2 million indices (tens of MB) whatever the log's size."""
    if n_bootstrap < 2:
        raise ValueError("n_bootstrap must be at least 2")
    rng = np.random.default_rng(random_state)
    n = len(numerator)
    chunk = max(1, 2_000_000 // n)
    values = []
    for start in range(0, n_bootstrap, chunk):
        rows = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
        total = weights[rows].sum(axis=1)
        values.append(np.divide(numerator[rows].sum(axis=1), total, out=np.zeros(len(rows)), where=total > 0))
    tail = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(values), [tail, 1 - tail])
    return float(low), float(high)


def _check_action_dist(action_dist: np.ndarray, actions: np.ndarray, positions: np.ndarray) -> int:
    n = len(actions)
    shape = np.shape(action_dist)
    if len(shape) != 3 or shape[0] != n:
        raise ValueError("action_dist must have shape (n_rounds, n_actions, len_list)")
    if positions.shape != (n,):
        raise ValueError("positions must have one value per round")
    if n and (actions.min() < 0 or actions.max() >= shape[1]):
        raise ValueError(f"actions must be in 0 .. {shape[1] - 1}")
    if n and (positions.min() < 0 or positions.max() >= shape[2]):
        raise ValueError(f"positions must be in 0 .. {shape[2] - 1}")
    return n


def _beta_binomial_strength(shown: np.ndarray, earned: np.ndarray, position_rate: np.ndarray) -> float:
    """Prior pseudo-rounds m for Beta(m p, m (1 - p)) cell rates around their position's rate p, by the method
    of moments: the observed between-cell variance minus its binomial part estimates p(1-p)/(m+1). Infinite
    (shrink completely) when the cells vary no more than noise would make them."""
    seen = shown > 0
    if not seen.any():
        return np.inf
    rates = np.divide(earned, shown, out=np.zeros_like(earned, dtype=float), where=seen)
    expected = np.broadcast_to(position_rate, shown.shape)
    binomial = expected * (1 - expected)
    excess = ((shown * (rates - expected) ** 2) - binomial)[seen]  # E = n Var(true rate) per cell
    between = excess.sum() / shown[seen].sum()  # pooled estimate of Var(true rate)
    spread = float((binomial[seen] * shown[seen]).sum() / shown[seen].sum())  # p(1 - p), pooled
    if between <= 0 or spread <= 0:
        return np.inf
    return max(spread / between - 1.0, 0.0)


def _indicator(codes: np.ndarray, n_levels: int) -> sp.csr_matrix:
    """A sparse one-hot block, one column per level."""
    n = len(codes)
    return sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, n_levels))


def _as_float(values: np.ndarray, n: int, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.shape != (n,):
        raise ValueError(f"{name} must have one value per round")
    return values
