"""Choosing a purchase model from the calibration period alone: the Bayesian information criterion.

Every purchase model here has a likelihood that is the density of a customer's repeat purchase times given
its first purchase and age (BG/NBD, MBG/NBD and Pareto/NBD by construction; CNBD-k and the tenure trend once
fitted with their timing statistics, which supply the factors the frequency/recency summary leaves out). So
the likelihoods of different models on the same customers are comparable, and BIC = k ln(n) - 2 LL (k
parameters, n customers) trades fit against size by a rule fixed in advance. It uses the whole calibration
and needs no split of it, unlike a backtest, whose verdict on CDNOW moved with where the split fell
(docs/predictions.md). The holdout plays no part."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.predict._base import fitted


@dataclass(frozen=True)
class CandidateScore:
    """One fitted candidate: its calibration log-likelihood, its number of parameters and its BIC (lower is
    better)."""

    name: str
    log_likelihood: float
    parameters: int
    bic: float


def rank_by_bic(models: Mapping[str, Any], customers: int) -> tuple[CandidateScore, ...]:
    """The fitted models (by name), best BIC first. Each must have been fitted on the same `customers`
    customers, CNBD-k and tenure-trend models with their timing statistics (otherwise their
    `log_likelihood_` lacks a term and is not comparable)."""
    if customers <= 0 or not models:
        raise InvalidInput("Nothing to rank.", [FieldProblem("models", "no models or no customers")])
    scores = []
    for name, model in models.items():
        parameters = parameter_count(fitted(model))
        log_likelihood = float(model.log_likelihood_)
        bic = parameters * math.log(customers) - 2.0 * log_likelihood
        scores.append(CandidateScore(name, log_likelihood, parameters, bic))
    return tuple(sorted(scores, key=lambda score: score.bic))


def parameter_count(params: Any) -> int:
    """How many numbers a model estimated: the fields of its parameter dataclass, nested ones counted through
    (a tenure trend's exponent plus its base model's parameters; CNBD-k's k counts as one)."""
    if not dataclasses.is_dataclass(params):
        return 1
    return sum(parameter_count(getattr(params, field.name)) for field in dataclasses.fields(params))
