"""The evaluation protocol models are chosen by (and the one `afinidad recommend evaluate` prints):

1. Per-user time split: each user's last 20% of interactions are the test set.
2. Hyper-parameters are chosen on a validation split carved the same way from the training part, never on
   the test set; the chosen model is then refitted on the whole training part.
3. Full ranking over every trained item, the user's training items excluded, binary relevance; users with
   no test interaction are not scored.
4. Figures: NDCG@10, Recall@20, MAP@10, catalog coverage (of the top 10) and novelty (of the top 10).

Steps 2 to 4 are `evaluate_split`, shared with the second protocol (`folds`: MovieLens's u1..u5 folds in
place of step 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from afinidad.recommend import metrics
from afinidad.recommend.interactions import Interactions
from afinidad.recommend.models import Ease, ImplicitAls, ItemKnn, Popularity, Recommender, Rp3Beta, top_k
from afinidad.recommend.models.ease import MAX_ITEMS
from afinidad.recommend.splits import time_split

K = 20  # the longest list a metric reads (Recall@20)


@dataclass
class Candidate:
    """A model family and the settings to try on validation (one setting: nothing to tune)."""

    label: str
    build: Callable[..., Recommender]
    grid: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    baseline: bool = False


@dataclass
class Result:
    label: str
    params: dict[str, Any]
    ndcg10: float
    recall20: float
    map10: float
    coverage: float
    novelty: float
    fit_seconds: float
    baseline: bool
    validation_ndcg10: float | None = None


def candidates(n_items: int) -> list[Candidate]:
    """Baselines with default settings, and the personal models tuned on validation. EASE joins only where
    its dense item x item matrix fits (`ease.MAX_ITEMS`)."""
    found = [
        Candidate("popularity", Popularity, baseline=True),
        Candidate("item-kNN (cosine, k=100)", lambda: ItemKnn(100), baseline=True),
        Candidate("ALS (implicit, defaults)", ImplicitAls, baseline=True),
        Candidate(
            "RP3beta",
            Rp3Beta,
            [
                {"alpha": a, "beta": b, "neighbours": n}
                for a in (0.8, 1.0)
                for b in (0.2, 0.35, 0.5)
                for n in (100, 300)
            ],
        ),  # fmt: skip
    ]
    if n_items <= MAX_ITEMS:
        found.append(Candidate("EASE", Ease, [{"regularization": r} for r in (100, 250, 500, 1000, 2000)]))
    return found


def _score(model: Recommender, train: sp.csr_matrix, test: sp.csr_matrix) -> dict[str, float]:
    users = np.flatnonzero(np.diff(test.indptr))
    if len(users) == 0:  # too little data to hold any out: nothing measured
        return dict.fromkeys(("ndcg10", "recall20", "map10", "coverage", "novelty"), 0.0)
    top = top_k(model, train, users, min(K, train.shape[1]))
    hits = metrics.hits_of(top, test, users)
    relevant = np.diff(test.indptr)[users]
    return {
        "ndcg10": metrics.ndcg(hits, relevant, 10),
        "recall20": metrics.recall(hits, relevant, 20),
        "map10": metrics.average_precision(hits, relevant, 10),
        "coverage": metrics.coverage(top, train.shape[1], 10),
        "novelty": metrics.novelty(top, train, 10),
    }


def evaluate(
    data: Interactions,
    models: Iterable[Candidate] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> list[Result]:
    """Run the protocol on `data`; one result per model, in the order given."""
    train, test = time_split(data)
    return evaluate_split(train, test, models if models is not None else candidates(data.shape[1]), on_step)


def evaluate_split(
    train: Interactions,
    test: Interactions,
    models: Iterable[Candidate],
    on_step: Callable[[str], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Steps 2 to 4 of the protocol on a (train, test) pair however it was made: each protocol (this time
    split, the shipped folds in `folds`) only decides the pair, so models are tuned and scored one way."""
    fit_part, validation = time_split(train)
    train_m, test_m = train.matrix(), test.matrix()
    fit_m, validation_m = fit_part.matrix(), validation.matrix()
    results = []
    for candidate in models:
        best, best_ndcg = candidate.grid[0], None
        if len(candidate.grid) > 1:
            for setting in candidate.grid:
                if on_step:
                    on_step(f"{candidate.label}: validating {setting}")
                ndcg = _score(candidate.build(**setting).fit(fit_m), fit_m, validation_m)["ndcg10"]
                if best_ndcg is None or ndcg > best_ndcg:
                    best, best_ndcg = setting, ndcg
        if on_step:
            on_step(f"{candidate.label}: training and testing")
        started = time.perf_counter()
        model = candidate.build(**best).fit(train_m)
        seconds = time.perf_counter() - started
        figures = _score(model, train_m, test_m)
        results.append(Result(candidate.label, model.params(), fit_seconds=seconds, baseline=candidate.baseline,
                              validation_ndcg10=best_ndcg, **figures))  # fmt: skip
        if on_result:
            on_result(results[-1])
    return results
