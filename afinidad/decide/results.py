"""An experiment's results as people read them: per metric, each variant against the control with the
fixed-horizon estimate (Welch, or the delta method for ratios; CUPED where a pre-period exists), the
Bayesian chance to win and expected loss, and an always-valid interval; the sample-ratio check; and a
verdict. Pure: values in, a JSON-ready dict out.

The verdict reads the always-valid intervals, not the fixed-horizon p-values: results are meant to be looked
at every day, and a fixed-horizon test looked at daily finds a "winner" in an A/A test about a third of the
time (docs/decide.md). Across several variants the always-valid p-values are corrected like the others."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from afinidad.decide.experiments import Experiment, Metric
from afinidad.decide.outcomes import Exposure, MetricValues
from afinidad.decide.sequential import tuned_mixing_variance
from afinidad.decide.stats import Comparison, ExperimentAnalysis, adjust_p_values, analyse, sample_ratio_mismatch
from afinidad.errors import InvalidInput

MIN_UNITS = 2  # per variant, before anything is compared


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _interval(low: float, high: float) -> list[float | None]:
    return [_num(low), _num(high)]


def _direction(comparison: Comparison, p_value: float, alpha: float, higher_is_better: bool) -> str:
    """better / worse / unclear, for the treatment, from a (corrected) p-value and the difference's sign."""
    if p_value >= alpha:
        return "unclear"
    gain = comparison.primary.difference if higher_is_better else -comparison.primary.difference
    return "better" if gain > 0 else "worse"


def _comparison(comparison: Comparison, sequential_p: float | None, alpha: float, metric: Metric) -> dict[str, Any]:
    raw, primary = comparison.estimate, comparison.primary
    looked = sequential_p if sequential_p is not None else comparison.adjusted_p_value
    out: dict[str, Any] = {
        "variant": comparison.variant,
        "control": comparison.control,
        "difference": _num(primary.difference),
        "ci": _interval(primary.ci_low, primary.ci_high),
        "lift": _num(primary.relative_lift),
        "lift_ci": _interval(primary.relative_ci_low, primary.relative_ci_high),
        "p_value": _num(primary.p_value, 8),
        "adjusted_p_value": _num(comparison.adjusted_p_value, 8),
        "significant": comparison.significant,
        "unadjusted_difference": _num(raw.difference),
        "cuped_variance_reduction": _num(comparison.variance_reduction),
        "chance_to_beat_control": _num(comparison.bayesian.chance_to_beat_control, 4),
        "expected_loss": {
            "variant": _num(comparison.bayesian.expected_loss_treatment),
            "control": _num(comparison.bayesian.expected_loss_control),
        },  # fmt: skip
        "always_valid": None,
        "verdict": _direction(comparison, looked, alpha, metric.higher_is_better),
    }
    if comparison.sequential is not None:
        s = comparison.sequential
        out["always_valid"] = {"ci": _interval(s.ci_low, s.ci_high), "p_value": _num(sequential_p, 8)}
    return out


def _analysis(experiment: Experiment, metric: Metric, variants: np.ndarray, values: MetricValues,
              planned: Mapping[str, float]) -> ExperimentAnalysis:  # fmt: skip
    covariate = values.covariate
    if covariate is not None and not covariate.var() > 0:
        covariate = None  # nobody did anything before: no pre-period to adjust by
    tau = None
    if values.denominators is None:
        spread = float(values.values.var(ddof=1))
        if spread > 0:
            tau = tuned_mixing_variance(spread, experiment.planned_units_per_arm, experiment.alpha)
    return analyse(variants, values.values, planned, control=experiment.control, covariate=covariate,
                   denominators=values.denominators, alpha=experiment.alpha, correction=experiment.correction,
                   higher_is_better=metric.higher_is_better, tau_squared=tau)  # fmt: skip


def _arms(variants: np.ndarray, values: MetricValues, planned: Mapping[str, float]) -> list[dict[str, Any]]:
    arms = []
    for name, share in planned.items():
        mask = variants == name
        units = int(mask.sum())
        if values.denominators is not None:
            denominator = float(values.denominators[mask].sum())
            mean = float(values.values[mask].sum()) / denominator if denominator else math.nan
        else:
            mean = float(values.values[mask].mean()) if units else math.nan
        arms.append({"variant": name, "units": units, "value": _num(mean), "planned_share": _num(share, 3),
                     "observed_share": _num(100.0 * units / len(variants), 3) if len(variants) else None})  # fmt: skip
    return arms


def metric_result(experiment: Experiment, metric: Metric, variants: np.ndarray, values: MetricValues,
                  planned: Mapping[str, float], guardrail: bool = False) -> dict[str, Any]:  # fmt: skip
    """One metric's section of the results."""
    result: dict[str, Any] = {"name": metric.name, "kind": metric.kind, "event": metric.event,
                              "higher_is_better": metric.higher_is_better, "guardrail": guardrail,
                              "arms": _arms(variants, values, planned), "comparisons": []}  # fmt: skip
    if any(arm["units"] < MIN_UNITS or arm["value"] is None for arm in result["arms"]):
        result["status"] = "collecting"  # too few units, or a ratio with nothing to divide by yet
        return result
    try:
        analysis = _analysis(experiment, metric, variants, values, planned)
    except InvalidInput as error:
        result["status"], result["reason"] = "unavailable", error.detail
        return result
    sequential = [c.sequential.p_value if c.sequential is not None else None for c in analysis.comparisons]
    if all(p is not None for p in sequential):
        sequential = adjust_p_values(np.asarray(sequential, dtype=float), experiment.correction).tolist()
    result["status"] = "analysed"
    result["cuped_theta"] = _num(analysis.cuped_theta)
    result["cuped_variance_reduction"] = _num(analysis.cuped_variance_reduction)
    result["comparisons"] = [_comparison(c, p, experiment.alpha, metric)
                             for c, p in zip(analysis.comparisons, sequential, strict=True)]  # fmt: skip
    return result


def _summary(experiment: Experiment, goal: dict[str, Any], guards: list[dict[str, Any]], srm: dict | None) -> str:
    if srm and srm["mismatch"]:
        return ("Sample ratio mismatch: the units per variant do not match the planned split (p = "
                f"{srm['p_value']:.2g}), so assignment or logging is broken; do not trust these results.")  # fmt: skip
    if goal["status"] != "analysed":
        return f"Collecting: every variant needs at least {MIN_UNITS} exposed units before anything is compared."
    harmed = {(g["name"], c["variant"]) for g in guards for c in g["comparisons"] if c["verdict"] == "worse"}
    parts = []
    for c in goal["comparisons"]:
        hurt = sorted(name for name, variant in harmed if variant == c["variant"])
        guard = f", but it harms {', '.join(hurt)}" if hurt else ""
        if c["verdict"] == "unclear":
            parts.append(f"{c['variant']} does not differ from {c['control']} on {goal['name']} yet{guard}")
        else:
            lift = f" ({c['lift']:+.1%})" if c["lift"] is not None else ""
            parts.append(f"{c['variant']} is {c['verdict']} than {c['control']} on {goal['name']}{lift}{guard}")
    return "; ".join(parts) + "."


def experiment_results(experiment: Experiment, units: Mapping[str, Exposure], planned: Mapping[str, float],
                       values: Mapping[str, MetricValues], switched: int = 0) -> dict[str, Any]:  # fmt: skip
    """Every goal metric and guardrail for the exposed `units`; `planned` is the expected share of units per
    variant in percent (what assignment promised those units), `values` the per-unit metrics by name."""
    variants = np.asarray([exposure.variant for exposure in units.values()], dtype=str)
    goals = [metric_result(experiment, m, variants, values[m.name], planned) for m in experiment.metrics]
    guards = [metric_result(experiment, m, variants, values[m.name], planned, guardrail=True)
              for m in experiment.guardrails]  # fmt: skip
    srm = None
    if len(variants):
        names, counts = np.unique(variants, return_counts=True)
        check = sample_ratio_mismatch(dict(zip(names.tolist(), counts.tolist(), strict=True)), planned)
        srm = {"observed": check.observed, "expected": {k: _num(v, 2) for k, v in check.expected.items()},
               "p_value": _num(check.p_value, 8), "mismatch": check.mismatch}  # fmt: skip
    return {
        "units": len(variants),
        "units_in_several_variants": switched,
        "control": experiment.control,
        "alpha": experiment.alpha,
        "correction": experiment.correction,
        "sample_ratio": srm,
        "metrics": goals,
        "guardrails": guards,
        "summary": _summary(experiment, goals[0], guards, srm),
    }
