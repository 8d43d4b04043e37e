"""Off-policy evaluation: the estimators recover a known policy value on simulated logs, SNIPW stays a rate, and
on the Open Bandit Dataset the Bernoulli-TS policy's click rate estimated from the uniform-random log lands as
close to its on-policy rate as the Open Bandit Pipeline's estimators do (benchmarks/ope.py prints both)."""

from __future__ import annotations

import numpy as np
import pytest

from afinidad.decide import obd, ope
from tests.conftest import data_path

N_ACTIONS, LEN_LIST, N_CONTEXTS = 4, 2, 3


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


class World:
    """A small logged-bandit world with everything known: three kinds of visitor, four actions, two slots.

    The logging policy and the evaluation policy both depend on the visitor and the slot, and the click
    probability on all three, so no estimator gets the answer by accident."""

    def __init__(self, seed: int = 7, additive: bool = False) -> None:
        rng = np.random.default_rng(seed)
        shape = (N_CONTEXTS, N_ACTIONS, LEN_LIST)
        if additive:  # logit = visitor effect + action effect + slot effect, what LogisticReward can represent
            logits = (
                rng.normal(-1.5, 0.5, size=(N_CONTEXTS, 1, 1))
                + rng.normal(0, 0.8, size=(1, N_ACTIONS, 1))
                + np.array([0.0, -0.7])[None, None, :]
            )
            self.click_rate = 1 / (1 + np.exp(-logits))
        else:
            self.click_rate = rng.uniform(0.02, 0.4, size=shape)
        self.logging = softmax(rng.normal(0, 1, size=shape).transpose(0, 2, 1)).transpose(0, 2, 1)
        self.evaluation = softmax(2.0 * rng.normal(0, 1, size=shape).transpose(0, 2, 1)).transpose(0, 2, 1)
        # visitors and slots are uniform, so the value is the plain mean over them of sum_a pi * rate
        self.value = float((self.evaluation * self.click_rate).sum(axis=1).mean())

    def log(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        visitors = rng.integers(0, N_CONTEXTS, n)
        positions = rng.integers(0, LEN_LIST, n)
        cumulative = self.logging[visitors, :, positions].cumsum(axis=1)
        actions = (rng.random(n)[:, None] > cumulative).sum(axis=1)
        rewards = (rng.random(n) < self.click_rate[visitors, actions, positions]).astype(float)
        return {
            "visitors": visitors,
            "contexts": np.eye(N_CONTEXTS)[visitors],
            "actions": actions,
            "positions": positions,
            "rewards": rewards,
            "pscores": self.logging[visitors, actions, positions],
            "action_dist": self.evaluation[visitors],
            "true_rates": self.click_rate[visitors],
        }


def test_ipw_and_dr_recover_the_true_value_over_many_logs() -> None:
    world = World()
    rng = np.random.default_rng(2024)
    estimates: dict[str, list[float]] = {"IPW": [], "DR, wrong model": [], "DR, cell means": [], "DR, true model": []}
    covered = 0
    n_logs = 300
    for _ in range(n_logs):
        log = world.log(1000, rng)
        logged = (log["rewards"], log["actions"], log["positions"], log["pscores"], log["action_dist"])
        ipw = ope.inverse_propensity_weighting(*logged)
        estimates["IPW"].append(ipw.value)
        covered += ipw.low <= world.value <= ipw.high
        wrong = np.full(log["action_dist"].shape, 0.5)  # a useless model: DR must stay unbiased anyway
        estimates["DR, wrong model"].append(ope.doubly_robust(*logged, wrong).value)
        cells = ope.cross_fit(
            ope.CellMeanReward,
            log["contexts"],
            log["actions"],
            log["positions"],
            log["rewards"],
            N_ACTIONS,
            LEN_LIST,
            random_state=0,
        )
        estimates["DR, cell means"].append(ope.doubly_robust(*logged, cells).value)
        estimates["DR, true model"].append(ope.doubly_robust(*logged, log["true_rates"]).value)
    for name, values in estimates.items():
        values_ = np.array(values)
        standard_error = values_.std(ddof=1) / np.sqrt(n_logs)
        assert abs(values_.mean() - world.value) < 4 * standard_error, name
    # a good model is what DR is for: on the same logs, less spread than IPW
    assert np.std(estimates["DR, true model"]) < 0.95 * np.std(estimates["IPW"])
    # the 95% normal interval covers the truth about that often (a little less at n=1000: the weights are skewed)
    assert 0.88 <= covered / n_logs <= 0.99


def test_direct_method_is_right_with_a_right_model_and_biased_with_a_wrong_one() -> None:
    additive = World(additive=True)
    log = additive.log(20_000, np.random.default_rng(1))
    exact = ope.direct_method(log["positions"], log["action_dist"], log["true_rates"])
    assert exact.value == pytest.approx(additive.value, rel=0.03)
    model = ope.LogisticReward().fit(
        log["contexts"], log["actions"], log["positions"], log["rewards"], N_ACTIONS, LEN_LIST
    )
    predictions = model.predict(log["contexts"])
    assert predictions.shape == (20_000, N_ACTIONS, LEN_LIST)
    assert np.abs(predictions - log["true_rates"]).max() < 0.04  # the model can represent this world
    fitted = ope.direct_method(log["positions"], log["action_dist"], predictions)
    assert fitted.value == pytest.approx(additive.value, rel=0.08)  # 1.5% here; up to 5% with other seeds

    # where the rates interact (this world), additive logits miss: DM inherits the model's bias, DR does not
    world = World()
    log = world.log(20_000, np.random.default_rng(1))
    logged = (log["rewards"], log["actions"], log["positions"], log["pscores"], log["action_dist"])
    predictions = (
        ope.LogisticReward()
        .fit(log["contexts"], log["actions"], log["positions"], log["rewards"], N_ACTIONS, LEN_LIST)
        .predict(log["contexts"])
    )
    dm = ope.direct_method(log["positions"], log["action_dist"], predictions)
    dr = ope.doubly_robust(*logged, predictions)
    assert not dm.low <= world.value <= dm.high
    assert dr.low <= world.value <= dr.high


def test_snipw_stays_a_rate_where_ipw_does_not() -> None:
    rng = np.random.default_rng(3)
    n, n_actions = 200, 50
    actions = rng.integers(0, n_actions, n)
    positions = np.zeros(n, dtype=int)
    pscores = np.where(actions == 0, 1e-3, 0.02)  # action 0 was almost never logged...
    evaluation = np.zeros((n, n_actions, 1))
    evaluation[:, 0, 0] = 0.9  # ...and the evaluation policy wants it
    evaluation[:, 1:, 0] = 0.1 / (n_actions - 1)
    rewards = (actions == 0).astype(float)
    logged = (rewards, actions, positions, pscores, evaluation)
    ipw = ope.inverse_propensity_weighting(*logged)
    assert ipw.value > 1  # a "click rate" above 100%
    for interval in ("normal", "bootstrap"):
        snipw = ope.self_normalized_ipw(*logged, interval=interval, random_state=0)
        assert 0 <= snipw.value <= 1
        assert snipw.low <= snipw.value <= snipw.high
    bootstrap = ope.self_normalized_ipw(*logged, interval="bootstrap", random_state=0)
    assert bootstrap.low >= 0 and bootstrap.high <= 1
    many = rng.random((20, n)) < 0.5  # any 0/1 rewards at all
    assert all(0 <= ope.self_normalized_ipw(r.astype(float), *logged[1:]).value <= 1 for r in many)


def test_bootstrap_and_normal_intervals_agree_on_a_plain_mean() -> None:
    world = World()
    log = world.log(5000, np.random.default_rng(5))
    logged = (log["rewards"], log["actions"], log["positions"], log["pscores"], log["action_dist"])
    normal = ope.inverse_propensity_weighting(*logged)
    bootstrap = ope.inverse_propensity_weighting(*logged, interval="bootstrap", n_bootstrap=2000, random_state=0)
    assert bootstrap.value == normal.value
    width = normal.high - normal.low
    assert abs(bootstrap.low - normal.low) < 0.1 * width and abs(bootstrap.high - normal.high) < 0.1 * width


def test_switch_dr_is_dr_below_the_threshold_and_dm_above() -> None:
    world = World()
    log = world.log(2000, np.random.default_rng(9))
    logged = (log["rewards"], log["actions"], log["positions"], log["pscores"], log["action_dist"])
    model = np.full(log["action_dist"].shape, 0.2)
    weights = ope.importance_weights(log["actions"], log["positions"], log["pscores"], log["action_dist"])
    dr = ope.doubly_robust(*logged, model).value
    dm = ope.direct_method(log["positions"], log["action_dist"], model).value
    assert ope.switch_doubly_robust(*logged, model, max_weight=weights.max()).value == pytest.approx(dr)
    assert ope.switch_doubly_robust(*logged, model, max_weight=weights.min() / 2).value == pytest.approx(dm)
    assert set(ope.evaluate_policy(*logged, model)) == {"IPW", "SNIPW", "DM", "DR", "Switch-DR"}
    assert set(ope.evaluate_policy(*logged)) == {"IPW", "SNIPW"}


def test_bad_logs_are_refused() -> None:
    world = World()
    log = world.log(100, np.random.default_rng(0))
    logged = [log["rewards"], log["actions"], log["positions"], log["pscores"], log["action_dist"]]
    never_logged = logged.copy()
    never_logged[3] = np.where(np.arange(100) == 0, 0.0, log["pscores"])
    with pytest.raises(ValueError, match="pscores"):
        ope.inverse_propensity_weighting(*never_logged)
    unknown_action = logged.copy()
    unknown_action[1] = np.where(np.arange(100) == 0, N_ACTIONS, log["actions"])
    with pytest.raises(ValueError, match="actions"):
        ope.self_normalized_ipw(*unknown_action)
    with pytest.raises(ValueError, match="shape"):
        ope.doubly_robust(*logged, np.zeros((100, N_ACTIONS, LEN_LIST + 1)))
    with pytest.raises(obd.UnknownCampaign):
        obd.zozotown_bts_action_dist("kids")


def test_thompson_sampling_simulation() -> None:
    even = obd.bernoulli_ts_action_dist(np.ones(5), np.ones(5), len_list=3, n_sim=20_000, random_state=0)
    assert even.shape == (5, 3)
    assert np.allclose(even.sum(axis=0), 1)
    assert np.allclose(even, 0.2, atol=0.02)  # identical priors: every item equally likely everywhere
    assert np.all(even.sum(axis=1) <= 1 + 1e-12)  # an item fills at most one slot of a round
    sure = obd.bernoulli_ts_action_dist([900, 500, 100], [100, 500, 900], len_list=2, n_sim=1000, random_state=0)
    assert sure[0, 0] == 1 and sure[1, 1] == 1 and sure[2].sum() == 0


def test_zozotown_bts_matches_obp() -> None:
    """obp 0.5.7's `BernoulliTS(is_zozotown_prior=True, campaign="all").compute_batch_action_dist`, run with
    1,000,000 rounds: the most shown items. Ours uses 100,000, so each share is within about 0.0014 (one sd)."""
    dist = obd.zozotown_bts_action_dist("all")
    assert dist.shape == (80, 3)
    obp_shares = {61: (0.1982, 0.2447, 0.1986), 59: (0.0910, 0.0796, 0.0694), 7: (0.0073, 0.0255, 0.0512)}
    for item, shares in obp_shares.items():
        assert dist[item] == pytest.approx(shares, abs=0.005)


def test_reader_on_the_open_bandit_dataset() -> None:
    root = data_path("open-bandit-dataset-small")
    random_log = obd.read_open_bandit_log(root, "random", "all")
    bts_log = obd.read_open_bandit_log(root, "bts", "all")
    for log in (random_log, bts_log):
        assert log.n_rounds == 10_000 and log.n_actions == 80 and log.len_list == 3
        assert set(np.unique(log.positions)) == {0, 1, 2}
        assert np.all((log.pscores > 0) & (log.pscores <= 1))
        assert set(np.unique(log.rewards)) == {0.0, 1.0}
        assert np.all(log.contexts.sum(axis=1) == 4)  # one level of each of the 4 user features
        assert log.action_contexts.shape[0] == 80
    assert np.allclose(random_log.pscores, 1 / 80)  # uniform over 80 items in each slot
    assert random_log.rewards.mean() == pytest.approx(0.0038)
    assert bts_log.rewards.mean() == pytest.approx(0.0042)
    men = obd.read_open_bandit_log(root, "random", "men")
    assert men.n_actions == 34 and np.allclose(men.pscores, 1 / 34)


# Measured by benchmarks/ope.py (campaign "all", bootstrap samples 0..9, BTS simulated with 100,000 rounds at
# random state 12345): ours IPW 0.308, SNIPW 0.307, DR 0.296; obp 0.5.7 in the same run 0.309, 0.308, 0.283
# (the issue measured 0.31, 0.31, 0.28). The bounds leave room for a different numpy's random streams.
BOUNDS = {"IPW": 0.35, "SNIPW": 0.35, "DR": 0.35}


def test_bernoulli_ts_click_rate_from_the_random_log() -> None:
    root = data_path("open-bandit-dataset-small")
    random_log = obd.read_open_bandit_log(root, "random", "all")
    on_policy = obd.read_open_bandit_log(root, "bts", "all").rewards.mean()
    table = obd.zozotown_bts_action_dist("all", n_sim=100_000, random_state=12345)
    errors: dict[str, list[float]] = {name: [] for name in BOUNDS}
    for sample in range(10):
        rows = np.random.RandomState(sample).choice(random_log.n_rounds, size=random_log.n_rounds, replace=True)
        log = random_log.take(rows)
        predictions = ope.cross_fit(
            ope.LogisticReward,
            log.contexts,
            log.actions,
            log.positions,
            log.rewards,
            log.n_actions,
            log.len_list,
            random_state=12345,
        )
        dist = np.broadcast_to(table, (log.n_rounds, *table.shape))
        values = ope.evaluate_policy(log.rewards, log.actions, log.positions, log.pscores, dist, predictions)
        for name in BOUNDS:
            errors[name].append(abs(values[name].value - on_policy) / on_policy)
    for name, bound in BOUNDS.items():
        assert np.mean(errors[name]) < bound, (name, np.mean(errors[name]))
    # on the whole log, the policy's on-policy rate is inside each estimator's 95% interval
    whole = ope.evaluate_policy(
        random_log.rewards,
        random_log.actions,
        random_log.positions,
        random_log.pscores,
        np.broadcast_to(table, (random_log.n_rounds, *table.shape)),
    )
    assert all(value.low <= on_policy <= value.high for value in whole.values())
