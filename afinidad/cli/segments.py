"""`afinidad segments ...`: define rule segments in readable text, rebuild and export them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from afinidad.cli.context import console, store
from afinidad.segments import service
from afinidad.workspaces.service import get_workspace

app = typer.Typer(help="Rule segments: define, rebuild, list and export.", no_args_is_help=True)
WORKSPACE = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")


def _workspace_id(name: str) -> str:
    with store().reader() as session:
        return get_workspace(session, name).id


@app.command("create")
def create(
    name: str = typer.Argument(..., help="A name, unique in the workspace."),
    rule: str = typer.Argument(..., help='The rule, e.g. \'count("Order Completed" in 90d) >= 2\''),
    description: str | None = typer.Option(None, "--description", "-d"),
    workspace: str = WORKSPACE,
) -> None:  # fmt: skip
    """Define a segment; its members are computed at once and kept current as events arrive."""
    made = service.create_segment(store(), _workspace_id(workspace), name, text=rule, description=description)
    console.print(f"Segment {made['id']} ({made['name']}): {made['size']:,} members.\n  {made['text']}",
                  highlight=False)  # fmt: skip


@app.command("list")
def list_command(workspace: str = WORKSPACE) -> None:
    """Every segment with its size and rule."""
    with store().reader() as session:
        rows = service.list_segments(session, _workspace_id(workspace))
    table = Table("name", "members", "rule", "rebuilt")
    for row in rows:
        table.add_row(row["name"], f"{row['size']:,}", row["text"], row["rebuilt_at"] or "")
    console.print(table)


@app.command("rebuild")
def rebuild(
    name: str | None = typer.Argument(None, help="One segment (default: all of the workspace's)."),
    workspace: str = WORKSPACE,
) -> None:
    """Recompute members over every profile now."""
    workspace_id = _workspace_id(workspace)
    opened = store()
    ids = None
    if name:
        with opened.reader() as session:
            ids = [service.get_segment(session, workspace_id, name)["id"]]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("rebuilding", total=None)
        done = service.rebuild(opened, workspace_id, ids, on_segment=lambda n: bar.update(task, description=n))
    table = Table("segment", "members", "entered", "left")
    for row in done:
        table.add_row(row.name, f"{row.size:,}", f"{row.entered:,}", f"{row.left:,}")
    console.print(table)


@app.command("export")
def export(
    name: str = typer.Argument(...),
    output: Path = typer.Option(..., "--output", "-o", help="The CSV file to write."),
    traits: str = typer.Option("email", "--traits", help="Comma-separated trait names to include."),
    workspace: str = WORKSPACE,
) -> None:
    """Write the members as CSV: profile id, since when, and the traits asked for."""
    names = [part.strip() for part in traits.split(",") if part.strip()]
    workspace_id = _workspace_id(workspace)
    lines = 0
    with store().reader() as session, output.open("w", newline="", encoding="utf-8") as handle:
        for chunk in service.export_csv(session, workspace_id, name, names):
            handle.write(chunk)
            lines += chunk.count("\n")
    console.print(f"{lines - 1:,} members written to {output}.")


@app.command("learn")
def learn_command(workspace: str = WORKSPACE) -> None:
    """RFM groups and learned micro-segments from the workspace's orders, as segments rules can read
    (`segment "RFM: Champions"`); a retrain keeps the ids of micro-segments that persist."""
    from afinidad.segments.learned import learn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("learning", total=None)
        done = learn(store(), _workspace_id(workspace), on_step=lambda step: bar.update(task, description=step))
    table = Table("segment", "members", "in", "out", "description")
    for row in done:
        table.add_row(row.name, f"{row.size:,}", f"{row.entered:,}", f"{row.left:,}", row.description)
    console.print(table)
