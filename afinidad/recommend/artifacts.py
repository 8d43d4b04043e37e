"""A trained model as stored: item ids, a sparse item x item weight matrix (each item's strongest links
only), and item popularity for cold starts. One format for every algorithm keeps serving to one sparse
product, whatever trained it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from afinidad.recommend.content import ContentIndex
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
    similar_ids: np.ndarray | None = None  # the ids `similar` is over: the items above, then catalog-only ones
    similar: sp.csr_matrix | None = None  # behaviour links in (1, 2], content links in (0, 1] (blend_neighbours)
    content: ContentIndex | None = None  # for products added after training: their similar ones, live

    @cached_property
    def index(self) -> dict[str, int]:
        return {str(item): code for code, item in enumerate(self.item_ids)}

    @cached_property
    def similar_index(self) -> dict[str, int]:
        return {str(item): code for code, item in enumerate(self.similar_ids if self.similar_ids is not None else [])}

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        w = self.weights.tocsr()
        t = (self.together if self.together is not None else sp.csr_matrix(w.shape, dtype=np.float32)).tocsr()
        parts = {"item_ids": self.item_ids.astype(str), "popularity": self.popularity,
                 **_sparse("", w), **_sparse("t_", t),
                 "item_category": (self.item_category if self.item_category is not None
                                   else np.full(len(self.item_ids), -1, dtype=np.int32)),
                 "categories": np.array(self.categories, dtype=str),
                 "context": np.array(self.context.to_json() if self.context else "")}  # fmt: skip
        if self.similar is not None and self.similar_ids is not None:
            parts |= {"s_ids": self.similar_ids.astype(str), **_sparse("s_", self.similar.tocsr())}
        if self.content is not None:
            parts |= {f"c_{name}": array for name, array in self.content.to_arrays().items()}
        np.savez_compressed(buffer, **parts)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ItemModel:
        with np.load(io.BytesIO(blob), allow_pickle=False) as parts:
            names = set(parts.files)  # versions trained before context or content was learned lack those parts
            shape = tuple(parts["shape"])
            context = str(parts["context"]) if "context" in names else ""
            similar_ids = parts["s_ids"] if "s_ids" in names else None
            content = ({name[2:]: parts[name] for name in names if name.startswith("c_")}
                       if "c_format" in names else None)  # fmt: skip
            return cls(parts["item_ids"], _unsparse(parts, "", shape), parts["popularity"],
                       _unsparse(parts, "t_", shape),
                       parts["item_category"] if "item_category" in names else None,
                       tuple(str(c) for c in parts["categories"]) if "categories" in names else (),
                       ContextAffinity.from_json(context) if context else None,
                       similar_ids,
                       _unsparse(parts, "s_", (len(similar_ids),) * 2) if similar_ids is not None else None,
                       ContentIndex.from_arrays(content) if content else None)  # fmt: skip


def _sparse(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    out = {f"{prefix}data": matrix.data, f"{prefix}indices": matrix.indices, f"{prefix}indptr": matrix.indptr}
    return out | ({"shape": np.array(matrix.shape)} if not prefix else {})


def _unsparse(parts: np.lib.npyio.NpzFile, prefix: str, shape: tuple[int, ...]) -> sp.csr_matrix:
    return sp.csr_matrix((parts[f"{prefix}data"], parts[f"{prefix}indices"], parts[f"{prefix}indptr"]), shape=shape)


def sparse_weights(dense_or_sparse: np.ndarray | sp.spmatrix, links: int = LINKS_PER_ITEM) -> sp.csr_matrix:
    """Keep each item's `links` strongest positive links (what can lift a recommendation)."""
    matrix = sp.csr_matrix(np.maximum(dense_or_sparse, 0) if isinstance(dense_or_sparse, np.ndarray)
                           else dense_or_sparse.maximum(0))  # fmt: skip
    return keep_top(matrix, links)
