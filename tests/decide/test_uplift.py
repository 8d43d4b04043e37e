"""Uplift: the metrics are scikit-uplift's to the last digit, the models beat random targeting on Hillstrom's
held-out half, class transformation recovers a known uplift ranking (also with an unequal split), and the next
best action leaves alone the customers every action would put off."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from afinidad.decide.uplift import (
    ClassTransformationUplift,
    NextBestAction,
    SingleModelUplift,
    TransformedOutcomeUplift,
    TwoModelUplift,
    best_action,
    policy_value,
    qini_auc_score,
    qini_curve,
    random_targeting,
    uplift_at_k,
)
from afinidad.errors import InvalidInput
from tests.conftest import data_path

# -- metrics ------------------------------------------------------------------------------------------------

HAND_Y = [1, 0, 1, 0, 1, 0]
HAND_T = [1, 1, 0, 0, 1, 0]
HAND_SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]


def test_qini_curve_and_auc_match_the_definition_by_hand() -> None:
    # Top n: treated responders - control responders x (treated / control), n = 1..6.
    targeted, gains = qini_curve(HAND_Y, HAND_SCORES, HAND_T)
    assert targeted.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert gains.tolist() == [0.0, 1.0, 1.0, -1.0, 0.0, 0.5, 1.0]
    # Areas: model 2.0, diagonal to (6, 1) 3.0; perfect curve (0,0) (2,2) (5,2) (6,1) 9.5.
    assert qini_auc_score(HAND_Y, HAND_SCORES, HAND_T) == pytest.approx((2.0 - 3.0) / (9.5 - 3.0))


def test_uplift_at_k_matches_the_definition_by_hand() -> None:
    # Top 3 (k = 0.5): treated rows 0, 1 (rate 0.5), control row 2 (rate 1.0).
    assert uplift_at_k(HAND_Y, HAND_SCORES, HAND_T, k=0.5) == pytest.approx(-0.5)
    # Top 4 (k = 4): treated 0, 1 (0.5), control 2, 3 (0.5).
    assert uplift_at_k(HAND_Y, HAND_SCORES, HAND_T, k=4) == pytest.approx(0.0)
    # Top 1 holds no control row: undefined.
    assert np.isnan(uplift_at_k(HAND_Y, HAND_SCORES, HAND_T, k=1))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # sklift 0.5.1 calls a deprecated scikit-learn helper
def test_metrics_equal_scikit_uplifts_on_small_data_with_ties() -> None:
    metrics = pytest.importorskip("sklift.metrics", reason="scikit-uplift is not installed (benchmark-only)")
    rng = np.random.default_rng(3)
    for size in (12, 57, 300):
        t = np.r_[0, 1, (rng.random(size - 2) < 0.5).astype(int)]
        y = (rng.random(size) < 0.3 + 0.2 * t).astype(int)  # a positive effect: sklift's perfect curve without
        # negative effects puts its corner at x = total effect and fails on a negative one
        scores = np.round(rng.normal(size=size), 1)  # many ties
        for negative_effect in (True, False):
            ours = qini_auc_score(y, scores, t, negative_effect=negative_effect)
            assert ours == pytest.approx(metrics.qini_auc_score(y, scores, t, negative_effect=negative_effect))
        their_x, their_y = metrics.qini_curve(y, scores, t)
        our_x, our_y = qini_curve(y, scores, t)
        assert np.array_equal(our_x, their_x) and np.allclose(our_y, their_y)
        for k in (0.3, 0.5, 5):
            assert uplift_at_k(y, scores, t, k) == pytest.approx(
                metrics.uplift_at_k(y, scores, t, strategy="overall", k=k), nan_ok=True
            )


# -- Hillstrom ----------------------------------------------------------------------------------------------

FEATURES = ("recency", "history", "mens", "womens", "newbie")
ONE_HOT = {"zip_code": ("Urban", "Surburban", "Rural"), "channel": ("Phone", "Web", "Multichannel")}


def read_customers(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (as benchmarks/uplift.py builds them), arm and visit; `afinidad.decide.hillstrom` keeps only
    the columns the A/B analysis needs, so the customer columns are read here."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [[float(row[name]) for row in rows] for name in FEATURES]
    for column, levels in ONE_HOT.items():
        columns += [[float(row[column] == level) for row in rows] for level in levels]
    arm = np.array([row["segment"] for row in rows])
    visit = np.array([float(row["visit"]) for row in rows])
    return np.array(columns).T, arm, visit


@pytest.fixture(scope="module")
def womens_split() -> tuple[np.ndarray, ...]:
    """Womens e-mail vs none, the seeded 50/50 split the benchmark uses (stratified by arm and visit)."""
    features, arm, visit = read_customers(data_path("hillstrom", "hillstrom.csv"))
    rows = np.isin(arm, ("Womens E-Mail", "No E-Mail"))
    treated = (arm[rows] == "Womens E-Mail").astype(int)
    strata = np.char.add(treated.astype(str), visit[rows].astype(int).astype(str))
    return tuple(
        train_test_split(features[rows], visit[rows], treated, test_size=0.5, random_state=42, stratify=strata)
    )


def logistic() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def test_uplift_models_beat_random_targeting_on_hillstroms_held_out_half(womens_split: tuple[np.ndarray, ...]) -> None:
    train_x, test_x, train_y, test_y, train_t, test_t = womens_split
    random = random_targeting(test_y, test_t, k=0.3, repeats=50, seed=42)
    print(f"\nWomens vs none, visit, held-out half: random targeting Qini AUC {random.qini_auc:.4f}, "
          f"uplift@30% {random.uplift_at_k:.4f}")  # fmt: skip
    scores = {}
    for name, model in {"two-model": TwoModelUplift(logistic()),
                        "class transformation": ClassTransformationUplift(logistic())}.items():  # fmt: skip
        uplift = model.fit(train_x, train_y, train_t).predict(test_x)
        scores[name] = (qini_auc_score(test_y, uplift, test_t), uplift_at_k(test_y, uplift, test_t, 0.3))
        print(f"  {name}, logistic: Qini AUC {scores[name][0]:.4f}, uplift@30% {scores[name][1]:.4f}")
    best_qini = max(qini for qini, _ in scores.values())
    best_top = max(top for _, top in scores.values())
    # Measured: two-model 0.0691 / 0.0752, class transformation 0.0636 / 0.0754, random 0.000 / 0.045.
    assert abs(random.qini_auc) < 0.01
    assert best_top > random.uplift_at_k + 0.02
    assert best_qini > 0.03


# -- models on simulated campaigns with a known uplift ------------------------------------------------------


def simulated_campaign(size: int, treatment_share: float, seed: int) -> tuple[np.ndarray, ...]:
    """Visits with a base rate driven by x0 and an uplift driven by x1 only, from -3 to +12 points."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(size, 3))
    base = 1 / (1 + np.exp(-(-1.0 + 0.8 * x[:, 0])))
    true_uplift = -0.03 + 0.15 / (1 + np.exp(-2.0 * x[:, 1]))
    treated = (rng.random(size) < treatment_share).astype(int)
    y = (rng.random(size) < np.clip(base + treated * true_uplift, 0, 1)).astype(int)
    return x, y, treated, true_uplift


@pytest.mark.parametrize("share", [0.5, 0.2])
def test_class_transformation_recovers_a_known_uplift_ranking(share: float) -> None:
    x, y, treated, true_uplift = simulated_campaign(60_000, share, seed=7)
    model = ClassTransformationUplift(LogisticRegression()).fit(x, y, treated)
    predicted = model.predict(x)
    # Ordering: how well the predicted uplift separates the customers above the true median from those below.
    ordering_auc = roc_auc_score(true_uplift > np.median(true_uplift), predicted)
    print(f"\ntreatment share {share}: ordering AUC {ordering_auc:.3f}, mean uplift {predicted.mean():.4f} "
          f"(true {true_uplift.mean():.4f})")  # fmt: skip
    assert model.treatment_share_ == pytest.approx(share, abs=0.01)
    assert ordering_auc > 0.9
    assert predicted.mean() == pytest.approx(true_uplift.mean(), abs=0.01)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_models_give_scikit_uplifts_predictions_for_the_same_learner() -> None:
    models = pytest.importorskip("sklift.models", reason="scikit-uplift is not installed (benchmark-only)")
    x, y, treated, _ = simulated_campaign(4_000, 0.5, seed=1)
    pairs = [
        (TwoModelUplift(LogisticRegression()), models.TwoModels(LogisticRegression(), LogisticRegression())),
        (ClassTransformationUplift(LogisticRegression(), treatment_share=0.5),
         models.ClassTransformation(LogisticRegression())),
        (SingleModelUplift(LogisticRegression()), models.SoloModel(LogisticRegression())),
        (SingleModelUplift(LogisticRegression(), interactions=True),
         models.SoloModel(LogisticRegression(), method="treatment_interaction")),
    ]  # fmt: skip
    for ours, theirs in pairs:
        assert np.allclose(ours.fit(x, y, treated).predict(x), theirs.fit(x, y, treated).predict(x), atol=1e-8)


def test_unequal_split_without_reweighting_would_be_biased() -> None:
    # Why the weights exist: told the split is 50/50 when it is 20/80, the level of the uplift is far off.
    x, y, treated, true_uplift = simulated_campaign(60_000, 0.2, seed=7)
    naive = ClassTransformationUplift(LogisticRegression(), treatment_share=0.5).fit(x, y, treated)
    assert abs(naive.predict(x).mean() - true_uplift.mean()) > 0.1


def test_two_model_transformed_outcome_and_single_model_recover_the_uplift_of_a_continuous_outcome() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20_000, 2))
    treated = (rng.random(20_000) < 0.5).astype(int)
    true_uplift = 2.0 + 3.0 * x[:, 1]  # spend
    spend = 10 + 4 * x[:, 0] + treated * true_uplift + rng.normal(scale=2.0, size=20_000)
    learners = (
        TwoModelUplift(LinearRegression()),
        TransformedOutcomeUplift(LinearRegression()),
        SingleModelUplift(LinearRegression(), interactions=True),
    )
    for model in learners:
        predicted = model.fit(x, spend, treated).predict(x)
        assert np.corrcoef(predicted, true_uplift)[0, 1] > 0.95
    # Without interactions a linear model gives everyone the same uplift: the average effect, nothing to rank.
    flat = SingleModelUplift(LinearRegression()).fit(x, spend, treated).predict(x)
    assert np.ptp(flat) < 1e-9 and flat.mean() == pytest.approx(2.0, abs=0.1)


# -- next best action ---------------------------------------------------------------------------------------


def test_best_action_is_nothing_where_every_uplift_is_negative() -> None:
    uplifts = [[-0.10, -0.20], [0.05, -0.10], [0.01, 0.03], [0.0, 0.0], [-0.01, 0.02]]
    chosen = best_action(uplifts, ["Mens", "Womens"], nothing="nothing")
    assert chosen.tolist() == ["nothing", "Mens", "Womens", "nothing", "Womens"]


def test_next_best_action_learns_who_wants_what_and_whom_to_leave_alone() -> None:
    # Three groups: A helps group 0, B helps group 1, and both put group 2 off.
    rng = np.random.default_rng(8)
    size = 30_000
    group = rng.integers(0, 3, size)
    action = rng.choice(np.array(["A", "B", "none"], dtype=object), size)
    effect = {"A": np.array([0.10, 0.00, -0.05]), "B": np.array([0.00, 0.10, -0.05]), "none": np.zeros(3)}
    rate = 0.2 + np.array([effect[label][g] for label, g in zip(action, group, strict=True)])
    visit = (rng.random(size) < rate).astype(int)
    features = np.eye(3)[group]
    chooser = NextBestAction(TwoModelUplift(LogisticRegression()), control="none").fit(features, visit, action)
    assert chooser.actions_ == ("A", "B")
    assert chooser.predict(np.eye(3)).tolist() == ["A", "B", "none"]
    # Its value, estimated from the randomized campaign, is the best group rate everywhere: 0.3, 0.3, 0.2.
    estimate = policy_value(visit, action, chooser.predict(features))
    everyone_a = policy_value(visit, action, np.full(size, "A", dtype=object))
    assert estimate.value == pytest.approx((0.3 + 0.3 + 0.2) / 3, abs=3 * estimate.standard_error)
    assert estimate.value > everyone_a.value + 0.03


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInput):
        TwoModelUplift(LogisticRegression()).fit(np.zeros((4, 1)), [0, 1, 0, 1], [0, 1, 2, 1])
    with pytest.raises(InvalidInput):
        ClassTransformationUplift(LogisticRegression()).fit(np.zeros((4, 1)), [0, 3.5, 0, 1], [0, 1, 0, 1])
    with pytest.raises(InvalidInput):
        uplift_at_k(HAND_Y, HAND_SCORES, HAND_T, k=1.5)
    with pytest.raises(InvalidInput):
        best_action([[0.1, 0.2]], ["only one"], nothing="nothing")
