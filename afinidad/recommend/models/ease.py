"""EASE (Steck 2019): a dense item x item linear model with a closed-form solution. Strong on catalogs of a
few thousand items; its time and memory grow with items squared and cubed (measured: a 9,423-item fit took
26 s and 2.8 GB), so it is refused above `max_items` and the chooser picks RP3beta, a sparse neighbourhood
model, there instead."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

MAX_ITEMS = 5_000


class Ease:
    name = "EASE"

    def __init__(self, regularization: float = 500.0, max_items: int = MAX_ITEMS) -> None:
        self.regularization = regularization
        self.max_items = max_items

    def fit(self, train: sp.csr_matrix) -> Ease:
        n_items = train.shape[1]
        if n_items > self.max_items:
            raise ValueError(f"EASE needs a dense {n_items:,} x {n_items:,} matrix; the limit is {self.max_items:,}")
        gram = (train.T @ train).toarray().astype(np.float64)
        gram[np.diag_indices(n_items)] += self.regularization
        precision = np.linalg.inv(gram)
        weights = precision / (-np.diag(precision))
        weights[np.diag_indices(n_items)] = 0.0
        self.weights = weights.astype(np.float32)
        return self

    def scores(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return np.asarray(rows @ self.weights)

    def params(self) -> dict[str, Any]:
        return {"regularization": self.regularization}
