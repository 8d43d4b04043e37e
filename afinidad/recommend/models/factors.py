"""Matrix factorisation by alternating least squares, from `implicit` (Hu, Koren & Volinsky 2008)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits


class ImplicitAls:
    name = "ALS (implicit)"

    def __init__(self, factors: int = 100, regularization: float = 0.01, iterations: int = 15, seed: int = 7) -> None:
        self.factors, self.regularization, self.iterations, self.seed = factors, regularization, iterations, seed

    def fit(self, train: sp.csr_matrix) -> ImplicitAls:
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(1, "blas"):  # implicit's own threads do the work; BLAS threads would fight them
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            iterations=self.iterations, random_state=self.seed)  # fmt: skip
            model.fit(train.astype(np.float32).tocsr(), show_progress=False)
        self.user_factors, self.item_factors = model.user_factors, model.item_factors
        return self

    def scores(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def params(self) -> dict[str, Any]:
        return {"factors": self.factors, "regularization": self.regularization, "iterations": self.iterations}
