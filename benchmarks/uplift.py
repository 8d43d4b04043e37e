"""Uplift benchmark on Hillstrom's randomized e-mail test: whom to e-mail, judged on customers the models never
saw, beside random targeting and beside scikit-uplift's models in the same run; then the next best action
(Mens e-mail, Womens e-mail or nothing) per customer against e-mailing everyone the best single e-mail.

    .venv/bin/python benchmarks/uplift.py [--seed 42] [--spread 5] [--output PATH]

`scikit-uplift` (0.5.1, the reference uplift package in Python) is NOT a dependency of afinidad. Install it
into the venv for this benchmark only: `.venv/bin/pip install scikit-uplift`. Without it its models are skipped
and the run says so.

In one run:

1) Data: ../shared/data/hillstrom/hillstrom.csv, read in place (`afinidad.decide.hillstrom` for the arm and the
   outcome, a reader here for the customer columns it does not keep). Features: recency, history, mens,
   womens, newbie, zip code and channel (one-hot). Outcome: visit in the two weeks after the e-mail.
2) Womens e-mail vs none, and Mens e-mail vs none: a 50/50 split, stratified by treatment and visit and seeded
   (`--seed`, 42: fixed before any result was seen). Every model learns on one half; on the other half each is
   scored with Qini AUC (normalised, as `sklift.metrics.qini_auc_score`) and uplift@30% (as
   `sklift.metrics.uplift_at_k(strategy="overall")`), computed by afinidad and checked against scikit-uplift's
   own metric functions. Random targeting is the same figures for random scores, averaged over 100 rankings.
   The base learners are the same objects for both libraries, with settings fixed a priori (no tuning on the
   held-out half): a standardised logistic regression, and LightGBM with small trees (7 leaves, 300 rows a
   leaf, 100 rounds of 0.05).
3) The spread: the same models on `--spread` further splits (seeds 0, 1, ...), mean and standard deviation,
   because on 21,000 held-out customers the split alone moves Qini AUC by about 0.01 (one sd).
4) Next best action on all three arms: split 50/50 (stratified by arm and visit), one uplift model per e-mail
   against no e-mail, and for each held-out customer the e-mail with the highest predicted uplift if above 0,
   else nothing. Its expected visit rate is estimated on the held-out half by inverse propensity weighting
   (the arms were randomized in thirds), beside e-mailing everyone the e-mail that did best on the training
   half, everyone the other one, and no one.

Figures go to the terminal and to `benchmarks/results/uplift.json`.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from afinidad.decide.hillstrom import CONTROL, read_hillstrom
from afinidad.decide.uplift import (
    ClassTransformationUplift,
    NextBestAction,
    SingleModelUplift,
    TransformedOutcomeUplift,
    TwoModelUplift,
    policy_value,
    qini_auc_score,
    random_targeting,
    uplift_at_k,
)
from afinidad.settings import Settings
from benchmarks.common import RESULTS, ROOT, announce_run, write_figures

HILLSTROM = (ROOT / Settings().data_dir / "hillstrom" / "hillstrom.csv").resolve()
E_MAILS = ("Womens E-Mail", "Mens E-Mail")
TOP = 0.3
FEATURES = (
    "recency",
    "history",
    "mens",
    "womens",
    "newbie",
    "zip_Urban",
    "zip_Surburban",
    "zip_Rural",
    "channel_Phone",
    "channel_Web",
    "channel_Multichannel",
)


def customer_features(path: Path) -> np.ndarray:
    """The customer columns as a float matrix in FEATURES order (zip code and channel one-hot); the rows are in
    file order, as `read_hillstrom` returns them."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = {name: np.array([float(row[name]) for row in rows]) for name in FEATURES[:5]}
    for column, prefix in (("zip_code", "zip_"), ("channel", "channel_")):
        values = np.array([row[column] for row in rows])
        for name in FEATURES:
            if name.startswith(prefix):
                columns[name] = (values == name.removeprefix(prefix)).astype(float)
    return np.column_stack([columns[name] for name in FEATURES])


def sklift_module() -> Any | None:
    try:
        import sklift  # noqa: F401  (not a dependency: installed for this benchmark only)
        import sklift.metrics  # noqa: F401
        import sklift.models  # noqa: F401
    except ImportError:
        return None
    return sklift


def logistic() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def small_trees() -> LGBMClassifier:
    return LGBMClassifier(
        n_estimators=100, learning_rate=0.05, num_leaves=7, min_child_samples=300, n_jobs=1, random_state=0, verbose=-1
    )


def small_regression_trees() -> LGBMRegressor:
    return LGBMRegressor(
        n_estimators=100, learning_rate=0.05, num_leaves=7, min_child_samples=300, n_jobs=1, random_state=0, verbose=-1
    )


def models(sklift: Any | None) -> dict[tuple[str, str], Callable[[], Any]]:
    """Every contender as (library, name) -> a fresh unfitted model with fit(X, y, treatment) / predict(X)."""
    ours: dict[tuple[str, str], Callable[[], Any]] = {
        ("afinidad", "two-model, logistic"): lambda: TwoModelUplift(logistic()),
        ("afinidad", "two-model, LightGBM"): lambda: TwoModelUplift(small_trees()),
        ("afinidad", "class transformation, logistic"): lambda: ClassTransformationUplift(logistic()),
        ("afinidad", "class transformation, LightGBM"): lambda: ClassTransformationUplift(small_trees()),
        ("afinidad", "single model, logistic"): lambda: SingleModelUplift(logistic()),
        ("afinidad", "single model + interactions, logistic"): lambda: SingleModelUplift(logistic(), True),
        ("afinidad", "single model, LightGBM"): lambda: SingleModelUplift(small_trees()),
        ("afinidad", "transformed outcome, ridge"): lambda: TransformedOutcomeUplift(Ridge()),
        ("afinidad", "transformed outcome, LightGBM"): lambda: TransformedOutcomeUplift(small_regression_trees()),
    }
    if sklift is None:
        return ours
    from sklift.models import ClassTransformation, SoloModel, TwoModels

    theirs: dict[tuple[str, str], Callable[[], Any]] = {
        ("scikit-uplift", "TwoModels, logistic"): lambda: TwoModels(logistic(), logistic(), method="vanilla"),
        ("scikit-uplift", "TwoModels, LightGBM"): lambda: TwoModels(small_trees(), small_trees(), method="vanilla"),
        ("scikit-uplift", "ClassTransformation, logistic"): lambda: ClassTransformation(logistic()),
        ("scikit-uplift", "ClassTransformation, LightGBM"): lambda: ClassTransformation(small_trees()),
        ("scikit-uplift", "SoloModel, logistic"): lambda: SoloModel(logistic()),
        ("scikit-uplift", "SoloModel + interactions, logistic"): lambda: SoloModel(
            logistic(), method="treatment_interaction"
        ),
        ("scikit-uplift", "SoloModel, LightGBM"): lambda: SoloModel(small_trees()),
    }
    return ours | theirs


def half_split(features: np.ndarray, visit: np.ndarray, arm: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded 50/50 split, stratified by arm and outcome so both halves keep the campaign's proportions."""
    strata = np.char.add(arm.astype(str), visit.astype(int).astype(str))
    return tuple(train_test_split(features, visit, arm, test_size=0.5, random_state=seed, stratify=strata))


def score_models(
    features: np.ndarray, visit: np.ndarray, treated: np.ndarray, seed: int, sklift: Any | None
) -> list[dict[str, Any]]:
    """Fit every model on one half and score it on the other; random targeting first."""
    train_x, test_x, train_y, test_y, train_t, test_t = half_split(features, visit, treated, seed)
    baseline = random_targeting(test_y, test_t, k=TOP, repeats=100, seed=seed)
    rows: list[dict[str, Any]] = [
        {
            "library": "-",
            "model": "random targeting",
            "qini_auc": baseline.qini_auc,
            "uplift_at_30": baseline.uplift_at_k,
            "fit_seconds": None,
        }
    ]
    for (library, name), make in models(sklift).items():
        started = time.perf_counter()
        model = make().fit(train_x, train_y, train_t)
        seconds = time.perf_counter() - started
        scores = np.asarray(model.predict(test_x), dtype=float)
        row = {
            "library": library,
            "model": name,
            "fit_seconds": round(seconds, 3),
            "qini_auc": qini_auc_score(test_y, scores, test_t),
            "uplift_at_30": uplift_at_k(test_y, scores, test_t, TOP),
        }
        if sklift is not None:
            from sklift.metrics import qini_auc_score as their_qini
            from sklift.metrics import uplift_at_k as their_uplift_at_k

            row["metric_difference_vs_sklift"] = max(
                abs(row["qini_auc"] - their_qini(test_y, scores, test_t)),
                abs(row["uplift_at_30"] - their_uplift_at_k(test_y, scores, test_t, strategy="overall", k=TOP)),
            )
        rows.append(row)
    return rows


def next_best_action(features: np.ndarray, visit: np.ndarray, arm: np.ndarray, seed: int) -> dict[str, Any]:
    """Choose per held-out customer among the e-mails and nothing; the visit rate each rule would reach."""
    train_x, test_x, train_y, test_y, train_arm, test_arm = half_split(features, visit, arm, seed)
    rates = {e_mail: float(train_y[train_arm == e_mail].mean()) for e_mail in E_MAILS}
    best_single = max(rates, key=rates.__getitem__)
    other_single = next(e_mail for e_mail in E_MAILS if e_mail != best_single)
    shares = {label: 1 / 3 for label in (*E_MAILS, CONTROL)}  # the design's thirds, not the observed shares

    def evaluated(rule: str, chosen: np.ndarray) -> dict[str, Any]:
        estimate = policy_value(test_y, test_arm, chosen, shares)
        # Paired against the best single e-mail on the same customers: the difference of the IPW terms.
        difference = test_y * ((test_arm == chosen).astype(float) - (test_arm == best_single)) * 3.0
        return {
            "rule": rule,
            "visit_rate": estimate.value,
            "standard_error": estimate.standard_error,
            "vs_best_single": float(difference.mean()),
            "vs_best_single_se": float(difference.std(ddof=1) / np.sqrt(difference.size)),
            "share": {label: float(np.mean(chosen == label)) for label in (*E_MAILS, CONTROL)},
        }

    results = [
        evaluated(f"everyone: {best_single} (best on the training half)", np.full(test_y.size, best_single, object)),
        evaluated(f"everyone: {other_single}", np.full(test_y.size, other_single, object)),
        evaluated("no one", np.full(test_y.size, CONTROL, object)),
    ]
    learners = {
        "two-model, logistic": TwoModelUplift(logistic()),
        "class transformation, logistic": ClassTransformationUplift(logistic()),
        "two-model, LightGBM": TwoModelUplift(small_trees()),
    }
    for name, learner in learners.items():
        chooser = NextBestAction(clone(learner), control=CONTROL).fit(train_x, train_y, train_arm)
        results.append(evaluated(f"next best action ({name})", chooser.predict(test_x)))
    return {"best_single_e_mail": best_single, "training_rates": rates, "rules": results}


def spread(
    features: np.ndarray, visit: np.ndarray, treated: np.ndarray, seeds: Sequence[int], sklift: Any | None
) -> list[dict[str, Any]]:
    runs = [score_models(features, visit, treated, seed, sklift) for seed in seeds]
    summary = []
    for position, first in enumerate(runs[0]):
        qini = [run[position]["qini_auc"] for run in runs]
        top = [run[position]["uplift_at_30"] for run in runs]
        summary.append(
            {
                "library": first["library"],
                "model": first["model"],
                "qini_auc_mean": statistics.fmean(qini),
                "qini_auc_sd": statistics.stdev(qini),
                "uplift_at_30_mean": statistics.fmean(top),
                "uplift_at_30_sd": statistics.stdev(top),
            }
        )
    return summary


def scores_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("library", "model", "Qini AUC", "uplift@30%", "fit s"):
        table.add_column(column, justify="left" if column in ("library", "model") else "right")
    best = max(row["uplift_at_30"] for row in rows)
    for row in rows:
        top = f"{row['uplift_at_30']:.4f}" + (" *" if row["uplift_at_30"] == best else "")
        seconds = "" if row["fit_seconds"] is None else f"{row['fit_seconds']:.2f}"
        table.add_row(row["library"], row["model"], f"{row['qini_auc']:.4f}", top, seconds)
    return table


def spread_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("library", "model", "Qini AUC mean +- sd", "uplift@30% mean +- sd"):
        table.add_column(column, justify="left" if column in ("library", "model") else "right")
    for row in rows:
        table.add_row(
            row["library"],
            row["model"],
            f"{row['qini_auc_mean']:.4f} +- {row['qini_auc_sd']:.4f}",
            f"{row['uplift_at_30_mean']:.4f} +- {row['uplift_at_30_sd']:.4f}",
        )
    return table


def action_table(figures: dict[str, Any]) -> Table:
    table = Table(title="Next best action, held-out half: expected visit rate (IPW)", title_justify="left")
    for column in ("rule", "visit rate", "+- se", "vs best single", "+- se", "Womens", "Mens", "nothing"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for rule in figures["rules"]:
        share = rule["share"]
        table.add_row(
            rule["rule"],
            f"{rule['visit_rate']:.4f}",
            f"{rule['standard_error']:.4f}",
            f"{rule['vs_best_single']:+.4f}",
            f"{rule['vs_best_single_se']:.4f}",
            f"{share['Womens E-Mail']:.0%}",
            f"{share['Mens E-Mail']:.0%}",
            f"{share[CONTROL]:.0%}",
        )
    return table


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42, help="seed of the held-out split (default 42)")
    parser.add_argument("--spread", type=int, default=5, help="further splits for the spread (0: skip)")
    parser.add_argument("--output", type=Path, default=None, help="where to write the figures (JSON)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=160)
    if not HILLSTROM.is_file():
        console.print(f"[yellow]Skipping: {HILLSTROM} is absent (the Hillstrom data set).[/]")
        return 0
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*feature names.*")
    sklift = sklift_module()
    run_id = uuid.uuid4().hex[:8]
    console.print(
        f"[bold]Afinidad uplift benchmark[/] run {run_id}: Hillstrom, visit, held-out half (seed {arguments.seed})."
    )
    if sklift is None:
        console.print(
            "[yellow]`scikit-uplift` is not installed, so its models are skipped: it is not an afinidad "
            "dependency; `.venv/bin/pip install scikit-uplift` for this benchmark.[/]"
        )
    else:
        console.print(f"Comparing with scikit-uplift {sklift.__version__} (installed for this benchmark only).")
    code, load_before = announce_run(console)
    campaign = read_hillstrom(HILLSTROM)
    features = customer_features(HILLSTROM)
    figures: dict[str, Any] = {}
    for e_mail in E_MAILS:
        rows = np.isin(campaign.segment, (e_mail, CONTROL))
        treated = (campaign.segment[rows] == e_mail).astype(int)
        scored = score_models(features[rows], campaign.visit[rows], treated, arguments.seed, sklift)
        console.print(scores_table(f"{e_mail} vs none, visit: held-out half ({rows.sum() // 2:,} customers)", scored))
        if sklift is not None:
            worst = max(row.get("metric_difference_vs_sklift", 0.0) for row in scored)
            console.print(f"Largest difference between afinidad's and scikit-uplift's metric functions: {worst:.1e}")
        figures[e_mail] = {"split_seed": arguments.seed, "scores": scored}
        if arguments.spread > 0:
            seeds = list(range(arguments.spread))
            summary = spread(features[rows], campaign.visit[rows], treated, seeds, sklift)
            console.print(spread_table(f"{e_mail} vs none: over {len(seeds)} further splits (seeds {seeds})", summary))
            figures[e_mail]["spread"] = {"seeds": seeds, "scores": summary}
    actions = next_best_action(features, campaign.visit, campaign.segment, arguments.seed)
    console.print(action_table(actions))
    output = arguments.output or RESULTS / "uplift.json"
    write_figures(
        console,
        output,
        benchmark="uplift",
        run_id=run_id,
        load_before=load_before,
        code=code,
        sklift_version=getattr(sklift, "__version__", None),
        targeting=figures,
        next_best_action=actions,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
