"""`afinidad experiments` as a user runs it: a real process on a real SQLite file, the report's table,
chart, SVG and JSON read back against the exposures and events this test made."""

from __future__ import annotations

import json
import random
from pathlib import Path

from afinidad.decide import experiment_service
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from afinidad.workspaces.service import get_workspace
from tests.cli.test_cli import afinidad


def test_experiments_are_created_started_reported_and_stopped_from_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    assert afinidad(db, "workspaces", "create", "shop").returncode == 0
    definition = tmp_path / "banner.json"
    definition.write_text(json.dumps({
        "key": "banner", "variants": [{"id": "calm", "weight": 50}, {"id": "loud", "weight": 50}],
        "metrics": [{"name": "clicks", "event": "Promotion Clicked"}],
    }))  # fmt: skip
    made = afinidad(db, "experiments", "create", str(definition), "-w", "shop")
    assert made.returncode == 0 and "is a draft" in made.stdout, made.stderr
    refused = afinidad(db, "experiments", "create", str(definition), "-w", "shop")
    assert refused.returncode == 1 and "exists already" in refused.stderr
    assert afinidad(db, "experiments", "start", "banner", "-w", "shop").returncode == 0

    store, rng = Store.from_url(f"sqlite:///{db}"), random.Random(3)
    with store.reader() as session:
        shop = get_workspace(session, "shop").id
    messages = [{"type": "identify", "userId": f"c{i}"} for i in range(300)]
    import_messages(store, shop, (ImportedMessage(line=n, message=m) for n, m in enumerate(messages)), Settings())
    clicked = []
    for i in range(300):
        with store.session() as session:
            variant = experiment_service.assign(session, shop, "banner", f"c{i}", {})["variant"]
        if rng.random() < (0.5 if variant == "loud" else 0.1):
            clicked.append({"type": "track", "userId": f"c{i}", "event": "Promotion Clicked"})
    import_messages(store, shop, (ImportedMessage(line=n, message=m) for n, m in enumerate(clicked)), Settings())

    shown = afinidad(db, "experiments", "report", "banner", "-w", "shop", "--svg", str(tmp_path / "banner.svg"))
    assert shown.returncode == 0, shown.stderr
    assert "metric: clicks" in shown.stdout and "Sample ratio: ok" in shown.stdout
    assert "loud is better than calm on clicks" in shown.stdout and "●" in shown.stdout  # the chart
    assert (tmp_path / "banner.svg").read_text().startswith("<svg")
    data = json.loads(afinidad(db, "experiments", "report", "banner", "-w", "shop", "--json").stdout)
    assert data["units"] == 300 and sum(arm["units"] for arm in data["metrics"][0]["arms"]) == 300
    total_clicks = sum(arm["value"] * arm["units"] for arm in data["metrics"][0]["arms"])
    assert round(total_clicks) == len(clicked)

    stopped = afinidad(db, "experiments", "stop", "banner", "--ship", "loud", "-w", "shop")
    assert stopped.returncode == 0 and "everyone sees loud" in stopped.stdout
    listed = afinidad(db, "experiments", "list", "-w", "shop")
    assert "stopped (shipped loud)" in listed.stdout
