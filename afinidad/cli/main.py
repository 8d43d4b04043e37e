"""The `afinidad` command."""

from __future__ import annotations

import typer

from afinidad.cli import (
    content,
    demo,
    experiments,
    imports,
    predict,
    privacy,
    profiles,
    recommend,
    segments,
    worker,
    workspaces,
)
from afinidad.cli.context import console, errors, settings, store
from afinidad.errors import AfinidadError

app = typer.Typer(
    help="Afinidad: self-hosted personalization and generative marketing.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(workspaces.app, name="workspaces")
app.add_typer(profiles.app, name="profiles")
app.add_typer(imports.app, name="import")
app.add_typer(privacy.app, name="privacy")
app.add_typer(recommend.app, name="recommend")
app.add_typer(segments.app, name="segments")
app.add_typer(predict.app, name="predict")
app.add_typer(experiments.app, name="experiments")
app.add_typer(content.app, name="content")
app.command("demo")(demo.demo)
app.command("worker")(worker.worker)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db, name="db")


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the current schema (serve and demo do this by themselves)."""
    store()
    console.print("Database is at the current schema.")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", "-h", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", "-p", help="Port to listen on."),
) -> None:
    """Run the HTTP API (tracking, profiles, OpenAPI docs at /docs)."""
    import uvicorn

    from afinidad import logs
    from afinidad.api.app import create_server_app

    current = settings()
    logs.configure(current.log_level, current.log_json)
    store()  # migrate before the first request
    uvicorn.run(create_server_app(current), host=host, port=port, log_config=None, access_log=False)


def main() -> None:
    try:
        app()
    except AfinidadError as error:
        errors.print(f"[red]{error.title}:[/red] {error.detail}")
        raise SystemExit(1) from None
