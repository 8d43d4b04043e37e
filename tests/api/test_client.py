"""The Python client against the real server."""

from __future__ import annotations

import pytest

from afinidad.client import AfinidadAPIError, Client
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import Server


def test_client_sends_reads_and_reports_problems(server: Server, workspace: CreatedWorkspace) -> None:
    with Client(server.base_url, write_key=workspace.write_key, secret_key=workspace.secret_key) as client:
        client.page("Home", anonymous_id="c-1")
        client.identify(user_id="ana", anonymous_id="c-1", traits={"email": "Ana+shop@Example.com"})
        for n in range(7):
            client.track("Product Viewed", user_id="ana", properties={"product_id": f"p{n}"})
        assert client.batch([{"type": "track", "userId": "ana", "event": "Cart Viewed"}])["accepted"] == 1

        profile = client.profile("email:ana+shop@example.com")
        assert profile["event_counts"]["Product Viewed"] == 7
        assert {i["value"] for i in profile["identities"]} >= {"ana", "c-1", "ana+shop@example.com"}
        timeline = list(client.events("ana", page_size=3))
        assert len(timeline) == 10
        assert [e["event"] for e in client.events("ana", event="Cart Viewed")] == ["Cart Viewed"]
        assert client.workspace()["events"] == 10

        with pytest.raises(AfinidadAPIError) as refused:
            client.track("", user_id="ana")
        assert refused.value.status == 400
        assert refused.value.errors[0]["field"] == "event"
        with pytest.raises(AfinidadAPIError) as missing:
            client.profile("nobody")
        assert missing.value.status == 404
