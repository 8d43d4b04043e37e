"""Customer-lifetime-value benchmark: what fitting BG/NBD, Gamma-Gamma and Pareto/NBD costs on CDNOW's 23,570
customers and how many customers a second they score, beside the `lifetimes` package on the same arrays in
the same run, with both packages' fitted parameters side by side; then the accuracy figures
docs/predictions.md quotes.

    .venv/bin/python benchmarks/predict.py [--quick] [--repeats N] [--output PATH]

`lifetimes` (0.11.3, the reference implementation in Python) is NOT a dependency of afinidad. Install it into
the venv for this benchmark only: `.venv/bin/pip install lifetimes==0.11.3` (it brings pandas and autograd).
Without it the comparison is skipped and says so.

In one run:

1) Data. CDNOW_master.txt (69,659 orders) summarised with the 39-week calibration to 1997-09-30 and the holdout
   to 1998-06-30, by `afinidad.predict.summarise` and by `lifetimes.utils.calibration_and_holdout_data`
   (days, `freq_multiplier=7`); both summaries must agree.
2) Fits on the calibration summary, each repeated (`--repeats`, 3 with --quick; lifetimes' Pareto/NBD, which
   takes seconds, once with --quick) and the median shown; a first run under a second is a warm-up, not
   counted. Gamma-Gamma is fitted on the customers with repeat purchases of a positive value, which is what
   `GammaGamma.fit` keeps and what `lifetimes` requires.
3) Scoring the summary tiled ten times (235,700 customers): expected purchases in the next 39 weeks,
   P(alive), and 12-month lifetime value (BG/NBD x Gamma-Gamma, 1% a month); the median of the repeats.
4) Accuracy, fitted on the calibration only: the sample's parameters against the published ones, and the
   holdout purchases forecast against the actual ones (totals, mean absolute and root mean squared error per
   customer) on the sample and on the master, with two naive forecasts (none; the calibration's own rate) and
   a correction factor taken from a backtest inside the calibration (fit to 1997-06-30, compare with
   1997-07-01 .. 09-30), chosen before looking at the holdout.

Figures go to the terminal and to `benchmarks/results/predict.json` (`predict-quick.json` with --quick).
BLAS threads are left as they are: afinidad's models call no BLAS routine in their hot loops. Run it on a quiet
machine: a busy one (the start says how busy) slows short fits most.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.predict import (
    BetaGeometricNbd,
    CustomerSummary,
    GammaGamma,
    HoldoutComparison,
    ParetoNbd,
    compare_holdout,
    holdout_errors,
    read_cdnow,
    summarise,
)
from afinidad.settings import Settings
from benchmarks.common import RESULTS, ROOT, announce_run, write_figures

CDNOW = (ROOT / Settings().data_dir / "cdnow").resolve()
CALIBRATION_END, HOLDOUT_END = "1997-09-30", "1998-06-30"
BACKTEST_END = "1997-06-30"  # the last 13 weeks of the calibration, for the correction factor
HORIZON = 39.0
TILES = 10
PUBLISHED = {
    "BG/NBD": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},  # Fader, Hardie & Lee 2005
    "Pareto/NBD": {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67},  # Fader & Hardie's MATLAB note 2005
    "Gamma-Gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},  # Fader, Hardie & Lee 2005, "RFM and CLV"
}


def lifetimes_module() -> Any | None:
    try:
        import lifetimes  # noqa: F401  (not a dependency: installed for this benchmark only)
        import pandas  # noqa: F401
    except ImportError:
        return None
    warnings.filterwarnings("ignore", module="lifetimes")
    warnings.filterwarnings("ignore", category=FutureWarning)
    return lifetimes


def timed(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median wall time of `repeats` runs, and the last result. A first run under a second is a warm-up
    and is not counted (the first call of either package pays for imports and caches); a slower one counts."""
    started = time.perf_counter()
    result = action()
    first = time.perf_counter() - started
    seconds = [] if first < 1.0 else [first]
    while len(seconds) < repeats:
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


# -- fits and scoring ---------------------------------------------------------------------------------------


def our_models(summary: CustomerSummary) -> dict[str, Callable[[], Any]]:
    calibration = (summary.frequency, summary.recency, summary.T)
    return {
        "BG/NBD": lambda: BetaGeometricNbd().fit(*calibration),
        "Gamma-Gamma": lambda: GammaGamma().fit(summary.frequency, summary.mean_value),
        "Pareto/NBD": lambda: ParetoNbd().fit(*calibration),
    }


def their_models(summary: CustomerSummary, lifetimes: Any) -> dict[str, Callable[[], Any]]:
    import pandas

    calibration = (summary.frequency, summary.recency, summary.T)
    repeat = (summary.frequency > 0) & (summary.mean_value > 0)  # what GammaGamma.fit keeps
    frequency, value = pandas.Series(summary.frequency[repeat]), pandas.Series(summary.mean_value[repeat])
    return {
        "BG/NBD": lambda: lifetimes.BetaGeoFitter().fit(*calibration),
        "Gamma-Gamma": lambda: lifetimes.GammaGammaFitter().fit(frequency, value),
        "Pareto/NBD": lambda: lifetimes.ParetoNBDFitter().fit(*calibration),
    }


def their_params(model: Any) -> dict[str, float]:
    names = {"v": "gamma"}
    return {names.get(name, name): float(value) for name, value in model.params_.items()}


def fit_section(summary: CustomerSummary, lifetimes: Any | None, repeats: int, quick: bool) -> list[dict[str, Any]]:
    rows = []
    theirs = their_models(summary, lifetimes) if lifetimes else {}
    for name, fit in our_models(summary).items():
        seconds, model = timed(fit, repeats)
        row: dict[str, Any] = {"model": name, "afinidad_seconds": round(seconds, 4), "afinidad": asdict(model.params_)}
        if name in theirs:
            their_repeats = 1 if quick and name == "Pareto/NBD" else repeats
            their_seconds, their_model = timed(theirs[name], their_repeats)
            row |= {"lifetimes_seconds": round(their_seconds, 4), "lifetimes": their_params(their_model)}
            row["largest_parameter_gap"] = max(
                abs(row["afinidad"][key] / row["lifetimes"][key] - 1.0) for key in row["afinidad"]
            )
        rows.append(row)
    return rows


def scoring_section(summary: CustomerSummary, lifetimes: Any | None, repeats: int) -> list[dict[str, Any]]:
    """Customers per second for the three scoring calls, on the summary tiled TILES times."""
    frequency, recency, T, value = (np.tile(values, TILES) for values in
                                    (summary.frequency, summary.recency, summary.T, summary.mean_value))  # fmt: skip
    customers = len(frequency)
    purchases = BetaGeometricNbd().fit(summary.frequency, summary.recency, summary.T)
    spend = GammaGamma().fit(summary.frequency, summary.mean_value)
    ours = {
        "expected purchases, next 39 weeks": lambda: purchases.expected_purchases(HORIZON, frequency, recency, T),
        "P(alive)": lambda: purchases.probability_alive(frequency, recency, T),
        "12-month CLV (BG/NBD x Gamma-Gamma)": lambda: spend.customer_value(
            purchases, frequency, recency, T, value, horizon_months=12, discount_rate=0.01
        ),
    }
    theirs: dict[str, Callable[[], Any]] = {}
    if lifetimes:
        import pandas

        their_purchases = lifetimes.BetaGeoFitter().fit(summary.frequency, summary.recency, summary.T)
        repeat = (summary.frequency > 0) & (summary.mean_value > 0)
        their_spend = lifetimes.GammaGammaFitter().fit(
            pandas.Series(summary.frequency[repeat]), pandas.Series(summary.mean_value[repeat])
        )
        series = [pandas.Series(values) for values in (frequency, recency, T, value)]
        expected = their_purchases.conditional_expected_number_of_purchases_up_to_time
        theirs = {
            "expected purchases, next 39 weeks": lambda: expected(HORIZON, frequency, recency, T),
            "P(alive)": lambda: their_purchases.conditional_probability_alive(frequency, recency, T),
            "12-month CLV (BG/NBD x Gamma-Gamma)": lambda: their_spend.customer_lifetime_value(
                their_purchases, *series, time=12, discount_rate=0.01, freq="W"
            ),
        }  # fmt: skip
    rows = []
    for task, score in ours.items():
        seconds, answer = timed(score, repeats)
        row: dict[str, Any] = {"task": task, "customers": customers, "afinidad_per_second": round(customers / seconds)}
        if task in theirs:
            their_seconds, their_answer = timed(theirs[task], repeats)
            their_values = np.asarray(their_answer, dtype=np.float64)
            gap = np.abs(answer - their_values) / np.maximum(np.abs(their_values), 1e-9)
            row |= {"lifetimes_per_second": round(customers / their_seconds), "largest_relative_gap": float(gap.max())}
        rows.append(row)
    return rows


def summary_section(lifetimes: Any | None, repeats: int) -> tuple[CustomerSummary, dict[str, Any]]:
    path = CDNOW / "CDNOW_master.txt"
    orders = read_cdnow(path)
    seconds, summary = timed(lambda: summarise(orders, CALIBRATION_END, HOLDOUT_END), repeats)
    figures: dict[str, Any] = {"orders": len(orders), "customers": len(summary), "afinidad_seconds": round(seconds, 4)}
    if lifetimes:
        import pandas

        frame = pandas.DataFrame({"customer": orders.customers, "date": orders.dates.astype("datetime64[ns]"),
                                  "amount": orders.amounts})  # fmt: skip
        their_seconds, theirs = timed(lambda: lifetimes.utils.calibration_and_holdout_data(
            frame, "customer", "date", calibration_period_end=CALIBRATION_END, observation_period_end=HOLDOUT_END,
            freq="D", freq_multiplier=7, monetary_value_col="amount"), repeats)  # fmt: skip
        theirs = theirs.loc[summary.customer_ids]
        figures["lifetimes_seconds"] = round(their_seconds, 4)
        figures["same_summary"] = bool(
            np.array_equal(theirs["frequency_cal"].to_numpy(), summary.frequency)
            and np.allclose(theirs["recency_cal"].to_numpy(), summary.recency)
            and np.allclose(theirs["T_cal"].to_numpy(), summary.T)
            and np.array_equal(theirs["frequency_holdout"].to_numpy(), summary.holdout_frequency)
        )
    return summary, figures


# -- accuracy -----------------------------------------------------------------------------------------------


def comparison_figures(comparison: HoldoutComparison) -> dict[str, Any]:
    return {
        "predicted_total": round(comparison.predicted_total, 1),
        "actual_total": comparison.actual_total,
        "relative_error": round(comparison.relative_error, 6),
        "mean_absolute_error": round(comparison.mean_absolute_error, 4),
        "root_mean_squared_error": round(comparison.root_mean_squared_error, 4),
        "buckets": [asdict(bucket) for bucket in comparison.buckets],
    }


def accuracy_section(master: CustomerSummary) -> dict[str, Any]:
    sample = summarise(read_cdnow(CDNOW / "CDNOW_sample.txt"), CALIBRATION_END, HOLDOUT_END)
    reproduction = []
    for name, model in our_models(sample).items():
        fitted = asdict(model().params_)
        for parameter, published in PUBLISHED[name].items():
            reproduction.append({"model": name, "parameter": parameter, "published": published,
                                 "afinidad": round(fitted[parameter], 4),
                                 "deviation": round(fitted[parameter] / published - 1.0, 4)})  # fmt: skip
    holdout: dict[str, dict[str, Any]] = {}
    orders = read_cdnow(CDNOW / "CDNOW_master.txt")
    backtest = summarise(orders, BACKTEST_END, CALIBRATION_END)
    for label, summary in (("sample", sample), ("master", master)):
        calibration = (summary.frequency, summary.recency, summary.T)
        rows: dict[str, Any] = {}
        for name, model_type in (("BG/NBD", BetaGeometricNbd), ("Pareto/NBD", ParetoNbd)):
            model = model_type().fit(*calibration)
            rows[name] = comparison_figures(compare_holdout(model, summary))
            if label == "master":
                inner = model_type().fit(backtest.frequency, backtest.recency, backtest.T)
                inner_forecast = inner.expected_purchases(backtest.holdout_length, backtest.frequency,
                                                          backtest.recency, backtest.T).sum()  # fmt: skip
                factor = float(backtest.holdout_frequency.sum() / inner_forecast)
                corrected = factor * model.expected_purchases(summary.holdout_length, *calibration)
                rows[f"{name} x backtest factor {factor:.3f}"] = comparison_figures(
                    holdout_errors(corrected, summary.holdout_frequency, summary.frequency)
                )
        rows["none (forecast 0)"] = comparison_figures(
            holdout_errors(np.zeros(len(summary)), summary.holdout_frequency, summary.frequency)
        )
        own_rate = summary.frequency / np.maximum(summary.T, 1e-9) * summary.holdout_length
        rows["own calibration rate"] = comparison_figures(
            holdout_errors(own_rate, summary.holdout_frequency, summary.frequency)
        )
        holdout[label] = rows
    return {"reproduction": reproduction, "holdout": holdout}


# -- tables -------------------------------------------------------------------------------------------------


def fit_table(summary_figures: dict[str, Any], fits: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Fit on CDNOW master ({summary_figures['customers']:,} customers), median wall time",
                  title_justify="left")  # fmt: skip
    for column in ("step", "afinidad", "lifetimes 0.11.3", "lifetimes / afinidad"):
        table.add_column(column, justify="left" if column == "step" else "right")

    def row(step: str, ours: float, theirs: float | None) -> None:
        ratio = f"{theirs / ours:,.1f}x" if theirs else "not installed"
        table.add_row(step, f"{ours * 1000:,.1f} ms", f"{theirs * 1000:,.1f} ms" if theirs else "-", ratio)

    row(f"summary from {summary_figures['orders']:,} orders", summary_figures["afinidad_seconds"],
        summary_figures.get("lifetimes_seconds"))  # fmt: skip
    for fit in fits:
        row(f"fit {fit['model']}", fit["afinidad_seconds"], fit.get("lifetimes_seconds"))
    table.caption = "Gamma-Gamma on the customers with repeat purchases of a positive value."
    return table


def scoring_table(scoring: list[dict[str, Any]]) -> Table:
    customers = scoring[0]["customers"]
    table = Table(title=f"Scoring {customers:,} customers (CDNOW master x {TILES}), customers per second",
                  title_justify="left")  # fmt: skip
    for column in ("task", "afinidad", "lifetimes 0.11.3", "afinidad / lifetimes", "largest gap"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for row in scoring:
        theirs = row.get("lifetimes_per_second")
        table.add_row(
            row["task"], f"{row['afinidad_per_second']:,}", f"{theirs:,}" if theirs else "not installed",
            f"{row['afinidad_per_second'] / theirs:,.1f}x" if theirs else "-",
            f"{row['largest_relative_gap']:.1e}" if theirs else "-",
        )  # fmt: skip
    table.caption = "largest gap: the largest relative difference between the two packages' answers."
    return table


def parameters_table(fits: list[dict[str, Any]]) -> Table:
    table = Table(title="Fitted parameters on the CDNOW master calibration", title_justify="left")
    for column in ("model", "parameter", "afinidad", "lifetimes 0.11.3", "difference"):
        table.add_column(column, justify="left" if column in ("model", "parameter") else "right")
    for fit in fits:
        for name, value in fit["afinidad"].items():
            theirs = fit.get("lifetimes", {}).get(name)
            table.add_row(fit["model"], name, f"{value:.4f}", f"{theirs:.4f}" if theirs is not None else "-",
                          f"{value / theirs - 1:+.2e}" if theirs else "-")  # fmt: skip
    return table


def reproduction_table(reproduction: list[dict[str, Any]]) -> Table:
    table = Table(title="CDNOW sample (2,357 customers, 39-week calibration): published parameters",
                  title_justify="left")  # fmt: skip
    for column in ("model", "parameter", "published", "afinidad", "deviation"):
        table.add_column(column, justify="left" if column in ("model", "parameter") else "right")
    for row in reproduction:
        table.add_row(row["model"], row["parameter"], f"{row['published']}", f"{row['afinidad']:.4f}",
                      f"{row['deviation']:+.2%}")  # fmt: skip
    return table


def holdout_table(label: str, rows: dict[str, Any]) -> Table:
    first = next(iter(rows.values()))
    table = Table(title=f"Holdout (39 weeks to 1998-06-30), {label}: {first['actual_total']:,.0f} actual purchase days",
                  title_justify="left")  # fmt: skip
    for column in ("forecast", "total", "vs actual", "MAE / customer", "RMSE / customer"):
        table.add_column(column, justify="left" if column == "forecast" else "right")
    for name, row in rows.items():
        table.add_row(name, f"{row['predicted_total']:,.1f}", f"{row['relative_error']:+.1%}",
                      f"{row['mean_absolute_error']:.3f}", f"{row['root_mean_squared_error']:.3f}")  # fmt: skip
    return table


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3 repeats; lifetimes' Pareto/NBD fitted once")
    parser.add_argument("--repeats", type=int, default=None, help="runs per timing (default 10, 3 with --quick)")
    parser.add_argument("--output", type=Path, default=None, help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=160)
    if not (CDNOW / "CDNOW_master.txt").is_file():
        console.print(f"[yellow]Skipping: {CDNOW} is absent (the CDNOW data set).[/]")
        return 0
    repeats = arguments.repeats or (3 if arguments.quick else 10)
    lifetimes = lifetimes_module()
    run_id = uuid.uuid4().hex[:8]
    console.print(f"[bold]Afinidad CLV benchmark[/] run {run_id}: CDNOW master, {repeats} repeats per timing.")
    if lifetimes is None:
        console.print(
            "[yellow]`lifetimes` is not installed, so there is nothing to compare with: it is not an afinidad "
            "dependency; `.venv/bin/pip install lifetimes==0.11.3` for this benchmark.[/]"
        )
    else:
        console.print(f"Comparing with lifetimes {lifetimes.__version__} (installed for this benchmark only).")
    code, load_before = announce_run(console)
    summary, summary_figures = summary_section(lifetimes, repeats)
    if summary_figures.get("same_summary") is False:
        console.print("[red]afinidad's and lifetimes' summaries differ: the comparison below is not like for like.[/]")
    fits = fit_section(summary, lifetimes, repeats, arguments.quick)
    scoring = scoring_section(summary, lifetimes, repeats)
    accuracy = accuracy_section(summary)
    console.print(fit_table(summary_figures, fits))
    console.print(scoring_table(scoring))
    console.print(parameters_table(fits))
    console.print(reproduction_table(accuracy["reproduction"]))
    for label, rows in accuracy["holdout"].items():
        console.print(holdout_table(label, rows))
    output = arguments.output or RESULTS / ("predict-quick.json" if arguments.quick else "predict.json")
    write_figures(console, output, benchmark="predict", run_id=run_id, load_before=load_before, code=code,
                  lifetimes_version=getattr(lifetimes, "__version__", None), repeats=repeats,
                  summary=summary_figures, fits=fits, scoring=scoring, accuracy=accuracy)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
