"""How well a purchase model's forecasts match what customers did in the holdout: the published check
(mean holdout purchases per number of calibration repeat purchases, 0 .. 7+, Fader, Hardie & Lee 2005,
figure 5), the total, and the per-customer error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import PurchaseModel
from afinidad.predict.transactions import CustomerSummary


@dataclass(frozen=True)
class FrequencyBucket:
    """Customers with `frequency` repeat purchases in the calibration ("7+": that many or more), and their
    mean holdout purchases, actual and forecast."""

    frequency: str
    customers: int
    actual: float
    predicted: float


@dataclass(frozen=True)
class HoldoutComparison:
    """Forecast against actual holdout purchases. `relative_error` is predicted / actual - 1 on the totals
    (negative: the model under-forecasts); the absolute and squared errors are per customer."""

    buckets: tuple[FrequencyBucket, ...]
    customers: int
    actual_total: float
    predicted_total: float
    relative_error: float
    mean_absolute_error: float
    root_mean_squared_error: float


def compare_holdout(model: PurchaseModel, summary: CustomerSummary, largest_bucket: int = 7) -> HoldoutComparison:
    """Forecast each customer's holdout purchases from its calibration summary alone (the model must have
    been fitted on the calibration only) and compare with what it did."""
    if summary.holdout_frequency is None or summary.holdout_length is None:
        raise InvalidInput("The summary has no holdout period.", [FieldProblem("holdout_end", "required")])
    predicted = model.expected_purchases(summary.holdout_length, summary.frequency, summary.recency, summary.T)
    return holdout_errors(predicted, summary.holdout_frequency, summary.frequency, largest_bucket)


def holdout_errors(
    predicted: np.ndarray, actual: np.ndarray, calibration_frequency: np.ndarray, largest_bucket: int = 7
) -> HoldoutComparison:
    """The comparison for forecasts made any other way (a baseline, a corrected model)."""
    predicted, actual = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    bucket_of = np.minimum(np.asarray(calibration_frequency), largest_bucket).astype(np.int64)
    buckets = []
    for bucket in range(largest_bucket + 1):
        members = bucket_of == bucket
        count = int(members.sum())
        label = f"{bucket}+" if bucket == largest_bucket else str(bucket)
        actual_mean = float(actual[members].mean()) if count else 0.0
        predicted_mean = float(predicted[members].mean()) if count else 0.0
        buckets.append(FrequencyBucket(label, count, actual_mean, predicted_mean))
    actual_total, predicted_total = float(actual.sum()), float(predicted.sum())
    errors = predicted - actual
    return HoldoutComparison(
        buckets=tuple(buckets),
        customers=len(actual),
        actual_total=actual_total,
        predicted_total=predicted_total,
        relative_error=predicted_total / actual_total - 1.0 if actual_total else 0.0,
        mean_absolute_error=float(np.abs(errors).mean()) if len(errors) else 0.0,
        root_mean_squared_error=float(np.sqrt(np.mean(errors**2))) if len(errors) else 0.0,
    )
