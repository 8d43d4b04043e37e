"""Predictions as a workspace runs them: trained on its own orders (measured on a holdout, checked for
drift), scored onto profiles, read by segment rules, explained per person, and evaluated from the CLI on
CDNOW or any orders file."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from afinidad.demo.simulator import simulate
from afinidad.predict import service
from afinidad.predict.buying_soon import train_and_score
from afinidad.predict.transactions import read_cdnow
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import ProfileScore
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import create_workspace
from tests.conftest import Server, data_path


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AFINIDAD_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200",
           "AFINIDAD_DATA_DIR": str(data_path())}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "afinidad", "predict", *args], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_evaluate_prints_the_published_cdnow_parameters_and_the_holdout(tmp_path: Path) -> None:
    ran = _cli("evaluate", "--dataset", "cdnow-sample", db=tmp_path / "x.db")
    assert ran.returncode == 0, ran.stderr
    assert "r = 0.2426, alpha = 4.414, a = 0.7929, b = 2.426" in ran.stdout  # Fader, Hardie & Lee 2005
    assert "p = 6.25, q = 3.744, gamma = 15.44" in ran.stdout
    total = re.search(r"total\s+│\s+2,357\s+│\s+1,882\s+│\s+1,653 \(-12\.1%\)", ran.stdout)
    assert total, ran.stdout


def test_evaluate_takes_any_orders_file_with_its_own_column_names(tmp_path: Path) -> None:
    orders = read_cdnow(data_path("cdnow", "CDNOW_sample.txt"))
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["who", "when", "paid"])
        writer.writerows(zip(orders.customers, orders.dates.astype(str), orders.amounts, strict=True))
    ran = _cli("evaluate", "--transactions", str(path), "--customer-column", "who", "--date-column", "when",
               "--amount-column", "paid", "--calibration-end", "1997-09-30", "--holdout-end", "1998-06-30",
               db=tmp_path / "x.db")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "r = 0.2426, alpha = 4.414, a = 0.7929, b = 2.426" in ran.stdout
    missing = _cli("evaluate", "--transactions", str(path), db=tmp_path / "x.db")
    assert missing.returncode != 0 and "--calibration-end" in missing.stderr
    wrong = _cli("evaluate", "--transactions", str(path), "--calibration-end", "1997-09-30", db=tmp_path / "x.db")
    assert wrong.returncode != 0 and "customer" in (wrong.stdout + wrong.stderr)  # no such column


def test_a_workspace_trains_scores_segments_and_explains(server: Server, store: Store) -> None:
    with store.session() as session:
        shop = create_workspace(session, f"pred-{uuid.uuid4().hex[:8]}")
    messages = (ImportedMessage(line=i + 1, message=m) for i, m in enumerate(simulate(seed=5, shoppers=200, days=100)))
    import_messages(store, shop.id, messages, Settings(), chunk_size=2000)
    first = service.train(store, shop.id)
    metrics = first["metrics"]
    assert metrics["holdout"]["customers"] > 50 and abs(metrics["holdout"]["relative_error"]) < 0.5
    assert metrics["drift"]["reading"] == "no earlier version to compare with"
    second = service.train(store, shop.id)  # the same orders: the same scores
    assert second["metrics"]["drift"]["reading"] == "stable" and second["metrics"]["drift"]["clv_psi"] < 0.01
    scored = service.score(store, shop.id)
    soon = train_and_score(store, shop.id)
    assert soon["metrics"]["auc"] > 0.6 and soon["scored"] > scored  # everyone active, not only buyers
    with store.reader() as session:
        churned = session.execute(select(func.count()).select_from(ProfileScore).where(
            ProfileScore.workspace_id == shop.id, ProfileScore.name == "churn",
            ProfileScore.value > 0.5)).scalar()  # fmt: skip
        buyer = session.execute(select(ProfileScore.profile_id).where(ProfileScore.workspace_id == shop.id,
                                                                      ProfileScore.name == "clv_12m")
                                .order_by(ProfileScore.profile_id).limit(1)).scalar()  # fmt: skip
    assert scored == metrics["customers"]
    with server.client(headers={"Authorization": f"Bearer {shop.secret_key}"}) as client:
        segment = client.post("/v1/segments", json={"name": "slipping", "text": "score.churn > 0.5"}).json()
        assert segment["size"] == churned
        keen = client.post("/v1/segments", json={"name": "keen", "text": "score.propensity_30d > 0.5"}).json()
        assert 0 < keen["size"] < soon["scored"]
        mine = client.get(f"/v1/profiles/{buyer}/predictions").json()
        assert mine["orders"] >= 1 and set(mine["scores"]) == {"expected_orders_90d", "probability_alive", "churn",
                                                               "clv_12m", "propensity_30d"}  # fmt: skip
        assert mine["explanation"]["factors"] and "still a customer" in mine["explanation"]["text"]
        assert abs(mine["explanation"]["probability_alive"] - mine["scores"]["probability_alive"]) < 0.05
        soon_why = mine["buying_soon"]
        assert abs(soon_why["probability"] - mine["scores"]["propensity_30d"]) < 0.02  # the same model, now
        assert soon_why["factors"] and " log-odds" in soon_why["text"]
        upcoming = mine["next_purchase"]
        assert datetime.fromisoformat(upcoming["expected_date"]).date() >= datetime.now(UTC).date()
        assert 0 <= upcoming["probability_within_30_days"] <= upcoming["probability_alive"] <= 1
        assert len(upcoming["categories"]) == 3 and sum(c["probability"] for c in upcoming["categories"]) <= 1
        sent = client.post("/v1/identify", json={"userId": "just-signed-up"}, auth=(shop.write_key, ""))
        assert sent.status_code == 200
        newcomer = client.get("/v1/profiles/just-signed-up/predictions")
        for _ in range(50):
            if newcomer.status_code == 200:
                break
            newcomer = client.get("/v1/profiles/just-signed-up/predictions")
        assert newcomer.status_code == 200 and newcomer.json()["orders"] == 0 and newcomer.json()["scores"] == {}
        assert newcomer.json()["explanation"]["text"].startswith("No orders yet")


def test_the_worker_refreshes_predictions_when_orders_arrive(store: Store) -> None:
    from datetime import timedelta

    from afinidad.predict.schedule import due, refresh

    with store.session() as session:
        shop = create_workspace(session, f"sched-{uuid.uuid4().hex[:8]}")
    end = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)
    messages = (ImportedMessage(line=i + 1, message=m)
                for i, m in enumerate(simulate(seed=3, shoppers=120, days=40, end=end)))  # fmt: skip
    import_messages(store, shop.id, messages, Settings(), chunk_size=2000)
    now = datetime.now(UTC).replace(tzinfo=None)
    assert [name for _, name in due(store, now, shop.id)] == [shop.name]
    [done] = refresh(store, now, shop.id)
    assert done.skipped is None and done.customers > 20 and done.learned >= 12  # 12 RFM groups, micro-segments
    assert due(store, now + timedelta(days=3), shop.id) == []  # old, but no order since
    assert due(store, now + timedelta(hours=1), shop.id) == []
