"""What other policies would have earned on a content block's own traffic: off-policy evaluation of the
decision log. Every decision was logged with the probability its variant had; weighting each rewarded
decision by (the candidate's probability of that variant) / (the logged one) estimates the candidate's click
or conversion rate without showing it to anyone (IPW, and SNIPW, which stays within [0, 1]).

The candidates are the ones a marketer weighs: each variant for everyone (where the request may see it;
elsewhere the eligible variants equally) and all eligible variants equally. A candidate that would show
what the log never showed in some situation cannot be estimated there; the weights say so by growing, and
the effective sample size (n_eff) is reported beside each estimate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from afinidad.decide.ope import evaluate_policy, importance_weights
from afinidad.decide.service import describe, get_block, logged_outcomes
from afinidad.errors import FieldProblem, InvalidInput


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _rounded(value: float) -> float:
    return round(float(value), 6)


def candidate_tables(arms: list[str], eligible: list[tuple[str, ...]]) -> dict[str, np.ndarray]:
    """Per candidate policy, its probability of each arm for each logged decision, shape (n, arms, 1)."""
    index = {arm: i for i, arm in enumerate(arms)}
    allowed = np.zeros((len(eligible), len(arms)))
    for row, options in enumerate(eligible):
        for arm in options or arms:  # a decision logged without its options could have shown any variant
            if arm in index:
                allowed[row, index[arm]] = 1.0
    uniform = allowed / np.maximum(allowed.sum(axis=1, keepdims=True), 1.0)
    tables = {"all eligible variants equally": uniform[:, :, None]}
    for arm, column in index.items():
        table = uniform.copy()
        fits = allowed[:, column] > 0
        table[fits] = 0.0
        table[fits, column] = 1.0
        tables[f"{arm} for everyone"] = table[:, :, None]
    return tables


def evaluate_block(session: Session, workspace_id: str, slot: str, days: int = 30,
                   now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """The logged policy's own rate and every candidate's estimate over the last `days`."""
    if not 1 <= days <= 365:
        raise InvalidInput("The window must be 1 to 365 days.", [FieldProblem("days", "between 1 and 365")])
    block = describe(get_block(session, workspace_id, slot))
    arms = [variant["id"] for variant in block["variants"]]
    rows = [row for row in logged_outcomes(session, workspace_id, slot, (now or _now()) - timedelta(days=days))
            if row.variant in arms and row.propensity > 0]  # fmt: skip
    report: dict[str, Any] = {"slot": slot, "policy": block["policy"], "days": days, "decisions": len(rows),
                              "rewarded": sum(row.rewarded for row in rows), "logged": None,
                              "candidates": []}  # fmt: skip
    if len(rows) < 2:
        return report
    rewards = np.array([float(row.rewarded) for row in rows])
    actions = np.array([arms.index(row.variant) for row in rows])
    positions = np.zeros(len(rows), dtype=int)
    pscores = np.array([row.propensity for row in rows])
    mean, spread = float(rewards.mean()), float(rewards.std(ddof=1) / np.sqrt(len(rows)))
    report["logged"] = {"value": _rounded(mean), "ci": [_rounded(mean - 1.96 * spread), _rounded(mean + 1.96 * spread)]}
    for name, table in candidate_tables(arms, [row.eligible for row in rows]).items():
        weights = importance_weights(actions, positions, pscores, table)
        estimates = evaluate_policy(rewards, actions, positions, pscores, table)
        effective = float(weights.sum() ** 2 / (weights**2).sum()) if weights.any() else 0.0
        report["candidates"].append({
            "name": name,
            **{key.lower(): {"value": _rounded(v.value), "ci": [_rounded(v.low), _rounded(v.high)]}
               for key, v in estimates.items()},
            "effective_sample_size": round(effective, 1),
        })  # fmt: skip
    report["candidates"].sort(key=lambda c: -c["snipw"]["value"])
    return report
