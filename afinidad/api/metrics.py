"""Prometheus metrics, in a registry per app so several apps (tests) can live in one process."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram

log = logging.getLogger("afinidad.api")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_accepted = Counter(
            "afinidad_events_accepted", "Events stored, by message type.", ["type"], registry=self.registry
        )
        self.events_duplicate = Counter(
            "afinidad_events_duplicate", "Events received again (same messageId) and not stored.",
            registry=self.registry,
        )  # fmt: skip
        self.events_rejected = Counter(
            "afinidad_events_rejected", "Events refused, by reason.", ["reason"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "afinidad_request_duration_seconds",
            "HTTP request latency.",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.write_group_size = Histogram(
            "afinidad_write_group_messages",
            "Messages committed per group commit.",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Latency per route, and a log line for failures and slow calls (every path into the API uses this)."""
        self.request_seconds.labels(method, route, str(status)).observe(seconds)
        if status >= 400 or seconds > 1.0:
            log.info(
                "request", extra={"method": method, "route": route, "status": status, "ms": round(seconds * 1000, 2)}
            )
