"""What every benchmark needs: a fresh database of each kind, a real `afinidad serve` process on it, the
server's memory high-water mark, percentiles, and (optionally) a py-spy profile of the server.

Benchmarks measure the product as it is deployed, over HTTP against a separate process, so nothing here
imports the app in-process: the figures include the ASGI server, the event loop and the writer thread."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from afinidad.store.engine import Store, normalise_url
from afinidad.store.migrate import upgrade
from afinidad.store.models import Event, Identity, Profile, ProfileMerge
from afinidad.workspaces.service import CreatedWorkspace, create_workspace

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
POSTGRES_ADMIN_URL = os.environ.get(
    "AFINIDAD_BENCH_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
)
DATABASE_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
MIB = 1024 * 1024


class DatabaseUnavailable(Exception):
    """The database server did not answer: the benchmark skips it and says why."""


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" or "postgres"
    url: str

    @property
    def label(self) -> str:
        return DATABASE_LABELS[self.kind]


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[Database]:
    """A new, empty, migrated database for one run: a SQLite file in a temporary folder, or a new database
    on the PostgreSQL server (dropped afterwards, even if the run fails)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="afinidad-bench-") as folder:
            database = Database("sqlite", f"sqlite:///{Path(folder) / 'afinidad.db'}")
            _migrate(database.url)
            yield database
        return
    admin_url = normalise_url(POSTGRES_ADMIN_URL)
    name = f"afinidad_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise DatabaseUnavailable(f"PostgreSQL did not answer at {_redacted(admin_url)}: {reason}") from error
    try:
        database = Database("postgres", make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        _migrate(database.url)
        yield database
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _migrate(url: str) -> None:
    store = Store.from_url(url)
    try:
        upgrade(store.engine)
    finally:
        store.dispose()


def new_workspace(url: str, prefix: str) -> CreatedWorkspace:
    """A workspace of its own for this run, so figures never include another run's data."""
    store = Store.from_url(url)
    try:
        with store.session() as session:
            return create_workspace(session, f"{prefix}-{uuid.uuid4().hex[:12]}")
    finally:
        store.dispose()


def database_settings(url: str) -> dict[str, str]:
    """The server settings that move ingestion figures: durability (fsync, synchronous_commit) and whether
    autovacuum keeps planner statistics current (without them, lookups can fall back to scans)."""
    if not url.startswith("postgres"):
        return {}
    store = Store.from_url(url)
    try:
        with store.engine.connect() as connection:
            names = ("server_version", "fsync", "synchronous_commit", "autovacuum", "shared_buffers")
            return {name: str(connection.execute(text(f"SHOW {name}")).scalar()) for name in names}
    finally:
        store.dispose()


def code_state() -> dict[str, Any]:
    """Which code the server ran: the commit, the package files changed since it, and a digest of the
    package's source (so two runs can be told apart even when both are on the same dirty commit)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "afinidad").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    state: dict[str, Any] = {"source_sha256": digest.hexdigest()[:16], "commit": None, "changed_files": []}
    environment = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read only: never take the index lock
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, env=environment,
                                capture_output=True, text=True, timeout=10)  # fmt: skip
        changed = subprocess.run(["git", "status", "--porcelain", "--", "afinidad"], cwd=ROOT, env=environment,
                                 capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return state
    if commit.returncode == 0:
        state["commit"] = commit.stdout.strip()
        state["changed_files"] = [line[3:] for line in changed.stdout.splitlines() if line.strip()]
    return state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m afinidad serve` on a free port, its output in `log_path`. Use as a context manager so the
    process is always stopped, whatever happens to the benchmark."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._environment = {**os.environ, "AFINIDAD_DATABASE_URL": database_url, **env}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not started"
        return self.process.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "afinidad", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self._environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class MemorySampler:
    """The server's resident memory, with its child processes (the event writer runs in one), sampled in a
    thread; the kernel's own high-water marks (VmHWM) are read as well, since they also catch peaks shorter
    than the sampling interval."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._pid = pid
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self.start_bytes = self._rss()
        self.peak_sampled_bytes = self.start_bytes
        self.high_water_bytes: int | None = None

    def _family(self) -> list[psutil.Process]:
        try:
            return [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            return []

    def _rss(self) -> int:
        total = 0
        for process in self._family():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def _vm_hwm(self) -> int | None:
        total, found_any = 0, False
        for process in self._family():
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            found = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
            if found:
                total += int(found.group(1)) * 1024
                found_any = True
        return total if found_any else None

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.peak_sampled_bytes = max(self.peak_sampled_bytes, self._rss())

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and read the high-water mark; call it while the server is still running."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._thread.join()
        self.peak_sampled_bytes = max(self.peak_sampled_bytes, self._rss())
        self.high_water_bytes = self._vm_hwm()

    @property
    def peak_bytes(self) -> int:
        return max(self.peak_sampled_bytes, self.high_water_bytes or 0)


class KeepAliveConnection:
    """One HTTP/1.1 keep-alive connection on asyncio streams, for load generation.

    httpx.AsyncClient is not used to generate concurrent load: with 50 connections it spends so much CPU in
    its own pool (encode/httpx#3215) that on a 2-core machine it, not the server, sets the pace (measured
    here: 156 req/s against `/healthz` with httpx, 873 req/s with this client, same server). This client
    does only what the benchmark needs: send a GET, or a POST with a body, read a Content-Length or chunked
    response, reconnect when the server closes the connection."""

    def __init__(self, host: str, port: int, headers: dict[str, str], timeout: float = 120.0) -> None:
        self._timeout = timeout
        self._host = host
        self._port = port
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self._reader, self._writer

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST; a connection the server closed while idle is reopened once. A server
        that does not answer within the timeout raises TimeoutError (an OSError)."""
        return await asyncio.wait_for(self._send("POST", path, body), self._timeout)

    async def get(self, path: str) -> tuple[int, bytes]:
        """(status, body) of one GET, as `post`."""
        return await asyncio.wait_for(self._send("GET", path, None), self._timeout)

    async def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        length = f"Content-Length: {len(body)}\r\n" if body is not None else ""
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{self._head}{length}\r\n"
        ).encode() + (body or b"")
        for attempt in range(2):
            reader, writer = await self._connect()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            if status_line:
                return await self._response(reader, status_line)
            await self.close()
            if attempt:
                break
        raise ConnectionError(f"the server closed the connection without answering {method} {path}")

    async def _response(self, reader: asyncio.StreamReader, status_line: bytes) -> tuple[int, bytes]:
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            await reader.readline()
            content = b"".join(chunks)
        else:
            content = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, content

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def server_timings(base_url: str) -> dict[tuple[str, str, str], tuple[float, int]]:
    """The server's own request-duration histogram (sum of seconds, count) per (method, route, status),
    read from `/metrics`: the time inside the app, without the client or the socket queue."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[tuple[str, str, str], tuple[float, int]] = {}
    text_body = httpx.get(f"{base_url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text_body):
        if family.name != "afinidad_request_duration_seconds":
            continue
        for sample in family.samples:
            key = (sample.labels.get("method", ""), sample.labels.get("route", ""), sample.labels.get("status", ""))
            total, count = found.get(key, (0.0, 0))
            if sample.name.endswith("_sum"):
                found[key] = (sample.value, count)
            elif sample.name.endswith("_count"):
                found[key] = (total, int(sample.value))
    return found


def mean_server_ms(
    before: dict[tuple[str, str, str], tuple[float, int]],
    after: dict[tuple[str, str, str], tuple[float, int]],
    method: str,
    route: str,
) -> float | None:
    """Mean server-side duration of successful `method route` requests between two `server_timings`."""
    key = (method, route, "200")
    total = after.get(key, (0.0, 0))[0] - before.get(key, (0.0, 0))[0]
    count = after.get(key, (0.0, 0))[1] - before.get(key, (0.0, 0))[1]
    return total / count * 1000 if count else None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process (all its threads) and its children (the event writer) have used."""
    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (what latency SLOs usually mean: p99 is a value some request really saw)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def verdict(passed: bool) -> str:
    return "[bold green]PASS[/]" if passed else "[bold red]MISS[/]"


# -- profiling ------------------------------------------------------------------------------------------


def find_py_spy() -> str | None:
    """py-spy is not a project dependency: it is looked for in AFINIDAD_BENCH_PY_SPY, beside the interpreter,
    then on PATH."""
    candidates = [os.environ.get("AFINIDAD_BENCH_PY_SPY"), str(Path(sys.executable).with_name("py-spy"))]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("py-spy")


class ServerProfile:
    """A py-spy sampling profile of a running server (all threads, waiting included), written as collapsed
    stacks. `--nonblocking` keeps the server running while it is sampled, so figures move only a little."""

    def __init__(self, py_spy: str, pid: int, output: Path, rate: int = 200) -> None:
        self.output = output
        output.parent.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(output), "--rate", str(rate),
             "--threads", "--idle", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)


@dataclass
class ThreadProfile:
    name: str
    samples: int = 0
    inclusive: Counter[str] = field(default_factory=Counter)
    leaf: Counter[str] = field(default_factory=Counter)


_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    found = _FRAME.match(frame.strip())
    if not found:
        return frame.strip()
    path = found.group("file")
    for marker in ("site-packages/", "afinidad/", "lib/python3"):
        if marker in path:
            path = path[path.index(marker) :]
            break
    return f"{found.group('function')} ({path})"


def summarise_profile(collapsed: Path) -> list[ThreadProfile]:
    """Samples per thread, and per function both inclusive (the function or anything it called was running
    or waiting) and leaf (the innermost frame), from py-spy's collapsed-stack output."""
    threads: dict[str, ThreadProfile] = defaultdict(lambda: ThreadProfile(""))
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0]
        if thread.startswith("process ") and len(frames) > 1:
            frames = frames[1:]
            thread = frames[0]
        profile = threads[thread]
        profile.name = thread
        profile.samples += count
        names = [_frame_name(frame) for frame in frames[1:]]
        for name in set(names):
            profile.inclusive[name] += count
        if names:
            profile.leaf[names[-1]] += count
    return sorted(threads.values(), key=lambda profile: -profile.samples)


# -- one command, run to its end and measured -------------------------------------------------------------


@dataclass
class CommandRun:
    """What one run of a command cost: wall time from launch to exit (interpreter start-up included, as a user
    waits for it), CPU time, and the memory of the process with its children."""

    command: list[str]
    returncode: int
    seconds: float
    cpu_seconds: float  # user + system, of the process and the children it waited for
    peak_rss_bytes: int  # the highest sum of resident memory over the family, sampled
    high_water_bytes: int | None  # the highest sum of the kernel's VmHWM over the family, read while it ran
    samples: int
    log_path: Path

    @property
    def peak_bytes(self) -> int:
        return max(self.peak_rss_bytes, self.high_water_bytes or 0)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _family_memory(process: psutil.Process) -> tuple[int, int | None]:
    """(sum of RSS, sum of VmHWM or None) over a process and its descendants, as they are now."""
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0, None
    rss, high_water, found_any = 0, 0, False
    for member in family:
        with contextlib.suppress(psutil.Error):
            rss += member.memory_info().rss
        try:
            status = Path(f"/proc/{member.pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
        if found:
            high_water += int(found.group(1)) * 1024
            found_any = True
    return rss, high_water if found_any else None


def run_measured(
    command: Sequence[str],
    *,
    env: dict[str, str],
    log_path: Path,
    cwd: Path = ROOT,
    interval: float = 0.05,
    on_sample: Any = None,
) -> CommandRun:
    """Run `command` to its end, its output to `log_path`, sampling its memory every `interval` seconds in a
    thread (which also calls `on_sample(psutil.Process)`, e.g. to move a progress bar).

    Peak memory comes from /proc, not from wait4's ru_maxrss: subprocess starts children with vfork, and a
    vforked child inherits its parent's high-water mark when it execs, so ru_maxrss reports at least the
    benchmark's own size (measured here: a parent holding 500 MiB made `true` report 511 MiB). VmHWM belongs
    to the address space and starts afresh at exec; read every `interval`, it catches peaks shorter than the
    interval and misses only growth in the last interval before exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stopped = threading.Event()
    peak_rss, peak_high_water, samples = 0, None, 0

    def watch(process: psutil.Process) -> None:
        nonlocal peak_rss, peak_high_water, samples
        while not stopped.wait(interval):
            rss, high_water = _family_memory(process)
            peak_rss = max(peak_rss, rss)
            if high_water is not None:
                peak_high_water = max(peak_high_water or 0, high_water)
            samples += 1
            if on_sample is not None:
                with contextlib.suppress(psutil.Error):
                    on_sample(process)

    started = time.perf_counter()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(list(command), env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT)
    sampler: threading.Thread | None = None
    with contextlib.suppress(psutil.Error):  # an error here: it has already gone, nothing to sample
        sampler = threading.Thread(target=watch, args=(psutil.Process(process.pid),), name="command-sampler")
        sampler.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()
        process.wait(10)
        raise
    finally:
        stopped.set()
        if sampler is not None:
            sampler.join()
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return CommandRun(
        command=list(command),
        returncode=process.returncode,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=peak_rss,
        high_water_bytes=peak_high_water,
        samples=samples,
        log_path=log_path,
    )


def identity_counts(store: Store, workspace_id: str) -> dict[str, int]:
    """What a workspace holds after a run: events, live and merged-away profiles, identities, merge records."""
    with store.reader() as session:

        def count(model: Any, *conditions: Any) -> int:
            query = select(func.count()).select_from(model).where(model.workspace_id == workspace_id, *conditions)
            return session.execute(query).scalar_one()

        return {
            "events": count(Event),
            "profiles": count(Profile, Profile.merged_into.is_(None)),
            "profiles_merged_away": count(Profile, Profile.merged_into.is_not(None)),
            "identities": count(Identity),
            "merge_decisions": count(ProfileMerge),
        }


def machine_facts(load_before: float) -> dict[str, Any]:
    """The machine a run was measured on, and how busy it was before and after (others share the cores)."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }


def write_figures(
    console: Any, path: Path, *, benchmark: str, run_id: str, load_before: float, **sections: Any
) -> None:
    """Write a run's figures as JSON (what docs/benchmarks.md quotes), with the machine they came from."""
    document = {
        "benchmark": benchmark,
        "run_id": run_id,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(load_before),
        **sections,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"Figures written to {path}")


def announce_run(console: Any) -> tuple[dict[str, Any], float]:
    """Print which code runs and warn when the machine is already busy; returns the code state and the
    1-minute load average before the run (both go into the figures)."""
    code = code_state()
    changed = f", {len(code['changed_files'])} package files changed since it" if code["changed_files"] else ""
    console.print(f"Code: commit {code['commit']}{changed} (source {code['source_sha256']}).")
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        console.print(
            f"[yellow]The machine is already busy (1-minute load average {load_before:.2f} before the run): "
            "other processes share the cores, so figures may come out slow.[/]"
        )
    return code, load_before


# -- load phases (recommend.py, decide.py) ---------------------------------------------------------------

Call = tuple[str, str, bytes | None]  # method, path, body


@dataclass
class LoadPhase:
    endpoint: str
    clients: int
    planned_seconds: float
    offered_per_second: float | None = None  # None: a closed loop, each client sends as soon as it has an answer
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    bodies: list[tuple[int, bytes]] = field(default_factory=list, repr=False)  # (path index, body) of 200s
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    server_mean_ms: float | None = None

    def fail(self, reason: str) -> None:
        self.failures += 1
        if len(self.failure_examples) < 5:
            self.failure_examples.append(reason)

    def summary(self) -> dict[str, Any]:
        done = len(self.latencies_ms)
        return {
            "endpoint": self.endpoint,
            "clients": self.clients,
            "offered_per_second": round(self.offered_per_second, 1) if self.offered_per_second else None,
            "seconds": round(self.seconds, 2),
            "requests": done,
            "requests_per_second": round(done / self.seconds, 1) if self.seconds else None,
            "ok": self.statuses.get(200, 0),
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "failures": self.failures,
            "failure_examples": self.failure_examples,
            **spread(self.latencies_ms),
            "server_mean_ms": round(self.server_mean_ms, 2) if self.server_mean_ms is not None else None,
            "server_cpu_percent": round(100 * self.server_cpu_seconds / self.seconds, 1) if self.seconds else None,
            "client_cpu_percent": round(100 * self.client_cpu_seconds / self.seconds, 1) if self.seconds else None,
        }


def spread(values: Sequence[float], digits: int = 2) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {"p50_ms": round(percentile(values, 0.50), digits), "p95_ms": round(percentile(values, 0.95), digits),
            "p99_ms": round(percentile(values, 0.99), digits), "max_ms": round(max(values), digits),
            "mean_ms": round(statistics.fmean(values), digits)}  # fmt: skip


async def drive_load(server: ServerProcess, headers: dict[str, str], calls: Sequence[Call], phase: LoadPhase,
                 keep_bodies: bool, start: int, tick: Callable[[float, int], None]) -> None:  # fmt: skip
    """`phase.clients` clients, each on its own keep-alive connection, send calls (GETs, or POSTs with a JSON
    body) until the time is up, taken in turn from one shared sequence from position `start` on. Without an
    offered rate each client sends back to back (a closed loop); with one, each sends on a fixed schedule,
    staggered between clients, and latency counts from the scheduled time (a late client's wait included, so
    a server that falls behind is not flattered)."""
    origin = time.perf_counter()
    deadline = origin + phase.planned_seconds
    period = phase.clients / phase.offered_per_second if phase.offered_per_second else None
    turn = itertools.count(start)

    async def client(position: int) -> None:
        connection = KeepAliveConnection("127.0.0.1", server.port, headers, timeout=60)
        scheduled = origin + position * period / phase.clients if period else origin
        try:
            while True:
                if period is None:
                    scheduled = time.perf_counter()
                elif scheduled > time.perf_counter():
                    await asyncio.sleep(scheduled - time.perf_counter())
                if scheduled >= deadline:
                    break
                index = next(turn) % len(calls)
                method, path, body = calls[index]
                sent_for = scheduled
                if period is not None:
                    scheduled += period
                try:
                    if method == "POST":
                        status, content = await connection.post(path, body or b"")
                    else:
                        status, content = await connection.get(path)
                except (OSError, asyncio.IncompleteReadError) as error:
                    phase.fail(f"{type(error).__name__}: {error}")
                    await connection.close()
                    await asyncio.sleep(0.05)
                    continue
                phase.latencies_ms.append((time.perf_counter() - sent_for) * 1000)
                phase.statuses[status] += 1
                if status != 200:
                    phase.fail(f"HTTP {status}: {content[:300].decode(errors='replace')}")
                elif keep_bodies:
                    phase.bodies.append((index, content))
        finally:
            await connection.close()

    async def ticker() -> None:
        while time.perf_counter() < deadline:
            tick(phase.planned_seconds - (deadline - time.perf_counter()), len(phase.latencies_ms))
            await asyncio.sleep(0.25)

    ticking = asyncio.create_task(ticker())
    await asyncio.gather(*(client(position) for position in range(phase.clients)))
    ticking.cancel()
    phase.seconds = time.perf_counter() - origin


def run_load_phase(server: ServerProcess, headers: dict[str, str], endpoint: str, calls: Sequence[Call],
                   clients: int, seconds: float, label: str, route: tuple[str, str], keep_bodies: bool = False,
                   start: int = 0, offered_per_second: float | None = None) -> LoadPhase:  # fmt: skip
    """One load phase with a progress bar, the server's and this process's CPU, and the server's own mean
    time for `route` (method, path template)."""
    phase = LoadPhase(endpoint, clients, seconds, offered_per_second=offered_per_second)
    before = server_timings(server.base_url)
    server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
    rate = f", {offered_per_second:,.0f}/s offered" if offered_per_second else ""
    with progress_bar() as progress:
        task = progress.add_task(f"{label}: {endpoint}, {clients} client{'s' if clients > 1 else ''}{rate}",
                                 total=seconds)  # fmt: skip

        def tick(elapsed: float, done: int) -> None:
            progress.update(task, completed=min(elapsed, seconds))

        asyncio.run(drive_load(server, headers, calls, phase, keep_bodies, start, tick))
        progress.update(task, completed=seconds)
    phase.server_cpu_seconds = cpu_seconds(server.pid) - server_cpu
    phase.client_cpu_seconds = time.process_time() - client_cpu
    phase.server_mean_ms = mean_server_ms(before, server_timings(server.base_url), *route)
    return phase
