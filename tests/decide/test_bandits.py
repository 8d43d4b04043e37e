"""Bandits: they find the best arm by themselves, lose less and less to it, never starve an arm (so their logs
stay usable for off-policy evaluation), use context when it matters, and survive a trip through JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from afinidad.decide.bandits import LinUCB, Simulation, ThompsonBernoulli, best_arm_share, simulate
from afinidad.errors import InvalidInput

RATES = [0.05, 0.04, 0.03]
ROUNDS = 20_000
FLOOR = 0.01


@pytest.fixture(scope="module")
def thompson_run() -> Simulation:
    return simulate(ThompsonBernoulli(n_arms=3, floor=FLOOR), RATES, ROUNDS, seed=2024)


def test_thompson_sampling_converges_to_the_best_arm(thompson_run: Simulation) -> None:
    share = best_arm_share(thompson_run.choices, best_arm=0, last_fraction=0.2)
    pulls = np.bincount(thompson_run.choices, minlength=3)
    print(f"\npulls per arm {pulls.tolist()}; best arm's share of the last 20% of rounds: {share:.3f}")
    assert share > 0.8  # measured 0.958 with this seed (the floor alone costs 2%)


def test_cumulative_regret_is_sublinear(thompson_run: Simulation) -> None:
    regret = thompson_run.cumulative_regret
    checkpoints = [1_000, 2_500, 5_000, 10_000, 15_000, 20_000]
    print("\ncumulative regret (expected, in visits lost to the best arm):")
    for rounds in checkpoints:
        print(
            f"  after {rounds:>6,} rounds: {regret[rounds - 1]:7.2f}  (uniform random would lose {rounds * 0.01:7.2f})"
        )
    first_half = regret[ROUNDS // 2 - 1]
    second_half = regret[-1] - first_half
    assert second_half < first_half  # measured: 19.9 then 6.0
    assert regret[-1] < 0.5 * ROUNDS * 0.01  # far below uniform allocation's 200


def test_every_logged_propensity_respects_the_floor(thompson_run: Simulation) -> None:
    assert thompson_run.propensities.min() >= FLOOR - 1e-12
    assert thompson_run.propensities.max() <= 1 - 2 * FLOOR + 1e-12


@pytest.mark.parametrize(
    ("successes", "failures"),
    [([0, 0, 0], [0, 0, 0]), ([600, 300, 100], [12_000, 7_000, 3_000]), ([3, 0, 1], [40, 2, 500]),
     ([5_000, 4_990, 10], [95_000, 95_010, 1_000])],
)  # fmt: skip
def test_propensities_sum_to_one_and_match_monte_carlo(successes: list[float], failures: list[float]) -> None:
    state = {"policy": "thompson_bernoulli", "n_arms": 3, "floor": FLOOR, "prior_alpha": 1.0, "prior_beta": 1.0}
    policy = ThompsonBernoulli.from_dict(state | {"successes": successes, "failures": failures})
    propensities = policy.propensities()
    assert propensities.sum() == pytest.approx(1.0, abs=1e-12)
    assert propensities.min() >= FLOOR
    # The integral against brute force: 400,000 joint posterior draws (standard error at most 0.0008).
    alpha, beta = policy.posterior()
    draws = np.random.default_rng(0).beta(alpha, beta, size=(400_000, 3)).argmax(axis=1)
    monte_carlo = np.bincount(draws, minlength=3) / draws.size
    assert np.abs(policy.thompson_probabilities() - monte_carlo).max() < 0.004


def test_choices_are_drawn_with_the_logged_propensity() -> None:
    policy = ThompsonBernoulli(n_arms=3, floor=0.05).update_batch([0, 0, 1, 1, 2], [1, 0, 1, 1, 0])
    rng = np.random.default_rng(5)
    picks = [policy.choose(rng) for _ in range(10_000)]
    frequencies = np.bincount([arm for arm, _ in picks], minlength=3) / len(picks)
    logged = {arm: propensity for arm, propensity in picks}
    expected = policy.propensities()
    assert all(logged[arm] == pytest.approx(expected[arm]) for arm in logged)
    assert np.abs(frequencies - expected).max() < 0.02  # 4 standard errors


def test_batch_updates_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    arms, rewards = rng.integers(0, 3, 500), (rng.random(500) < 0.2).astype(float)
    one_by_one = ThompsonBernoulli(3)
    for arm, reward in zip(arms, rewards, strict=True):
        one_by_one.update(int(arm), float(reward))
    batched = ThompsonBernoulli(3).fit(arms, rewards)
    assert np.allclose(one_by_one.propensities(), batched.propensities())

    contexts = rng.normal(size=(500, 4))
    sequential = LinUCB(n_arms=3, n_features=4)
    for context, arm, reward in zip(contexts, arms, rewards, strict=True):
        sequential.update(context, int(arm), float(reward))
    together = LinUCB(n_arms=3, n_features=4).fit(contexts, arms, rewards)
    assert np.allclose(sequential.a_inverse_, together.a_inverse_)
    assert np.allclose(sequential.upper_bounds(contexts[0]), together.upper_bounds(contexts[0]))


def contextual_problem(rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three customer groups, each with its own best arm; on average arm 2 looks best (0.06 against 0.05),
    yet it is the best arm for one group only."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, rounds)
    table = np.array([[0.10, 0.02, 0.05], [0.02, 0.10, 0.05], [0.03, 0.03, 0.08]])
    return np.eye(3)[group], table[group]


def test_the_contextual_policy_beats_the_context_free_one() -> None:
    contexts, rates = contextual_problem(rounds=5_000, seed=11)
    linucb = simulate(LinUCB(n_arms=3, n_features=3, alpha=0.5, floor=FLOOR), rates, 5_000, seed=3, contexts=contexts)
    thompson = simulate(ThompsonBernoulli(n_arms=3, floor=FLOOR), rates, 5_000, seed=3, contexts=contexts)
    print(f"\nregret after 5,000 rounds: LinUCB {linucb.cumulative_regret[-1]:.1f}, "
          f"Thompson (no context) {thompson.cumulative_regret[-1]:.1f}")  # fmt: skip
    assert linucb.cumulative_regret[-1] < 0.5 * thompson.cumulative_regret[-1]
    assert linucb.propensities.min() >= FLOOR - 1e-12


def test_linucb_propensity_is_the_greedy_mass_plus_the_floor() -> None:
    policy = LinUCB(n_arms=4, n_features=2, floor=FLOOR)
    # Before any data every arm ties: the greedy mass is shared.
    assert np.allclose(policy.propensities([1.0, 0.0]), 0.25)
    policy.update([1.0, 0.0], arm=2, reward=1.0)
    propensities = policy.propensities([1.0, 0.0])
    assert propensities[2] == pytest.approx(1 - 3 * FLOOR)
    assert np.allclose(np.delete(propensities, 2), FLOOR)
    assert propensities.sum() == pytest.approx(1.0)


def test_state_round_trips_through_its_dict() -> None:
    thompson = ThompsonBernoulli(3, floor=0.02).fit([0, 1, 1, 2, 2, 2], [1, 0, 1, 0, 0, 1])
    restored = ThompsonBernoulli.from_dict(json.loads(json.dumps(thompson.to_dict())))
    assert restored.to_dict() == thompson.to_dict()
    assert restored.choose(np.random.default_rng(9)) == thompson.choose(np.random.default_rng(9))

    rng = np.random.default_rng(2)
    linucb = LinUCB(3, 2, alpha=0.7).fit(rng.normal(size=(50, 2)), rng.integers(0, 3, 50), rng.random(50) < 0.3)
    restored_linucb = LinUCB.from_dict(json.loads(json.dumps(linucb.to_dict())))
    assert restored_linucb.to_dict() == linucb.to_dict()
    assert np.array_equal(restored_linucb.upper_bounds([0.3, -1.0]), linucb.upper_bounds([0.3, -1.0]))


def test_bad_input_is_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidInput) as floor_too_high:
        ThompsonBernoulli(n_arms=4, floor=0.3).propensities()
    assert floor_too_high.value.problems[0].field == "floor"
    policy = ThompsonBernoulli(n_arms=2)
    with pytest.raises(InvalidInput):
        policy.update(arm=5, reward=1.0)
    with pytest.raises(InvalidInput):
        policy.update_batch([0, 1], [1.0, 2.0])
    assert policy.to_dict()["successes"] == [0.0, 0.0]  # nothing changed
    with pytest.raises(InvalidInput):
        LinUCB(2, 3).choose([1.0, 2.0], np.random.default_rng(0))
    with pytest.raises(InvalidInput):
        ThompsonBernoulli.from_dict({"policy": "linucb"})
