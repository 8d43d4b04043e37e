"""Customers drawn from the models' own stories, so the tests can check fits and forecasts against the truth
they were drawn from rather than only against published figures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from afinidad.predict import BgNbdParams, ParetoNbdParams


@dataclass(frozen=True)
class Simulated:
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    holdout_frequency: np.ndarray
    alive_at_T: np.ndarray


def simulate_bgnbd(params: BgNbdParams, ages: np.ndarray, holdout: float, seed: int) -> Simulated:
    """Poisson purchases at a gamma rate; after each repeat purchase the customer leaves with a beta
    probability (FHL 2005, section 3)."""
    rng = np.random.default_rng(seed)
    size = len(ages)
    rates = rng.gamma(params.r, 1.0 / params.alpha, size)
    dropout = rng.beta(params.a, params.b, size)
    clock, frequency, recency, holdout_frequency = (np.zeros(size) for _ in range(4))
    left_at = np.full(size, np.inf)
    active = np.ones(size, dtype=bool)
    while active.any():
        customers = np.flatnonzero(active)
        with np.errstate(divide="ignore"):
            clock[customers] += rng.exponential(1.0 / rates[customers])
        beyond = clock[customers] > ages[customers] + holdout
        active[customers[beyond]] = False
        customers = customers[~beyond]
        in_calibration = clock[customers] <= ages[customers]
        frequency[customers[in_calibration]] += 1
        recency[customers[in_calibration]] = clock[customers[in_calibration]]
        holdout_frequency[customers[~in_calibration]] += 1
        leaving = customers[rng.random(len(customers)) < dropout[customers]]
        active[leaving] = False
        left_at[leaving] = clock[leaving]
    return Simulated(frequency, recency, ages, holdout_frequency, left_at > ages)


def simulate_pareto_nbd(params: ParetoNbdParams, ages: np.ndarray, holdout: float, seed: int) -> Simulated:
    """Poisson purchases at a gamma rate until an exponential lifetime of gamma rate ends (SMC 1987)."""
    rng = np.random.default_rng(seed)
    size = len(ages)
    rates = rng.gamma(params.r, 1.0 / params.alpha, size)
    lifetimes = rng.exponential(1.0 / rng.gamma(params.s, 1.0 / params.beta, size))
    active_in_calibration = np.minimum(lifetimes, ages)
    frequency = rng.poisson(rates * active_in_calibration).astype(np.float64)
    # the last of n uniform purchase times on [0, L] is L * U^(1/n)
    with np.errstate(divide="ignore"):
        recency = np.where(frequency > 0, active_in_calibration * rng.random(size) ** (1.0 / frequency), 0.0)
    active_in_holdout = np.clip(np.minimum(lifetimes, ages + holdout) - ages, 0.0, None)
    holdout_frequency = rng.poisson(rates * active_in_holdout).astype(np.float64)
    return Simulated(frequency, recency, ages, holdout_frequency, lifetimes > ages)
