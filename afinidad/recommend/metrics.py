"""Ranking metrics over top-k lists with binary relevance: NDCG@k, Recall@k, MAP@k, catalog coverage and
novelty. Pure numpy over (users x k) arrays of item codes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def hits_of(top: np.ndarray, test: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """A boolean (users x k) array: is the item at each rank in that user's test set?"""
    relevant = test[users]
    hits = np.zeros(top.shape, dtype=bool)
    for row in range(len(users)):
        start, end = relevant.indptr[row], relevant.indptr[row + 1]
        if end > start:
            hits[row] = np.isin(top[row], relevant.indices[start:end])
    return hits


def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits[:, :k] * discounts).sum(axis=1)
    ideal = np.array([discounts[: min(n, k)].sum() for n in n_relevant])
    return float(np.mean(dcg / ideal))


def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    return float(np.mean(hits[:, :k].sum(axis=1) / n_relevant))


def average_precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """MAP@k: precision at each hit, averaged over min(relevant, k)."""
    cut = hits[:, :k]
    precision = np.cumsum(cut, axis=1) / np.arange(1, k + 1)
    return float(np.mean((precision * cut).sum(axis=1) / np.minimum(n_relevant, k)))


def coverage(top: np.ndarray, n_items: int, k: int) -> float:
    """The share of the catalog that appears in anyone's top k."""
    return len(np.unique(top[:, :k])) / n_items


def novelty(top: np.ndarray, train: sp.csr_matrix, k: int) -> float:
    """Mean self-information, -log2 of the share of users who had the item, of what is recommended: higher
    means less obvious items."""
    share = np.asarray((train > 0).sum(axis=0)).ravel() / train.shape[0]
    share = np.clip(share, 1.0 / train.shape[0], 1.0)
    return float(np.mean(-np.log2(share[top[:, :k]])))
