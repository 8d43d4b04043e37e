"""Privacy requests end to end, on SQLite and PostgreSQL, against a real server: an export holds everything
on the person (JSON and CSV), an erasure leaves no trace in any table (nor, on SQLite, in the database
file), later events naming the person are dropped, the audit log is admin-only and holds no identifiers,
and the server's logs of the whole run never show a key, an e-mail address or a phone number."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace, issue_admin_key
from tests.conftest import Server, start_server
from tests.helpers import count_events


def _person(tag: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"user": f"user-{tag}-{suffix}", "cookie": f"cookie-{tag}-{suffix}",
            "email": f"{tag}.{suffix}@example.com", "phone": f"+3461{int(suffix[:7], 16) % 10**7:07d}"}  # fmt: skip


def _journey(person: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"type": "page", "anonymousId": person["cookie"], "name": "Home", "timestamp": "2026-06-01T09:00:00Z"},
        {"type": "track", "anonymousId": person["cookie"], "event": "Product Viewed",
         "properties": {"product_id": "p-1", "category": "Shoes"}, "timestamp": "2026-06-01T09:01:00Z"},
        {"type": "identify", "anonymousId": person["cookie"], "userId": person["user"],
         "traits": {"email": person["email"], "phone": person["phone"], "first_name": "Ana",
                    "consent": {"email": True}}, "timestamp": "2026-06-01T09:02:00Z"},
        {"type": "track", "userId": person["user"], "event": "Order Completed", "timestamp": "2026-06-01T09:05:00Z",
         "properties": {"order_id": f"o-{person['user']}", "revenue": 59.9, "currency": "EUR",
                        "products": [{"product_id": "p-1", "price": 59.9, "quantity": 1}]}},
    ]  # fmt: skip


def _send(server: Server, workspace: CreatedWorkspace, messages: list[dict[str, Any]]) -> None:
    with server.client() as client:
        for message in messages:
            message.setdefault("messageId", str(uuid.uuid4()))
            response = client.post(f"/v1/{message['type']}", json=message, auth=(workspace.write_key, ""))
            assert response.status_code == 200, response.text


def _traces(store: Store, workspace_id: str, needles: list[str]) -> list[str]:
    """Every (table, needle) where a needle appears in any column of the workspace's rows of any table."""
    found = []
    with store.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            columns = [c["name"] for c in inspect(connection).get_columns(table)]
            where = " WHERE workspace_id = :ws" if "workspace_id" in columns else ""
            rows = connection.execute(text(f'SELECT * FROM "{table}"{where}'), {"ws": workspace_id}).all()
            blob = "\n".join(repr(tuple(row)) for row in rows)
            found += [f"{table}: {needle}" for needle in needles if needle in blob]
    return found


@pytest.fixture()
def logged_server(database_url: str, store: Store, tmp_path: Path) -> Any:
    running = start_server(database_url, tmp_path / "server.log", AFINIDAD_LOG_LEVEL="DEBUG")
    yield running
    running.stop()


def test_export_erase_suppress_audit_and_clean_logs(
    logged_server: Server, store: Store, workspace: CreatedWorkspace, database_url: str
) -> None:
    server = logged_server
    ana, bob = _person("ana"), _person("bob")
    _send(server, workspace, _journey(ana) + _journey(bob))
    secret = {"Authorization": f"Bearer {workspace.secret_key}"}
    with store.session() as session:
        admin_key = issue_admin_key(session, workspace.id)

    with server.client(headers=secret) as client:
        profile_id = client.get(f"/v1/profiles/email:{ana['email']}").json()["id"]
        # -- export: everything, as JSON and as CSV files
        exported = client.post("/v1/privacy/export", json={"identifier": ana["email"]})
        assert exported.status_code == 200, exported.text
        document = exported.json()
        assert document["profile"]["id"] == profile_id
        kinds = {(i["kind"], i["value"]) for i in document["profile"]["identities"]}
        assert {("user_id", ana["user"]), ("anonymous_id", ana["cookie"]), ("email", ana["email"]),
                ("phone", ana["phone"])} <= kinds  # fmt: skip
        assert [e["event"] or e["type"] for e in document["events"]] == ["Home", "Product Viewed", "identify",
                                                                         "Order Completed"]  # fmt: skip
        assert bob["email"] not in exported.text and bob["user"] not in exported.text
        assert document["consent"]["email"]["granted"] is True and len(document["consent_history"]) == 1
        assert document["merges"] == [] and document["decisions"] == []  # linked as it went: nothing merged
        archive = client.post("/v1/privacy/export", json={"identifier": ana["user"], "format": "csv"})
        assert archive.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.content)) as files:
            events = list(csv.DictReader(io.StringIO(files.read("events.csv").decode())))
            identities = list(csv.DictReader(io.StringIO(files.read("identities.csv").decode())))
            assert {"profile.csv", "consent.csv", "consent_history.csv", "merges.csv", "export.json"} <= set(
                files.namelist()
            )
        assert len(events) == 4 and {row["value"] for row in identities} >= {ana["email"], ana["phone"]}

        # -- erase: by any identifier
        bad = client.post("/v1/privacy/erase", json={"identifier": ""})
        assert bad.status_code in (400, 422) and bad.json()["errors"][0]["field"].endswith("identifier")
        assert client.post("/v1/privacy/erase", json={"identifier": "nobody@example.com"}).status_code == 404
        erased = client.post("/v1/privacy/erase", json={"identifier": ana["phone"]})
        assert erased.status_code == 200, erased.text
        removed = erased.json()["removed"]
        assert removed["events"] == 4 and removed["identities"] == 4 and removed["consent_changes"] == 1
        assert client.get(f"/v1/profiles/{ana['user']}").status_code == 404
        assert client.get(f"/v1/profiles/email:{bob['email']}").status_code == 200  # the other person stays

    needles = [ana["email"], ana["user"], ana["cookie"], ana["phone"], profile_id]
    assert _traces(store, workspace.id, needles) == []
    assert _traces(store, workspace.id, [bob["email"]]) != []  # the scan does find what is there
    if database_url.startswith("sqlite"):
        database = Path(make_url(database_url).database or "")
        wal = database.with_name(database.name + "-wal")
        raw = database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert ana["email"].encode() not in raw and ana["user"].encode() not in raw
        assert bob["email"].encode() in raw

    # -- later events naming the person are dropped and do not re-create them
    before = count_events(store, workspace.id)
    _send(server, workspace, [
        {"type": "identify", "anonymousId": f"new-device-{uuid.uuid4().hex[:6]}", "traits": {"email": ana["email"]}},
        {"type": "track", "userId": ana["user"], "event": "Product Viewed", "properties": {"product_id": "p-2"}},
        {"type": "track", "userId": bob["user"], "event": "Product Viewed", "properties": {"product_id": "p-2"}},
    ])  # fmt: skip
    assert count_events(store, workspace.id) == before + 1  # only Bob's
    assert _traces(store, workspace.id, needles) == []

    # -- the audit log: admin key only, and no identifiers in it
    with server.client(headers=secret) as client:
        assert client.get("/v1/privacy/audit").status_code == 403
    with server.client(headers={"Authorization": f"Bearer {admin_key}"}) as client:
        audit = client.get("/v1/privacy/audit")
    assert audit.status_code == 200
    actions = [entry["action"] for entry in audit.json()["data"]]
    assert actions == ["privacy.erase", "privacy.export", "privacy.export"]
    assert all(entry["actor"].startswith("secret key key_") for entry in audit.json()["data"])
    assert not any(needle in audit.text for needle in needles)

    # -- the server's logs of the whole run: no key, e-mail or phone number
    logs = server.logs()
    assert "privacy" in logs or "afinidad api ready" in logs  # the log was captured
    for needle in (workspace.write_key, workspace.secret_key, admin_key, ana["email"], bob["email"], ana["phone"],
                   bob["phone"]):  # fmt: skip
        assert needle not in logs


def test_settings_are_admin_only_and_checked(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    with store.session() as session:
        admin_key = issue_admin_key(session, workspace.id)
    with server.client(headers={"Authorization": f"Bearer {workspace.secret_key}"}) as client:
        pricing = {"objective": "margin", "require_approval": True, "min_margin": None, "max_change_per_day": 0.1,
                   "max_above_competitor": None, "competitor_max_age_days": 7, "products": {}}  # fmt: skip
        defaults = {"event_retention_days": None, "consent_defaults": {}, "recommend_retrain_hours": 24,
                    "predict_retrain_hours": 24, "recommendation_slots": {}, "brand_kit": None,
                    "content_provider": None, "pricing": pricing}  # fmt: skip
        assert client.get("/v1/workspace/settings").json() == defaults
        assert client.patch("/v1/workspace/settings", json={"event_retention_days": 30}).status_code == 403
    with server.client(headers={"Authorization": f"Bearer {admin_key}"}) as client:
        for body, field in [({"event_retention_days": 0}, "event_retention_days"),
                            ({"consent_defaults": {"telepathy": True}}, "consent_defaults.telepathy"),
                            ({"retention": 5}, "retention")]:  # fmt: skip
            response = client.patch("/v1/workspace/settings", json=body)
            assert response.status_code == 400, response.text
            assert response.json()["errors"][0]["field"] == field
        assert client.get("/v1/workspace/settings").json()["event_retention_days"] is None  # nothing changed
        changed = client.patch("/v1/workspace/settings", json={"event_retention_days": 30,
                                                               "consent_defaults": {"ads": True}})  # fmt: skip
        assert changed.json() == {"event_retention_days": 30, "consent_defaults": {"ads": True},
                                  "recommend_retrain_hours": 24, "predict_retrain_hours": 24,
                                  "recommendation_slots": {}, "brand_kit": None, "content_provider": None,
                                  "pricing": pricing}  # fmt: skip
