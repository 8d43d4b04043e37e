"""Content-based similar items: products that read alike, so that a product nobody has viewed or bought yet
(a new item, the cold start of a behavioural model) still has similar products, and is one.

Each product becomes a TF-IDF vector of its text; two products are as similar as the cosine of their
vectors. Why these choices:

- Terms are the catalog's own Snowball stems (`afinidad.catalog.analysis`, English and Spanish for an
  untagged product), accents stripped, so "bag" meets "bags" and "camión" meets "camiones", as in search.
- Fields are weighted by how much they say about what a product *is*: the title counts `title_weight` times;
  the brand and every level of the category path add a whole-value term ("brand:sicons",
  "category:footwear > women s footwear"), so products of one brand or one leaf share a rare term; the leaf's
  words count as text, so a "Candles" leaf meets "candle" in a title; only the first `description_chars` of
  the description count, and only as single words. Bigrams ("lunch bag") come from the title, the brand and
  the leaf, never across two fields. Description bigrams are left out because nearly every one is unique to
  its product: at 100,000 products they would add millions of terms and match nothing.
- scikit-learn's `TfidfVectorizer` turns those terms into vectors (smooth idf, sublinear tf, L2 norm), so a
  product added later is vectorised against the same vocabulary and idf with `ContentIndex.query`.
- Each product keeps only its `n_neighbours` most similar others above `min_similarity`, found in row chunks
  (`X[chunk] @ X.T`) sized by their work, so 100,000 products fit in a few hundred MiB. A term in more than
  `max_df` of a large catalog is dropped: it says little about which products are alike, and the similarity
  product costs the square of its product count (one word in half of 100,000 products is 2.5e9 multiply-adds).

Pure: numpy, scipy and scikit-learn; nothing here reads or writes anything but its own bytes.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from afinidad.catalog.analysis import DEFAULT_LANGUAGES, language_of, stems, words
from afinidad.errors import FieldProblem, InvalidInput

FORMAT = 1  # of `ContentIndex.to_arrays`; bump when its arrays change meaning
MIN_PRUNED_COUNT = 100  # below this many products a common term costs nothing worth saving, and is kept
WORK_PER_CHUNK = 8_000_000  # multiply-adds per chunk of `X[chunk] @ X.T`; bounds its temporary to ~100 MiB

_CATEGORY_LEVELS = re.compile(r"\s*>+\s*")  # "Home > Decor" as the catalog stores it, "Home >> Decor" as feeds do


@dataclass(frozen=True)
class ProductText:
    """What a product says about itself. `category` is a path ("Home > Decor > Candles", may be empty);
    `language` a tag ("en", "es-MX") or None when unknown."""

    product_id: str
    title: str
    description: str | None = None
    brand: str | None = None
    category: str = ""
    language: str | None = None


@dataclass(frozen=True)
class Neighbour:
    product_id: str
    similarity: float  # cosine of the two products' TF-IDF vectors, in (0, 1]


def product_terms(
    product: ProductText,
    *,
    title_weight: int = 2,
    description_chars: int = 500,
    default_languages: Sequence[str] = DEFAULT_LANGUAGES,
) -> list[str]:
    """The terms a product is indexed by (see the module docstring); empty when it has no usable text."""
    language = language_of(product.language)
    languages = (language,) if language else tuple(default_languages)
    terms: list[str] = []
    title = _grams(product.title or "", languages)
    for _ in range(title_weight):
        terms.extend(title)
    if product.brand and (brand := _plain(product.brand)):
        terms.append(f"brand:{brand}")
        terms.extend(_grams(product.brand, languages))
    levels = [level for level in (_plain(part) for part in _CATEGORY_LEVELS.split(product.category or "")) if level]
    for depth in range(1, len(levels) + 1):
        terms.append("category:" + " > ".join(levels[:depth]))
    if levels:
        terms.extend(_grams(levels[-1], languages))
    if product.description:
        terms.extend(_grams(_truncated(product.description, description_chars), languages, bigrams=False))
    return terms


def _grams(text: str, languages: Sequence[str], *, bigrams: bool = True) -> list[str]:
    """Stems of each language (one-character ones dropped: "t" of "T-LIGHT", "s" of "women's"), then their
    bigrams within that language's stems."""
    out: list[str] = []
    for language in languages:
        kept = [stem for stem in stems(text, (language,)) if len(stem) > 1]
        out.extend(kept)
        if bigrams:
            out.extend(f"{first} {second}" for first, second in zip(kept, kept[1:], strict=False))
    return out


def _plain(text: str) -> str:
    """Words, case-folded and without accents, one space apart: the whole-value terms of brand and category."""
    decomposed = unicodedata.normalize("NFKD", " ".join(words(text)))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _truncated(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    return text[:chars].rsplit(None, 1)[0]  # never a cut word, which would stem to a term of its own


def _given_terms(terms: list[str]) -> list[str]:
    """The vectorizer's analyzer: terms arrive analysed (module-level so the vectorizer stays plain data)."""
    return terms


class ContentIndex:
    """TF-IDF vectors of a catalog's products and each product's most similar others (an estimator: `fit`
    returns self; learned state ends in `_`).

    After `fit`: `product_ids_` (position = code, as in `ItemModel.item_ids`), `vectors_` (products x
    terms, rows L2-normalised), `neighbours_` (products x products, float32, each row's links best first)
    and `vectorizer_` (the fitted vocabulary and idf, None when no product had usable text)."""

    def __init__(
        self,
        n_neighbours: int = 50,
        min_similarity: float = 0.05,
        title_weight: int = 2,
        description_chars: int = 500,
        max_df: float = 0.2,
        default_languages: Sequence[str] = DEFAULT_LANGUAGES,
    ) -> None:
        self.n_neighbours = n_neighbours
        self.min_similarity = min_similarity
        self.title_weight = title_weight
        self.description_chars = description_chars
        self.max_df = max_df
        self.default_languages = tuple(default_languages)

    def terms(self, product: ProductText) -> list[str]:
        return product_terms(product, title_weight=self.title_weight, description_chars=self.description_chars,
                             default_languages=self.default_languages)  # fmt: skip

    def fit(self, products: Sequence[ProductText]) -> ContentIndex:
        """Terms in more than `max_df` of the products are dropped only once that share is above
        `MIN_PRUNED_COUNT` products: in a small catalog they cost nothing and still tell its few kinds apart."""
        ids = [product.product_id for product in products]
        _check_unique(ids)
        documents = [self.terms(product) for product in products]
        self.product_ids_ = np.array(ids, dtype=str)
        self.vectorizer_: TfidfVectorizer | None = None
        self.vectors_ = sp.csr_matrix((len(products), 0), dtype=np.float32)
        if any(documents):
            vectorizer = _vectorizer(max_df=max(int(self.max_df * len(products)), MIN_PRUNED_COUNT))
            try:
                self.vectors_ = sp.csr_matrix(vectorizer.fit_transform(documents), dtype=np.float32)
                self.vectorizer_ = vectorizer
            except ValueError as error:
                if "no terms remain" not in str(error):
                    raise
                # every term is in too many products to tell any apart: no product has neighbours
        self.neighbours_ = top_neighbours(self.vectors_, self.n_neighbours, self.min_similarity)
        self._forget_derived()
        return self

    def _forget_derived(self) -> None:
        self._columns: sp.csr_matrix | None = None
        self.__dict__.pop("index", None)

    @cached_property
    def index(self) -> dict[str, int]:
        """Code (row) of each trained product id."""
        return {str(product_id): code for code, product_id in enumerate(self.product_ids_)}

    def neighbours(self, k: int | None = None) -> sp.csr_matrix:
        """Each trained product's `k` (at most `n_neighbours`) most similar others, best first in each row."""
        return _first_per_row(self.neighbours_, self.n_neighbours if k is None else min(k, self.n_neighbours))

    def transform(self, products: Iterable[ProductText]) -> sp.csr_matrix:
        """Vectors of any products (new ones too) in the trained vocabulary; words it never saw are ignored."""
        documents = [self.terms(product) for product in products]
        if self.vectorizer_ is None:
            return sp.csr_matrix((len(documents), self.vectors_.shape[1]), dtype=np.float32)
        return sp.csr_matrix(self.vectorizer_.transform(documents), dtype=np.float32)

    def query(self, product: ProductText, k: int = 10) -> list[Neighbour]:
        """The trained products most similar to `product` (not itself, if it was trained), best first: how a
        product added after training gets similar products before the next fit."""
        similar = self.query_many([product], k)
        start, end = similar.indptr[0], similar.indptr[1]
        return [Neighbour(str(self.product_ids_[code]), float(score))
                for code, score in zip(similar.indices[start:end], similar.data[start:end], strict=True)]  # fmt: skip

    def query_many(self, products: Sequence[ProductText], k: int = 10) -> sp.csr_matrix:
        """`query` for many products at once: a (products x trained products) matrix, rows best first."""
        known = self.index
        own = np.array([known.get(product.product_id, -1) for product in products], dtype=np.int64)
        if self._columns is None:
            self._columns = self.vectors_.T.tocsr()  # terms x products, made once per fitted or loaded index
        return _nearest(self.transform(products), self._columns, k, self.min_similarity, own)

    # -- storage: plain arrays, so a model version can keep it and load it with allow_pickle=False ----------

    def to_arrays(self) -> dict[str, np.ndarray]:
        vectorizer = self.vectorizer_
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__) if vectorizer else []
        idf = vectorizer.idf_ if vectorizer else np.zeros(0)
        return {
            "format": np.array(FORMAT),
            "product_ids": self.product_ids_.astype(str),
            "terms": np.frombuffer("\n".join(terms).encode(), dtype=np.uint8),  # terms hold no newline
            "idf": np.asarray(idf, dtype=np.float64),
            **_sparse_arrays("vectors", self.vectors_),
            **_sparse_arrays("neighbours", self.neighbours_),
            "n_neighbours": np.array(self.n_neighbours),
            "min_similarity": np.array(self.min_similarity),
            "title_weight": np.array(self.title_weight),
            "description_chars": np.array(self.description_chars),
            "max_df": np.array(self.max_df),
            "default_languages": np.array(self.default_languages, dtype=str),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile) -> ContentIndex:
        if int(arrays["format"]) != FORMAT:
            raise ValueError(f"content index format {int(arrays['format'])}, this code reads {FORMAT}")
        index = cls(
            n_neighbours=int(arrays["n_neighbours"]),
            min_similarity=float(arrays["min_similarity"]),
            title_weight=int(arrays["title_weight"]),
            description_chars=int(arrays["description_chars"]),
            max_df=float(arrays["max_df"]),
            default_languages=[str(language) for language in arrays["default_languages"]],
        )
        index.product_ids_ = np.asarray(arrays["product_ids"]).astype(str)
        index.vectors_ = _sparse_from(arrays, "vectors")
        index.neighbours_ = _sparse_from(arrays, "neighbours")
        terms = arrays["terms"].tobytes().decode().split("\n") if arrays["terms"].size else []
        index.vectorizer_ = None
        if terms:
            vectorizer = _vectorizer(vocabulary={term: column for column, term in enumerate(terms)})
            vectorizer.idf_ = np.asarray(arrays["idf"], dtype=np.float64)
            index.vectorizer_ = vectorizer
        index._forget_derived()
        return index

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.to_arrays())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ContentIndex:
        with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
            return cls.from_arrays(arrays)


def _vectorizer(**settings: object) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=_given_terms, sublinear_tf=True, dtype=np.float32, **settings)  # type: ignore[arg-type]


def _check_unique(ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for position, product_id in enumerate(ids):
        if product_id in seen:
            raise InvalidInput(f"product {product_id!r} is given twice",
                               [FieldProblem(f"products[{position}].product_id", "repeated")])  # fmt: skip
        seen.add(product_id)


def _sparse_arrays(name: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {f"{name}_data": matrix.data, f"{name}_indices": matrix.indices, f"{name}_indptr": matrix.indptr,
            f"{name}_shape": np.array(matrix.shape)}  # fmt: skip


def _sparse_from(arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile, name: str) -> sp.csr_matrix:
    parts = (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"])
    return sp.csr_matrix(parts, shape=tuple(int(size) for size in arrays[f"{name}_shape"]))


# -- nearest neighbours by cosine, in chunks ----------------------------------------------------------------


def top_neighbours(
    vectors: sp.csr_matrix, k: int = 50, min_similarity: float = 0.05, work_per_chunk: int = WORK_PER_CHUNK
) -> sp.csr_matrix:
    """Each row's `k` most similar other rows by cosine (rows of `vectors` L2-normalised), above
    `min_similarity`, best first within each row: an n x n float32 matrix, self excluded.

    The full similarity matrix of a large catalog does not fit in memory (every product shares some word
    with thousands of others), so rows go in chunks whose multiply-adds stay near `work_per_chunk`: a chunk
    of rare-worded products is large, one of common-worded products small."""
    vectors = sp.csr_matrix(vectors, dtype=np.float32)
    n = vectors.shape[0]
    columns = vectors.T.tocsr()  # terms x products, made once: csr @ csr needs no conversion per chunk
    parts = [
        _nearest(vectors[start:end], columns, k, min_similarity, np.arange(start, end))
        for start, end in _chunks(vectors, work_per_chunk)
    ]
    if not parts:
        return sp.csr_matrix((n, n), dtype=np.float32)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate([np.diff(part.indptr) for part in parts]))])
    data = np.concatenate([part.data for part in parts])
    indices = np.concatenate([part.indices for part in parts])
    return sp.csr_matrix((data, indices, indptr), shape=(n, n), dtype=np.float32)


def _chunks(vectors: sp.csr_matrix, work_per_chunk: int) -> Iterator[tuple[int, int]]:
    """Row ranges whose `X[chunk] @ X.T` costs about `work_per_chunk` multiply-adds each (a row's cost is the
    number of products holding each of its terms, summed)."""
    n = vectors.shape[0]
    if n == 0:
        return
    products_per_term = np.bincount(vectors.indices, minlength=vectors.shape[1]).astype(np.float64)
    running = np.concatenate([[0.0], np.cumsum(products_per_term[vectors.indices])])
    row_work = running[vectors.indptr[1:]] - running[vectors.indptr[:-1]]
    cumulative = np.cumsum(row_work)
    start = 0
    while start < n:
        done = cumulative[start - 1] if start else 0.0
        end = int(np.searchsorted(cumulative, done + work_per_chunk, side="right"))
        end = min(max(end, start + 1), n)
        yield start, end
        start = end


def _nearest(
    queries: sp.csr_matrix, columns: sp.csr_matrix, k: int, min_similarity: float, own: np.ndarray
) -> sp.csr_matrix:
    """Each query row's `k` best columns of `queries @ columns` above `min_similarity`, best first, leaving
    out column `own[row]` (the query itself; -1 for none).

    Most of a product's similarities are small ones through a common word (median 0.03 on the synthetic
    benchmark catalog, ~9,000 per row): they are dropped in scipy's C++ first, then each long row is cut to
    its k + 1 best with `argpartition` (linear, where sorting a chunk's entries took ten times longer), and
    only those candidates are sorted. k + 1, so that dropping the query itself still leaves k."""
    similarity = sp.csr_matrix(queries @ columns)
    similarity.data[similarity.data <= min_similarity] = 0.0
    similarity.eliminate_zeros()
    indptr, data, counts = similarity.indptr, similarity.data, np.diff(similarity.indptr)
    candidate = np.ones(similarity.nnz, dtype=bool)
    for row in np.flatnonzero(counts > k + 1):
        start, end = indptr[row], indptr[row + 1]
        candidate[start:end] = False
        cut = end - start - (k + 1)
        candidate[start + np.argpartition(data[start:end], cut)[cut:]] = True
    rows = np.repeat(np.arange(similarity.shape[0], dtype=np.int64), counts)[candidate]
    columns_kept, scores = similarity.indices[candidate], data[candidate]
    not_own = columns_kept != own[rows]
    rows, columns_kept = rows[not_own], columns_kept[not_own]
    scores = np.minimum(scores[not_own], 1.0)  # rounding can put an identical text at 1.0000001
    order = np.lexsort((columns_kept, -scores, rows))  # by row, best first; ties in column order
    rows, columns_kept, scores = rows[order], columns_kept[order], scores[order]
    per_row = np.bincount(rows, minlength=similarity.shape[0])
    starts = np.concatenate([[0], np.cumsum(per_row)[:-1]])
    best = np.arange(len(rows)) - starts[rows] < k
    indptr = np.concatenate([[0], np.cumsum(np.minimum(per_row, k))])
    return sp.csr_matrix((scores[best].astype(np.float32), columns_kept[best].astype(np.int32), indptr),
                         shape=similarity.shape)  # fmt: skip


def _first_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    counts = np.diff(matrix.indptr)
    positions = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
    keep = positions < k
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, k))])
    return sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)


# -- blending with a behavioural model ----------------------------------------------------------------------


def blend_neighbours(
    behaviour: sp.csr_matrix,
    behaviour_ids: Sequence[str],
    content: sp.csr_matrix,
    content_ids: Sequence[str],
    k: int = 50,
) -> tuple[np.ndarray, sp.csr_matrix]:
    """Item-to-item links from behaviour (what people did) topped up with links from content (what products
    are), so that an item with few behavioural links (or none: a new item) still has `k`.

    Returns `(item_ids, links)`: the behaviour ids in their order, then the ids only content knows (new
    items); `links` is item x item, row = the item someone has, column = the item it leads to.

    Rules, chosen to be simple and predictable:
    - Every positive behavioural link of an item is kept (none is dropped for content), and ranks first.
    - If an item has fewer than `k`, its best content links to items it is not already linked to fill the
      row up to `k`.
    - Scores: behavioural links are divided by the row's strongest one and moved to (1, 2]; content links
      keep their cosine, in (0, 1]. So within a row any behavioural link outranks any content link, the
      behaviour's order is kept, and content scores mean the same in every row. Summed over a person's
      items, one behavioural link (> 1) weighs at least as much as one content link (<= 1), but two good
      content links can outweigh a weak behavioural one, which is intended: they are two pieces of evidence.
    """
    behaviour_ids = [str(item) for item in behaviour_ids]
    content_ids = [str(item) for item in content_ids]
    if behaviour.shape != (len(behaviour_ids), len(behaviour_ids)):
        raise ValueError(f"behaviour is {behaviour.shape} for {len(behaviour_ids)} ids")
    if content.shape != (len(content_ids), len(content_ids)):
        raise ValueError(f"content is {content.shape} for {len(content_ids)} ids")
    code = {item: position for position, item in enumerate(behaviour_ids)}
    for item in content_ids:
        code.setdefault(item, len(code))
    item_ids = np.array(list(code), dtype=str)
    n = len(item_ids)

    known = sp.csr_matrix(behaviour).tocoo()
    positive = known.data > 0
    b_rows, b_cols, b_scores = known.row[positive], known.col[positive], known.data[positive].astype(np.float64)
    strongest = np.zeros(len(behaviour_ids))
    np.maximum.at(strongest, b_rows, b_scores)
    b_scores = 1.0 + b_scores / strongest[b_rows]

    to_blend = np.array([code[item] for item in content_ids], dtype=np.int64)
    similar = sp.csr_matrix(content).tocoo()
    c_rows, c_cols = to_blend[similar.row], to_blend[similar.col]
    c_scores = np.clip(similar.data.astype(np.float64), 0.0, 1.0)
    usable = c_scores > 0
    c_rows, c_cols, c_scores = c_rows[usable], c_cols[usable], c_scores[usable]

    rows = np.concatenate([b_rows.astype(np.int64), c_rows])
    cols = np.concatenate([b_cols.astype(np.int64), c_cols])
    scores = np.concatenate([b_scores, c_scores])
    is_behaviour = np.arange(len(rows)) < len(b_rows)
    order = np.lexsort((cols, -scores, rows))  # by row, best first: behaviour (> 1) before content (<= 1)
    rows, cols, scores, is_behaviour = rows[order], cols[order], scores[order], is_behaviour[order]
    _, first = np.unique(rows * n + cols, return_index=True)  # one link per pair: the best, behaviour's if any
    unique = np.zeros(len(rows), dtype=bool)
    unique[first] = True
    rows, cols, scores, is_behaviour = rows[unique], cols[unique], scores[unique], is_behaviour[unique]
    counts = np.bincount(rows, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    keep = is_behaviour | (np.arange(len(rows)) - starts[rows] < k)
    rows, cols, scores = rows[keep], cols[keep], scores[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    return item_ids, sp.csr_matrix((scores.astype(np.float32), cols.astype(np.int32), indptr), shape=(n, n))
