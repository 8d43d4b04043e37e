"""The `afinidad` command as a user runs it: a real process, a real SQLite file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from afinidad.catalog.search import SearchQuery, search_catalog
from afinidad.store.engine import Store
from afinidad.store.models import ApiKey, Event, Profile, Workspace
from afinidad.workspaces.keys import KeyKind
from afinidad.workspaces.service import KeyRing
from tests.conftest import data_path


def afinidad(db: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AFINIDAD_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "afinidad", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_workspaces_create_prints_labelled_keys_that_work_and_are_stored_hashed(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    result = afinidad(db, "workspaces", "create", "acme-shop")
    assert result.returncode == 0, result.stderr
    write_key = re.search(r"^Write key: (afw_\S+)$", result.stdout, re.M)
    secret_key = re.search(r"^Secret key: (afs_\S+)$", result.stdout, re.M)
    assert write_key and secret_key

    store = Store.from_url(f"sqlite:///{db}")
    keys = KeyRing(store)
    assert keys.lookup(write_key.group(1)).kind is KeyKind.WRITE  # type: ignore[union-attr]
    assert keys.lookup(secret_key.group(1)).kind is KeyKind.SECRET  # type: ignore[union-attr]
    assert keys.lookup(secret_key.group(1) + "x") is None
    wal = tmp_path / "cli.db-wal"
    raw = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert len(raw) > 10_000
    assert write_key.group(1).encode() not in raw and secret_key.group(1).encode() not in raw
    with store.reader() as session:
        assert session.execute(select(func.count()).select_from(ApiKey)).scalar_one() == 2

    again = afinidad(db, "workspaces", "create", "acme-shop")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_import_reports_bad_rows_by_line_and_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert afinidad(db, "workspaces", "create", "shop").returncode == 0
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"type":"track","event":"Product Viewed","userId":"u1","messageId":"a","properties":{"product_id":"p"}}\n'
        '{"type":"track","event":"Order Completed","userId":"u1","messageId":"b","properties":{"revenue":"x"}}\n'
        "not json\n"
        '{"type":"identify","userId":"u1","messageId":"c","traits":{"email":"u1@example.com"}}\n'
    )
    first = afinidad(db, "import", "events", str(events), "-w", "shop", "--rejects", str(tmp_path / "bad.csv"))
    assert first.returncode == 1  # some rows were refused
    assert "2 stored" in first.stdout and "2 rows refused" in first.stdout
    rejects = (tmp_path / "bad.csv").read_text().splitlines()
    assert rejects[0] == "line,field,reason"
    assert [line.split(",")[0] for line in rejects[1:]] == ["2", "3"]
    assert "properties.revenue" in rejects[1]

    second = afinidad(db, "import", "events", str(events), "-w", "shop")
    assert "0 stored, 2 already stored" in second.stdout


@pytest.mark.slow
def test_online_retail_ready_mapping_imports_orders_with_guests(tmp_path: Path) -> None:
    source = data_path("uci-online-retail", "online_retail.csv.gz")
    db = tmp_path / "retail.db"
    assert afinidad(db, "workspaces", "create", "retail").returncode == 0
    result = afinidad(db, "import", "events", str(source), "-w", "retail", "-m", "online-retail")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "541,909 rows into 25,900 messages: 25,900 stored" in result.stdout

    store = Store.from_url(f"sqlite:///{db}")
    with store.reader() as session:
        by_event = dict(
            session.execute(select(Event.event, func.count()).group_by(Event.event)).all()  # type: ignore[arg-type]
        )
        customers = session.execute(
            select(func.count(func.distinct(Event.user_id))).where(Event.user_id.is_not(None))
        ).scalar_one()
        profiles = session.execute(select(func.count()).select_from(Profile)).scalar_one()
        guest_orders = session.execute(
            select(func.count()).select_from(Event).where(Event.user_id.is_(None))
        ).scalar_one()
    assert by_event == {"Order Completed": 25_900 - 3_836, "Order Refunded": 3_836}
    assert customers == 4_372
    assert profiles == customers + guest_orders  # each guest invoice is its own anonymous visitor

    rebuilt = afinidad(db, "profiles", "rebuild", "-w", "retail")
    assert rebuilt.returncode == 0
    assert f"into {profiles:,} profiles" in rebuilt.stdout


def test_demo_loads_simulated_shoppers_and_prints_what_to_try(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = afinidad(db, "demo", "--no-serve", "--shoppers", "60", "--days", "10")
    assert result.returncode == 0, result.stderr
    stored = int(re.search(r"Loaded ([\d,]+) messages", result.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert stored > 1000
    assert re.search(r"^Write key: afw_\S+$", result.stdout, re.M)
    assert re.search(r"^Secret key: afs_\S+$", result.stdout, re.M)
    assert "email:test@test.com" in result.stdout  # the planted over-merge trap was caught
    assert "/docs" in result.stdout and "afinidad profiles show" in result.stdout
    assert "/v1/catalog/search?q=headphone" in result.stdout
    assert re.search(r"^Recommender mv_\w+ \(EASE\) is active: NDCG@10 0\.\d+", result.stdout, re.M), result.stdout
    assert "/v1/recommendations/" in result.stdout
    # 60 shoppers over 10 days are too few for lifetime value: the demo says so rather than storing a bad fit
    assert re.search(r"^(Predictions: \d+ customers scored|No predictions yet: .*too few)", result.stdout, re.M)
    assert re.search(r"^Segments: 12 RFM groups and \d+ micro-segments", result.stdout, re.M), result.stdout
    assert re.search(r"^Rule segment repeat-buyers .*: \d+ members", result.stdout, re.M), result.stdout
    with Store.from_url(f"sqlite:///{db}").reader() as session:  # the demo shop's catalogue is searchable
        workspace_id = session.execute(select(Workspace.id).where(Workspace.name == "demo")).scalar_one()
        found = search_catalog(session, workspace_id, SearchQuery(q="headphone"))
    assert found["total"] >= 1 and all("headphones" in item["title"].lower() for item in found["items"])

    again = afinidad(db, "demo", "--no-serve", "--shoppers", "60", "--days", "10")
    assert "0 stored" in again.stdout  # same shoppers, nothing stored twice


def test_keys_can_be_rotated_and_old_ones_revoked(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    first = afinidad(db, "workspaces", "create", "rotating")
    old_write = re.search(r"^Write key: (afw_\S+)$", first.stdout, re.M).group(1)  # type: ignore[union-attr]
    rotated = afinidad(db, "workspaces", "keys", "rotating", "--revoke-old")
    assert rotated.returncode == 0, rotated.stderr
    new_secret = re.search(r"^Secret key: (afs_\S+)$", rotated.stdout, re.M).group(1)  # type: ignore[union-attr]
    assert "Revoked 2 earlier key(s)" in rotated.stdout

    keys = KeyRing(Store.from_url(f"sqlite:///{db}"))
    assert keys.lookup(old_write) is None
    assert keys.lookup(new_secret).kind is KeyKind.SECRET  # type: ignore[union-attr]
