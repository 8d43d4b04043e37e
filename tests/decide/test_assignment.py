"""Hashed assignment: sticky, uniform, split as planned, and bad plans refused with the field named."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from afinidad.decide.assignment import Allocation, bucket, buckets, uniformity
from afinidad.decide.stats import sample_ratio_mismatch
from afinidad.errors import InvalidInput

UNITS = [f"profile-{number}" for number in range(100_000)]


def test_the_same_unit_always_gets_the_same_variant_in_any_process() -> None:
    allocation = Allocation.plan("checkout-button", {"control": 50, "green": 50})
    first = allocation.assign_many(UNITS[:1000])
    assert allocation.assign_many(UNITS[:1000]) == first
    # A fresh interpreter (another hash seed for Python's own `hash`) gives the same bucket: it is BLAKE2b.
    code = "from afinidad.decide.assignment import bucket; print(repr(bucket('checkout-button', 'profile-42')))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "123"})  # fmt: skip
    assert float(other.stdout) == bucket("checkout-button", "profile-42") == 0.06696999068451959


def test_experiments_are_hashed_independently() -> None:
    first = buckets("experiment-a", UNITS[:20_000])
    second = buckets("experiment-b", UNITS[:20_000])
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.03
    assert bucket("ab", "c") != bucket("a", "bc")


def test_buckets_are_uniform_over_100k_units() -> None:
    check = uniformity(buckets("checkout-button", UNITS), bins=100)
    print(f"\nuniformity over 100 bins, 100k ids: chi2 = {check.statistic:.1f}, p = {check.p_value:.3f}")
    assert check.units == 100_000
    assert check.p_value > 0.001


def test_variants_receive_their_planned_share() -> None:
    weights = {"control": 50, "blue": 30, "green": 20}
    assigned = Allocation.plan("hero-banner", weights).assign_many(UNITS)
    names, counts = np.unique(np.array(assigned, dtype=str), return_counts=True)
    check = sample_ratio_mismatch(dict(zip(names.tolist(), counts.tolist(), strict=True)), weights)
    print(f"\nobserved split {check.observed}, chi-square p = {check.p_value:.3f}")
    assert check.p_value > 0.001
    assert not check.mismatch


def test_traffic_allocation_admits_its_share_and_keeps_the_split_among_those_admitted() -> None:
    weights = {"control": 50, "treatment": 50}
    assigned = np.array(Allocation.plan("hero-banner", weights, traffic=20).assign_many(UNITS), dtype=object)
    admitted = assigned[assigned != None]  # noqa: E711 - element-wise comparison
    assert len(admitted) / len(UNITS) == pytest.approx(0.20, abs=0.005)
    assert np.mean(admitted == "treatment") == pytest.approx(0.5, abs=0.01)


def test_raising_the_traffic_only_adds_units() -> None:
    weights = {"control": 50, "treatment": 50}
    before = Allocation.plan("hero-banner", weights, traffic=10).assign_many(UNITS[:20_000])
    after = Allocation.plan("hero-banner", weights, traffic=60).assign_many(UNITS[:20_000])
    kept = [(old, new) for old, new in zip(before, after, strict=True) if old is not None]
    assert kept and all(old == new for old, new in kept)
    assert sum(new is not None for new in after) > 5 * len(kept)


def test_zero_traffic_admits_nobody_and_a_zero_weight_variant_gets_nobody() -> None:
    assert set(Allocation.plan("x", {"a": 50, "b": 50}, traffic=0).assign_many(UNITS[:1000])) == {None}
    assert set(Allocation.plan("x", {"a": 100, "b": 0}).assign_many(UNITS[:1000])) == {"a"}


def test_thirds_are_a_valid_split() -> None:
    Allocation.plan("x", {"a": 100 / 3, "b": 100 / 3, "c": 100 / 3})
    Allocation.plan("x", {"a": 33.33, "b": 33.33, "c": 33.34})


@pytest.mark.parametrize(
    ("weights", "traffic", "field"),
    [
        ({"control": 50, "treatment": 40}, 100, "weights"),
        ({"control": 60, "treatment": 60}, 100, "weights"),
        ({"control": 120, "treatment": -20}, 100, "weights.treatment"),
        ({"control": 100}, 100, "weights"),
        ({"control": 50, "treatment": 50}, 120, "traffic"),
        ({"control": 50, "treatment": float("nan")}, 100, "weights.treatment"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(weights: dict[str, float], traffic: float, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Allocation.plan("checkout-button", weights, traffic=traffic)
    assert field in [problem.field for problem in refused.value.problems]


def test_an_experiment_needs_an_id() -> None:
    with pytest.raises(InvalidInput) as refused:
        Allocation.plan("", {"control": 50, "treatment": 50})
    assert refused.value.problems[0].field == "experiment_id"
