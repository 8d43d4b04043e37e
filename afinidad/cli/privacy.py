"""`afinidad privacy ...`: export and erase a person, apply event retention, read the audit log."""

from __future__ import annotations

import getpass
from pathlib import Path

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from afinidad.cli.context import console, store
from afinidad.privacy import audit
from afinidad.privacy.requests import checkpoint_sqlite, erase_person, export_archive, export_person
from afinidad.privacy.retention import delete_expired_events, expired_events
from afinidad.workspaces.service import get_workspace, list_workspaces
from afinidad.workspaces.settings import read_settings

app = typer.Typer(help="Privacy requests, retention and the audit log.", no_args_is_help=True)

WORKSPACE = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")


def _actor() -> str:
    return f"cli {getpass.getuser()}"


@app.command("export")
def export(
    identifier: str = typer.Argument(..., help="A profile id or any identifier of the person."),
    workspace: str = WORKSPACE,
    output: Path = typer.Option(..., "--output", "-o", help="Write here: .json, or .zip for CSV files."),
) -> None:
    """Write everything held on a person to a file (audited)."""
    with store().session() as session:
        workspace_id = get_workspace(session, workspace).id
        document = export_person(session, workspace_id, identifier, actor=_actor())
    data = export_archive(document) if output.suffix == ".zip" else orjson.dumps(document, option=orjson.OPT_INDENT_2)
    output.write_bytes(data)
    console.print(f"Exported {len(document['events']):,} events and the profile to {output}.")


@app.command("erase")
def erase(
    identifier: str = typer.Argument(..., help="A profile id or any identifier of the person."),
    workspace: str = WORKSPACE,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Remove a person from every table; later events naming them are dropped (audited)."""
    if not yes:
        typer.confirm("Erase this person and all their events? This cannot be undone", abort=True)
    opened = store()
    with opened.session() as session:
        workspace_id = get_workspace(session, workspace).id
        removed = erase_person(session, workspace_id, identifier, actor=_actor())
    checkpoint_sqlite(opened.engine)
    console.print("Erased: " + ", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in removed.items()))


@app.command("retention")
def retention(
    workspace: str | None = typer.Option(None, "--workspace", "-w", help="Only this workspace (default: all)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be deleted; delete nothing."),
) -> None:
    """Delete raw events older than each workspace's `event_retention_days` (workspaces without it keep all)."""
    opened = store()
    with opened.reader() as session:
        chosen = (
            [get_workspace(session, workspace).id] if workspace else [str(w["id"]) for w in list_workspaces(session)]
        )
        plans = [(ws, read_settings(session, ws).event_retention_days) for ws in chosen]
        plans = [(ws, days, expired_events(session, ws, days)) for ws, days in plans if days]
    if not plans:
        console.print("No workspace sets event_retention_days: nothing to delete.")
        return
    table = Table("workspace", "keep (days)", "events to delete" if dry_run else "events deleted")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                  TimeElapsedColumn(), console=console, disable=dry_run) as progress:  # fmt: skip
        for ws, days, due in plans:
            if dry_run or not due:
                table.add_row(ws, str(days), f"{due:,}")
                continue
            task = progress.add_task(ws, total=due)
            with opened.session() as session:
                deleted = delete_expired_events(
                    session,
                    ws,
                    days,
                    actor=_actor(),
                    on_progress=lambda done, t=task: progress.update(t, completed=done),
                )
            table.add_row(ws, str(days), f"{deleted:,}")
    console.print(table)


@app.command("audit")
def audit_log(workspace: str = WORKSPACE, limit: int = typer.Option(50, "--limit", "-n")) -> None:
    """Who exported or erased whose data (as a digest), and when."""
    with store().reader() as session:
        rows = audit.entries(session, get_workspace(session, workspace).id, limit)
    table = Table("at", "actor", "action", "subject", "details")
    for row in rows:
        table.add_row(row["at"], row["actor"], row["action"], (row["subject"] or "")[:12],
                      orjson.dumps(row["details"]).decode())  # fmt: skip
    console.print(table)
