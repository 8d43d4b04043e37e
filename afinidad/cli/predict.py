"""`afinidad predict ...`: train, score and evaluate the customer predictions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from afinidad.cli.context import console, settings, store
from afinidad.errors import Conflict
from afinidad.predict import clv, service
from afinidad.predict.buying_soon import train_and_score
from afinidad.predict.evaluation import compare_holdout
from afinidad.predict.pareto_nbd import ParetoNbd
from afinidad.predict.transactions import Transactions, read_cdnow, read_transactions_csv, summarise
from afinidad.workspaces.service import get_workspace

app = typer.Typer(help="Predictions: lifetime value, churn, expected orders.", no_args_is_help=True)
WORKSPACE = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")
# name -> (file under the data folder, reader, calibration end, holdout end): the published protocol
DATASETS = {
    "cdnow-sample": ("cdnow/CDNOW_sample.txt", read_cdnow, "1997-09-30", "1998-06-30"),
    "cdnow": ("cdnow/CDNOW_master.txt", read_cdnow, "1997-09-30", "1998-06-30"),
}


def _workspace_id(name: str) -> str:
    with store().reader() as session:
        return get_workspace(session, name).id


def _steps() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)


@app.command("train")
def train(workspace: str = WORKSPACE) -> None:
    """Fit the lifetime-value model (BG/NBD + Gamma-Gamma) on the workspace's orders, measured on a holdout
    and checked for drift against the version it replaces; it becomes the active version. Then learn the
    propensity to buy within 30 days from everyone's events, measured on time, and score it onto profiles."""
    with _steps() as bar:
        task = bar.add_task("training", total=None)
        trained = service.train(store(), _workspace_id(workspace), on_step=lambda s: bar.update(task, description=s))
    m = trained["metrics"]
    console.print(f"Model {trained['version']} is active: {m['customers']:,} customers, {m['orders']:,} orders, "
                  f"{m['first_order']} to {m['last_order']}.")  # fmt: skip
    _params(trained["params"])
    if "holdout" in m:
        h = m["holdout"]
        console.print(f"Holdout {h['calibration_end']} to {h['holdout_end']}: {h['predicted']:,} orders forecast, "
                      f"{h['actual']:,} happened ({h['relative_error']:+.1%}); "
                      f"MAE per customer {h['mae']}.")  # fmt: skip
    with _steps() as bar:
        bar.add_task("propensity to buy in 30 days", total=None)
        try:
            soon = train_and_score(store(), _workspace_id(workspace))
        except Conflict as too_few:
            soon = None
            console.print(f"No propensity model: {too_few.detail}")
    if soon is not None:
        p = soon["metrics"]
        console.print(f"Propensity to buy within 30 days: AUC {p['auc']:.3f} and calibration error {p['ece']:.3f} "
                      f"on the {p['test_cutoff'][:10]} cutoff (trained on {p['train_cutoff'][:10]}); "
                      f"{soon['scored']:,} people scored (score.propensity_30d).")  # fmt: skip
    console.print(
        f"Drift against the previous version: {m['drift']['reading']}"
        + (f" (PSI of CLV {m['drift']['clv_psi']:.3f})" if m["drift"]["clv_psi"] is not None else "")
        + "."
    )


@app.command("score")
def score(workspace: str = WORKSPACE) -> None:
    """Score every customer with the active version onto their profile: expected_orders_90d,
    probability_alive, churn, clv_12m (usable in segment rules as score.NAME)."""
    with _steps() as bar:
        bar.add_task("scoring", total=None)
        scored = service.score(store(), _workspace_id(workspace))
    console.print(f"Scored {scored:,} customers.")


@app.command("versions")
def versions(workspace: str = WORKSPACE) -> None:
    """The trained versions, newest first, with their holdout error and drift."""
    with store().reader() as session:
        rows = service.versions(session, _workspace_id(workspace))
    table = Table("version", "trained", "customers", "holdout error", "drift", "active")
    for row in rows:
        m = row["metrics"]
        table.add_row(row["id"], row["trained_at"], f"{m.get('customers', 0):,}",
                      f"{m['holdout']['relative_error']:+.1%}" if "holdout" in m else "",
                      m.get("drift", {}).get("reading", ""), "yes" if row["active"] else "")  # fmt: skip
    console.print(table)


def _params(params: dict) -> None:
    table = Table("model", "parameters")
    for name, values in params.items():
        table.add_row(name, ", ".join(f"{k} = {v:.4g}" for k, v in values.items()))
    console.print(table)


@app.command("evaluate")
def evaluate(
    dataset: str | None = typer.Option(None, "--dataset", "-d", help=f"One of: {', '.join(DATASETS)}."),
    transactions: Path | None = typer.Option(None, "--transactions", exists=True, dir_okay=False,
                                             help="Any orders CSV (.gz too)."),
    customer_column: str = typer.Option("customer", "--customer-column"),
    date_column: str = typer.Option("date", "--date-column", help="ISO 8601 or YYYYMMDD."),
    amount_column: str = typer.Option("amount", "--amount-column", help="Optional: spend per order."),
    calibration_end: str | None = typer.Option(None, "--calibration-end", help="Fit on orders up to this date."),
    holdout_end: str | None = typer.Option(None, "--holdout-end", help="Default: the last order's date."),
) -> None:  # fmt: skip
    """Fit on the calibration period, forecast the holdout: fitted parameters, and predicted against actual
    repeat purchases per calibration frequency, for BG/NBD and Pareto/NBD."""
    if (dataset is None) == (transactions is None):
        raise typer.BadParameter("give either --dataset or --transactions")
    if dataset is not None:
        if dataset not in DATASETS:
            raise typer.BadParameter(f"unknown data set; one of {', '.join(DATASETS)}", param_hint="--dataset")
        relative, reader, default_end, default_holdout = DATASETS[dataset]
        path = settings().data_dir / relative
        if not path.exists():
            raise typer.BadParameter(f"{path} not found; set AFINIDAD_DATA_DIR", param_hint="--dataset")
        orders: Transactions = reader(path)
        calibration_end, holdout_end = calibration_end or default_end, holdout_end or default_holdout
        source = dataset
    else:
        assert transactions is not None
        if calibration_end is None:
            raise typer.BadParameter("a transactions file needs --calibration-end", param_hint="--calibration-end")
        orders = read_transactions_csv(transactions, customer_column, date_column, amount_column)
        source = transactions.name
    holdout_end = holdout_end or str(orders.dates.max())
    with _steps() as bar:
        bar.add_task("fitting", total=None)
        measured = clv.evaluate(orders, calibration_end, holdout_end)
        summary = summarise(orders, calibration_end, holdout_end, unit="weeks")
        pareto = compare_holdout(ParetoNbd().fit(summary.frequency, summary.recency, summary.T), summary)
    console.print(f"{source}: {len(orders):,} orders; {measured.calibration_customers:,} customers by "
                  f"{calibration_end}, holdout to {holdout_end}.")  # fmt: skip
    _params(measured.params)
    bgnbd = measured.comparison
    table = Table("repeat purchases in calibration", "customers", "actual (mean)", "BG/NBD", "Pareto/NBD", "",
                  title="Holdout repeat purchases per customer, by calibration frequency")  # fmt: skip
    top = max(max(b.actual, b.predicted) for b in bgnbd.buckets) or 1.0
    for mine, other in zip(bgnbd.buckets, pareto.buckets, strict=True):
        bar = "[green]" + "█" * round(20 * mine.actual / top) + "[/green]\n[blue]" + "█" * round(
            20 * mine.predicted / top) + "[/blue]"  # fmt: skip
        table.add_row(mine.frequency, f"{mine.customers:,}", f"{mine.actual:.3f}", f"{mine.predicted:.3f}",
                      f"{other.predicted:.3f}", bar)  # fmt: skip
    table.add_row("total", f"{bgnbd.customers:,}", f"{bgnbd.actual_total:,.0f}",
                  f"{bgnbd.predicted_total:,.0f} ({bgnbd.relative_error:+.1%})",
                  f"{pareto.predicted_total:,.0f} ({pareto.relative_error:+.1%})",
                  "[green]actual[/green] [blue]BG/NBD[/blue]", style="bold")  # fmt: skip
    table.add_row("MAE per customer", "", "", f"{bgnbd.mean_absolute_error:.3f}", f"{pareto.mean_absolute_error:.3f}")
    console.print(table)
    if measured.spend_rank_correlation is not None:
        console.print(f"12-month CLV against actual holdout spend: Spearman {measured.spend_rank_correlation:.3f}.")
