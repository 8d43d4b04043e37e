"""Bought together: from baskets (the products of one order), which pairs appear together more often than
their popularity alone would make them. Lift, not raw counts: two best-sellers share many baskets by chance,
and a raw count would pair everything with them.

lift(a, b) = P(a and b) / (P(a) P(b)) = together(a, b) * baskets / (baskets(a) * baskets(b)),
ranked by together(a, b) x log(lift(a, b)) (see `lift_matrix`).

Pairs seen together fewer than `min_together_for(baskets)` times are dropped: a lift from one shared basket
is noise.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from afinidad.recommend.models.neighbours import keep_top


def basket_matrix(baskets: Iterable[Iterable[int]], n_items: int) -> sp.csr_matrix:
    """Baskets x items, 1 where the basket holds the item (quantities and repeats do not matter)."""
    rows, columns = [], []
    count = 0
    for basket in baskets:
        items = set(basket)
        if len(items) < 2:
            continue  # a single product says nothing about what goes with what
        rows.extend([count] * len(items))
        columns.extend(items)
        count += 1
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, columns)), shape=(count, n_items), dtype=np.float32)


def min_together_for(n_baskets: int) -> int:
    """Pairs must share this many baskets: 2 in a small shop, one per 4,000 baskets in a large one (5 at
    Online Retail's 20,000 orders), so a busy shop's chance pairs do not crowd out real ones."""
    return max(2, round(n_baskets / 4000))


def lift_matrix(baskets: sp.csr_matrix, min_together: int | None = None, keep: int = 50) -> sp.csr_matrix:
    """Items x items association, only for pairs together at least `min_together` times, each item's `keep`
    best. The score is together x log(lift): lift says the pair is more than chance, the count says it is not
    a coincidence of three large wholesale baskets (raw lift ranks any rare item bought once beside
    everything at the top)."""
    n_baskets = baskets.shape[0]
    min_together = min_together_for(n_baskets) if min_together is None else min_together
    together = (baskets.T @ baskets).tocoo()
    keep_mask = (together.row != together.col) & (together.data >= min_together)
    rows, columns, counts = together.row[keep_mask], together.col[keep_mask], together.data[keep_mask]
    per_item = np.asarray(baskets.sum(axis=0)).ravel()
    lift = counts * n_baskets / (per_item[rows] * per_item[columns])
    score = np.where(lift > 1.0, counts * np.log(lift), 0.0)
    matrix = sp.csr_matrix((score.astype(np.float32), (rows, columns)), shape=together.shape)
    matrix.eliminate_zeros()
    return keep_top(matrix, keep)
