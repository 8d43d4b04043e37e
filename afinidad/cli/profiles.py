"""`afinidad profiles ...`"""

from __future__ import annotations

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from afinidad.cli.context import console, settings, store
from afinidad.profiles import service
from afinidad.workspaces.service import get_workspace

app = typer.Typer(help="Unified customer profiles.", no_args_is_help=True)
WorkspaceOption = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")


@app.command("rebuild")
def rebuild(workspace: str = WorkspaceOption) -> None:
    """Derive profiles and identities again from the workspace's events."""
    current = settings()
    with store().session() as session:
        workspace_id = get_workspace(session, workspace).id
        with Progress(
            TextColumn("[bold]rebuilding profiles"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task("events", total=None)
            replayed = service.rebuild(
                session,
                workspace_id,
                default_region=current.default_phone_region,
                max_profiles_per_identifier=current.identity_max_profiles_per_identifier,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        profiles = service.count_profiles(session, workspace_id)
    console.print(f"Replayed {replayed:,} events into {profiles:,} profiles.")


@app.command("show")
def show(identifier: str = typer.Argument(..., help="Profile id, kind:value, or a bare id/e-mail."),
         workspace: str = WorkspaceOption) -> None:  # fmt: skip
    """Print one unified profile as JSON."""
    with store().reader() as session:
        workspace_id = get_workspace(session, workspace).id
        profile = service.get_profile(session, workspace_id, identifier, settings().default_phone_region)
    console.print_json(orjson.dumps(profile).decode())
