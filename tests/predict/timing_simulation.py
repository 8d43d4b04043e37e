"""Customers drawn from the stories of the models beyond BG/NBD (MBG/NBD, BG/CNBD-k, MBG/CNBD-k, a purchase
rate trending with tenure), with the timing statistics those models fit on, so the tests can check fits and
forecasts against the truth they were drawn from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimulatedTiming:
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    log_interval_sum: np.ndarray
    log_tenure_sum: np.ndarray
    holdout_frequency: np.ndarray
    alive_at_T: np.ndarray


def simulate_condensed(
    k: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    ages: np.ndarray,
    holdout: float,
    seed: int,
    dropout_at_zero: bool = False,
    tenure_exponent: float = 1.0,
) -> SimulatedTiming:
    """Erlang-k times between purchases (k phases of a gamma(r, alpha) rate lambda); after each purchase
    (with `dropout_at_zero`, the first one too) the customer leaves with a beta(a, b) probability. With a
    `tenure_exponent` c the story runs in the time u^c: the purchase rate then changes with tenure u as
    u^(c-1)."""
    rng = np.random.default_rng(seed)
    size = len(ages)
    rates = rng.gamma(r, 1.0 / alpha, size)
    dropout = rng.beta(a, b, size)
    clock, frequency, recency, log_intervals, log_tenures, holdout_frequency = (np.zeros(size) for _ in range(6))
    left_at = np.full(size, np.inf)
    active = np.ones(size, dtype=bool)
    if dropout_at_zero:
        leaving = rng.random(size) < dropout
        active[leaving] = False
        left_at[leaving] = 0.0
    end, horizon_end = ages**tenure_exponent, (ages + holdout) ** tenure_exponent
    while active.any():
        customers = np.flatnonzero(active)
        previous = clock[customers].copy()
        with np.errstate(divide="ignore"):
            clock[customers] += rng.gamma(k, 1.0 / rates[customers])
        beyond = clock[customers] > horizon_end[customers]
        active[customers[beyond]] = False
        customers, previous = customers[~beyond], previous[~beyond]
        in_calibration = clock[customers] <= end[customers]
        calibration = customers[in_calibration]
        tenure = clock[calibration] ** (1.0 / tenure_exponent)
        frequency[calibration] += 1
        log_intervals[calibration] += np.log(tenure - previous[in_calibration] ** (1.0 / tenure_exponent))
        log_tenures[calibration] += np.log(tenure)
        recency[calibration] = tenure
        holdout_frequency[customers[~in_calibration]] += 1
        leaving = customers[rng.random(len(customers)) < dropout[customers]]
        active[leaving] = False
        left_at[leaving] = clock[leaving]
    return SimulatedTiming(frequency, recency, ages, log_intervals, log_tenures, holdout_frequency, left_at > end)
