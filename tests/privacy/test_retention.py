"""`afinidad privacy retention` as an operator runs it: a real process on a real SQLite file deletes only
the raw events older than the workspace's setting, and leaves an audit entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from afinidad.store.engine import Store
from afinidad.store.models import AuditEntry, Event
from afinidad.workspaces.service import create_workspace
from afinidad.workspaces.settings import update_settings
from tests.cli.test_cli import afinidad


def test_retention_deletes_only_expired_events(tmp_path: Path) -> None:
    db = tmp_path / "retention.db"
    assert afinidad(db, "workspaces", "create", "keep-all").returncode == 0
    store = Store.from_url(f"sqlite:///{db}")
    with store.session() as session:
        workspace_id = create_workspace(session, "keep-30").id
        update_settings(session, "keep-30", {"event_retention_days": 30})
    now = datetime.now(UTC)
    ages = {"old-1": 400, "old-2": 45, "new-1": 29, "new-2": 1}
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps({"type": "track", "event": "Page Seen", "userId": "u1", "messageId": mid,
                                            "timestamp": (now - timedelta(days=days)).isoformat()})
                                for mid, days in ages.items()))  # fmt: skip
    for name in ("keep-30", "keep-all"):
        assert afinidad(db, "import", "events", str(events), "--workspace", name).returncode == 0

    dry = afinidad(db, "privacy", "retention", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert workspace_id in dry.stdout and " 2 " in dry.stdout
    with store.reader() as session:
        assert len(session.execute(select(Event.seq)).all()) == 8  # the dry run deleted nothing

    run = afinidad(db, "privacy", "retention")
    assert run.returncode == 0, run.stderr
    with store.reader() as session:
        kept = session.execute(select(Event.workspace_id, Event.message_id)).all()
        audit = session.execute(select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)).scalars().all()
    assert sorted(mid for ws, mid in kept if ws == workspace_id) == ["new-1", "new-2"]
    assert sum(1 for ws, _ in kept if ws != workspace_id) == 4  # the other workspace sets no retention
    assert [(a.action, a.details["events_deleted"]) for a in audit] == [("privacy.retention", 2)]
