"""`afinidad recommend ...`"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from afinidad.cli.context import console, settings, store
from afinidad.recommend.datasets import DATASETS, FOLDS, load_dataset, load_folds
from afinidad.recommend.evaluation import Result, candidates, evaluate
from afinidad.recommend.folds import FoldedResult, evaluate_folds
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
    protocol: str = typer.Option("time-split", "--protocol", "-p",
                                 help="time-split, or u1-u5: the five folds MovieLens 100k ships "
                                      f"(--dataset {', '.join(FOLDS)} only), figures averaged over folds."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the results as JSON here."),
) -> None:  # fmt: skip
    """Per-user time split (last 20% of each user's interactions), settings tuned on a validation split of
    the training part, full ranking: NDCG@10, Recall@20, MAP@10, coverage and novelty per model, beside the
    popularity, item-kNN and ALS baselines. With --protocol u1-u5, the same per fold of MovieLens's shipped
    folds, as mean ± standard deviation over the five."""
    if (dataset is None) == (interactions is None):
        raise typer.BadParameter("give either --dataset or --interactions")
    if protocol not in ("time-split", "u1-u5"):
        raise typer.BadParameter(f"{protocol!r} is not a protocol: time-split or u1-u5", param_hint="--protocol")
    folded = protocol == "u1-u5"
    if folded and dataset not in FOLDS:
        shipped = " or ".join(f"--dataset {name}" for name in FOLDS)
        raise typer.BadParameter(f"u1-u5 needs {shipped}, the folds it names ship with that data set only",
                                 param_hint="--protocol")  # fmt: skip
    results: list[Result] | list[FoldedResult]
    if folded:
        assert dataset is not None
        folds = load_folds(dataset, settings().data_dir)
        users, items = folds[0][0].shape
        models = candidates(items)
        console.print(f"{dataset}: {len(folds)} folds of {len(folds[0][0]):,} / {len(folds[0][1]):,} interactions, "
                      f"{users:,} users, {items:,} items.")  # fmt: skip
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("reading folds", total=len(folds) * len(models))
            results = evaluate_folds(folds, models, on_step=lambda step: bar.update(task, description=step),
                                     on_result=lambda _: bar.advance(task))  # fmt: skip
        source, title = dataset, f"{dataset}: u1..u5 folds, mean ± std over {len(folds)}, full ranking"
    else:
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
        title = f"{source}: per-user time split, full ranking"

    def figure(r: Result | FoldedResult, name: str, digits: int) -> str:
        value = f"{getattr(r, name):.{digits}f}"
        return f"{value} ± {r.std[name]:.{digits}f}" if isinstance(r, FoldedResult) else value

    def setting(r: Result | FoldedResult) -> str:
        chosen = [f.params for f in r.folds] if isinstance(r, FoldedResult) else [r.params]
        counts = Counter(", ".join(f"{k}={v}" for k, v in params.items()) for params in chosen)
        if len(counts) == 1:
            return next(iter(counts))
        return "; ".join(f"{text} ({n}/{len(chosen)} folds)" for text, n in counts.most_common())

    popularity = next((r.ndcg10 for r in results if r.label == "popularity"), None)
    table = Table("model", "NDCG@10", "Recall@20", "MAP@10", "coverage", "novelty", "x popularity", "fit (s)",
                  "setting", title=title)  # fmt: skip
    best = max(results, key=lambda r: r.ndcg10)
    for r in results:
        ratio = f"{r.ndcg10 / popularity:.2f}x" if popularity else ""
        style = "bold green" if r is best else ("dim" if r.baseline else None)
        table.add_row(r.label + (" (baseline)" if r.baseline else ""), figure(r, "ndcg10", 4),
                      figure(r, "recall20", 4), figure(r, "map10", 4), figure(r, "coverage", 3),
                      figure(r, "novelty", 2), ratio, f"{r.fit_seconds:.2f}", setting(r), style=style)  # fmt: skip
    console.print(table)
    if output:
        output.write_text(json.dumps({"source": source, "protocol": protocol,
                                      "results": [asdict(r) for r in results]}, indent=2))  # fmt: skip
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
    used = [name for name, row in m.get("context", {}).items() if row["used"]]
    if "popular_mrr" in m:
        console.print(
            f"Context that predicts later behaviour: {', '.join(used) or 'none'}. Popular items for a newcomer, "
            f"on the later 20%: MRR {m['popular_mrr']:.4f} plain, {m['context_popular_mrr']:.4f} tilted by context."
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
