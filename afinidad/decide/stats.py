"""The statistics of an A/B/n experiment, pure numpy/scipy over per-unit arrays.

What a marketer expects from GrowthBook or Eppo, each piece chosen for a reason:
- Welch's t-test for a difference in means (conversion, revenue per user): arms rarely share a variance.
- The delta method for ratio metrics (revenue per visit, where both sums are random per unit) and for the
  relative lift (treatment / control - 1), whose denominator is itself an estimate.
- Bayesian summaries, chance to beat control and expected loss, which read as the decision people take:
  Beta-Binomial for 0/1 conversions, a normal posterior for means.
- CUPED (Deng, Xu, Kohavi & Walker 2013): subtracting theta times the pre-period covariate removes the part of
  the metric's variance the covariate explains, so the same units give a narrower interval, without bias since
  the covariate was fixed before assignment.
- The sample-ratio-mismatch check: when the observed split strays from the plan, assignment or logging is
  broken and no estimate can be trusted, however significant.
- Holm (or Benjamini-Hochberg) across arms: with several variants against one control, the chance that some
  arm looks significant by luck grows with the number of arms.
`analyse` puts them together for each variant against the control."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from afinidad.decide.assignment import validate_weights
from afinidad.decide.sequential import SequentialEstimate, mixture_estimate
from afinidad.errors import FieldProblem, InvalidInput

Correction = Literal["holm", "benjamini-hochberg", "none"]
CORRECTIONS: tuple[str, ...] = ("holm", "benjamini-hochberg", "none")
# Conventional threshold (used by GrowthBook, Optimizely, Kohavi et al.): strict, because with the large samples
# of online experiments even a tiny, harmless imbalance is "significant" at 0.05, and a false alarm stops a test.
SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class Estimate:
    """Treatment minus control with its frequentist summary; the relative lift (treatment / control - 1) by the
    delta method. `degrees_of_freedom` is Welch-Satterthwaite's, or infinite for a normal (z) interval."""

    treatment: float
    control: float
    difference: float
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float
    degrees_of_freedom: float
    relative_lift: float
    relative_ci_low: float
    relative_ci_high: float


def _compare(
    treatment: float, variance_t: float, control: float, variance_c: float, degrees_of_freedom: float, alpha: float
) -> Estimate:
    """Difference and relative lift of two independent estimates with known sampling variances."""
    difference = treatment - control
    standard_error = math.sqrt(variance_t + variance_c)
    if math.isinf(degrees_of_freedom):
        critical = float(stats.norm.ppf(1 - alpha / 2))
        tail = stats.norm.sf
    else:
        critical = float(stats.t.ppf(1 - alpha / 2, degrees_of_freedom))

        def tail(x: float) -> float:
            return stats.t.sf(x, degrees_of_freedom)

    if standard_error > 0:
        p_value = float(min(1.0, 2 * tail(abs(difference) / standard_error)))
    else:
        p_value = 1.0 if difference == 0 else 0.0
    if control != 0:
        lift = treatment / control - 1
        # Var(T / C) ~ Var(T) / C^2 + T^2 Var(C) / C^4 (first-order Taylor expansion around the means).
        lift_error = math.sqrt(variance_t / control**2 + treatment**2 * variance_c / control**4)
        z = float(stats.norm.ppf(1 - alpha / 2))
        relative = (lift, lift - z * lift_error, lift + z * lift_error)
    else:
        relative = (math.nan, math.nan, math.nan)
    return Estimate(
        float(treatment), float(control), float(difference), standard_error,
        float(difference - critical * standard_error), float(difference + critical * standard_error),
        p_value, float(degrees_of_freedom), *map(float, relative),
    )  # fmt: skip


def _values(values: ArrayLike, name: str, minimum: int = 2) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < minimum or not np.isfinite(array).all():
        raise InvalidInput(f"{name} needs at least {minimum} finite values.",
                           [FieldProblem(name, f"a 1-D array of at least {minimum} finite numbers")])  # fmt: skip
    return array


def welch(treatment: ArrayLike, control: ArrayLike, alpha: float = 0.05) -> Estimate:
    """Welch's unequal-variance t-test and interval for mean(treatment) - mean(control)."""
    treatment, control = _values(treatment, "treatment"), _values(control, "control")
    variance_t = treatment.var(ddof=1) / len(treatment)
    variance_c = control.var(ddof=1) / len(control)
    pooled = variance_t + variance_c
    if pooled > 0:
        degrees = pooled**2 / (variance_t**2 / (len(treatment) - 1) + variance_c**2 / (len(control) - 1))
    else:
        degrees = len(treatment) + len(control) - 2.0
    return _compare(treatment.mean(), variance_t, control.mean(), variance_c, degrees, alpha)


def ratio_of_sums(numerator: ArrayLike, denominator: ArrayLike) -> tuple[float, float]:
    """sum(numerator) / sum(denominator) over units and its delta-method sampling variance.

    With R = mean(Y) / mean(X): Var(R) ~ (Var(Y) - 2 R Cov(X, Y) + R^2 Var(X)) / (n mean(X)^2). Needed because
    revenue per visit is not a mean of independent values: a unit's visits and revenue move together."""
    numerator, denominator = _values(numerator, "numerator"), _values(denominator, "denominator")
    if len(numerator) != len(denominator):
        raise InvalidInput("Numerator and denominator differ in length.", [FieldProblem("denominator", "same length")])
    mean_x = denominator.mean()
    if mean_x == 0:
        raise InvalidInput("The denominator sums to zero.", [FieldProblem("denominator", "must not sum to zero")])
    ratio = numerator.mean() / mean_x
    covariance = np.cov(numerator, denominator, ddof=1)
    spread = covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]
    return float(ratio), float(max(spread, 0.0) / (len(numerator) * mean_x**2))


def ratio_difference(
    numerator_t: ArrayLike,
    denominator_t: ArrayLike,
    numerator_c: ArrayLike,
    denominator_c: ArrayLike,
    alpha: float = 0.05,
) -> Estimate:
    """Difference and relative lift of a ratio metric (e.g. revenue per visit) between two arms, with
    delta-method variances and normal intervals."""
    ratio_t, variance_t = ratio_of_sums(numerator_t, denominator_t)
    ratio_c, variance_c = ratio_of_sums(numerator_c, denominator_c)
    return _compare(ratio_t, variance_t, ratio_c, variance_c, math.inf, alpha)


@dataclass(frozen=True)
class CupedAdjustment:
    """theta = Cov(metric, covariate) / Var(covariate); `adjusted` = metric - theta (covariate - its mean), whose
    mean is the metric's and whose variance is lower by `variance_reduction` (= squared correlation)."""

    theta: float
    adjusted: np.ndarray
    variance_reduction: float


def cuped(metric: ArrayLike, covariate: ArrayLike) -> CupedAdjustment:
    """CUPED adjustment of a metric by a covariate measured before assignment (pre-period spend, visits).

    theta is estimated on all arms together: the covariate cannot depend on the arm, so one theta is valid for
    every arm, and using the same one keeps the adjusted difference an unbiased estimate of the effect."""
    metric, covariate = _values(metric, "values"), _values(covariate, "covariate")
    if len(metric) != len(covariate):
        raise InvalidInput("The covariate and the metric differ in length.", [FieldProblem("covariate", "length")])
    spread = covariate.var(ddof=1)
    theta = float(np.cov(metric, covariate, ddof=1)[0, 1] / spread) if spread > 0 else 0.0
    adjusted = metric - theta * (covariate - covariate.mean())
    before = metric.var(ddof=1)
    reduction = float(1 - adjusted.var(ddof=1) / before) if before > 0 else 0.0
    return CupedAdjustment(theta, adjusted, reduction)


@dataclass(frozen=True)
class BayesianComparison:
    """P(treatment beats control), and the expected loss of each choice: how much of the metric one gives up on
    average, counting only the worlds where the choice is wrong (GrowthBook's "risk"). `ci_low`/`ci_high` bound
    the difference treatment - control (a credible interval)."""

    chance_to_beat_control: float
    expected_loss_treatment: float
    expected_loss_control: float
    ci_low: float
    ci_high: float
    method: str


def beta_binomial(
    conversions_t: int,
    units_t: int,
    conversions_c: int,
    units_c: int,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    draws: int = 200_000,
    seed: int = 0,
) -> BayesianComparison:
    """Beta-Binomial posteriors of two conversion rates (uniform prior by default), compared by Monte Carlo with a
    fixed seed, so the same data always give the same report. 200,000 draws put the chance to beat control
    within about 0.001 of `chance_to_beat_exact`."""
    for name, conversions, units in (("treatment", conversions_t, units_t), ("control", conversions_c, units_c)):
        if not 0 <= conversions <= units or units < 1:
            raise InvalidInput(f"The {name} counts are impossible.",
                               [FieldProblem(name, "0 <= conversions <= units, units >= 1")])  # fmt: skip
    rng = np.random.default_rng(seed)
    rate_t = rng.beta(prior_alpha + conversions_t, prior_beta + units_t - conversions_t, draws)
    rate_c = rng.beta(prior_alpha + conversions_c, prior_beta + units_c - conversions_c, draws)
    difference = rate_t - rate_c
    gain = difference if higher_is_better else -difference
    low, high = np.quantile(difference, [alpha / 2, 1 - alpha / 2])
    loss_treatment, loss_control = float(np.mean(np.maximum(-gain, 0))), float(np.mean(np.maximum(gain, 0)))
    return BayesianComparison(float(np.mean(gain > 0)), loss_treatment, loss_control, float(low), float(high),
                              "beta-binomial")  # fmt: skip


def chance_to_beat_exact(
    conversions_t: int, units_t: int, conversions_c: int, units_c: int, prior_alpha: int = 1, prior_beta: int = 1
) -> float:
    """P(rate_t > rate_c) in closed form for Beta posteriors whose treatment alpha is an integer (Evan Miller,
    "Formulas for Bayesian A/B testing"): a sum of prior_alpha + conversions_t terms, used to check the Monte
    Carlo and for small experiments."""
    alpha_t, beta_t = prior_alpha + conversions_t, prior_beta + units_t - conversions_t
    alpha_c, beta_c = prior_alpha + conversions_c, prior_beta + units_c - conversions_c
    i = np.arange(alpha_t, dtype=float)
    terms = (special.betaln(alpha_c + i, beta_c + beta_t) - np.log(beta_t + i)
             - special.betaln(1 + i, beta_t) - special.betaln(alpha_c, beta_c))  # fmt: skip
    return float(np.clip(np.exp(terms).sum(), 0.0, 1.0))


def normal_posterior(
    difference: float, standard_error: float, alpha: float = 0.05, higher_is_better: bool = True
) -> BayesianComparison:
    """Bayesian summary of a difference in means under a flat prior, where the posterior is N(difference, se^2):
    in closed form, E[max(D, 0)] = d Phi(d/s) + s phi(d/s). Right for means of many units (revenue per user),
    where the central limit theorem makes the likelihood normal whatever the metric's distribution."""
    gain = difference if higher_is_better else -difference
    if standard_error <= 0:
        chance = 1.0 if gain > 0 else 0.0 if gain < 0 else 0.5
        return BayesianComparison(chance, max(-gain, 0.0), max(gain, 0.0), difference, difference, "normal")
    z = gain / standard_error
    density = standard_error * float(stats.norm.pdf(z))
    loss_treatment = density - gain * float(stats.norm.cdf(-z))
    loss_control = density + gain * float(stats.norm.cdf(z))
    half = float(stats.norm.ppf(1 - alpha / 2)) * standard_error
    return BayesianComparison(float(stats.norm.cdf(z)), loss_treatment, loss_control,
                              difference - half, difference + half, "normal")  # fmt: skip


@dataclass(frozen=True)
class SampleRatioCheck:
    """Pearson's chi-square of the observed units per variant against the planned split."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(
    counts: Mapping[str, int], weights: Mapping[str, float], threshold: float = SRM_THRESHOLD
) -> SampleRatioCheck:
    """Flag an experiment whose units per variant are unlikely under the planned weights (p < `threshold`).
    A variant planned at 0% that received units is a mismatch outright."""
    planned = validate_weights(weights)
    unknown = sorted(set(counts) - set(planned))
    if unknown:
        raise InvalidInput(f"Units in variants that are not in the plan: {', '.join(unknown)}.",
                           [FieldProblem("variants", f"unknown variant {name!r}") for name in unknown])  # fmt: skip
    observed = {name: int(counts.get(name, 0)) for name in planned}
    total = sum(observed.values())
    if total == 0:
        raise InvalidInput("No units to check.", [FieldProblem("counts", "at least one unit")])
    expected = {name: total * weight / 100.0 for name, weight in planned.items()}
    live = [name for name in planned if planned[name] > 0]
    if any(observed[name] > 0 for name in planned if planned[name] == 0):
        statistic, p_value = math.inf, 0.0
    else:
        result = stats.chisquare([observed[name] for name in live], [expected[name] for name in live])
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return SampleRatioCheck(observed, expected, statistic, p_value, p_value < threshold)


def adjust_p_values(p_values: Sequence[float] | np.ndarray, method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values for comparing several variants with one control, in the input order.

    Holm (1979) controls the chance of any false positive (family-wise error) and is uniformly more powerful
    than Bonferroni; Benjamini-Hochberg (1995) controls the expected share of false positives among the
    discoveries, the better trade when many variants are screened. Reject where adjusted p < alpha."""
    p = np.asarray(p_values, dtype=float)
    if method not in CORRECTIONS:
        raise InvalidInput(f"Unknown correction {method!r}.", [FieldProblem("correction", " / ".join(CORRECTIONS))])
    if p.ndim != 1 or ((p < 0) | (p > 1) | np.isnan(p)).any():
        raise InvalidInput("p-values must lie in [0, 1].", [FieldProblem("p_values", "numbers in [0, 1]")])
    if method == "none" or len(p) == 0:
        return p.copy()
    m = len(p)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked))
    else:
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ranked / np.arange(1, m + 1))[::-1])[::-1]
    result = np.empty(m)
    result[order] = adjusted
    return result


@dataclass(frozen=True)
class ArmSummary:
    variant: str
    units: int
    mean: float  # of the metric (a ratio of sums for a ratio metric)
    planned_share: float  # percent
    observed_share: float  # percent


@dataclass(frozen=True)
class Comparison:
    """One variant against the control. `estimate` is on the raw metric; `cuped` on the CUPED-adjusted metric
    when a covariate was given, and then it is the `primary` estimate that the correction and the decision use.
    `variance_reduction` = 1 - (CUPED standard error / raw standard error)^2 for this pair of arms."""

    variant: str
    control: str
    estimate: Estimate
    cuped: Estimate | None
    variance_reduction: float | None
    adjusted_p_value: float
    significant: bool
    bayesian: BayesianComparison
    sequential: SequentialEstimate | None

    @property
    def primary(self) -> Estimate:
        return self.cuped if self.cuped is not None else self.estimate


@dataclass(frozen=True)
class ExperimentAnalysis:
    control: str
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[Comparison, ...]
    sample_ratio: SampleRatioCheck
    cuped_theta: float | None
    cuped_variance_reduction: float | None  # pooled over all arms: 1 - Var(adjusted) / Var(metric)
    correction: str
    alpha: float

    def comparison(self, variant: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.variant == variant:
                return comparison
        raise InvalidInput(f"No comparison for {variant!r}.", [FieldProblem("variant", "a non-control variant")])


def analyse(
    variants: ArrayLike,
    values: ArrayLike,
    weights: Mapping[str, float],
    *,
    control: str | None = None,
    covariate: ArrayLike | None = None,
    denominators: ArrayLike | None = None,
    alpha: float = 0.05,
    correction: Correction = "holm",
    higher_is_better: bool = True,
    tau_squared: float | None = None,
    seed: int = 0,
) -> ExperimentAnalysis:
    """Every variant against the control, from one row per unit: its variant, its metric value and optionally a
    pre-period `covariate` (CUPED) or, for a ratio metric, a `denominator` (values are then the numerators).

    `weights` is the planned split in percent; `control` defaults to its first variant. Welch (or the delta
    method for a ratio) gives the intervals; 0/1 metrics get a Beta-Binomial posterior, others a normal one on
    the primary (CUPED when available) estimate; p-values are corrected across arms with `correction`. With
    `tau_squared`, an always-valid interval (`sequential.mixture_estimate`) is added, valid however often the
    results were looked at before."""
    planned = validate_weights(weights)
    control = next(iter(planned)) if control is None else control
    if control not in planned:
        raise InvalidInput(f"The control {control!r} is not a planned variant.", [FieldProblem("control", "unknown")])
    if not 0.0 < alpha < 1.0:
        raise InvalidInput("alpha must lie strictly between 0 and 1.", [FieldProblem("alpha", "between 0 and 1")])
    labels = np.asarray(variants).astype(str)
    metric = _values(values, "values", minimum=1)
    extras = {"covariate": covariate, "denominators": denominators}
    columns = {name: _values(array, name, minimum=1) for name, array in extras.items() if array is not None}
    for name, column in (("values", metric), *columns.items()):
        if labels.ndim != 1 or len(column) != len(labels):
            raise InvalidInput("One row per unit: the arrays differ in length.", [FieldProblem(name, "length")])
    ratio = "denominators" in columns
    if ratio and ("covariate" in columns or tau_squared is not None):
        raise InvalidInput("A ratio metric is analysed without CUPED or sequential intervals.",
                           [FieldProblem("denominators", "not together with covariate or tau_squared")])  # fmt: skip

    names, counts = np.unique(labels, return_counts=True)
    srm = sample_ratio_mismatch(dict(zip(names.tolist(), counts.tolist(), strict=True)), planned)
    masks = {name: labels == name for name in planned}
    empty = [name for name, mask in masks.items() if mask.sum() < 2]
    if empty:
        raise InvalidInput("Every variant needs at least two units to be compared.",
                           [FieldProblem(f"variants.{name}", "fewer than two units") for name in empty])  # fmt: skip

    adjustment = cuped(metric, columns["covariate"]) if "covariate" in columns else None
    primary_values = adjustment.adjusted if adjustment is not None else metric
    binary = not ratio and bool(np.isin(metric, (0.0, 1.0)).all())
    total = len(labels)

    arms = []
    for name, mask in masks.items():
        mean = ratio_of_sums(metric[mask], columns["denominators"][mask])[0] if ratio else float(metric[mask].mean())
        arms.append(ArmSummary(name, int(mask.sum()), mean, planned[name], float(100.0 * mask.sum() / total)))

    drafts = []
    for name in planned:
        if name == control:
            continue
        t, c = masks[name], masks[control]
        if ratio:
            denominator = columns["denominators"]
            estimate = ratio_difference(metric[t], denominator[t], metric[c], denominator[c], alpha)
        else:
            estimate = welch(metric[t], metric[c], alpha)
        adjusted = welch(primary_values[t], primary_values[c], alpha) if adjustment is not None else None
        reduction = None
        if adjusted is not None and estimate.standard_error > 0:
            reduction = 1 - (adjusted.standard_error / estimate.standard_error) ** 2
        primary = adjusted if adjusted is not None else estimate
        if binary:
            bayesian = beta_binomial(int(metric[t].sum()), int(t.sum()), int(metric[c].sum()), int(c.sum()),
                                     alpha=alpha, higher_is_better=higher_is_better, seed=seed)  # fmt: skip
        else:
            bayesian = normal_posterior(primary.difference, primary.standard_error, alpha, higher_is_better)
        sequential = None
        if tau_squared is not None:
            sequential = mixture_estimate(primary_values[t], primary_values[c], tau_squared, alpha)
        drafts.append((name, estimate, adjusted, reduction, bayesian, sequential))

    corrected = adjust_p_values([(d[2] or d[1]).p_value for d in drafts], correction)
    comparisons = tuple(
        Comparison(name, control, estimate, adjusted, reduction, float(p), bool(p < alpha), bayesian, sequential)
        for (name, estimate, adjusted, reduction, bayesian, sequential), p in zip(drafts, corrected, strict=True)
    )
    return ExperimentAnalysis(
        control, tuple(arms), comparisons, srm,
        adjustment.theta if adjustment else None, adjustment.variance_reduction if adjustment else None,
        correction, alpha,
    )  # fmt: skip
