"""`afinidad recommend ...`"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from afinidad.cli.context import console, settings, store
from afinidad.recommend.datasets import DATASETS, load_dataset
from afinidad.recommend.evaluation import candidates, evaluate
from afinidad.recommend.interactions import read_csv
from afinidad.recommend.training import activate, train_personal, versions
from afinidad.workspaces.service import get_workspace

app = typer.Typer(help="Recommendations: train, version and evaluate the recommenders.", no_args_is_help=True)


@app.command("evaluate")
def evaluate_command(
    dataset: str | None = typer.Option(None, "--dataset", "-d", help=f"One of: {', '.join(DATASETS)}."),
    interactions: Path | None = typer.Option(None, "--interactions", exists=True, dir_okay=False,
                                             help="Any CSV of interactions (.gz too)."),
    user_column: str = typer.Option("user", "--user-column"),
    item_column: str = typer.Option("item", "--item-column"),
    timestamp_column: str = typer.Option("timestamp", "--timestamp-column", help="Seconds since 1970 or ISO 8601."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the results as JSON here."),
) -> None:  # fmt: skip
    """Per-user time split (last 20% of each user's interactions), settings tuned on a validation split of
    the training part, full ranking: NDCG@10, Recall@20, MAP@10, coverage and novelty per model, beside the
    popularity, item-kNN and ALS baselines."""
    if (dataset is None) == (interactions is None):
        raise typer.BadParameter("give either --dataset or --interactions")
    if dataset:
        data = load_dataset(dataset, settings().data_dir)
        source = dataset
    else:
        assert interactions is not None
        data = read_csv(interactions, user_column=user_column, item_column=item_column,
                        timestamp_column=timestamp_column)  # fmt: skip
        source = interactions.name
    users, items = data.shape
    console.print(f"{source}: {len(data):,} interactions, {users:,} users, {items:,} items.")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("splitting", total=None)
        results = evaluate(data, candidates(items), on_step=lambda step: bar.update(task, description=step))
    popularity = next((r.ndcg10 for r in results if r.label == "popularity"), None)
    table = Table("model", "NDCG@10", "Recall@20", "MAP@10", "coverage", "novelty", "x popularity", "fit (s)",
                  "setting", title=f"{source}: per-user time split, full ranking")  # fmt: skip
    best = max(results, key=lambda r: r.ndcg10)
    for r in results:
        ratio = f"{r.ndcg10 / popularity:.2f}x" if popularity else ""
        style = "bold green" if r is best else ("dim" if r.baseline else None)
        table.add_row(r.label + (" (baseline)" if r.baseline else ""), f"{r.ndcg10:.4f}", f"{r.recall20:.4f}",
                      f"{r.map10:.4f}", f"{r.coverage:.3f}", f"{r.novelty:.2f}", ratio, f"{r.fit_seconds:.2f}",
                      ", ".join(f"{k}={v}" for k, v in r.params.items()), style=style)  # fmt: skip
    console.print(table)
    if output:
        output.write_text(json.dumps({"source": source, "results": [asdict(r) for r in results]}, indent=2))
        console.print(f"Results written to {output}.")


@app.command("train")
def train_command(workspace: str = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")) -> None:
    """Train the personal model on the workspace's product events, measure it on a time split against
    popularity, and make it the active version (the previous one stays, for roll back)."""
    opened = store()
    with opened.reader() as session:
        workspace_id = get_workspace(session, workspace).id
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("training", total=None)
        trained = train_personal(opened, workspace_id, on_step=lambda step: bar.update(task, description=step))
    m = trained.metrics
    console.print(
        f"Model {trained.version} ({trained.algorithm}, {trained.users:,} people x {trained.items:,} products) is "
        f"active. On a time split: NDCG@10 {m['ndcg10']:.4f} against popularity {m['popularity_ndcg10']:.4f}, "
        f"Recall@20 {m['recall20']:.4f}."
    )


@app.command("versions")
def versions_command(workspace: str = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")) -> None:
    """The trained model versions, newest first, with their metrics."""
    with store().reader() as session:
        rows = versions(session, get_workspace(session, workspace).id)
    table = Table("version", "algorithm", "trained", "people", "products", "NDCG@10", "popularity", "active")
    for row in rows:
        table.add_row(row["id"], row["algorithm"], row["trained_at"], f"{row['users']:,}", f"{row['items']:,}",
                      str(row["metrics"].get("ndcg10")), str(row["metrics"].get("popularity_ndcg10")),
                      "yes" if row["active"] else "")  # fmt: skip
    console.print(table)


@app.command("activate")
def activate_command(
    version: str = typer.Argument(..., help="A version id from `afinidad recommend versions`."),
    workspace: str = typer.Option(..., "--workspace", "-w", help="Workspace name or id."),
) -> None:
    """Serve this model version (roll back or forward); running servers pick it up on their next request."""
    with store().session() as session:
        activate(session, get_workspace(session, workspace).id, version)
    console.print(f"{version} is the active personal model.")
