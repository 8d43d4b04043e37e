"""Writing Segment messages: the run's numbered log, one visit's `Session`, and the shop's screens as `page`
(web) or `screen` (app) calls.

The messages are plain dicts exactly as Segment's HTTP API receives them, so the demo exercises the same
ingestion path as real traffic.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from afinidad.demo.randomness import uid
from afinidad.demo.world import SITE

Message = dict[str, Any]


class MessageLog:
    """Numbers every message of a run and keeps those inside the window [start, end), oldest first.

    The number makes message ids deterministic for a seed, and breaks ties between equal timestamps.
    """

    def __init__(self, seed: int, start: datetime, end: datetime) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        self.count = 0
        self._kept: list[tuple[datetime, int, Message]] = []

    def next_id(self) -> str:
        self.count += 1
        return str(uid(self.seed, "message", self.count))

    def record(self, at: datetime, message: Message) -> None:
        if self.start <= at < self.end:
            self._kept.append((at, self.count, message))

    def in_order(self) -> list[Message]:
        self._kept.sort(key=lambda item: (item[0], item[1]))
        return [message for _, _, message in self._kept]


class Session:
    """Emits the messages of one visit, moving a clock forward between them."""

    def __init__(
        self,
        log: MessageLog,
        rng: random.Random,
        at: datetime,
        context: dict[str, Any],
        anonymous_id: str | None,
        user_id: str | None = None,
        *,
        sent_at: bool = False,
        local_zone: ZoneInfo | None = None,
    ) -> None:
        self.log = log
        self.rng = rng
        self.clock = at
        self.context = context
        self.anonymous_id = anonymous_id
        self.user_id = user_id
        self.sent_at = sent_at
        self.local_zone = local_zone  # tills report local time with an offset instead of UTC

    def emit(self, kind: str, body: dict[str, Any], pause: tuple[float, float] = (4.0, 50.0)) -> None:
        self.clock += timedelta(seconds=self.rng.uniform(*pause))
        message: Message = {"type": kind, "messageId": self.log.next_id()}
        if self.user_id is not None:
            message["userId"] = self.user_id
        if self.anonymous_id is not None:
            message["anonymousId"] = self.anonymous_id
        message["timestamp"] = _iso(self.clock, self.local_zone)
        if self.sent_at:
            message["sentAt"] = _iso(self.clock + timedelta(seconds=self.rng.uniform(0.2, 25.0)))
        message["context"] = _copy(self.context)
        message.update(body)
        self.log.record(self.clock, message)

    def track(self, event: str, properties: dict[str, Any], pause: tuple[float, float] = (4.0, 50.0)) -> None:
        self.emit("track", {"event": event, "properties": properties}, pause)


class Views:
    """Renders the shop's screens as `page` calls on the web and `screen` calls in the app."""

    _SCREENS = {
        "Home": "Home",
        "Category": "Product List",
        "Search Results": "Search",
        "Product": "Product Detail",
        "Cart": "Cart",
        "Checkout": "Checkout",
        "Order Confirmation": "Order Confirmation",
    }

    def __init__(self, session: Session, web: bool, landing_search: str = "", referrer: str = "") -> None:
        self.session = session
        self.web = web
        self.search = landing_search
        self.referrer = referrer

    def show(self, name: str, path: str, properties: dict[str, Any] | None = None) -> None:
        if not self.web:
            self.session.emit("screen", {"name": self._SCREENS[name], "properties": properties or {}})
            return
        query = ""
        if "?" in path:
            path, query = path.split("?", 1)
            query = "?" + query
        elif self.search:
            query, self.search = self.search, ""
        url = f"{SITE}{path}{query}"
        page = {
            "path": path,
            "referrer": self.referrer,
            "search": query,
            "title": f"{name} | Afinidad",
            "url": url,
        }
        self.session.context["page"] = page
        self.session.emit("page", {"name": name, "properties": {**page, **(properties or {})}})
        self.referrer = url


def _iso(at: datetime, zone: ZoneInfo | None = None) -> str:
    """ISO 8601 with milliseconds: 'Z' for UTC, or the local offset where a till reports local time."""
    if zone is not None:
        return at.astimezone(zone).isoformat(timespec="milliseconds")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _copy(context: dict[str, Any]) -> dict[str, Any]:
    """Each message gets its own context, two levels deep, so a consumer editing one cannot edit others."""
    copied: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, dict):
            copied[key] = dict(value)
        elif isinstance(value, list):
            copied[key] = [dict(item) if isinstance(item, dict) else item for item in value]
        else:
            copied[key] = value
    return copied
