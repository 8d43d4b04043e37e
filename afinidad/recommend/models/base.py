"""What every recommender offers, and ranking with a user's own items excluded."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp


class Recommender(Protocol):
    name: str

    def fit(self, train: sp.csr_matrix) -> Any: ...

    def scores(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        """Dense scores (len(users) x items) for these users, whose interaction rows are `rows`."""
        ...

    def params(self) -> dict[str, Any]: ...


def top_k(model: Recommender, train: sp.csr_matrix, users: np.ndarray, k: int, batch: int = 1024) -> np.ndarray:
    """The k best items per user, best first, never an item the user already has in `train`."""
    out = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        rows = train[chunk]
        scores = np.asarray(model.scores(rows, chunk), dtype=np.float32)
        scores[rows.nonzero()] = -np.inf
        best = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
        out[start : start + len(chunk)] = np.take_along_axis(best, order, axis=1)
    return out
