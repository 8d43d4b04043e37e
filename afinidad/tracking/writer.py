"""Group commit in a writer process: many concurrent requests, one transaction.

Every tracking request must be answered only after its events are committed. Committing each request on
its own costs a disk sync per request and, on SQLite, serialises all writers anyway. The writer takes
whatever requests are waiting, stores them in one transaction (dedupe, identity resolution, append),
commits once, then answers all of them: throughput grows with load while each caller still hears back
only after its data is durable.

The writer runs in a process of its own, not a thread: identity resolution and row encoding are Python
work, and a thread would share one interpreter lock with the HTTP event loop, so the two would take
turns on one core (measured: the writer thread was busy 97% of the time while the loop waited for it).
A child process gets the second core. It dies with its parent (PR_SET_PDEATHSIG, and a parent check),
so a killed server never leaves a writer behind holding the database. If the child dies, pending
requests fail (clients retry; nothing acknowledged is lost) and a new child is started.

`mode="thread"` keeps everything in one process, for embedding and debugging."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from afinidad.settings import Settings
from afinidad.store.engine import BackgroundCheckpoints, Store, is_sqlite
from afinidad.tracking.service import StoreResult, prepare_rows, store_events

log = logging.getLogger("afinidad.tracking.writer")

# (submission id, workspace id, rows) travels to the writer; (submission id, result or error text) back.
Submission = tuple[int, str, list[dict[str, Any]]]


class WriterUnavailable(RuntimeError):
    """The writer stopped before it could confirm; the events may or may not be stored (resend them)."""


def store_group(store: Store, settings: Settings, group: list[Submission]) -> dict[int, StoreResult]:
    """Store several requests' rows in one transaction; one result per submission id."""
    by_workspace: dict[str, list[Submission]] = defaultdict(list)
    for submission in group:
        by_workspace[submission[1]].append(submission)
    results: dict[int, StoreResult] = {}
    with store.session() as session:
        for workspace_id, submissions in by_workspace.items():
            rows = [row for submission in submissions for row in submission[2]]
            flags = store_events(session, workspace_id, rows, settings)
            offset = 0
            for submission_id, _, submission_rows in submissions:
                mine = flags[offset : offset + len(submission_rows)]
                offset += len(submission_rows)
                accepted = sum(mine)
                by_type = Counter(row["type"] for row, stored in zip(submission_rows, mine, strict=True) if stored)
                results[submission_id] = StoreResult(accepted, len(mine) - accepted, dict(by_type))
    return results


def _take_group(first: Submission, source: Any, limit: int) -> tuple[list[Submission], bool]:
    """`first` plus whatever else is already waiting, up to `limit` rows; True when a stop was read."""
    group, size = [first], len(first[2])
    while size < limit:
        try:
            more = source.get_nowait()
        except queue.Empty:
            break
        if more is None:
            return group, True
        group.append(more)
        size += len(more[2])
    return group, False


def _commit_group(store: Store, settings: Settings, group: list[Submission]) -> list[tuple[int, Any]]:
    """Results for a group; a failing group is retried one submission at a time so one bad request
    cannot fail the others."""
    try:
        results = store_group(store, settings, group)
        return [(submission[0], results[submission[0]]) for submission in group]
    except Exception as error:
        if len(group) == 1:
            log.exception("event write failed")
            return [(group[0][0], f"{type(error).__name__}: {error}")]
        replies: list[tuple[int, Any]] = []
        for submission in group:
            replies.extend(_commit_group(store, settings, [submission]))
        return replies


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):  # Linux only; elsewhere the parent check below still applies
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _writer_process(settings_values: dict[str, Any], requests: Any, replies: Any, parent: int) -> None:
    """The child: read submissions, commit them in groups, send the results back."""
    _die_with_parent()
    settings = Settings(**settings_values)
    from afinidad import logs  # a spawned child starts with no logging set up: same JSON and redaction

    logs.configure(settings.log_level, settings.log_json)
    store = Store.from_url(
        settings.database_url.get_secret_value(),
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_autocheckpoint=False,
        sqlite_immediate=True,
    )
    checkpoints = BackgroundCheckpoints(store.engine).start() if is_sqlite(store.engine) else None
    replies.put(("ready", os.getpid()))
    try:
        while True:
            try:
                first = requests.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:
                    return
                continue
            if first is None:
                return
            group, stopping = _take_group(first, requests, settings.writer_max_group)
            replies.put(("done", _commit_group(store, settings, group)))
            if stopping:
                return
    finally:
        if checkpoints is not None:
            checkpoints.stop()
        store.dispose()


class EventWriter:
    """Accepts rows from the HTTP layer and returns, per request, a future that resolves once they are
    committed (or fails if they could not be)."""

    def __init__(self, store: Store, settings: Settings, *, mode: str = "process") -> None:
        if mode not in ("process", "thread"):
            raise ValueError("mode is 'process' or 'thread'")
        self._store = store
        self._settings = settings
        self._mode = mode
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[Future[StoreResult], int]] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._requests: Any = None
        self._replies: Any = None
        self._process: Any = None
        self._thread: threading.Thread | None = None
        self.groups_committed = 0
        self.on_group: Callable[[int], None] | None = None  # told the size of each committed group

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._mode == "thread":
            self._requests = queue.Queue()
            self._thread = threading.Thread(target=self._run_inline, name="afinidad-event-writer", daemon=True)
            self._thread.start()
            return
        self._start_process()
        self._thread = threading.Thread(target=self._collect, name="afinidad-writer-replies", daemon=True)
        self._thread.start()

    def _start_process(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._requests = context.Queue()
        self._replies = context.Queue()
        self._process = context.Process(
            target=_writer_process,
            args=(self._settings.model_dump(), self._requests, self._replies, os.getpid()),
            name="afinidad-writer",
            daemon=True,
        )
        self._process.start()
        kind, pid = self._replies.get(timeout=60)
        log.info("event writer process started", extra={"pid": pid})

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop."""
        self._stopping = True
        if self._requests is not None:
            self._requests.put(None)
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._mode == "process":  # release the queues' pipes and semaphores now, not at interpreter exit
            for channel in (self._requests, self._replies):
                if channel is not None:
                    channel.close()
                    channel.join_thread()
            self._requests = self._replies = None

    @property
    def alive(self) -> bool:
        if self._mode == "thread":
            return self._thread is not None and self._thread.is_alive()
        return self._process is not None and self._process.is_alive()

    # -- submitting -----------------------------------------------------------------------------------
    def submit(self, workspace_id: str, rows: list[dict[str, Any]]) -> Future[StoreResult]:
        prepare_rows(rows, self._settings)  # here, in the HTTP process: the writer has less to do
        future: Future[StoreResult] = Future()
        submission_id = next(self._ids)
        with self._lock:  # never between a restart's failing of pending requests and its new queue
            self._pending[submission_id] = (future, len(rows))
            self._requests.put((submission_id, workspace_id, rows))
        return future

    async def write(self, workspace_id: str, rows: list[dict[str, Any]]) -> StoreResult:
        return await asyncio.wrap_future(self.submit(workspace_id, rows))

    # -- answering ------------------------------------------------------------------------------------
    def _settle(self, replies: list[tuple[int, Any]]) -> None:
        size = 0
        for submission_id, outcome in replies:
            with self._lock:
                future, rows = self._pending.pop(submission_id, (None, 0))
            if future is None:
                continue
            size += rows
            if isinstance(outcome, StoreResult):
                future.set_result(outcome)
            else:
                future.set_exception(WriterUnavailable(str(outcome)))
        self.groups_committed += 1
        if self.on_group is not None and size:
            self.on_group(size)

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            future.set_exception(WriterUnavailable(reason))

    def _collect(self) -> None:
        """Reply thread of the parent: resolve futures; restart the child if it dies."""
        while True:
            try:
                kind, payload = self._replies.get(timeout=0.5)
            except queue.Empty:
                if self._process.is_alive():
                    continue
                if self._stopping:
                    self._fail_pending("the writer stopped")
                    return
                log.error("event writer process died; restarting it", extra={"exitcode": self._process.exitcode})
                with self._lock:
                    pending, self._pending = self._pending, {}
                    self._start_process()
                for future, _ in pending.values():
                    future.set_exception(WriterUnavailable("the writer process died"))
                continue
            if kind == "done":
                self._settle(payload)

    def _run_inline(self) -> None:
        while True:
            first = self._requests.get()
            if first is None:
                return
            group, stopping = _take_group(first, self._requests, self._settings.writer_max_group)
            self._settle(_commit_group(self._store, self._settings, group))
            if stopping:
                return
