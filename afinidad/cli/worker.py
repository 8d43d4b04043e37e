"""`afinidad worker`: the platform's scheduled work: segment rebuilds and recommender retraining."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import typer

from afinidad.cli.context import console, store
from afinidad.predict.schedule import refresh as refresh_predictions
from afinidad.recommend.schedule import Due, run_due
from afinidad.segments.service import rebuild_stale
from afinidad.workspaces.service import get_workspace


def worker(
    once: bool = typer.Option(False, "--once", help="Run what is due now and exit (for cron)."),
    interval: int = typer.Option(300, "--interval", min=10, help="Seconds between checks."),
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="Only this workspace (default: all)."),
    segments_every: int = typer.Option(3600, "--segments-every", min=60,
                                       help="Rebuild segments older than this many seconds."),
) -> None:  # fmt: skip
    """Rebuild segments older than `--segments-every` (what moves people out of sliding windows), refresh
    predictions, RFM groups and micro-segments (`predict_retrain_hours`, 24 by default), and retrain each
    workspace's personal recommender when it is due (`recommend_retrain_hours` in the workspace
    settings, 24 by default). A retrained model that measures much worse than the serving one is kept
    inactive and reported."""
    opened = store()
    only = None
    if workspace:
        with opened.reader() as session:
            only = get_workspace(session, workspace).id
    while True:
        with console.status("checking what is due") as status:

            def starting(item: Due, status=status) -> None:  # type: ignore[no-untyped-def]
                status.update(f"training {item.name} ({item.why})")

            outcomes = run_due(opened, datetime.now(UTC).replace(tzinfo=None), starting, only)
        for outcome in outcomes:
            name, trained = outcome.due.name, outcome.trained
            if trained is None:
                console.print(f"{name}: skipped, {outcome.skipped}")
            elif trained.active:
                console.print(f"{name}: {trained.version} ({trained.algorithm}) is active, "
                              f"NDCG@10 {trained.metrics['ndcg10']}")  # fmt: skip
            else:
                console.print(f"[yellow]{name}: {trained.version} held back: {trained.held_back}[/yellow]")
        for fresh in refresh_predictions(opened, datetime.now(UTC).replace(tzinfo=None), only):
            console.print(f"{fresh.workspace}: predictions skipped, {fresh.skipped}" if fresh.skipped else
                          f"{fresh.workspace}: {fresh.customers:,} customers rescored, "
                          f"{fresh.learned} RFM and micro-segments relearned")  # fmt: skip
        rebuilt = rebuild_stale(opened, timedelta(seconds=segments_every))
        for done in rebuilt:
            console.print(f"segment {done.name}: {done.size:,} members ({done.entered:,} in, {done.left:,} out)")
        if not outcomes and not rebuilt:
            console.print("Nothing is due.")
        if once:
            return
        time.sleep(interval)
