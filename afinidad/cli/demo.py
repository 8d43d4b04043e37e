"""`afinidad demo`: the main job. A workspace full of simulated shoppers on the embedded store, then the
API, and what to try next."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from afinidad.cli.context import console, settings, store
from afinidad.demo.loader import load_demo
from afinidad.errors import Conflict, NotFound
from afinidad.recommend.training import train_personal
from afinidad.store.engine import Store


def demo(
    shoppers: int = typer.Option(300, help="How many simulated shoppers."),
    days: int = typer.Option(30, help="Days of history, ending today."),
    seed: int = typer.Option(7, help="Simulator seed: the same seed gives the same shoppers."),
    host: str = typer.Option("127.0.0.1", "--host", "-h"),
    port: int = typer.Option(8000, "--port", "-p"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Run the API after loading."),
) -> None:
    """Load simulated shoppers (web, app, e-mail, store) into a `demo` workspace and serve the API."""
    current = settings()
    opened = store()
    with Progress(
        TextColumn("[bold]loading demo shoppers[/bold]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("messages"), TimeElapsedColumn(), console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("demo", total=None)
        data = load_demo(
            opened,
            current,
            seed=seed,
            shoppers=shoppers,
            days=days,
            on_progress=lambda report: progress.update(task, completed=report.messages, total=None),
        )
    report = data.report
    with console.status("training the recommender") as status:
        try:
            trained = train_personal(opened, data.workspace.id,
                                     on_step=lambda step: status.update(f"training: {step}"))  # fmt: skip
        except Conflict as too_few:  # a handful of shoppers: recommendations stay popular until there are more
            trained = None
            console.print(f"No recommender trained: {too_few.detail}")
    insights = _understand(opened, data.workspace.id)
    base = f"http://{host}:{port}"
    secret = data.workspace.secret_key
    example = data.example_user or "<a user id>"
    console.print(
        f"Loaded {report.messages:,} messages: {report.stored:,} stored, {report.duplicates:,} already there, "
        f"{len(report.rejected):,} refused. They resolve to {data.profiles:,} customer profiles."
    )
    if trained is not None:
        console.print(
            f"Recommender {trained.version} ({trained.algorithm}) is active: NDCG@10 {trained.metrics['ndcg10']:.3f} "
            f"against popularity's {trained.metrics['popularity_ndcg10']:.3f} on a time split of these shoppers."
        )
    for line in insights:
        console.print(line, highlight=False)
    if data.blocked_identifiers:
        console.print(
            "Over-merge guard: these identifiers were seen on too many people and stopped linking: "
            + ", ".join(data.blocked_identifiers)
        )
    console.print(f"Workspace: {data.workspace.id} ({data.workspace.name})", soft_wrap=True, highlight=False)
    console.print(f"Write key: {data.workspace.write_key}", soft_wrap=True, highlight=False)
    console.print(f"Secret key: {secret}", soft_wrap=True, highlight=False)
    console.print("\n[bold]Try next[/bold]")
    for label, command in (
        ("API docs", f"{base}/docs"),
        ("A profile", f"curl -H 'Authorization: Bearer {secret}' {base}/v1/profiles/{example}"),
        ("Its timeline", f"curl -H 'Authorization: Bearer {secret}' '{base}/v1/profiles/{example}/events?limit=5'"),
        (
            "Send an event",
            f"curl -u '{data.workspace.write_key}:' {base}/v1/track -H 'Content-Type: application/json' "
            f'-d \'{{"userId":"{example}","event":"Product Viewed","properties":{{"product_id":"p1"}}}}\'',
        ),
        ("Search", f"curl -H 'Authorization: Bearer {secret}' '{base}/v1/catalog/search?q=headphone&in_stock=true'"),
        (
            "Recommend",
            f"curl -H 'Authorization: Bearer {secret}' "
            f"'{base}/v1/recommendations/{example}?n=5&lang=es&weather=rain&local_time=2026-11-28T20:00:00%2B01:00'",
        ),
        ("Similar", f"curl -H 'Authorization: Bearer {secret}' '{base}/v1/products/P10031/similar?n=5'"),
        ("Predictions", f"curl -H 'Authorization: Bearer {secret}' {base}/v1/profiles/{example}/predictions"),
        ("Segments", f"curl -H 'Authorization: Bearer {secret}' {base}/v1/segments"),
        ("From the CLI", f"afinidad profiles show {example} -w demo"),
        ("Metrics", f"{base}/metrics"),
    ):
        console.print(f"  {label + ':':<15}{command}", soft_wrap=True, highlight=False, markup=False)
    if serve:
        from afinidad.cli.main import serve as run_server

        run_server(host=host, port=port)


def _understand(opened: Store, workspace_id: str) -> list[str]:
    """Lifetime value, RFM groups and micro-segments for the demo shoppers, and one rule segment kept
    current as events arrive; a line to print for each."""
    from afinidad.predict import service as predictions
    from afinidad.segments.learned import learn
    from afinidad.segments.service import create_segment, get_segment

    lines = []
    with console.status("learning about the shoppers") as status:
        try:
            status.update("lifetime value")
            predictions.train(opened, workspace_id)
            scored = predictions.score(opened, workspace_id)
            lines.append(f"Predictions: {scored:,} customers scored (expected orders, churn, lifetime value).")
        except Conflict as too_few:
            lines.append(f"No predictions yet: {too_few.detail}")
        try:
            status.update("RFM groups and micro-segments")
            learned = learn(opened, workspace_id)
            micro = [row for row in learned if row.kind == "micro"]
            examples = "; ".join(f"{row.name} ({row.size}): {row.description}" for row in micro[:2])
            lines.append(f"Segments: {len(learned) - len(micro)} RFM groups and {len(micro)} micro-segments"
                         + (f", e.g. {examples}." if examples else "."))  # fmt: skip
        except Conflict as too_few:
            lines.append(f"No learned segments yet: {too_few.detail}")
        with opened.reader() as session:
            try:
                get_segment(session, workspace_id, "repeat-buyers")
                return lines
            except NotFound:
                pass
        made = create_segment(opened, workspace_id, "repeat-buyers", text='count("Order Completed" in 30d) >= 2',
                              description="Ordered twice or more this month")  # fmt: skip
        lines.append(f"Rule segment repeat-buyers ({made['text']}): {made['size']:,} members, kept current.")
    return lines
