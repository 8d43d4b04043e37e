"""`afinidad import ...`"""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from afinidad.catalog import importer as catalog_importer
from afinidad.catalog.bulk import CatalogImportReport, import_catalog
from afinidad.cli.context import console, errors, settings, store
from afinidad.importing.results import RejectedRow
from afinidad.tracking import importer as event_importer
from afinidad.tracking.bulk import import_file
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
        help=f"CSV column mapping: a ready one ({', '.join(event_importer.available_mappings())}) or a .toml file.",
    ),  # fmt: skip
    rejects: Path | None = typer.Option(None, "--rejects", help="Write every refused row to this CSV."),
) -> None:
    """Import events. Bad rows are reported with their line numbers; the rest are stored. Importing the same
    file again stores nothing twice (stable messageIds). Exits with 1 when any row was refused."""
    current = settings()
    opened = store()
    with opened.reader() as session:
        workspace_id = get_workspace(session, workspace).id
    chosen = event_importer.load_mapping(mapping) if mapping else None
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
    _refused(report.rejected, rejects)


@app.command("catalog")
def catalog(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Products as JSON lines, or CSV (.gz too)."),
    workspace: str = typer.Option(..., "--workspace", "-w", help="Workspace name or id."),
    mapping: str | None = typer.Option(
        None,
        "--mapping",
        "-m",
        help=f"CSV column mapping: a ready one ({', '.join(catalog_importer.available_mappings())}) or a .toml file.",
    ),  # fmt: skip
    rejects: Path | None = typer.Option(None, "--rejects", help="Write every refused row to this CSV."),
) -> None:
    """Import products. Rows with the same id become one product; bad rows are reported with their line
    numbers and the field at fault, the rest are stored. Importing the same file again changes nothing.
    Exits with 1 when any row was refused."""
    opened = store()
    with opened.reader() as session:
        workspace_id = get_workspace(session, workspace).id
    chosen = catalog_importer.load_mapping(mapping) if mapping else None
    catalog_importer.read_products(file, chosen)  # refuses a CSV without mapping now, before the bars start
    size = file.stat().st_size
    with Progress(
        TextColumn("[bold]{task.description}[/bold]"), BarColumn(), TextColumn("{task.fields[amount]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[counts]}"), console=console,
    ) as progress:  # fmt: skip
        reading = progress.add_task("reading", total=size, amount="", counts="")
        storing: list[TaskID] = []  # added once reading is done: products are stored after the whole file is read

        def on_read(done: int, r: CatalogImportReport) -> None:
            counts = f"{r.skipped:,} rows skipped, {len(r.rejected):,} refused"
            progress.update(reading, completed=done, amount=f"{decimal(done)}/{decimal(size)}", counts=counts)

        def on_write(r: CatalogImportReport) -> None:
            if not storing:
                on_read(size, r)  # the counts once the products are checked
                storing.append(progress.add_task("storing", total=r.products, amount="", counts=""))
            progress.update(storing[0], completed=r.stored, amount=f"{r.stored:,}/{r.products:,} products")

        report = import_catalog(opened, workspace_id, file, mapping=chosen, on_read=on_read, on_write=on_write)
        progress.update(reading, completed=size)
    console.print(
        f"Read {report.rows_read:,} rows into {report.products:,} products: {report.stored:,} stored, "
        f"{report.skipped:,} rows skipped by the mapping, {len(report.rejected):,} rows refused."
    )
    _refused(report.rejected, rejects)


@app.command("mappings")
def mappings() -> None:
    """List the ready mappings, for events and for the catalog (use one with --mapping NAME)."""
    table = Table("import", "mapping", "what it reads", title="Ready mappings")
    for kind, ready in (
        ("events", event_importer.available_mappings()),
        ("catalog", catalog_importer.available_mappings()),
    ):
        for name, description in ready.items():
            table.add_row(kind, name, description)
    console.print(table)


def _refused(rejected: list[RejectedRow], rejects: Path | None) -> None:
    """Show the first refused rows, write them all to `rejects` if asked, and exit with 1 if there were any."""
    if not rejected:
        return
    table = Table("line", "field", "reason", title="Refused rows (first 20)")
    for row in rejected[:20]:
        table.add_row(str(row.line), row.field or "", row.reason)
    errors.print(table)
    if rejects:
        with rejects.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "field", "reason"])
            writer.writerows((r.line, r.field or "", r.reason) for r in rejected)
        errors.print(f"All {len(rejected):,} refused rows written to {rejects}.")
    raise typer.Exit(1)
