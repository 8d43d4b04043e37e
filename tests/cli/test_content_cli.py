"""`afinidad content` as a user runs it: a real process on a real SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

from afinidad.store.engine import Store
from afinidad.workspaces.service import get_workspace
from tests.cli.test_cli import afinidad


def test_content_is_generated_checked_and_approved_from_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "studio.db"
    assert afinidad(db, "workspaces", "create", "shop").returncode == 0
    store = Store.from_url(f"sqlite:///{db}")
    with store.session() as session:
        from afinidad.catalog.products import ProductIn
        from afinidad.catalog.service import upsert_products

        shop = get_workspace(session, "shop").id
        product = ProductIn.model_validate({"title": "Blue Mug", "price": "12.99", "currency": "EUR"})
        upsert_products(session, shop, [("mug", product)])
    made = afinidad(db, "content", "generate", "--type", "sms", "-p", "mug", "--goal", "offer", "--offer", "15",
                    "--code", "MUG15", "-n", "4", "--language", "es", "-w", "shop")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("Variant ") == 4 and "4 pass the checks" in made.stdout
    assert "MUG15" in made.stdout and "15%" in made.stdout
    piece = re.search(r"(cnt_[0-9a-f]+)", made.stdout).group(1)  # type: ignore[union-attr]
    assert afinidad(db, "content", "approve", piece, "-w", "shop").returncode == 1  # not in review yet
    assert "in review" in afinidad(db, "content", "submit", piece, "-w", "shop").stdout
    assert "approved" in afinidad(db, "content", "approve", piece, "-w", "shop").stdout
    listed = afinidad(db, "content", "list", "--status", "approved", "-w", "shop").stdout
    assert piece in listed and "sms" in listed
