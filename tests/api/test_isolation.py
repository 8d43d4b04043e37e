"""One workspace never sees another's data: every read endpoint the API publishes is tried across
workspaces, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid

import httpx

from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace, create_workspace, issue_admin_key
from tests.conftest import Server


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_every_read_endpoint_is_sealed_per_workspace(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    with store.session() as session:
        other = create_workspace(session, f"other-{uuid.uuid4().hex[:8]}")
        # admin keys may read everything a secret key may, and the audit log too: every GET is tried
        owner_key, other_key = issue_admin_key(session, workspace.id), issue_admin_key(session, other.id)
    marker = f"secret-{uuid.uuid4().hex[:8]}"
    email = f"{marker}@example.com"
    with server.client() as client:
        for message in (
            {"type": "page", "anonymousId": f"anon-{marker}", "name": "Home"},  # two profiles, then a merge
            {"type": "identify", "userId": marker, "traits": {"email": email}},
            {"type": "identify", "userId": marker, "anonymousId": f"anon-{marker}"},
            {"type": "track", "userId": marker, "event": "Order Completed",
             "properties": {"order_id": marker, "revenue": 10, "products": [{"product_id": marker, "price": 10}]}},
        ):  # fmt: skip
            sent = client.post(f"/v1/{message['type']}", json=message, auth=(workspace.write_key, ""))
            assert sent.status_code == 200
        product = {"title": f"Product {marker}", "price": "10", "currency": "EUR", "stock": {"online": 1}}
        created = client.put(f"/v1/catalog/products/{marker}", json=product, headers=_bearer(workspace.secret_key))
        assert created.status_code == 200
        # The other workspace has a person with the same user id: it must stay theirs.
        same_id = {"type": "track", "userId": marker, "event": "Other Shop Visit"}
        assert client.post("/v1/track", json=same_id, auth=(other.write_key, "")).status_code == 200

        paths = [
            path
            for path, operations in client.get("/openapi.json").json()["paths"].items()
            if "get" in operations and path.startswith("/v1/")
        ]
        assert len(paths) >= 5
        owner_profile = client.get(f"/v1/profiles/{marker}", headers=_bearer(owner_key)).json()["id"]
        exported = client.post("/v1/privacy/export", json={"identifier": marker}, headers=_bearer(owner_key))
        assert exported.status_code == 200  # leaves an entry in the owner's audit log
        settings = client.patch("/v1/workspace/settings", json={"event_retention_days": 7}, headers=_bearer(owner_key))
        assert settings.status_code == 200
        segment = client.post("/v1/segments", json={"name": marker, "text": "trait.email exists"},
                              headers=_bearer(owner_key))  # fmt: skip
        assert segment.status_code == 201 and segment.json()["size"] == 1
        block = {"variants": [{"id": "only", "content": {"headline": marker}, "weight": 100}]}
        assert client.put(f"/v1/blocks/{marker}", json=block, headers=_bearer(owner_key)).status_code == 200
        experiment = {"key": marker, "variants": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}],
                      "metrics": [{"name": "orders", "event": "Order Completed"}]}  # fmt: skip
        assert client.post("/v1/experiments", json=experiment, headers=_bearer(owner_key)).status_code == 201
        proposed = client.post("/v1/prices/proposals", json={}, headers=_bearer(owner_key))
        assert proposed.status_code == 200 and proposed.json()["proposals"][0]["product_id"] == marker
        written = client.post("/v1/content/generate", headers=_bearer(owner_key), json={
            "content_type": "product_description", "product_ids": [marker], "variants": 1})  # fmt: skip
        assert written.status_code == 201, written.text
        piece = written.json()["pieces"][0]["id"]

        for path in paths:
            identifiers = (marker, email, f"anon-{marker}", owner_profile, f"email:{email}")
            if path.startswith(("/v1/catalog/", "/v1/products/", "/v1/segments/", "/v1/blocks/", "/v1/experiments/")):
                identifiers = (marker,)  # the product's id, the segment's name, a key
            if path.startswith("/v1/content/"):
                identifiers = (piece,)
            for identifier in identifiers:
                url = re.sub(r"\{[^}]+\}", identifier, path)
                owner = client.get(url, headers=_bearer(owner_key))
                stranger = client.get(url, headers=_bearer(other_key))
                assert owner.status_code == 200, url
                if path == "/v1/privacy/audit":  # entries name subjects by digest only
                    assert len(owner.json()["data"]) == 1 and stranger.json()["data"] == [], url
                    break
                if path == "/v1/content/usage":  # token counts only: the owner's (offline: none), zero elsewhere
                    assert owner.json()["calls"] == 0 and stranger.json()["calls"] == 0, url
                    break
                if path == "/v1/recommendations/report":  # aggregates only: counts, no identifiers
                    assert stranger.status_code == 200 and "rows" in owner.json(), url
                    break
                if path == "/v1/content/{piece_id}/history":  # actions by key id: the owner's, and a 404 elsewhere
                    assert owner.json()["data"][0]["action"] == "generated" and stranger.status_code == 404, url
                    break
                if path == "/v1/segments/{segment}/sizes":  # numbers only: the owner's, and a 404 elsewhere
                    assert owner.json()["data"][-1]["size"] == 1 and stranger.status_code == 404, url
                    break
                if path == "/v1/workspace/settings":
                    assert owner.json()["event_retention_days"] == 7, url
                    assert stranger.json()["event_retention_days"] is None, url
                    break
                assert any(m in owner.text for m in (email, marker, workspace.id, owner_profile)), (
                    url
                )  # the owner sees it...
                # ...the other workspace either does not find it or sees only its own data.
                assert stranger.status_code in (200, 404), url
                assert email not in stranger.text, url
                assert "Order Completed" not in stranger.text, url
                assert owner_profile not in stranger.text, url
                assert workspace.id not in stranger.text, url
                if "{" not in path:
                    break

        # Keys are scoped: a write key cannot read, and no key means no access.
        for path in paths:
            url = re.sub(r"\{[^}]+\}", marker, path)
            assert client.get(url, headers=_bearer(workspace.write_key)).status_code == 403
            assert client.get(url, auth=(workspace.write_key, "")).status_code == 401
            assert client.get(url).status_code == 401


def test_other_workspace_sees_its_own_profile_for_the_same_user_id(server: Server, store: Store) -> None:
    with store.session() as session:
        first = create_workspace(session, f"a-{uuid.uuid4().hex[:8]}")
        second = create_workspace(session, f"b-{uuid.uuid4().hex[:8]}")
    with httpx.Client(base_url=server.base_url) as client:
        client.post("/v1/track", json={"userId": "42", "event": "A"}, auth=(first.write_key, ""))
        client.post("/v1/track", json={"userId": "42", "event": "B"}, auth=(second.write_key, ""))
        in_first = client.get("/v1/profiles/42", headers=_bearer(first.secret_key)).json()
        in_second = client.get("/v1/profiles/42", headers=_bearer(second.secret_key)).json()
    assert in_first["event_counts"] == {"A": 1}
    assert in_second["event_counts"] == {"B": 1}
    assert in_first["id"] != in_second["id"]
