"""Scheduled retraining: a workspace is retrained when its model is old and new events came, never when
nothing changed or retraining is turned off; a retrained model that measures far worse is held back."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from afinidad.catalog.service import upsert_products
from afinidad.demo.loader import demo_products
from afinidad.demo.simulator import simulate
from afinidad.recommend.schedule import due, run_due
from afinidad.recommend.training import _held_back, versions
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.migrate import upgrade
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import create_workspace
from afinidad.workspaces.settings import update_settings


def _shop(store: Store, shoppers: int = 60) -> str:
    with store.session() as session:
        created = create_workspace(session, f"sched-{uuid.uuid4().hex[:8]}")
        upsert_products(session, created.id, demo_products(7))
    end = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    messages = (ImportedMessage(line=i + 1, message=m)
                for i, m in enumerate(simulate(seed=11, shoppers=shoppers, days=15, end=end)))  # fmt: skip
    import_messages(store, created.id, messages, Settings(), chunk_size=2000)
    return created.id


def _view(store: Store, workspace_id: str, at: datetime) -> None:
    message = {"type": "track", "userId": "late-visitor", "event": "Product Viewed",
               "properties": {"product_id": "P10031"}, "timestamp": at.isoformat() + "Z",
               "messageId": uuid.uuid4().hex}  # fmt: skip
    import_messages(store, workspace_id, iter([ImportedMessage(line=1, message=message)]), Settings())


def test_a_model_is_trained_when_due_and_only_then(store: Store) -> None:
    shop = _shop(store)
    now = datetime.now(UTC).replace(tzinfo=None)
    with store.reader() as session:
        assert [d.why for d in due(session, now, shop)] == ["no model yet"]
    [outcome] = run_due(store, now, only=shop)
    assert outcome.trained is not None and outcome.trained.active
    with store.reader() as session:
        assert [v["active"] for v in versions(session, shop)] == [True]
        assert due(session, now + timedelta(days=3), shop) == []  # old, but nothing new happened
    _view(store, shop, now)
    with store.reader() as session:
        assert due(session, now + timedelta(hours=1), shop) == []  # new events, but the model is fresh
        [later] = due(session, now + timedelta(hours=25), shop)
        assert later.why == "model older than 24 h, with new events"
    with store.session() as session:
        update_settings(session, shop, {"recommend_retrain_hours": 0})
    with store.reader() as session:
        assert due(session, now + timedelta(days=30), shop) == []  # turned off
    with store.session() as session:
        update_settings(session, shop, {"recommend_retrain_hours": 6})
    [outcome] = run_due(store, now + timedelta(hours=7), only=shop)
    assert outcome.trained is not None
    with store.reader() as session:
        assert len(versions(session, shop)) == 2


def test_a_workspace_with_too_few_events_is_skipped_not_failed(store: Store) -> None:
    with store.session() as session:
        shop = create_workspace(session, f"sched-{uuid.uuid4().hex[:8]}").id
    _view(store, shop, datetime.now(UTC).replace(tzinfo=None))
    [outcome] = run_due(store, datetime.now(UTC).replace(tzinfo=None), only=shop)
    assert outcome.trained is None and "at least" in (outcome.skipped or "")


def test_a_far_worse_retrained_model_is_held_back() -> None:
    good = {"ndcg10": 0.30, "popularity_ndcg10": 0.15}
    assert _held_back(good, {"ndcg10": 0.32}) is None
    assert _held_back(good, None) is None
    assert "below 80%" in (_held_back({"ndcg10": 0.2, "popularity_ndcg10": 0.1}, {"ndcg10": 0.3}) or "")
    assert "popularity" in (_held_back({"ndcg10": 0.1, "popularity_ndcg10": 0.12}, {"ndcg10": 0.1}) or "")


def test_the_worker_runs_once_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "worker.db"
    env = {**os.environ, "AFINIDAD_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    opened = Store.from_url(f"sqlite:///{db}")
    upgrade(opened.engine)
    shop = _shop(opened, shoppers=40)
    ran = subprocess.run([sys.executable, "-m", "afinidad", "worker", "--once", "-w", shop], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "is active, NDCG@10" in ran.stdout
    again = subprocess.run([sys.executable, "-m", "afinidad", "worker", "--once"], env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0 and "Nothing is due." in again.stdout
