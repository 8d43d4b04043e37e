"""`afinidad content ...`: write checked variants from a brief and move them through review, from the shell."""

from __future__ import annotations

from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table

from afinidad.cli.context import console, store
from afinidad.content import service
from afinidad.workspaces.service import get_workspace

app = typer.Typer(help="Content studio: generate, review, approve.", no_args_is_help=True)
WORKSPACE = typer.Option(..., "--workspace", "-w", help="Workspace name or id.")
ACTOR = "cli"


def _workspace_id(name: str) -> str:
    with store().reader() as session:
        return get_workspace(session, name).id


def _show(piece: dict[str, Any], number: int) -> None:
    lines = []
    for name, value in piece["fields"].items():
        if name == "body_html":
            continue
        text = "\n".join(f"  - {item}" for item in value) if isinstance(value, list) else value
        lines.append(f"[bold]{name}[/]: {text}" if "\n" not in str(text) else f"[bold]{name}[/]:\n{text}")
    verdict = "[red]blocked[/]" if piece["blocking"] else "[green]passes the checks[/]"
    title = f"Variant {number} · {piece['id']} · {piece['content_type']} ({piece['language']}) · {verdict}"
    console.print(Panel("\n".join(lines), title=title, title_align="left", highlight=False))
    if piece["findings"]:
        table = Table("rule", "blocks", "field", "span", "excerpt", "why", box=None, padding=(0, 1))
        for f in piece["findings"]:
            span = f"{f['span'][0]}–{f['span'][1]}" if f["span"] else ""
            table.add_row(f["rule"], "yes" if f["blocking"] else "no", f["field"], span, f["excerpt"] or "",
                          f["message"])  # fmt: skip
        console.print(table)


@app.command("generate")
def generate(
    content_type: str = typer.Option(..., "--type", "-t", help="email, subject_line, search_ad, social_post, sms, "
                                     "product_description or review_reply."),  # fmt: skip
    products: list[str] = typer.Option([], "--product", "-p", help="A product id (repeat; default: trending)."),
    language: str = typer.Option("en", "--language", "-l"),
    goal: str = typer.Option("promote", "--goal", help="promote, offer, winback, new_arrivals, seasonal."),
    segment: str | None = typer.Option(None, "--segment", help="Who it is for (kept with the brief)."),
    offer: int | None = typer.Option(None, "--offer", help="Discount in percent (with --code)."),
    code: str | None = typer.Option(None, "--code", help="The offer's code."),
    network: str | None = typer.Option(None, "--network", help="For social posts: x, instagram, facebook..."),
    url: str | None = typer.Option(None, "--url"),
    personal: bool = typer.Option(False, "--personal", help="Greet by first name, filled when sent."),
    writer: str = typer.Option("offline", "--writer", help="offline, or provider (the workspace's model)."),
    variants: int = typer.Option(3, "--variants", "-n"),
    seed: int = typer.Option(0, "--seed"),
    workspace: str = WORKSPACE,
) -> None:  # fmt: skip
    """Write VARIANTS drafts for a brief, each checked against the brand kit and the catalog, and print them."""
    brief = {"content_type": content_type, "language": language, "goal": goal, "product_ids": products,
             "offer_percent": offer, "offer_code": code, "network": network, "url": url, "personal": personal,
             "segment": segment, "variants": variants, "seed": seed, "writer": writer}  # fmt: skip
    with store().session() as session:
        made = service.generate_pieces(session, _workspace_id(workspace), {k: v for k, v in brief.items()
                                                                           if v is not None}, ACTOR)  # fmt: skip
    for number, piece in enumerate(made["pieces"], 1):
        _show(piece, number)
    passing = sum(not p["blocking"] for p in made["pieces"])
    console.print(f"{len(made['pieces'])} drafts (batch {made['batch']}, written by {made['writer']}); {passing} pass "
                  f"the checks. Review with `afinidad content submit ID` and `afinidad content approve ID`.",
                  highlight=False)  # fmt: skip


@app.command("list")
def list_command(status: str | None = typer.Option(None, "--status"), workspace: str = WORKSPACE) -> None:
    """Pieces, newest first, with their status and whether a finding blocks them."""
    with store().reader() as session:
        rows = service.list_pieces(session, _workspace_id(workspace), status)
    table = Table("id", "type", "lang", "status", "v", "blocks", "first line")
    for row in rows:
        first = next(iter(row["fields"].values()), "")
        first = first[0] if isinstance(first, list) else first
        table.add_row(row["id"], row["content_type"], row["language"], row["status"], str(row["version"]),
                      "yes" if row["blocking"] else "", first[:60])  # fmt: skip
    console.print(table)


def _step(action: str, piece_id: str, workspace: str, comment: str | None = None) -> None:
    with store().session() as session:
        workspace_id = _workspace_id(workspace)
        if action == "submit":
            row = service.submit(session, workspace_id, piece_id, ACTOR)
        elif action == "approve":
            row = service.approve(session, workspace_id, piece_id, ACTOR, comment)
        else:
            row = service.reject(session, workspace_id, piece_id, ACTOR, comment)
    console.print(f"{row['id']} is {row['status'].replace('_', ' ')} (version {row['version']}).", highlight=False)


@app.command("submit")
def submit(piece_id: str, workspace: str = WORKSPACE) -> None:
    """Send a draft for review."""
    _step("submit", piece_id, workspace)


@app.command("approve")
def approve(piece_id: str, comment: str | None = typer.Option(None, "--comment"), workspace: str = WORKSPACE) -> None:
    """Approve a piece in review; refused while a finding blocks it."""
    _step("approve", piece_id, workspace, comment)


@app.command("reject")
def reject(piece_id: str, comment: str | None = typer.Option(None, "--comment"), workspace: str = WORKSPACE) -> None:
    """Reject a draft or a piece in review."""
    _step("reject", piece_id, workspace, comment)
