"""Two API servers on one database (how PostgreSQL deployments scale out), and SQLite shared by a server
and other writers: identity resolution must still give one profile per person."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import start_server

PEOPLE = 12
ROUNDS = 6


def test_two_servers_resolve_the_same_people_into_one_profile_each(
    database_url: str, workspace: CreatedWorkspace, tmp_path: Path
) -> None:
    servers = [start_server(database_url, tmp_path / f"server-{n}.log") for n in range(2)]
    errors: list[str] = []

    def send(server_index: int) -> None:
        # Each person shows up on both servers at once: anonymously, by e-mail, and logged in.
        with httpx.Client(base_url=servers[server_index].base_url, auth=(workspace.write_key, "")) as client:
            for round_ in range(ROUNDS):
                batch = []
                for person in range(PEOPLE):
                    device = f"device-{person}-{server_index}"
                    batch.append({"type": "page", "anonymousId": device, "name": f"r{round_}"})
                    batch.append({"type": "identify", "anonymousId": device, "traits": {"email": f"p{person}@x.org"}})
                    batch.append({"type": "track", "userId": f"user-{person}", "anonymousId": device, "event": "E"})
                response = client.post("/v1/batch", json={"batch": batch}, timeout=60)
                if response.status_code != 200:
                    errors.append(response.text)

    try:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(2) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        reader = {"Authorization": f"Bearer {workspace.secret_key}"}
        with httpx.Client(base_url=servers[0].base_url, headers=reader) as c:
            for person in range(PEOPLE):
                profile = c.get(f"/v1/profiles/user-{person}").json()
                for lookup in (f"email:p{person}@x.org", f"device-{person}-0", f"device-{person}-1"):
                    assert c.get(f"/v1/profiles/{lookup}").json()["id"] == profile["id"], (person, lookup)
                # every message of this person, from both servers and all threads, is on the one profile
                assert profile["total_events"] == 2 * 2 * ROUNDS * 3, person
    finally:
        for server in servers:
            server.stop()
