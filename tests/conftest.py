"""Shared fixtures: both databases (SQLite file and a real PostgreSQL server), a real running API server
per database, and a fresh workspace per test so tests never see each other's data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from afinidad.store.engine import Store, normalise_url
from afinidad.store.migrate import upgrade
from afinidad.workspaces.service import CreatedWorkspace, create_workspace

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
POSTGRES_ADMIN_URL = os.environ.get(
    "AFINIDAD_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)


def data_path(*parts: str) -> Path:
    """A shared data set, or skip the test with the reason when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data set not found: {path}")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server for this test run, dropped afterwards."""
    admin_url = normalise_url(POSTGRES_ADMIN_URL)
    name = f"afinidad_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and did not answer: {error}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}")
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'afinidad.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def store(database_url: str) -> Iterator[Store]:
    opened = Store.from_url(database_url)
    upgrade(opened.engine)
    yield opened
    opened.dispose()


@pytest.fixture()
def workspace(store: Store) -> CreatedWorkspace:
    with store.session() as session:
        return create_workspace(session, f"test-{uuid.uuid4().hex[:12]}")


@dataclass
class Server:
    """An `afinidad serve` process on a free port."""

    base_url: str
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(database_url: str, log_path: Path, port: int | None = None, **env: str) -> Server:
    port = port or free_port()
    environment = {
        **os.environ,
        "AFINIDAD_DATABASE_URL": database_url,
        "AFINIDAD_RATE_LIMIT_PER_SECOND": "0",
        **env,
    }
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "afinidad", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=log_path.parent,
    )
    server = Server(f"http://127.0.0.1:{port}", database_url, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.logs()}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become ready:\n{server.logs()}")


@pytest.fixture(scope="session")
def server(database_url: str, store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(database_url, tmp_path_factory.mktemp("server") / "server.log")
    yield running
    running.stop()
