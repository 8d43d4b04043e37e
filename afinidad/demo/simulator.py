"""A seeded simulator of shoppers that speaks Segment's tracking spec: the demo's own data.

The product may not ship rows of real data sets, so the demo generates a month of a small omnichannel shop
instead: anonymous browsing that later signs in, an app, e-mail campaigns reported by an e-mail service
provider, and tills in physical stores that only know a loyalty card. The messages are plain dicts exactly
as Segment's HTTP API receives them, so the demo exercises the same ingestion path as real traffic.

The behaviour is planted on purpose, so that later capabilities have something to find:

* personas prefer 1-3 categories, a daypart, a channel mix, and have a price sensitivity and a heavy-tailed
  activity level (segments, propensity, send-time optimisation);
* consumables (coffee, pet food) are bought again on a personal cycle (CLV, next purchase);
* every product has one or two companions that end up in the same basket (recommendations);
* coupons in e-mail campaigns convert price-sensitive shoppers more (bandits, next best action);
* rainy or snowy evenings tilt browsing towards home and books, sunny warm days towards the outdoors, so the
  free `context.weather` key carries signal (contextual bandits);
* a shared family tablet used by three accounts and a "test@test.com" typed by several shoppers are the
  identity traps the profile merger must refuse to over-merge.

Everything is a pure function of the seed and the window: each shopper draws from their own
`random.Random`, so adding shoppers does not change the lives of the others. When `end` is not given the
window ends at today's midnight UTC, so two runs on the same day agree.

This module is the public entry; the parts live next to it:

* `world`: channels, dayparts, cities, devices, organisations;
* `personas`: who the shoppers are, what changes about them, and the identity traps;
* `campaigns`: the newsletters; `weather`: each city's days and their tilt on interest;
* `assortment`: popularity, companions and picking products; `funnel`: browsing, carts and orders;
* `identity`: sign-in, sign-up and checkout; `schedule`: when each shopper visits through which channel;
* `channels`: the session writers for web, app, store and e-mail; `messages`: the message log and sessions.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from afinidad.demo.assortment import Assortment, companions
from afinidad.demo.campaigns import Campaign, plan_campaigns
from afinidad.demo.catalog import Product, generate_catalog
from afinidad.demo.channels import ChannelWriters
from afinidad.demo.funnel import Funnel
from afinidad.demo.messages import Message, MessageLog
from afinidad.demo.personas import TEST_EMAIL, ChannelMix, Persona, ShopperState, generate_personas
from afinidad.demo.schedule import forced_visits, plan_day
from afinidad.demo.weather import Weather
from afinidad.demo.world import (
    CHANNELS,
    CITIES,
    DAYPART_HOURS,
    DAYPARTS,
    DEVICES,
    FAMILY_TABLET,
    ORGANIZATIONS,
    SITE,
    City,
    Device,
    Organization,
    zone,
)

__all__ = [
    "CHANNELS",
    "CITIES",
    "DAYPARTS",
    "DAYPART_HOURS",
    "DEVICES",
    "FAMILY_TABLET",
    "ORGANIZATIONS",
    "SITE",
    "TEST_EMAIL",
    "Campaign",
    "ChannelMix",
    "City",
    "Device",
    "Message",
    "Organization",
    "Persona",
    "SimulationSummary",
    "channel_of",
    "companions",
    "generate_personas",
    "simulate",
    "summarize",
]


@dataclass
class SimulationSummary:
    """Counts a person checks after generating demo data."""

    messages: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_event: Counter[str] = field(default_factory=Counter)
    orders: int = 0
    revenue: float = 0.0
    user_ids: int = 0
    anonymous_ids: int = 0


def simulate(seed: int = 7, shoppers: int = 300, days: int = 30, end: datetime | None = None) -> Iterator[Message]:
    """Yield a month (by default) of Segment messages from `shoppers` simulated shoppers, oldest first.

    The window is [end - days, end). A naive `end` is read as UTC; without `end` the window ends at today's
    midnight UTC, which keeps runs on the same day identical and the demo's dates recent. The identity
    traps (shared tablet, test@test.com) need at least 20 shoppers and a window of at least 3 days.
    """
    if shoppers < 1 or days < 1:
        raise ValueError("a simulation needs at least one shopper and one day")
    if end is None:
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end = end.astimezone(UTC)
    catalog = generate_catalog(seed)
    personas = generate_personas(seed, shoppers)
    yield from _Simulation(seed, catalog, personas, end - timedelta(days=days), end).run()


def channel_of(message: Message) -> str:
    """Which of the four channels a simulated message came from (web, app, email or store)."""
    context = message.get("context", {})
    if context.get("channel") == "store":
        return "store"
    if str(message.get("anonymousId", "")).startswith("esp-"):
        return "email"
    if "app" in context:
        return "app"
    return "web"


def summarize(messages: Iterable[Message]) -> SimulationSummary:
    """Count messages by type, channel and event, and total the orders."""
    summary = SimulationSummary()
    user_ids: set[str] = set()
    anonymous_ids: set[str] = set()
    for message in messages:
        summary.messages += 1
        summary.by_type[message["type"]] += 1
        summary.by_channel[channel_of(message)] += 1
        if message["type"] == "track":
            summary.by_event[message["event"]] += 1
            if message["event"] == "Order Completed":
                summary.orders += 1
                summary.revenue += message["properties"]["revenue"]
        if "userId" in message:
            user_ids.add(message["userId"])
        if "anonymousId" in message:
            anonymous_ids.add(message["anonymousId"])
    summary.revenue = round(summary.revenue, 2)
    summary.user_ids = len(user_ids)
    summary.anonymous_ids = len(anonymous_ids)
    return summary


class _Simulation:
    """One run: every shopper lives through the window in turn, writing into one shared message log."""

    def __init__(
        self, seed: int, catalog: list[Product], personas: list[Persona], start: datetime, end: datetime
    ) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        self.personas = personas
        self.campaigns = plan_campaigns(seed, start, end)
        self.log = MessageLog(seed, start, end)
        self.funnel = Funnel(seed, Assortment(catalog, seed), self.log, start)
        self.channels = ChannelWriters(seed, self.log, Weather(seed), self.funnel)

    def run(self) -> list[Message]:
        for persona in self.personas:
            self._live(persona)
        return self.log.in_order()

    def _live(self, persona: Persona) -> None:
        """A shopper's month: their visits day by day, in the order they happen."""
        rng = random.Random(f"afinidad-life:{self.seed}:{persona.index}")
        home_zone = zone(persona.city.timezone)
        state = ShopperState(registered=persona.account == "registered", cookie=persona.anonymous_id)
        if state.registered:
            state.email_known_at = self.start - timedelta(days=365)
        first_day = self.start.astimezone(home_zone).date()
        last_day = (self.end - timedelta(microseconds=1)).astimezone(home_zone).date()
        self.funnel.seed_replenishment(persona, state, rng)
        forced = forced_visits(persona, rng, first_day, last_day)
        channels = self.channels
        day = first_day
        while day <= last_day:
            agenda = plan_day(persona, state, rng, day, home_zone, self.campaigns) + forced.get(day, [])
            agenda.sort(key=lambda visit: visit.at)
            for visit in agenda:
                if visit.channel == "web":
                    channels.web_session(persona, state, rng, visit.at, must_buy=visit.must_buy)
                elif visit.channel == "app":
                    channels.app_session(persona, state, rng, visit.at, tablet=visit.tablet, must_buy=visit.must_buy)
                elif visit.channel == "store":
                    channels.store_visit(persona, state, rng, visit.at)
                elif visit.campaign is not None:
                    channels.newsletter(persona, state, rng, visit.at, visit.campaign)
            day += timedelta(days=1)
