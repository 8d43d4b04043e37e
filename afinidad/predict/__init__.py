"""Predictions about customers: repeat purchases (BG/NBD, Pareto/NBD), spend (Gamma-Gamma), lifetime value and
why a customer gets its forecast. The models are estimators over per-customer arrays (frequency, recency, T,
mean value), pure numpy/scipy; `transactions` turns orders into those arrays and holds the only file readers."""

from afinidad.predict._base import ModelNotFitted, PurchaseModel
from afinidad.predict.bgnbd import BetaGeometricNbd, BgNbdParams
from afinidad.predict.evaluation import FrequencyBucket, HoldoutComparison, compare_holdout, holdout_errors
from afinidad.predict.explain import Factor, PurchaseExplanation, explain_purchases
from afinidad.predict.gamma_gamma import GammaGamma, GammaGammaParams
from afinidad.predict.pareto_nbd import ParetoNbd, ParetoNbdParams
from afinidad.predict.transactions import (
    CustomerSummary,
    TimeUnit,
    Transactions,
    parse_dates,
    read_cdnow,
    read_transactions_csv,
    summarise,
)

__all__ = [
    "BetaGeometricNbd",
    "BgNbdParams",
    "CustomerSummary",
    "Factor",
    "FrequencyBucket",
    "GammaGamma",
    "GammaGammaParams",
    "HoldoutComparison",
    "ModelNotFitted",
    "ParetoNbd",
    "ParetoNbdParams",
    "PurchaseExplanation",
    "PurchaseModel",
    "TimeUnit",
    "Transactions",
    "compare_holdout",
    "explain_purchases",
    "holdout_errors",
    "parse_dates",
    "read_cdnow",
    "read_transactions_csv",
    "summarise",
]
