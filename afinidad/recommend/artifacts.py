"""A trained model as stored: item ids, a sparse item x item weight matrix (each item's strongest links
only), and item popularity for cold starts. One format for every algorithm keeps serving to one sparse
product, whatever trained it."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from afinidad.recommend.context import ContextAffinity
from afinidad.recommend.models.neighbours import keep_top

LINKS_PER_ITEM = 200


@dataclass(frozen=True)
class ItemModel:
    item_ids: np.ndarray  # labels (product ids), position = code
    weights: sp.csr_matrix  # row: the item a person has; column: the item it recommends
    popularity: np.ndarray  # people who had each item
    together: sp.csr_matrix | None = None  # bought together: item -> items that share its baskets (lift)
    item_category: np.ndarray | None = None  # code into `categories` per item, -1 when unknown
    categories: tuple[str, ...] = ()  # the level context lifts are learned at (see context.rollup)
    context: ContextAffinity | None = None

    @property
    def index(self) -> dict[str, int]:
        return {str(item): code for code, item in enumerate(self.item_ids)}

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        w = self.weights.tocsr()
        t = (self.together if self.together is not None else sp.csr_matrix(w.shape, dtype=np.float32)).tocsr()
        np.savez_compressed(buffer, item_ids=self.item_ids.astype(str), data=w.data, indices=w.indices,
                            indptr=w.indptr, shape=np.array(w.shape), popularity=self.popularity,
                            t_data=t.data, t_indices=t.indices, t_indptr=t.indptr,
                            item_category=(self.item_category if self.item_category is not None
                                           else np.full(len(self.item_ids), -1, dtype=np.int32)),
                            categories=np.array(self.categories, dtype=str),
                            context=np.array(self.context.to_json() if self.context else ""))  # fmt: skip
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ItemModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as parts:
            weights = sp.csr_matrix((parts["data"], parts["indices"], parts["indptr"]), shape=tuple(parts["shape"]))
            together = sp.csr_matrix((parts["t_data"], parts["t_indices"], parts["t_indptr"]),
                                     shape=tuple(parts["shape"]))  # fmt: skip
            names = set(parts.files)  # versions trained before context was learned lack the last three
            context = str(parts["context"]) if "context" in names else ""
            return cls(parts["item_ids"], weights, parts["popularity"], together,
                       parts["item_category"] if "item_category" in names else None,
                       tuple(str(c) for c in parts["categories"]) if "categories" in names else (),
                       ContextAffinity.from_json(context) if context else None)  # fmt: skip


def sparse_weights(dense_or_sparse: np.ndarray | sp.spmatrix, links: int = LINKS_PER_ITEM) -> sp.csr_matrix:
    """Keep each item's `links` strongest positive links (what can lift a recommendation)."""
    matrix = sp.csr_matrix(np.maximum(dense_or_sparse, 0) if isinstance(dense_or_sparse, np.ndarray)
                           else dense_or_sparse.maximum(0))  # fmt: skip
    return keep_top(matrix, links)
