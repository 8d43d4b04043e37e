"""Learned micro-segments: customers grouped by their behavioural features, with ids that survive retraining.

How, and why this way:

- **Transform.** Money, counts and durations are heavily skewed (a wholesale customer spends a thousand times
  what a gift buyer does), so they get `log1p` first; shares stay as they are. Every feature is then centred
  on its median and divided by its interquartile range / 1.349 (the IQR of a standard normal), so that one
  unit means about one standard deviation for the bulk of customers whatever the outliers do. A feature whose
  IQR is 0 (a share most customers have at 0) falls back to its standard deviation; a constant one to 1.
  Values are clipped to +-`clip` units so that a handful of extreme customers cannot claim a cluster each.
- **Cluster.** k-means (scikit-learn, k-means++ starts, `n_init` restarts): it gives one centroid per
  segment, which is what the stable ids are matched on, and it assigns a new customer by nearest centroid with
  nothing but the centroids, so the fitted model is a few arrays.
- **Choose k.** By mean silhouette over `k_min..k_max`, measured on all customers up to `silhouette_sample`
  (a seeded sample above that, since it costs n squared). Silhouette scores how much closer customers are to
  their own segment than to the next one, which is what a marketer needs of segments (distinct groups);
  unlike the elbow it needs no judgement, and unlike BIC it does not assume Gaussian clusters, which these
  long-tailed features are not. The chosen k is the smallest whose silhouette is within `k_tolerance` (1%) of
  the best: on Online Retail the best two k are 0.0008 (0.4%) apart and which wins depends on the k-means seed,
  and a k that flips between retrains would defeat the stable ids; among near-equal choices the fewer
  segments are also the easier to act on.
- **Stable ids.** Refitting gives new centroids in an arbitrary order. With the previous model at hand, the
  new centroids are mapped into the previous model's scaled space, the pairs are matched by the Hungarian
  algorithm (`scipy.optimize.linear_sum_assignment`) on Euclidean distance over the features both share
  (pairs too far apart priced out, so that one poor pair cannot cost another good one its id), and a pair
  keeps the previous id only when the new centroid lies within `match_threshold` times the distance
  from the previous centroid to its nearest other previous centroid. At 0.5 that guarantees the new centroid
  sits inside the previous segment's Voronoi cell: it is the same segment, moved. Unmatched segments get
  fresh ids; an id that disappears is never reused.

Id 0 is reserved for customers with no order (`NO_PURCHASE_SEGMENT`): they have no behaviour to place. The
fitted state is plain numbers and lists (`to_dict` / `from_dict`), JSON-safe, no pickle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from afinidad.errors import AfinidadError, FieldProblem, InvalidInput
from afinidad.segments.describe import NO_PURCHASE_SEGMENT, describe_segments
from afinidad.segments.features import CATEGORY_PREFIX, CHANNEL_PREFIX, CustomerFeatures

IQR_OF_STANDARD_NORMAL = 1.349
LOGGED_KINDS = ("money", "count", "days")
FORMAT_VERSION = 1


class SegmentsNotFitted(AfinidadError):
    """Micro-segments asked for an assignment or a description before `fit`."""

    title = "Segments not fitted"


@dataclass(frozen=True)
class SegmentMatch:
    """How a segment of this fit relates to the previous model: `previous_id` is None for a new segment;
    `distance` is in the previous model's scaled units, `limit` the most it could be to keep the id."""

    segment_id: int
    previous_id: int | None
    distance: float | None
    limit: float | None


class MicroSegments:
    """k-means micro-segments over `CustomerFeatures`, k chosen by silhouette, ids stable across refits."""

    def __init__(
        self,
        k_min: int = 3,
        k_max: int = 12,
        k_tolerance: float = 0.01,
        silhouette_sample: int = 5000,
        n_init: int = 10,
        clip: float = 4.0,
        match_threshold: float = 0.5,
        random_state: int = 0,
    ) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.k_tolerance = k_tolerance
        self.silhouette_sample = silhouette_sample
        self.n_init = n_init
        self.clip = clip
        self.match_threshold = match_threshold
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------------------------------------

    def fit(self, features: CustomerFeatures, previous: MicroSegments | None = None) -> MicroSegments:
        """Learn the segments of the customers with orders in `features`. With `previous` (the model this one
        replaces), segments that persist keep its ids."""
        self._check_hyper_parameters()
        if previous is self:  # refitting in place: keep a copy of the state the ids are matched against
            previous = MicroSegments.from_dict(self.to_dict())
        buyers = features.has_orders
        if buyers.sum() < self.k_max + 1:
            raise InvalidInput(
                f"{int(buyers.sum())} customers with orders; at least k_max + 1 = {self.k_max + 1} are needed.",
                [FieldProblem("features", "too few customers with orders")],
            )
        raw = features.values[buyers]
        logged = np.array([kind in LOGGED_KINDS for kind in features.kinds])
        transformed = _log(raw, logged)
        center = np.nanmedian(transformed, axis=0)
        q1, q3 = np.nanpercentile(transformed, [25, 75], axis=0)
        scale = (q3 - q1) / IQR_OF_STANDARD_NORMAL
        spread = np.nanstd(transformed, axis=0)
        scale = np.where(scale > 0, scale, np.where(spread > 0, spread, 1.0))
        self.feature_names_ = list(features.names)
        self.feature_kinds_ = list(features.kinds)
        self.categories_, self.channels_ = _labels(self.feature_names_)
        self.logged_ = logged
        self.center_ = center
        self.scale_ = scale
        scaled = self._scaled(raw)

        rng = np.random.default_rng(self.random_state)
        sample = rng.choice(len(scaled), size=min(self.silhouette_sample, len(scaled)), replace=False)
        self.silhouettes_: dict[int, float] = {}
        fits: dict[int, KMeans] = {}
        # One thread: each k-means run is small, and OpenMP/BLAS threads fighting other work for a 2-core
        # machine made the whole fit on Online Retail 4x slower (17 s against 4.4 s, measured).
        with threadpool_limits(1):
            for k in range(self.k_min, self.k_max + 1):
                kmeans = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(scaled)
                fits[k] = kmeans
                self.silhouettes_[k] = float(silhouette_score(scaled[sample], kmeans.labels_[sample]))
        best = max(self.silhouettes_.values())
        self.k_ = min(k for k, score in self.silhouettes_.items() if score >= best - self.k_tolerance * abs(best))
        chosen = fits[self.k_]
        centroids, labels = chosen.cluster_centers_, chosen.labels_

        sizes = np.bincount(labels, minlength=self.k_)
        order = sorted(range(self.k_), key=lambda c: (-sizes[c], tuple(centroids[c])))
        ids, self.matches_ = self._ids(centroids, order, previous)
        self.segment_ids_ = [ids[c] for c in order]
        self.centroids_ = centroids[order]
        self.sizes_ = sizes[order]
        label_of_cluster = np.empty(self.k_, dtype=np.int64)
        label_of_cluster[order] = np.arange(self.k_)
        position = label_of_cluster[labels]
        self.customer_ids_ = features.customer_ids[buyers]
        self.labels_ = np.asarray(self.segment_ids_)[position]
        self.population_mean_ = scaled.mean(axis=0)
        self.population_std_ = scaled.std(axis=0)
        self.standardised_means_ = np.array(
            [_standardised(scaled[position == p].mean(axis=0), self.population_mean_, self.population_std_)
             for p in range(self.k_)]
        )  # fmt: skip
        self.segment_means_ = np.array([np.nanmean(raw[position == p], axis=0) for p in range(self.k_)])
        self.population_means_ = np.nanmean(raw, axis=0)
        return self

    def _ids(
        self, centroids: np.ndarray, order: list[int], previous: MicroSegments | None
    ) -> tuple[dict[int, int], list[SegmentMatch]]:
        """Segment id per cluster index: the previous model's where a centroid matches, else fresh ones."""
        if previous is None:
            self.next_id_ = NO_PURCHASE_SEGMENT + 1 + len(order)
            ids = {cluster: NO_PURCHASE_SEGMENT + 1 + rank for rank, cluster in enumerate(order)}
            return ids, [SegmentMatch(ids[c], None, None, None) for c in order]
        _fitted(previous)
        shared = [name for name in self.feature_names_ if name in previous.feature_names_]
        mine = [self.feature_names_.index(name) for name in shared]
        theirs = [previous.feature_names_.index(name) for name in shared]
        # Both sets of centroids in the previous model's scaled units, over the shared features.
        transformed = centroids[:, mine] * self.scale_[mine] + self.center_[mine]
        new = (transformed - previous.center_[theirs]) / previous.scale_[theirs]
        old = np.asarray(previous.centroids_)[:, theirs]
        distance = np.linalg.norm(old[:, None, :] - new[None, :, :], axis=2)
        between_old = np.linalg.norm(old[:, None, :] - old[None, :, :], axis=2)
        np.fill_diagonal(between_old, np.inf)
        limit = self.match_threshold * between_old.min(axis=1)
        # Pairs beyond their limit cost more than any set of pairs within: the assignment first keeps as many
        # ids as it can, then, among those assignments, the closest.
        too_far = distance > limit[:, None]
        cost = np.where(too_far, distance.sum() + 1.0, distance)
        rows, columns = linear_sum_assignment(cost)
        ids: dict[int, int] = {}
        found: dict[int, tuple[int, float, float]] = {}
        for row, column in zip(rows, columns, strict=True):
            if not too_far[row, column]:
                ids[column] = previous.segment_ids_[row]
                found[column] = (previous.segment_ids_[row], float(distance[row, column]), float(limit[row]))
        self.next_id_ = previous.next_id_
        for cluster in order:
            if cluster not in ids:
                ids[cluster] = self.next_id_
                self.next_id_ += 1
        matches = [
            SegmentMatch(ids[c], *found[c]) if c in found else SegmentMatch(ids[c], None, None, None) for c in order
        ]
        return ids, matches

    def _check_hyper_parameters(self) -> None:
        problems = []
        if not 2 <= self.k_min <= self.k_max:
            problems.append(FieldProblem("k_min", "need 2 <= k_min <= k_max"))
        if not 0 <= self.k_tolerance < 1:
            problems.append(FieldProblem("k_tolerance", "not in [0, 1)"))
        if self.silhouette_sample < 2 * self.k_max:
            problems.append(FieldProblem("silhouette_sample", "smaller than twice k_max"))
        if self.n_init < 1:
            problems.append(FieldProblem("n_init", "less than 1"))
        if not self.clip > 0:
            problems.append(FieldProblem("clip", "not positive"))
        if not 0 < self.match_threshold <= 1:
            problems.append(FieldProblem("match_threshold", "not in (0, 1]"))
        if problems:
            raise InvalidInput("Invalid micro-segment settings.", problems)

    # -- using ----------------------------------------------------------------------------------------------

    def predict(self, features: CustomerFeatures) -> np.ndarray:
        """The segment id of each customer in `features` (nearest centroid), NO_PURCHASE_SEGMENT for a
        customer without orders. Features the model was not fitted on are ignored; a share it was fitted on
        that `features` lacks reads as 0. Build the features with `categories=self.categories_` and
        `channels=self.channels_` so that no share is missing merely for not being among a batch's top ones."""
        _fitted(self)
        columns = zip(self.feature_names_, self.feature_kinds_, strict=True)
        raw = np.column_stack([self._column(features, name, kind) for name, kind in columns])
        buyers = features.has_orders
        segments = np.full(len(features), NO_PURCHASE_SEGMENT, dtype=np.int64)
        if buyers.any():
            scaled = self._scaled(raw[buyers])
            distance = np.linalg.norm(scaled[:, None, :] - np.asarray(self.centroids_)[None, :, :], axis=2)
            segments[buyers] = np.asarray(self.segment_ids_)[distance.argmin(axis=1)]
        return segments

    def describe(self, language: str = "en", labels: dict[str, str] | None = None) -> dict[int, str]:
        """A description in words of every segment (and of NO_PURCHASE_SEGMENT), by id; see `describe`."""
        _fitted(self)
        return describe_segments(
            self.segment_ids_, self.feature_names_, self.standardised_means_, self.segment_means_,
            language=language, labels=labels,
        )  # fmt: skip

    def _column(self, features: CustomerFeatures, name: str, kind: str) -> np.ndarray:
        if name in features.names:
            return features.column(name)
        if kind == "share":
            return np.zeros(len(features))
        raise InvalidInput(f"The features lack {name!r}, which the segments were fitted on.",
                           [FieldProblem("features", f"missing {name}")])  # fmt: skip

    def _scaled(self, raw: np.ndarray) -> np.ndarray:
        scaled = (_log(raw, self.logged_) - self.center_) / self.scale_
        return np.clip(np.nan_to_num(scaled, nan=0.0), -self.clip, self.clip)

    # -- plain data -----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The settings and fitted state as JSON-safe lists and numbers (not the per-customer labels)."""
        _fitted(self)
        return {
            "format": FORMAT_VERSION,
            "params": {name: getattr(self, name) for name in _PARAMS},
            "feature_names": list(self.feature_names_),
            "feature_kinds": list(self.feature_kinds_),
            "logged": [bool(flag) for flag in self.logged_],
            "center": _floats(self.center_),
            "scale": _floats(self.scale_),
            "k": int(self.k_),
            "silhouettes": {str(k): float(score) for k, score in self.silhouettes_.items()},
            "segment_ids": [int(i) for i in self.segment_ids_],
            "next_id": int(self.next_id_),
            "centroids": [_floats(row) for row in self.centroids_],
            "sizes": [int(size) for size in self.sizes_],
            "population_mean": _floats(self.population_mean_),
            "population_std": _floats(self.population_std_),
            "standardised_means": [_floats(row) for row in self.standardised_means_],
            "segment_means": [_floats(row) for row in self.segment_means_],
            "population_means": _floats(self.population_means_),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MicroSegments:
        if data.get("format") != FORMAT_VERSION:
            raise InvalidInput("Unknown micro-segment format.", [FieldProblem("format", f"not {FORMAT_VERSION}")])
        model = cls(**data["params"])
        model.feature_names_ = list(data["feature_names"])
        model.feature_kinds_ = list(data["feature_kinds"])
        model.categories_, model.channels_ = _labels(model.feature_names_)
        model.logged_ = np.array(data["logged"], dtype=bool)
        model.center_ = _array(data["center"])
        model.scale_ = _array(data["scale"])
        model.k_ = int(data["k"])
        model.silhouettes_ = {int(k): float(score) for k, score in data["silhouettes"].items()}
        model.segment_ids_ = [int(i) for i in data["segment_ids"]]
        model.next_id_ = int(data["next_id"])
        model.centroids_ = _array(data["centroids"])
        model.sizes_ = np.array(data["sizes"], dtype=np.int64)
        model.population_mean_ = _array(data["population_mean"])
        model.population_std_ = _array(data["population_std"])
        model.standardised_means_ = _array(data["standardised_means"])
        model.segment_means_ = _array(data["segment_means"])
        model.population_means_ = _array(data["population_means"])
        model.matches_ = []
        return model


_PARAMS = ("k_min", "k_max", "k_tolerance", "silhouette_sample", "n_init", "clip", "match_threshold", "random_state")


def _labels(feature_names: list[str]) -> tuple[list[str], list[str]]:
    """The category and channel values that have a share column."""
    categories = [name.removeprefix(CATEGORY_PREFIX) for name in feature_names if name.startswith(CATEGORY_PREFIX)]
    channels = [name.removeprefix(CHANNEL_PREFIX) for name in feature_names if name.startswith(CHANNEL_PREFIX)]
    return categories, channels


def _log(raw: np.ndarray, logged: np.ndarray) -> np.ndarray:
    return np.where(logged, np.log1p(np.maximum(raw, 0.0)), raw)


def _standardised(means: np.ndarray, population_mean: np.ndarray, population_std: np.ndarray) -> np.ndarray:
    return np.divide(means - population_mean, population_std, out=np.zeros_like(means), where=population_std > 0)


def _fitted(model: MicroSegments) -> None:
    if getattr(model, "centroids_", None) is None:
        raise SegmentsNotFitted(f"{type(model).__name__} is not fitted: call fit() first.")


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(value) else float(value) for value in np.asarray(values, dtype=np.float64)]


def _array(values: list[Any]) -> np.ndarray:
    return np.array(values, dtype=np.float64)  # None becomes NaN
