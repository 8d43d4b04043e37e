"""The second evaluation protocol: given (train, test) folds, such as the u1..u5 cross-validation folds
MovieLens 100k ships, so figures can be set beside published ones measured on the very same folds. Each
fold goes through the time-split protocol's own tuning and scoring (`evaluation.evaluate_split`); only the
pair differs, and the figures are the mean and spread over folds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from afinidad.recommend.evaluation import Candidate, Result, candidates, evaluate_split
from afinidad.recommend.interactions import Interactions
from afinidad.recommend.splits import drop_known_pairs, trained_items_only

FIGURES = ("ndcg10", "recall20", "map10", "coverage", "novelty", "fit_seconds")


@dataclass
class FoldedResult:
    """One model over every fold. The figures are means, named as in `Result` so one table prints either
    protocol; `std` holds their sample standard deviation across folds (how much a single fold could have
    said otherwise), and `folds` each fold's own result, with the setting its validation chose."""

    label: str
    baseline: bool
    ndcg10: float
    recall20: float
    map10: float
    coverage: float
    novelty: float
    fit_seconds: float
    std: dict[str, float]
    folds: list[Result]


def evaluate_folds(
    folds: Sequence[tuple[Interactions, Interactions]],
    models: Sequence[Candidate] | None = None,
    on_step: Callable[[str], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[FoldedResult]:
    """Per fold: settings tuned on a time split of that fold's train part only, the chosen setting refitted
    on the train part, and a full ranking over the items it holds, scored on the test part (test pairs the
    user already has in train, and test items train never saw, are dropped). One result per model, in the
    order given, over every fold."""
    if not folds:
        raise ValueError("no folds to evaluate")
    chosen = list(models) if models is not None else candidates(folds[0][0].shape[1])
    per_model: list[list[Result]] = [[] for _ in chosen]
    for number, (train, test) in enumerate(folds, start=1):
        train, test = trained_items_only(train, drop_known_pairs(train, test))

        def step(text: str, number: int = number) -> None:
            if on_step:
                on_step(f"fold {number}/{len(folds)}, {text}")

        for results, result in zip(per_model, evaluate_split(train, test, chosen, step, on_result), strict=True):
            results.append(result)
    return [_summary(candidate, results) for candidate, results in zip(chosen, per_model, strict=True)]


def _summary(candidate: Candidate, results: list[Result]) -> FoldedResult:
    values = {name: np.array([getattr(r, name) for r in results], dtype=np.float64) for name in FIGURES}
    means = {name: float(v.mean()) for name, v in values.items()}
    spread = {name: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for name, v in values.items()}
    return FoldedResult(candidate.label, candidate.baseline, std=spread, folds=results, **means)
