"""`afinidad experiments ...`: define, start and stop experiments, and read their results as a table and a
chart (each variant's lift over the control with its interval, beside zero)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from afinidad.cli.context import console, store
from afinidad.decide import experiment_service as service
from afinidad.workspaces.service import get_workspace

app = typer.Typer(help="Experiments: define, start, stop, and report.", no_args_is_help=True)
WORKSPACE = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")
CHART_WIDTH = 41
_COLOUR = {"better": "green", "worse": "red", "unclear": "yellow"}


def _workspace_id(name: str) -> str:
    with store().reader() as session:
        return get_workspace(session, name).id


@app.command("create")
def create(
    definition: Path = typer.Argument(..., exists=True, dir_okay=False, help="The experiment as JSON (see docs)."),
    workspace: str = WORKSPACE,
) -> None:  # fmt: skip
    """Define an experiment from a JSON file; it is a draft until started."""
    with store().session() as session:
        made = service.create_experiment(session, _workspace_id(workspace), json.loads(definition.read_text()))
    console.print(f"Experiment {made['key']} ({made['id']}) is a draft; start it with "
                  f"`afinidad experiments start {made['key']} -w {workspace}`.", highlight=False)  # fmt: skip


@app.command("list")
def list_command(workspace: str = WORKSPACE) -> None:
    """Every experiment with its status and split."""
    with store().reader() as session:
        rows = service.list_experiments(session, _workspace_id(workspace))
    table = Table("key", "status", "variants", "traffic", "primary metric", "started", "stopped")
    for row in rows:
        split = ", ".join(f"{v['id']} {v['weight']:g}%" for v in row["variants"])
        table.add_row(row["key"], row["status"] + (f" (shipped {row['shipped']})" if row["shipped"] else ""), split,
                      f"{row['traffic']:g}%", row["metrics"][0]["name"], row["started_at"] or "",
                      row["stopped_at"] or "")  # fmt: skip
    console.print(table)


@app.command("start")
def start(experiment: str = typer.Argument(..., help="Key or id."), workspace: str = WORKSPACE) -> None:
    """Start assigning units."""
    with store().session() as session:
        row = service.start_experiment(session, _workspace_id(workspace), experiment)
    console.print(f"Experiment {row['key']} is running since {row['started_at']}.", highlight=False)


@app.command("stop")
def stop(
    experiment: str = typer.Argument(..., help="Key or id."),
    ship: str | None = typer.Option(None, "--ship", help="The variant everyone sees from now on."),
    workspace: str = WORKSPACE,
) -> None:  # fmt: skip
    """Stop assigning; everyone sees the shipped variant (or the control)."""
    with store().session() as session:
        row = service.stop_experiment(session, _workspace_id(workspace), experiment, ship)
    console.print(f"Experiment {row['key']} stopped; everyone sees {row['shipped'] or row['control']}.",
                  highlight=False)  # fmt: skip


def _number(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    return f"{value:.2%}" if kind == "conversion" else f"{value:,.4g}"


def _bar(low: float, point: float, high: float, scale: float) -> str:
    """An interval on [-scale, +scale] drawn in characters, zero marked."""
    half = CHART_WIDTH // 2

    def at(value: float) -> int:
        return max(0, min(CHART_WIDTH - 1, half + round(value / scale * half)))

    cells = [" "] * CHART_WIDTH
    for position in range(at(low), at(high) + 1):
        cells[position] = "─"
    cells[half] = "│" if cells[half] == " " else "┼"
    cells[at(point)] = "●"
    return "".join(cells)


def _metric_table(metric: dict[str, Any]) -> Table:
    label = "guardrail" if metric["guardrail"] else "metric"
    better = "higher is better" if metric["higher_is_better"] else "lower is better"
    table = Table(title=f"{label}: {metric['name']} ({metric['kind']} of {metric['event']}, {better})",
                  title_justify="left")  # fmt: skip
    for column in ("variant", "units", "value", "lift", "95% CI (lift)", "p (adj.)", "P(beat)", "always-valid CI",
                   "verdict"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("variant", "verdict") else "right")
    comparisons = {c["variant"]: c for c in metric["comparisons"]}
    for arm in metric["arms"]:
        c = comparisons.get(arm["variant"])
        if c is None:
            control = "control" if metric["status"] == "analysed" else metric["status"]
            table.add_row(arm["variant"], f"{arm['units']:,}", _number(arm["value"], metric["kind"]), "", "", "", "",
                          "", control)  # fmt: skip
            continue
        lift = f"{c['lift']:+.1%}" if c["lift"] is not None else "–"
        lift_ci = "[{:+.1%}, {:+.1%}]".format(*c["lift_ci"]) if None not in c["lift_ci"] else "–"
        valid = c["always_valid"]
        valid_ci = "[{:+.4g}, {:+.4g}]".format(*valid["ci"]) if valid else "–"
        table.add_row(arm["variant"], f"{arm['units']:,}", _number(arm["value"], metric["kind"]), lift, lift_ci,
                      f"{c['adjusted_p_value']:.3g}", f"{c['chance_to_beat_control']:.3f}", valid_ci,
                      Text(c["verdict"], style=_COLOUR[c["verdict"]]))  # fmt: skip
    return table


def _chart(metrics: list[dict[str, Any]], out: Console) -> None:
    """Each variant's difference from the control with its always-valid interval (or the fixed one), on one
    scale per metric."""
    if not any(m["comparisons"] for m in metrics):
        return
    out.print("\nDifference from the control, with its always-valid 95% interval (│ is no difference):")
    for metric in metrics:
        spans = [(c, *(c["always_valid"] or c)["ci"]) for c in metric["comparisons"]]
        finite = [abs(v) for c, low, high in spans for v in (low, high, c["difference"]) if v is not None]
        scale = 1.05 * max(finite, default=1.0) or 1.0
        for c, low, high in spans:
            if None in (low, high, c["difference"]):
                continue
            line = Text(f"{metric['name'][:20]:>20} {c['variant'][:12]:>12} ")
            line.append(_bar(low, c["difference"], high, scale), style=_COLOUR[c["verdict"]])
            line.append(f" {c['difference']:+.4g}")
            out.print(line)


@app.command("report")
def report(
    experiment: str = typer.Argument(..., help="Key or id."),
    workspace: str = WORKSPACE,
    svg: Path | None = typer.Option(None, "--svg", help="Also save the report (tables and chart) as an SVG image."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON instead."),
) -> None:  # fmt: skip
    """Per metric and guardrail: each variant against the control (difference, lift, corrected p-value,
    chance to beat control, always-valid interval, verdict), the sample-ratio check and a chart."""
    with store().reader() as session:
        result = service.results(session, _workspace_id(workspace), experiment)
    if as_json:
        console.print_json(json.dumps(result))
        return
    out = Console(record=True, width=max(console.width, 140)) if svg else console
    out.print(f"[bold]{result['experiment']}[/] ({result['status']}; {result['units']:,} units as of "
              f"{result['as_of']})", highlight=False)  # fmt: skip
    srm = result["sample_ratio"]
    if srm:
        verdict = "[red]MISMATCH[/]" if srm["mismatch"] else "ok"
        out.print(f"Sample ratio: {verdict} (p = {srm['p_value']:.3g}); "
                  f"units in more than one variant: {result['units_in_several_variants']}")  # fmt: skip
    for metric in (*result["metrics"], *result["guardrails"]):
        out.print(_metric_table(metric))
        if metric.get("cuped_variance_reduction"):
            out.print(f"  CUPED on the pre-period removed {metric['cuped_variance_reduction']:.1%} of the variance.")
    _chart([*result["metrics"], *result["guardrails"]], out)
    out.print(f"\n{result['summary']}", highlight=False)
    if svg:
        out.save_svg(str(svg), title=f"Experiment {result['experiment']}")
        console.print(f"Saved {svg}.")


@app.command("next-action")
def next_action(
    experiment: str = typer.Argument(..., help="Key or id of a randomized experiment with enough units."),
    metric: str | None = typer.Option(None, "--metric", help="One of its metrics (default: the primary)."),
    workspace: str = WORKSPACE,
) -> None:  # fmt: skip
    """Learn, from who got which variant and what they did next, the best variant per person (or the control,
    e.g. "send nothing"); measured on a held-out half, then served by POST /v1/experiments/{key}/next-action."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from afinidad.decide import next_action as next_actions

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("training", total=None)
        trained = next_actions.train(store(), _workspace_id(workspace), experiment, metric,
                                     on_step=lambda s: bar.update(task, description=s))  # fmt: skip
    e = trained["evaluation"]
    console.print(f"Model {trained['version']} for {trained['experiment']} on {trained['metric']}: "
                  f"{trained['units']:,} units, measured on a held-out half of {e['units']:,}.",
                  highlight=False)  # fmt: skip
    table = Table("action vs " + str(trained["control"]), "units", "Qini AUC", "random", "uplift@30%", "random",
                  title="Targeting each action", title_justify="left")  # fmt: skip
    for action, m in e["actions"].items():
        table.add_row(action, f"{m['units']:,}", f"{m['qini_auc']:.4f}", f"{m['random_qini_auc']:.4f}",
                      f"{m['uplift_at_30']:+.4f}", f"{m['random_uplift_at_30']:+.4f}")  # fmt: skip
    console.print(table)
    values = Table("policy", "mean outcome", "± s.e.", "chosen for", title="What each policy would have earned",
                   title_justify="left")  # fmt: skip
    for name, v in e["policy_values"].items():
        label = "follow the model" if name == "model" else f"everyone gets {name}"
        share = "" if name == "model" else f"{e['chosen_share'].get(name, 0):.0%}"
        values.add_row(label, f"{v['value']:.4f}", f"{v['standard_error']:.4f}", share)
    console.print(values)
