"""Consent per profile and purpose over the real API, on SQLite and PostgreSQL: from identify traits and
from the API, kept as history, followed across merges, and applied: without `personalization` consent the
platform's personalisation view holds nothing about the person."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from afinidad.consent.purposes import DEFAULTS, parse_consent
from afinidad.consent.service import allowed_profiles, consent_state, may_use
from afinidad.profiles.service import find_profile_id
from afinidad.store.engine import Store
from afinidad.store.models import Workspace
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server
from tests.helpers import count_events


def _send(server: Server, workspace: CreatedWorkspace, *messages: dict[str, Any]) -> None:
    with server.client() as client:
        for message in messages:
            message.setdefault("messageId", str(uuid.uuid4()))
            response = client.post(f"/v1/{message['type']}", json=message, auth=(workspace.write_key, ""))
            assert response.status_code == 200, response.text


def _api(server: Server, workspace: CreatedWorkspace, method: str, path: str, **kwargs: Any) -> Any:
    with server.client(headers={"Authorization": f"Bearer {workspace.secret_key}"}) as client:
        response = client.request(method, path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_consent_from_identify_traits_and_segment_preferences(server: Server, workspace: CreatedWorkspace) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    _send(server, workspace, {
        "type": "identify", "userId": user, "timestamp": "2026-03-01T10:00:00Z",
        "traits": {"consent": {"email": True, "sms": {"granted": False, "version": "sms-v2"}},
                   "consent_version": "terms-2026-01"},
        "context": {"consent": {"categoryPreferences": {"Advertising": True, "Analytics": False, "Cookies": True}}},
    })  # fmt: skip
    body = _api(server, workspace, "GET", f"/v1/profiles/{user}/consent")
    purposes = body["purposes"]
    assert purposes["email"] | {"at": None} == {"granted": True, "default": False, "source": "identify",
                                               "text_version": "terms-2026-01", "at": None}  # fmt: skip
    assert purposes["email"]["at"] == "2026-03-01T10:00:00.000Z"
    assert purposes["sms"]["granted"] is False and purposes["sms"]["text_version"] == "sms-v2"
    assert purposes["ads"]["granted"] is True and purposes["analytics"]["granted"] is False
    assert purposes["personalization"] == {"granted": DEFAULTS["personalization"], "default": True, "source": None,
                                           "text_version": None, "at": None}  # fmt: skip
    assert {(h["purpose"], h["granted"]) for h in body["history"]} == {
        ("email", True),
        ("sms", False),
        ("ads", True),
        ("analytics", False),
    }


def test_api_changes_are_history_and_apply_to_personalization(
    server: Server, store: Store, workspace: CreatedWorkspace
) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    _send(server, workspace,
          {"type": "identify", "userId": user, "traits": {"first_name": "Lucía", "email": f"{user}@example.com"}},
          {"type": "track", "userId": user, "event": "Product Viewed",
           "properties": {"product_id": "sku-1", "category": "Shoes"}},
          {"type": "track", "userId": user, "event": "Product Added",
           "properties": {"product_id": "sku-2", "category": "Shoes"}})  # fmt: skip
    view = _api(server, workspace, "GET", f"/v1/profiles/{user}/personalization")
    assert view["personalized"] is True and view["traits"] == {"first_name": "Lucía"}  # no e-mail in it
    assert [p["product_id"] for p in view["recent_products"]] == ["sku-2", "sku-1"]
    assert view["top_categories"] == [{"category": "Shoes", "events": 2}]

    changed = _api(server, workspace, "PUT", f"/v1/profiles/{user}/consent",
                   json={"purposes": {"personalization": False}, "source": "preference-centre",
                         "text_version": "privacy-v3", "at": "2026-05-01T12:00:00+02:00"})  # fmt: skip
    assert changed["purposes"]["personalization"]["granted"] is False
    assert changed["purposes"]["personalization"]["at"] == "2026-05-01T10:00:00.000Z"
    view = _api(server, workspace, "GET", f"/v1/profiles/{user}/personalization")
    assert view == {"profile_id": view["profile_id"], "personalized": False,
                    "reason": "no consent for personalization", "traits": {}, "recent_products": [],
                    "top_categories": []}  # fmt: skip
    with store.reader() as session:
        assert may_use(session, workspace.id, user, "personalization") is False
        # as it was before the withdrawal
        assert may_use(session, workspace.id, user, "personalization", at=datetime(2026, 4, 1)) is True

    _api(server, workspace, "PUT", f"/v1/profiles/{user}/consent", json={"purposes": {"personalization": True}})
    assert _api(server, workspace, "GET", f"/v1/profiles/{user}/personalization")["personalized"] is True
    history = _api(server, workspace, "GET", f"/v1/profiles/{user}/consent")["history"]
    assert [(h["granted"], h["source"]) for h in history if h["purpose"] == "personalization"] == [
        (True, "api"), (False, "preference-centre")]  # fmt: skip


def test_consent_follows_a_merge(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    cookie, user = f"c-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    _send(server, workspace, {"type": "page", "anonymousId": cookie, "name": "Home"})
    _api(server, workspace, "PUT", f"/v1/profiles/{cookie}/consent", json={"purposes": {"ads": True}})
    _send(server, workspace, {"type": "identify", "userId": user, "anonymousId": cookie})
    with store.reader() as session:
        assert may_use(session, workspace.id, user, "ads") is True  # the default for ads is no
        assert may_use(session, workspace.id, cookie, "ads") is True
        survivor = find_profile_id(session, workspace.id, user)
        stranger = f"u-{uuid.uuid4().hex[:8]}"
    _send(server, workspace, {"type": "identify", "userId": stranger})
    with store.reader() as session:
        other = find_profile_id(session, workspace.id, stranger)
        assert allowed_profiles(session, workspace.id, [survivor, other], "ads") == {survivor}
        assert allowed_profiles(session, workspace.id, [survivor, other], "analytics") == {survivor, other}


def test_bad_consent_is_refused_and_changes_nothing(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    before = count_events(store, workspace.id)
    with server.client() as client:
        for traits, field in [
            ({"consent": {"email": "maybe"}}, "traits.consent.email"),
            ({"consent": {"newsletter": True}}, "traits.consent.newsletter"),
            ({"consent": ["email"]}, "traits.consent"),
            ({"consent": {"sms": {"granted": True, "version": 3}}}, "traits.consent.sms.version"),
        ]:
            response = client.post("/v1/identify", json={"userId": user, "traits": traits},
                                   auth=(workspace.write_key, ""))  # fmt: skip
            assert response.status_code == 400, response.text
            assert response.json()["errors"][0]["field"] == field
    assert count_events(store, workspace.id) == before
    _send(server, workspace, {"type": "identify", "userId": user})
    with server.client(headers={"Authorization": f"Bearer {workspace.secret_key}"}) as client:
        for body, field in [({"purposes": {"newsletter": True}}, "purposes.newsletter"), ({"purposes": {}}, "purposes"),
                            ({"purposes": {"email": "yes please"}}, "purposes.email")]:  # fmt: skip
            response = client.put(f"/v1/profiles/{user}/consent", json=body)
            assert response.status_code in (400, 422), response.text
            assert response.json()["errors"][0]["field"] == field
        history = client.get(f"/v1/profiles/{user}/consent").json()["history"]
        assert history == []
        assert client.put("/v1/profiles/nobody-here/consent", json={"purposes": {"email": True}}).status_code == 404


def test_workspace_defaults_apply_when_nobody_chose(server: Server, store: Store, workspace: CreatedWorkspace) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    _send(server, workspace, {"type": "identify", "userId": user})
    with store.session() as session:
        session.get(Workspace, workspace.id).settings = {"consent_defaults": {"personalization": False}}
    with store.reader() as session:
        state = consent_state(session, workspace.id, user)
        assert state.purposes["personalization"]["default"] is True
        assert state.allows("personalization") is False and state.allows("analytics") is True
        with pytest.raises(ValueError):
            may_use(session, workspace.id, user, "telepathy")
    assert _api(server, workspace, "GET", f"/v1/profiles/{user}/personalization")["personalized"] is False


def test_parse_consent_accepts_the_documented_forms() -> None:
    signals, problems = parse_consent({"consent": {"email": "granted", "sms": "opt-out"}}, None)
    assert problems == [] and {(s.purpose, s.granted) for s in signals} == {("email", True), ("sms", False)}
    signals, problems = parse_consent({}, {"consent": {"categoryPreferences": {"Marketing": "yes"}}})
    assert problems == [] and [(s.purpose, s.granted) for s in signals] == [("email", True)]
