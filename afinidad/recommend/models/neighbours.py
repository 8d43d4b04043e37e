"""Sparse item-to-item models, which stay within memory at any catalog size: each item keeps only its `k`
most similar items. Item-kNN (cosine) is a baseline; RP3beta (Paudel et al. 2017), a random walk
user -> item -> user -> item whose arrival probabilities are damped by popularity, usually beats it."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def keep_top(similarity: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep each row's k largest entries (and no self-similarity)."""
    similarity = similarity.tocsr()
    similarity.setdiag(0)
    similarity.eliminate_zeros()
    indptr, indices, data = [0], [], []
    for row in range(similarity.shape[0]):
        start, end = similarity.indptr[row], similarity.indptr[row + 1]
        values, columns = similarity.data[start:end], similarity.indices[start:end]
        if len(values) > k:
            best = np.argpartition(-values, k)[:k]
            values, columns = values[best], columns[best]
        indices.append(columns)
        data.append(values)
        indptr.append(indptr[-1] + len(values))
    return sp.csr_matrix(
        (np.concatenate(data) if data else [], np.concatenate(indices) if indices else [], indptr),
        shape=similarity.shape, dtype=np.float32,
    )  # fmt: skip


class ItemKnn:
    name = "item-kNN"

    def __init__(self, neighbours: int = 100) -> None:
        self.neighbours = neighbours

    def fit(self, train: sp.csr_matrix) -> ItemKnn:
        norms = np.sqrt(np.asarray(train.multiply(train).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        normalised = train @ sp.diags(1.0 / norms)
        similarity = (normalised.T @ normalised).tocsr()
        self.similarity = keep_top(similarity, self.neighbours).T.tocsr()  # rows: the item a score comes from
        return self

    def scores(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return (rows @ self.similarity).toarray()

    def params(self) -> dict[str, Any]:
        return {"neighbours": self.neighbours}


class Rp3Beta:
    name = "RP3beta"

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, neighbours: int = 200) -> None:
        self.alpha, self.beta, self.neighbours = alpha, beta, neighbours

    def fit(self, train: sp.csr_matrix) -> Rp3Beta:
        binary = (train > 0).astype(np.float32)
        user_degree = np.asarray(binary.sum(axis=1)).ravel()
        item_degree = np.asarray(binary.sum(axis=0)).ravel()
        user_degree[user_degree == 0] = 1.0
        safe_items = np.where(item_degree == 0, 1.0, item_degree)
        to_item = sp.diags(1.0 / user_degree) @ binary  # P(item | user)
        to_user = sp.diags(1.0 / safe_items) @ binary.T  # P(user | item)
        if self.alpha != 1.0:
            to_item = to_item.power(self.alpha)
            to_user = to_user.power(self.alpha)
        walk = (to_user @ to_item).tocsr()  # item -> user -> item
        walk = walk @ sp.diags(np.power(safe_items, -self.beta))
        self.similarity = keep_top(walk, self.neighbours)
        return self

    def scores(self, rows: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        return (rows @ self.similarity).toarray()

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta, "neighbours": self.neighbours}
