"""Deterministic assignment of units (profiles) to the variants of an experiment.

A unit's variant is a pure function of the experiment id and the unit id, hashed with BLAKE2b into [0, 1):
no table of assignments to store or look up, the same answer in every process and on every channel (Python's
`hash` is salted per process, so it would not do). Two independent hashes are drawn per unit, one deciding
whether it enters the experiment at all (traffic allocation) and one choosing its variant, so that raising the
traffic later only adds units: everyone already in keeps the variant they saw."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from afinidad.errors import FieldProblem, InvalidInput

# Percentages may be typed as thirds (33.33 + 33.33 + 33.34) or computed as 100 / 3; both must be accepted.
WEIGHT_TOLERANCE = 1e-6
_TRAFFIC_PURPOSE = "traffic"
_VARIANT_PURPOSE = "variant"


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """The planned split of an experiment in percent, checked: at least two named variants, none negative, summing
    to 100. Shared by assignment and the sample-ratio check so both read a plan the same way."""
    problems: list[FieldProblem] = []
    if len(weights) < 2:
        problems.append(FieldProblem("weights", "an experiment needs at least two variants"))
    for name, weight in weights.items():
        if not isinstance(name, str) or not name:
            problems.append(FieldProblem("weights", "every variant needs a non-empty name"))
        elif not np.isfinite(weight) or weight < 0:
            problems.append(FieldProblem(f"weights.{name}", "must be a percentage between 0 and 100"))
    if not problems:
        total = float(sum(weights.values()))
        if abs(total - 100.0) > WEIGHT_TOLERANCE:
            problems.append(FieldProblem("weights", f"the variants' traffic sums to {total:g}%, not 100%"))
    if problems:
        raise InvalidInput("The variants' weights are not a valid split of the traffic.", problems)
    return {name: float(weight) for name, weight in weights.items()}


def at_point(weights: Sequence[float], point: float) -> tuple[int, float]:
    """The index at `point` in [0, 1) along `weights` (renormalised; equal shares when all are 0), and its share:
    the probability a uniformly random point had of landing there. Every split by weights goes through here."""
    total = float(sum(weights))
    shares = [float(w) / total for w in weights] if total > 0 else [1.0 / len(weights)] * len(weights)
    edge = 0.0
    for index, share in enumerate(shares):
        edge += share
        if point < edge:
            return index, share
    return len(shares) - 1, shares[-1]


def bucket(experiment_id: str, unit_id: str, purpose: str = _VARIANT_PURPOSE) -> float:
    """A number in [0, 1), uniform over unit ids and fixed for (experiment, purpose, unit).

    The experiment id is length-prefixed so that ("ab", "c") and ("a", "bc") cannot collide; 53 bits of the
    digest are kept, the precision of a float, so every value is exactly representable."""
    key = f"{len(experiment_id)}:{experiment_id}|{purpose}|{unit_id}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) / float(1 << 53)


def buckets(experiment_id: str, unit_ids: Iterable[str], purpose: str = _VARIANT_PURPOSE) -> np.ndarray:
    """`bucket` for many units at once."""
    return np.fromiter((bucket(experiment_id, unit_id, purpose) for unit_id in unit_ids), dtype=float)


@dataclass(frozen=True)
class Allocation:
    """How an experiment splits its units: `weights` per variant in percent (summing to 100) and `traffic`, the
    percentage of all units that enter the experiment at all (the rest see the default and are not analysed).
    Built through `Allocation.plan`, which checks the numbers."""

    experiment_id: str
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    traffic: float = 100.0

    @classmethod
    def plan(cls, experiment_id: str, weights: Mapping[str, float], traffic: float = 100.0) -> Allocation:
        problems: list[FieldProblem] = []
        if not isinstance(experiment_id, str) or not experiment_id:
            problems.append(FieldProblem("experiment_id", "must be a non-empty string"))
        if not np.isfinite(traffic) or not 0.0 <= traffic <= 100.0:
            problems.append(FieldProblem("traffic", "must be a percentage between 0 and 100"))
        if problems:
            raise InvalidInput("The experiment's allocation is not valid.", problems)
        checked = validate_weights(weights)
        return cls(experiment_id, tuple(checked), tuple(checked.values()), float(traffic))

    @property
    def _edges(self) -> np.ndarray:
        # Upper edge of each variant's interval in [0, 1); the last is forced to 1 so rounding leaves no gap.
        edges = np.cumsum(self.weights) / 100.0
        edges[-1] = 1.0
        return edges

    def assign(self, unit_id: str) -> str | None:
        """The variant `unit_id` sees, or None when it falls outside the experiment's traffic."""
        return self.assign_many([unit_id])[0]

    def assign_many(self, unit_ids: Iterable[str]) -> list[str | None]:
        ids = list(unit_ids)
        entered = buckets(self.experiment_id, ids, _TRAFFIC_PURPOSE) < self.traffic / 100.0
        chosen = np.searchsorted(self._edges, buckets(self.experiment_id, ids, _VARIANT_PURPOSE), side="right")
        return [self.variants[index] if inside else None for index, inside in zip(chosen, entered, strict=True)]


@dataclass(frozen=True)
class UniformityCheck:
    """Pearson's chi-square of bucket counts over equal-width bins of [0, 1): a small p-value means the hash does
    not spread units evenly, which would bias every split built on it."""

    units: int
    bins: int
    statistic: float
    p_value: float


def uniformity(values: np.ndarray, bins: int = 100) -> UniformityCheck:
    """Check that `values` (buckets) look uniform on [0, 1)."""
    values = np.asarray(values, dtype=float)
    if bins < 2 or len(values) < 5 * bins:
        raise InvalidInput("Too few units for a uniformity check.",
                           [FieldProblem("values", f"need at least {5 * bins} values for {bins} bins")])  # fmt: skip
    counts = np.bincount(np.minimum((values * bins).astype(int), bins - 1), minlength=bins)
    result = stats.chisquare(counts)
    return UniformityCheck(len(values), bins, float(result.statistic), float(result.pvalue))
