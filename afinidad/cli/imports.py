"""`afinidad import ...`"""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from afinidad.cli.context import console, errors, settings, store
from afinidad.tracking.bulk import import_file
from afinidad.tracking.importer import available_mappings, load_mapping
from afinidad.workspaces.service import get_workspace

app = typer.Typer(help="Bring existing data in.", no_args_is_help=True)


@app.command("events")
def events(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Segment JSON lines, or CSV (.gz too)."),
    workspace: str = typer.Option(..., "--workspace", "-w", help="Workspace name or id."),
    mapping: str | None = typer.Option(
        None,
        "--mapping",
        "-m",
        help=f"CSV column mapping: a ready one ({', '.join(available_mappings())}) or a .toml file.",
    ),  # fmt: skip
    rejects: Path | None = typer.Option(None, "--rejects", help="Write every refused row to this CSV."),
) -> None:
    """Import events. Bad rows are reported with their line numbers; the rest are stored. Importing the same
    file again stores nothing twice (stable messageIds). Exits with 1 when any row was refused."""
    current = settings()
    opened = store()
    with opened.reader() as session:
        workspace_id = get_workspace(session, workspace).id
    chosen = load_mapping(mapping) if mapping else None
    with Progress(
        TextColumn("[bold]importing[/bold] {task.fields[counts]}"), BarColumn(), DownloadColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("import", total=file.stat().st_size, counts="")
        report = import_file(
            opened,
            workspace_id,
            file,
            current,
            mapping=chosen,
            on_progress=lambda done, r: progress.update(
                task,
                completed=done,
                counts=f"{r.stored:,} stored, {r.duplicates:,} already there, {len(r.rejected):,} refused",
            ),
        )
        progress.update(task, completed=file.stat().st_size)
    console.print(
        f"Read {report.rows_read:,} rows into {report.messages:,} messages: {report.stored:,} stored, "
        f"{report.duplicates:,} already stored, {len(report.rejected):,} rows refused."
    )
    if report.rejected:
        table = Table("line", "field", "reason", title="Refused rows (first 20)")
        for row in report.rejected[:20]:
            table.add_row(str(row.line), row.field or "", row.reason)
        errors.print(table)
        if rejects:
            with rejects.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["line", "field", "reason"])
                writer.writerows((r.line, r.field or "", r.reason) for r in report.rejected)
            errors.print(f"All {len(report.rejected):,} refused rows written to {rejects}.")
        raise typer.Exit(1)
