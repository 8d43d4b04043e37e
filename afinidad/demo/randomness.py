"""Seeded randomness shared by the simulator: stable ids, and the few draws `random.Random` lacks.

Ids are UUIDv5 of the seed and a path of parts, so the same shopper, cart or message gets the same id in
every run with the same seed, whatever else the run contains.
"""

from __future__ import annotations

import math
import random
import uuid

_NAMESPACE = uuid.UUID("6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b")


def uid(seed: int, *parts: object) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, ":".join(str(part) for part in (seed, *parts)))


def choose(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def poisson(rng: random.Random, rate: float) -> int:
    """Knuth's method; rates here stay below 4, where it is exact and quick."""
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def geometric(rng: random.Random, p: float) -> int:
    count = 0
    while rng.random() > p:
        count += 1
    return count
