"""The server's background thread that keeps segment members current: every `interval` seconds it reads the
events stored since the last step and re-evaluates the people they belong to (`service.follow`). One
thread, so steps never overlap; a failing step is logged and retried on the next tick."""

from __future__ import annotations

import logging
import threading

from afinidad.segments.service import follow
from afinidad.store.engine import Store

log = logging.getLogger("afinidad.segments")


class SegmentFollower:
    def __init__(self, store: Store, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="afinidad-segment-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                follow(self._store)
            except Exception:  # a bad step must not end following; the next tick tries again
                log.exception("segment follower step failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
