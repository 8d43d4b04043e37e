"""Group commit: many concurrent requests, one transaction.

Every tracking request must be answered only after its events are committed. Committing each request on
its own costs a disk sync per request and, on SQLite, serialises all writers anyway. The writer thread
takes whatever requests are waiting, stores them in one transaction, commits once, then answers all of
them: throughput grows with load while each caller still hears back only after its data is durable."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.tracking.service import StoreResult, store_events

log = logging.getLogger("afinidad.tracking.writer")


@dataclass
class _Submission:
    workspace_id: str
    rows: list[dict[str, Any]]
    future: Future[StoreResult] = field(default_factory=Future)


_STOP = object()


class EventWriter:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="afinidad-event-writer", daemon=True)
        self.groups_committed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def submit(self, workspace_id: str, rows: list[dict[str, Any]]) -> Future[StoreResult]:
        submission = _Submission(workspace_id, rows)
        self._queue.put(submission)
        return submission.future

    async def write(self, workspace_id: str, rows: list[dict[str, Any]]) -> StoreResult:
        return await asyncio.wrap_future(self.submit(workspace_id, rows))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            group: list[_Submission] = [item]
            size = len(item.rows)
            stopping = False
            while size < self._settings.writer_max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                group.append(more)
                size += len(more.rows)
            self._commit(group)
            if stopping:
                return

    def _commit(self, group: list[_Submission]) -> None:
        try:
            results = self._store_group(group)
        except Exception as error:
            if len(group) > 1:  # find the one that fails; the others still get stored
                for submission in group:
                    self._commit([submission])
                return
            log.exception("event write failed", extra={"workspace_id": group[0].workspace_id})
            group[0].future.set_exception(error)
            return
        self.groups_committed += 1
        for submission, result in zip(group, results, strict=True):
            submission.future.set_result(result)

    def _store_group(self, group: list[_Submission]) -> list[StoreResult]:
        by_workspace: dict[str, list[_Submission]] = defaultdict(list)
        for submission in group:
            by_workspace[submission.workspace_id].append(submission)
        results: dict[int, StoreResult] = {}
        with self._store.session() as session:
            for workspace_id, submissions in by_workspace.items():
                rows = [row for submission in submissions for row in submission.rows]
                flags = store_events(session, workspace_id, rows, self._settings)
                offset = 0
                for submission in submissions:
                    mine = flags[offset : offset + len(submission.rows)]
                    offset += len(submission.rows)
                    accepted = sum(mine)
                    results[id(submission)] = StoreResult(accepted, len(mine) - accepted)
        return [results[id(submission)] for submission in group]
