"""The baseline every model must beat: the items most users had, the same for everyone."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


class Popularity:
    name = "popularity"

    def fit(self, train: sp.csr_matrix) -> Popularity:
        self.counts = np.asarray((train > 0).sum(axis=0), dtype=np.float32).ravel()
        return self

    def scores(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (rows.shape[0], 1))

    def params(self) -> dict[str, Any]:
        return {}
