"""`afinidad workspaces ...`"""

from __future__ import annotations

import typer
from rich.table import Table

from afinidad.cli.context import console, store
from afinidad.workspaces import service

app = typer.Typer(help="Create and list workspaces (one per business or brand).", no_args_is_help=True)


@app.command("create")
def create(name: str = typer.Argument(..., help="A name for the workspace, e.g. 'acme-shop'.")) -> None:
    """Create a workspace and print its write key and secret key (shown once: keep them safe)."""
    with store().session() as session:
        created = service.create_workspace(session, name)
    console.print(f"Workspace: {created.id} ({created.name})", soft_wrap=True, highlight=False)
    console.print(f"Write key: {created.write_key}", soft_wrap=True, highlight=False)
    console.print(f"Secret key: {created.secret_key}", soft_wrap=True, highlight=False)
    console.print(
        "[dim]The write key may only send events (safe in a web page); the secret key reads and administers "
        "(keep it on a server). Only their hashes are stored.[/dim]"
    )


@app.command("list")
def list_() -> None:
    """List workspaces."""
    with store().reader() as session:
        rows = service.list_workspaces(session)
    table = Table("id", "name", "created")
    for row in rows:
        table.add_row(str(row["id"]), str(row["name"]), str(row["created_at"]))
    console.print(table)


@app.command("keys")
def keys(
    name: str = typer.Argument(..., help="Workspace name or id."),
    revoke_old: bool = typer.Option(False, "--revoke-old", help="Revoke every earlier key of the workspace."),
) -> None:
    """Issue a new write key and secret key (key rotation); optionally revoke all earlier ones."""
    with store().session() as session:
        issued = service.issue_keys(session, name)
        revoked = service.revoke_keys(session, name, keep=(issued.write_key, issued.secret_key)) if revoke_old else 0
    console.print(f"Workspace: {issued.id} ({issued.name})", soft_wrap=True, highlight=False)
    console.print(f"Write key: {issued.write_key}", soft_wrap=True, highlight=False)
    console.print(f"Secret key: {issued.secret_key}", soft_wrap=True, highlight=False)
    if revoke_old:
        console.print(f"Revoked {revoked} earlier key(s); running servers stop accepting them within 30 s.")


@app.command("admin-key")
def admin_key(name: str = typer.Argument(..., help="Workspace name or id.")) -> None:
    """Issue an admin key: all a secret key may do, plus the privacy audit log and workspace settings."""
    with store().session() as session:
        key = service.issue_admin_key(session, name)
    console.print(f"Admin key: {key}", soft_wrap=True, highlight=False)
