"""200 only after commit: nothing acknowledged is lost when the server is SIGKILLed mid-stream, on SQLite and
PostgreSQL, with real `afinidad serve` processes and clients that keep sending until the server dies."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from afinidad.store.engine import Store
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import start_server
from tests.helpers import message_ids, track

CLIENTS = 8
SEND_SECONDS = 1.5


@dataclass
class Ledger:
    """What the clients sent and what they heard back, as a client that retries until acknowledged keeps it."""

    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    unacknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    failed_in_flight: int = 0  # requests started before the kill that never got an answer
    failed_while_alive: int = 0  # requests that failed although the server had not been killed yet
    crashes: list[str] = field(default_factory=list)  # a client thread that died of anything else
    killed_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, messages: list[dict[str, Any]], status: int) -> None:
        with self.lock:
            self.statuses[status] += 1
            target = self.acknowledged if status == 200 else self.unacknowledged
            target.update((message["messageId"], message) for message in messages)

    def failed(self, messages: list[dict[str, Any]], started_at: float) -> None:
        with self.lock:
            self.unacknowledged.update((message["messageId"], message) for message in messages)
            if self.killed_at is None:
                self.failed_while_alive += 1
            elif started_at < self.killed_at:
                self.failed_in_flight += 1


def _send_until_the_server_dies(base_url: str, write_key: str, worker: int, ledger: Ledger) -> None:
    try:
        _send(base_url, write_key, worker, ledger)
    except Exception as error:  # a thread's exception would otherwise vanish
        ledger.crashes.append(repr(error))


def _send(base_url: str, write_key: str, worker: int, ledger: Ledger) -> None:
    """Alternate single `track` calls and small batches, each messageId new, until a request fails."""
    rng = random.Random(worker)
    with httpx.Client(base_url=base_url, auth=(write_key, ""), timeout=10) as client:
        for request in range(1_000_000):
            size = 1 if request % 2 else rng.randint(2, 8)
            messages = [
                track(userId=f"user-{worker}-{request % 7}", messageId=f"w{worker}-r{request}-m{index}")
                for index in range(size)
            ]
            started_at = time.monotonic()
            try:
                if size == 1:
                    response = client.post("/v1/track", json=messages[0])
                else:
                    response = client.post("/v1/batch", json={"batch": messages})
            except httpx.TransportError:
                ledger.failed(messages, started_at)
                return
            ledger.answered(messages, response.status_code)


def _resend(client: httpx.Client, messages: list[dict[str, Any]]) -> tuple[int, int]:
    """Send again as a retrying client would; returns (accepted, duplicates)."""
    accepted = duplicates = 0
    for start in range(0, len(messages), 100):
        response = client.post("/v1/batch", json={"batch": messages[start : start + 100]})
        assert response.status_code == 200, response.text
        accepted += response.json()["accepted"]
        duplicates += response.json()["duplicates"]
    return accepted, duplicates


def test_nothing_acknowledged_is_lost_when_the_server_is_killed(
    database_url: str, store: Store, workspace: CreatedWorkspace, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path / "killed.log")
    ledger = Ledger()
    workers = [
        threading.Thread(target=_send_until_the_server_dies, args=(server.base_url, workspace.write_key, n, ledger))
        for n in range(CLIENTS)
    ]
    try:
        for worker in workers:
            worker.start()
        time.sleep(SEND_SECONDS)
        ledger.killed_at = time.monotonic()
        server.kill()
        for worker in workers:
            worker.join(15)
    finally:
        server.stop()
    assert not any(worker.is_alive() for worker in workers)
    assert ledger.crashes == []
    assert set(ledger.statuses) == {200}, ledger.statuses  # under load, nothing but success until the kill
    assert ledger.failed_while_alive == 0
    assert len(ledger.acknowledged) >= 50
    assert ledger.failed_in_flight > 0, "no request was in flight when the server was killed"

    restarted = start_server(database_url, tmp_path / "restarted.log")
    try:
        stored_after_kill = Counter(message_ids(store, workspace.id))
        missing = set(ledger.acknowledged) - set(stored_after_kill)
        assert not missing, f"{len(missing)} acknowledged messages were lost, e.g. {sorted(missing)[:5]}"
        assert set(stored_after_kill) <= set(ledger.acknowledged) | set(ledger.unacknowledged)

        with httpx.Client(base_url=restarted.base_url, auth=(workspace.write_key, ""), timeout=30) as client:
            sample = random.Random(0).sample(sorted(ledger.acknowledged), min(300, len(ledger.acknowledged)))
            accepted, duplicates = _resend(client, [ledger.acknowledged[message_id] for message_id in sample])
            assert (accepted, duplicates) == (0, len(sample))  # the server itself knows it has every one
            accepted, duplicates = _resend(client, list(ledger.unacknowledged.values()))
            assert accepted + duplicates == len(ledger.unacknowledged)
            assert duplicates == len(set(ledger.unacknowledged) & set(stored_after_kill))
    finally:
        restarted.stop()

    stored = Counter(message_ids(store, workspace.id))
    assert set(stored) == set(ledger.acknowledged) | set(ledger.unacknowledged)  # every retry arrived, none invented
    assert [message_id for message_id, count in stored.items() if count > 1] == []


def test_a_killed_writer_process_is_replaced_and_nothing_acknowledged_is_lost(
    database_url: str, store: Store, workspace: CreatedWorkspace, tmp_path: Path
) -> None:
    """The event writer runs in a child process. If it dies, requests in flight are answered 503 (clients
    retry), a new writer takes over, and every acknowledged message is stored once."""
    import psutil

    def writer_processes() -> list[psutil.Process]:  # multiprocessing also starts a resource tracker
        children = psutil.Process(server.process.pid).children()
        return [child for child in children if "resource_tracker" not in " ".join(child.cmdline())]

    server = start_server(database_url, tmp_path / "writer.log")
    try:
        writers = writer_processes()
        assert len(writers) == 1
        acknowledged: set[str] = set()
        statuses: Counter[int] = Counter()
        with httpx.Client(base_url=server.base_url, auth=(workspace.write_key, ""), timeout=30) as client:
            for n in range(200):
                if n == 50:
                    writers[0].kill()  # SIGKILL the writer mid-stream
                message = track(messageId=f"writer-kill-{n}", userId=f"user-{n % 7}")
                response = client.post("/v1/track", json=message)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    acknowledged.add(message["messageId"])
                else:
                    assert response.status_code == 503
                    assert response.headers["content-type"].startswith("application/problem+json")
            ready = client.get("/readyz").json()
        replacement = writer_processes()
    finally:
        server.stop()

    assert ready["checks"]["writer"] == "ok"
    assert len(replacement) == 1 and replacement[0].pid != writers[0].pid
    assert statuses[200] >= 150  # the writer came back and kept taking events
    stored = Counter(message_ids(store, workspace.id))
    assert acknowledged <= set(stored)
    assert all(count == 1 for count in stored.values())
