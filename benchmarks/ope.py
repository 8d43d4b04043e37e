"""Off-policy evaluation benchmark on the Open Bandit Dataset (small): how well afinidad's estimators predict
the click rate of ZOZOTOWN's Bernoulli Thompson Sampling policy from the uniform-random logs, beside the Open
Bandit Pipeline (`obp` 0.5.7, the dataset authors' reference implementation) in the same run on the same data.

    .venv/bin/python benchmarks/ope.py [--campaign all|men|women|every] [--samples 10] [--n-sim 100000]

`obp` is NOT a dependency of afinidad, and cannot be one: it declares Python < 3.10 (it runs on 3.11 when
installed with `--ignore-requires-python`), needs pandas < 3, and imports torch at import time (nothing here
uses it). Install it beside the venv, so the venv keeps its own pandas:

    .venv/bin/pip install --target /tmp/obp-site --no-deps --ignore-requires-python \\
        obp==0.5.7 "pandas<3" pytz tzdata seaborn mypy-extensions torch
    PYTHONPATH=/tmp/obp-site .venv/bin/python benchmarks/ope.py

(torch: any build that imports; a CPU wheel is enough.) Without obp the comparison is skipped and says so.

The protocol is obp's own (`examples/obd/evaluate_off_policy_estimators.py` in zr-obp):

1) Ground truth: the on-policy click rate of the `bts` log (the policy ran live; its mean click is its value).
2) Evaluation policy: Bernoulli Thompson Sampling at ZOZOTOWN's production prior, its probability of showing
   each item at each of the 3 positions estimated by 100,000 simulated rounds (random state 12345): ours with
   `afinidad.decide.obd.zozotown_bts_action_dist`, obp's with `BernoulliTS(is_zozotown_prior=True)`.
3) Bootstrap b = 0..9: the random log resampled with replacement to its own size, with
   `np.random.RandomState(b).choice` (what obp's `sample_bootstrap_bandit_feedback(random_state=b)` draws, so
   both packages see the same rows). On each sample every estimator estimates the policy's click rate, and its
   relative error |estimate - on-policy CTR| / on-policy CTR is recorded; the table shows the mean over samples
   (and their standard deviation), and the mean of the per-sample difference afinidad - obp with its standard
   error (the samples are shared, so this is the fair test of "no worse").
4) Reward models for DM and DR, both 3-fold cross-fitted (random state 12345):
   - ours: `LogisticReward()` (scikit-learn's default penalty C=1) on the one-hot user features plus additive
     item and position effects, one model for all positions; also `CellMeanReward()` (per item and position,
     shrunk to the position's rate by empirical Bayes) as a second, context-free model;
   - obp: `RegressionModel` with `LogisticRegression(C=100, max_iter=10000)` (the example's
     hyper-parameters), one model per position on its user dummies and the item context.
   Switch-DR (ours only) stops the DR correction on rounds whose weight exceeds 10.

Apart from the reward model, the estimators are the same formulas as obp's, so IPW and SNIPW differ only by the
Monte Carlo noise of the two policy simulations. The truth is itself a 10,000-impression click rate (about 42
clicks): its own standard error is about 15%, so relative errors below ~0.1 are not to be expected of an
unbiased estimator here."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from afinidad.decide import obd, ope

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data" / "open-bandit-dataset-small").resolve()
RANDOM_STATE = 12345
MAX_WEIGHT = 10.0
ROWS = [  # (label, our estimator key, obp's estimator name)
    ("DM (logistic)", "DM", "dm"),
    ("IPW", "IPW", "ipw"),
    ("SNIPW", "SNIPW", "snipw"),
    ("DR (logistic)", "DR", "dr"),
    ("Switch-DR (logistic, max weight 10)", "Switch-DR", None),
    ("DM (cell means, empirical Bayes)", "DM cells", None),
    ("DR (cell means, empirical Bayes)", "DR cells", None),
]


def obp_module() -> Any | None:
    try:
        import obp  # noqa: F401  (not a dependency: installed for this benchmark only)
    except ImportError:
        return None
    warnings.filterwarnings("ignore", category=FutureWarning)
    return obp


def bootstrap_rows(n_rounds: int, sample: int) -> np.ndarray:
    """The rows of bootstrap sample `sample`, drawn exactly as obp's `sample_bootstrap_bandit_feedback`."""
    return np.random.RandomState(sample).choice(np.arange(n_rounds), size=n_rounds, replace=True)


def our_estimates(log: obd.BanditLog, action_dist: np.ndarray) -> dict[str, float]:
    """Every estimator of ours on one (bootstrap) log: the policy's estimated click rate by name."""
    dist = np.broadcast_to(action_dist, (log.n_rounds, *action_dist.shape))
    logged = (log.rewards, log.actions, log.positions, log.pscores, dist)
    features = (log.contexts, log.actions, log.positions, log.rewards, log.n_actions, log.len_list)
    logistic = ope.cross_fit(ope.LogisticReward, *features, n_folds=3, random_state=RANDOM_STATE)
    values = {key: value.value for key, value in ope.evaluate_policy(*logged, logistic, max_weight=MAX_WEIGHT).items()}
    cells = ope.cross_fit(ope.CellMeanReward, *features, n_folds=3, random_state=RANDOM_STATE)
    values["DM cells"] = ope.direct_method(log.positions, dist, cells).value
    values["DR cells"] = ope.doubly_robust(*logged, cells).value
    return values


def obp_estimates(obp: Any, campaign: str, samples: int, n_sim: int) -> tuple[list[dict[str, float]], float, Any]:
    """obp's DM, IPW, SNIPW and DR on each bootstrap sample, through its own reader and policy; also the time
    its policy simulation took and its dataset (to check that both readers agree)."""
    from obp.dataset import OpenBanditDataset
    from obp.ope import (
        DirectMethod,
        DoublyRobust,
        InverseProbabilityWeighting,
        OffPolicyEvaluation,
        RegressionModel,
        SelfNormalizedInverseProbabilityWeighting,
    )
    from obp.policy import BernoulliTS
    from sklearn.linear_model import LogisticRegression

    dataset = OpenBanditDataset(behavior_policy="random", campaign=campaign, data_path=DATA)
    policy = BernoulliTS(
        n_actions=dataset.n_actions,
        len_list=dataset.len_list,
        is_zozotown_prior=True,
        campaign=campaign,
        random_state=RANDOM_STATE,
    )
    started = time.perf_counter()
    action_dist = policy.compute_batch_action_dist(n_sim=n_sim)
    simulation_seconds = time.perf_counter() - started
    results = []
    for sample in range(samples):
        feedback = dataset.sample_bootstrap_bandit_feedback(random_state=sample)
        regression = RegressionModel(
            n_actions=dataset.n_actions,
            len_list=dataset.len_list,
            action_context=dataset.action_context,
            base_model=LogisticRegression(C=100, max_iter=10000, random_state=RANDOM_STATE),
        )
        predictions = regression.fit_predict(
            context=feedback["context"],
            action=feedback["action"],
            reward=feedback["reward"],
            position=feedback["position"],
            pscore=feedback["pscore"],
            n_folds=3,
            random_state=RANDOM_STATE,
        )
        evaluation = OffPolicyEvaluation(
            bandit_feedback=feedback,
            ope_estimators=[
                DirectMethod(),
                InverseProbabilityWeighting(),
                SelfNormalizedInverseProbabilityWeighting(),
                DoublyRobust(),
            ],
        )
        estimates = evaluation.estimate_policy_values(
            action_dist=np.tile(action_dist, (feedback["n_rounds"], 1, 1)),
            estimated_rewards_by_reg_model=predictions,
        )
        results.append({name: float(value) for name, value in estimates.items()})
    return results, simulation_seconds, dataset


def relative_errors(estimates: Sequence[dict[str, float]], truth: float) -> dict[str, np.ndarray]:
    return {name: np.array([abs(sample[name] - truth) / truth for sample in estimates]) for name in estimates[0]}


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def run_campaign(campaign: str, samples: int, n_sim: int, obp: Any | None) -> None:
    random_log = obd.read_open_bandit_log(DATA, "random", campaign)
    truth = float(obd.read_open_bandit_log(DATA, "bts", campaign).rewards.mean())
    seconds, action_dist = timed(lambda: obd.zozotown_bts_action_dist(campaign, n_sim, RANDOM_STATE))
    print(
        f"\n== campaign {campaign!r}: {random_log.n_rounds:,} uniform-random impressions, {random_log.n_actions} items"
    )
    print(
        f"on-policy CTR of Bernoulli TS (bts log): {truth:.5f}   CTR of the random log: {random_log.rewards.mean():.5f}"
    )
    top = np.argsort(-action_dist[:, 0])[:3]
    shares = ", ".join(f"item {item} {action_dist[item, 0]:.3f}" for item in top)
    print(f"BTS policy simulated in {seconds:.2f} s ({n_sim:,} rounds); most shown on the left: {shares}")

    full = ope.evaluate_policy(
        random_log.rewards,
        random_log.actions,
        random_log.positions,
        random_log.pscores,
        np.broadcast_to(action_dist, (random_log.n_rounds, *action_dist.shape)),
        ope.cross_fit(
            ope.LogisticReward,
            random_log.contexts,
            random_log.actions,
            random_log.positions,
            random_log.rewards,
            random_log.n_actions,
            random_log.len_list,
            random_state=RANDOM_STATE,
        ),
        max_weight=MAX_WEIGHT,
    )
    print("ours on the whole random log (95% normal interval):")
    for value in full.values():
        print(f"  {value.estimator:10s} {value.value:.5f}  [{value.low:.5f}, {value.high:.5f}]")

    seconds, ours = timed(
        lambda: [
            our_estimates(random_log.take(bootstrap_rows(random_log.n_rounds, b)), action_dist) for b in range(samples)
        ]
    )
    ours_errors = relative_errors(ours, truth)
    theirs_errors: dict[str, np.ndarray] = {}
    note = ""
    if obp is None:
        note = "obp is not installed: its column is skipped (see this script's docstring to install it)"
    else:
        theirs_seconds, (theirs, simulation_seconds, dataset) = timed(
            lambda: obp_estimates(obp, campaign, samples, n_sim)
        )
        theirs_errors = relative_errors(theirs, truth)
        mismatched = int(np.sum(dataset.action != random_log.actions))
        note = (
            f"obp {obp.__version__}: {theirs_seconds:.1f} s for the {samples} samples (its BTS simulation "
            f"{simulation_seconds:.2f} s); ours {seconds:.1f} s. Rows whose item differs between the two readers: "
            f"{mismatched} (obp sorts by time with an unstable sort; ties may swap)"
        )
    print(f"\nrelative error |estimate - on-policy CTR| / on-policy CTR, mean (sd) over {samples} bootstrap samples:")
    print(f"  {'estimator':38s} {'afinidad':>15s} {'obp':>15s} {'afinidad - obp (paired)':>24s}")
    for label, ours_key, theirs_key in ROWS:
        mine = ours_errors[ours_key]
        theirs = theirs_errors.get(theirs_key) if theirs_key else None
        theirs_text = f"{theirs.mean():.3f} ({theirs.std():.3f})" if theirs is not None else "-"
        difference = "-"
        if theirs is not None:  # same bootstrap samples, so the per-sample difference has a standard error
            paired = mine - theirs
            difference = f"{paired.mean():+.3f} +- {paired.std(ddof=1) / np.sqrt(len(paired)):.3f}"
        print(f"  {label:38s} {f'{mine.mean():.3f} ({mine.std():.3f})':>15s} {theirs_text:>15s} {difference:>24s}")
    print(note)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaign", choices=[*obd.CAMPAIGNS, "every"], default="all")
    parser.add_argument("--samples", type=int, default=10, help="bootstrap samples of the random log")
    parser.add_argument("--n-sim", type=int, default=100_000, help="simulated rounds of the BTS policy")
    args = parser.parse_args(argv)
    if not DATA.exists():
        print(f"the Open Bandit Dataset is not at {DATA}", file=sys.stderr)
        return 1
    obp = obp_module()
    campaigns = obd.CAMPAIGNS if args.campaign == "every" else (args.campaign,)
    for campaign in campaigns:
        run_campaign(campaign, args.samples, args.n_sim, obp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
