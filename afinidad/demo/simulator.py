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
"""

from __future__ import annotations

import hashlib
import math
import random
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from afinidad.demo.catalog import CATEGORY_PATHS, Product, generate_catalog

Message = dict[str, Any]

CHANNELS = ("web", "app", "email", "store")
DAYPARTS = ("morning", "afternoon", "evening", "night")
TEST_EMAIL = "test@test.com"
SITE = "https://shop.afinidad.example"  # .example is reserved (RFC 2606), so no link can reach a real shop

# Local hours [start, stop) of each daypart; night wraps past midnight. Sessions centre on the middle.
DAYPART_HOURS: dict[str, tuple[int, int]] = {
    "morning": (6, 12),
    "afternoon": (12, 17),
    "evening": (17, 23),
    "night": (22, 26),
}
_DAYPART_CENTRE = {
    "morning": (9.0, 1.1),
    "afternoon": (14.5, 1.2),
    "evening": (19.75, 1.0),
    "night": (23.6, 0.8),
}

_NAMESPACE = uuid.UUID("6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b")


@dataclass(frozen=True)
class City:
    """A home city: where a shopper's clock, language, weather, IP range and nearest store come from.

    IPs come from the three documentation networks (RFC 5737), each city owning a slice of one of them, so
    that geo-IP style features see a stable mapping without any real address appearing in the demo.
    """

    name: str
    country: str  # ISO 3166-1 alpha-2
    timezone: str  # IANA
    locale: str
    network: str  # first three octets of a documentation /24
    hosts: tuple[int, int]  # [first, last] host octets for shoppers
    store_host: int
    store_id: str
    temperature_by_month: tuple[float, ...]  # mean daily °C, January first
    wet_share_by_month: tuple[float, ...]  # share of days with rain or snow
    weight: float  # share of shoppers living there
    dialing: str  # E.164 prefix for invented mobile numbers


CITIES: tuple[City, ...] = (
    City(
        "London", "GB", "Europe/London", "en-GB", "192.0.2", (1, 80), 241, "ST-LON-01",
        (5.5, 5.5, 7.5, 10, 13, 16.5, 18.5, 18.5, 15.5, 12, 8.5, 6),
        (0.50, 0.42, 0.40, 0.38, 0.38, 0.35, 0.35, 0.37, 0.38, 0.45, 0.50, 0.50),
        0.18, "+447400",
    ),
    City(
        "Manchester", "GB", "Europe/London", "en-GB", "198.51.100", (1, 80), 241, "ST-MAN-01",
        (4.5, 4.5, 6.5, 9, 12, 15, 16.5, 16.5, 14, 10.5, 7, 5),
        (0.60, 0.50, 0.50, 0.45, 0.45, 0.45, 0.45, 0.50, 0.50, 0.55, 0.60, 0.60),
        0.08, "+447400",
    ),
    City(
        "New York", "US", "America/New_York", "en-US", "203.0.113", (1, 80), 241, "ST-NYC-01",
        (0.5, 2, 6, 12, 17.5, 22.5, 25.5, 25, 21, 14.5, 9, 3.5),
        (0.35, 0.32, 0.35, 0.35, 0.37, 0.35, 0.33, 0.32, 0.30, 0.30, 0.32, 0.35),
        0.16, "+1212555",
    ),
    City(
        "Chicago", "US", "America/Chicago", "en-US", "192.0.2", (81, 160), 242, "ST-CHI-01",
        (-4.5, -2.5, 3.5, 9.5, 15.5, 21, 24, 23, 19, 12, 5, -1.5),
        (0.35, 0.30, 0.37, 0.40, 0.38, 0.36, 0.33, 0.30, 0.30, 0.33, 0.35, 0.37),
        0.10, "+1312555",
    ),
    City(
        "Madrid", "ES", "Europe/Madrid", "es-ES", "198.51.100", (81, 160), 242, "ST-MAD-01",
        (6.5, 8, 11, 13, 17, 22.5, 26, 25.5, 21, 15, 10, 7),
        (0.20, 0.18, 0.15, 0.25, 0.22, 0.10, 0.05, 0.06, 0.12, 0.22, 0.22, 0.20),
        0.16, "+34600",
    ),
    City(
        "Barcelona", "ES", "Europe/Madrid", "es-ES", "203.0.113", (81, 160), 242, "ST-BCN-01",
        (10, 10.5, 13, 15, 18.5, 22.5, 25.5, 26, 22.5, 19, 14, 11),
        (0.15, 0.13, 0.16, 0.20, 0.20, 0.13, 0.10, 0.13, 0.17, 0.20, 0.17, 0.15),
        0.10, "+34600",
    ),
    City(
        "Mexico City", "MX", "America/Mexico_City", "es-MX", "192.0.2", (161, 240), 243, "ST-MEX-01",
        (14, 15.5, 17.5, 18.5, 19, 18, 17, 17, 16.5, 16, 15, 14),
        (0.10, 0.10, 0.12, 0.18, 0.30, 0.60, 0.70, 0.70, 0.60, 0.30, 0.10, 0.08),
        0.14, "+5255",
    ),
    City(
        "Guadalajara", "MX", "America/Mexico_City", "es-MX", "198.51.100", (161, 240), 243, "ST-GDL-01",
        (17, 18.5, 21, 23, 25, 24, 22, 22, 21.5, 20.5, 19, 17.5),
        (0.08, 0.05, 0.04, 0.04, 0.08, 0.45, 0.70, 0.70, 0.55, 0.18, 0.05, 0.08),
        0.08, "+5233",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Device:
    """The shopper's own device; phones also run the app, desktops only browse."""

    kind: str  # ios | android | windows | macos
    model: str
    manufacturer: str
    os_name: str
    os_version: str
    browser_user_agent: str

    @property
    def is_phone(self) -> bool:
        return self.kind in ("ios", "android")


DEVICES: tuple[Device, ...] = (
    Device(
        "ios", "iPhone15,2", "Apple", "iOS", "17.5",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
    ),
    Device(
        "android", "Pixel 8", "Google", "Android", "14",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36",
    ),
    Device(
        "android", "SM-S911B", "Samsung", "Android", "14",
        "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    ),
    Device(
        "windows", "Desktop", "Microsoft", "Windows", "10.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
    ),
    Device(
        "macos", "Desktop", "Apple", "macOS", "14.5",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
    ),
)  # fmt: skip
_DEVICE_WEIGHTS = (0.32, 0.18, 0.12, 0.24, 0.14)

FAMILY_TABLET = Device(
    "ios", "iPad13,18", "Apple", "iPadOS", "17.5",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
)  # fmt: skip


@dataclass(frozen=True)
class ChannelMix:
    """Shares of a shopper's attention per channel (summing to 1).

    Web, app and store shares split the shopper's visits; the e-mail share sets how often campaigns are
    opened and clicked, since e-mail is something that happens to a shopper rather than a visit.
    """

    web: float
    app: float
    email: float
    store: float


@dataclass(frozen=True)
class Organization:
    """A business that a few shoppers buy for, announced with Segment `group` calls."""

    group_id: str
    name: str
    industry: str
    employees: int


ORGANIZATIONS: tuple[Organization, ...] = (
    Organization("org-northwind", "Northwind Interiors", "Interior design", 42),
    Organization("org-cafe-del-sol", "Café del Sol", "Hospitality", 18),
    Organization("org-brightdesk", "Brightdesk Coworking", "Real estate", 65),
    Organization("org-patitas", "Clínica Patitas", "Veterinary", 12),
)


@dataclass(frozen=True)
class Persona:
    """The hidden truth about one shopper, kept public so tests and evaluations can check what the
    platform learns against what was planted.

    `account` is "registered" (an account from before the window), "signs_up" (creates one during the
    window) or "guest" (checks out with an e-mail, never has a userId). `user_id` is the id the shop would
    give the shopper; it only appears in messages once the shopper has an account.
    """

    index: int
    user_id: str
    anonymous_id: str  # the first browser cookie
    app_anonymous_id: str | None
    app_device_id: str | None
    first_name: str
    last_name: str
    email: str
    phone: str | None  # E.164
    city: City
    locale: str
    ip: str
    device: Device
    preferred_categories: tuple[str, ...]
    price_sensitivity: float  # 0 = indifferent to price, 1 = hunts bargains
    daypart: str
    channels: ChannelMix
    sessions_per_week: float
    weekend_shopper: bool
    account: str
    loyalty_card: str | None
    shares_email_at_till: bool
    replenish_days: int
    organization: Organization | None = None
    shares_family_tablet: bool = False
    types_test_email: bool = False


@dataclass(frozen=True)
class Campaign:
    """One newsletter send, focused on a category; weekend sends carry a coupon."""

    campaign_id: str
    name: str
    slug: str
    category: str
    send_date: date
    coupon: str | None


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


def generate_personas(seed: int, shoppers: int) -> list[Persona]:
    """Invent the shoppers of a simulation; `simulate` with the same seed uses exactly these."""
    personas = [_persona(seed, index) for index in range(shoppers)]
    if shoppers >= 20:
        _plant_identity_traps(seed, personas)
    return personas


def companions(catalog: Sequence[Product], seed: int) -> dict[str, tuple[str, ...]]:
    """The planted co-purchase structure: each product's 1-2 companions, by product id.

    Mostly from the same category, sometimes from a complementary one (coffee with kitchen, pets with home),
    chosen among popular products; the ground truth a basket recommender should recover.
    """
    rng = random.Random(f"afinidad-companions:{seed}")
    popularity = _popularity(catalog, seed)
    by_category: dict[str, list[Product]] = {}
    for product in catalog:
        by_category.setdefault(product.category, []).append(product)
    result: dict[str, tuple[str, ...]] = {}
    for product in catalog:
        chosen: list[str] = []
        for _ in range(rng.choice((1, 2, 2))):
            category = product.category
            if rng.random() < 0.35 and category in _COMPLEMENTS:
                category = rng.choice(_COMPLEMENTS[category])
            candidates = [p for p in by_category.get(category, []) if p.product_id != product.product_id]
            candidates = [p for p in candidates if p.product_id not in chosen]
            if not candidates:
                continue
            weights = [popularity[p.product_id] for p in candidates]
            chosen.append(rng.choices(candidates, weights)[0].product_id)
        result[product.product_id] = tuple(chosen)
    return result


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


# --- personas ------------------------------------------------------------------------------------------

_FIRST_NAMES = {
    "en": ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "James", "Emily", "Noah",
           "Sophia", "Liam", "Olivia", "Ethan", "Grace", "Lucas", "Chloe", "Henry", "Ella"),
    "es": ("María", "José", "Lucía", "Carlos", "Sofía", "Javier", "Valentina", "Diego", "Camila",
           "Alejandro", "Martina", "Pablo", "Daniela", "Miguel", "Paula", "Andrés", "Ximena", "Mateo",
           "Elena", "Santiago"),
}  # fmt: skip
_LAST_NAMES = {
    "en": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Miller",
           "Clarke", "Walker", "Wright", "Thompson", "Evans", "Hughes", "Moore"),
    "es": ("García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Rodríguez",
           "Hernández", "Díaz", "Moreno", "Ruiz", "Álvarez", "Romero", "Torres", "Navarro"),
}  # fmt: skip
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")  # reserved (RFC 2606): never a real inbox

_CATEGORY_APPEAL = {
    "Home > Decor": 1.2,
    "Home > Kitchen": 1.0,
    "Books > Fiction": 1.0,
    "Fashion > Apparel": 1.3,
    "Electronics > Audio": 0.7,
    "Sports > Outdoors": 0.8,
    "Grocery > Coffee": 1.0,
    "Pets > Food": 0.8,
}
_COMPLEMENTS = {
    "Grocery > Coffee": ("Home > Kitchen",),
    "Home > Kitchen": ("Grocery > Coffee", "Home > Decor"),
    "Pets > Food": ("Home > Decor",),
    "Home > Decor": ("Books > Fiction", "Home > Kitchen"),
    "Books > Fiction": ("Home > Decor",),
    "Sports > Outdoors": ("Fashion > Apparel", "Electronics > Audio"),
    "Fashion > Apparel": ("Sports > Outdoors",),
    "Electronics > Audio": ("Sports > Outdoors", "Books > Fiction"),
}
_ARCHETYPES: dict[str, tuple[float, float, float, float]] = {  # web, app, email, store
    "web-first": (0.70, 0.10, 0.15, 0.05),
    "app-first": (0.15, 0.65, 0.10, 0.10),
    "omnichannel": (0.30, 0.25, 0.20, 0.25),
    "store-loyal": (0.15, 0.05, 0.15, 0.65),
    "email-responsive": (0.35, 0.15, 0.45, 0.05),
}
_ARCHETYPE_WEIGHTS = (0.32, 0.22, 0.18, 0.14, 0.14)


def _persona(seed: int, index: int) -> Persona:
    rng = random.Random(f"afinidad-persona:{seed}:{index}")
    city = rng.choices(CITIES, [c.weight for c in CITIES])[0]
    locale = city.locale
    if city.country == "US" and rng.random() < 0.12:
        locale = "es-MX"
    elif city.country == "ES" and rng.random() < 0.08:
        locale = "en-GB"
    language = locale[:2]
    first_name = rng.choice(_FIRST_NAMES[language])
    last_name = rng.choice(_LAST_NAMES[language])
    device = rng.choices(DEVICES, _DEVICE_WEIGHTS)[0]
    archetype = rng.choices(list(_ARCHETYPES), _ARCHETYPE_WEIGHTS)[0]
    shares = [weight * rng.gammavariate(4.0, 0.25) for weight in _ARCHETYPES[archetype]]
    if not device.is_phone:
        shares[0] += shares[1]
        shares[1] = 0.0
    total = sum(shares)
    channels = ChannelMix(*(round(share / total, 4) for share in shares))
    preferred: list[str] = []
    for _ in range(rng.choices((1, 2, 3), (0.3, 0.45, 0.25))[0]):
        remaining = [path for path in CATEGORY_PATHS if path not in preferred]
        preferred.append(rng.choices(remaining, [_CATEGORY_APPEAL[p] for p in remaining])[0])
    account = rng.choices(("registered", "signs_up", "guest"), (0.42, 0.28, 0.30))[0]
    has_card = rng.random() < min(0.95, channels.store * 4)
    card = f"LC-{(index * 7919 + seed * 104729) % 1_000_000:06d}" if has_card else None
    first_host, last_host = city.hosts
    return Persona(
        index=index,
        user_id=f"usr_{_uid(seed, 'user', index).hex[:12]}",
        anonymous_id=str(_uid(seed, "cookie", index, 0)),
        app_anonymous_id=str(_uid(seed, "app-install", index)) if device.is_phone else None,
        app_device_id=str(_uid(seed, "app-device", index)).upper() if device.is_phone else None,
        first_name=first_name,
        last_name=last_name,
        email=_email(first_name, last_name, index, rng),
        phone=_phone(city, rng) if account != "guest" and rng.random() < 0.45 else None,
        city=city,
        locale=locale,
        ip=f"{city.network}.{rng.randint(first_host, last_host)}",
        device=device,
        preferred_categories=tuple(preferred),
        price_sensitivity=round(rng.betavariate(2.0, 2.0), 3),
        daypart=rng.choices(DAYPARTS, (0.22, 0.25, 0.38, 0.15))[0],
        channels=channels,
        sessions_per_week=round(min(14.0, 0.42 * rng.paretovariate(1.35)), 3),
        weekend_shopper=rng.random() < 0.35,
        account=account,
        loyalty_card=card,
        shares_email_at_till=has_card and rng.random() < 0.5,
        replenish_days=rng.randint(9, 24),
        organization=rng.choice(ORGANIZATIONS) if account != "guest" and rng.random() < 0.04 else None,
    )


def _plant_identity_traps(seed: int, personas: list[Persona]) -> None:
    """Three relatives sharing one tablet, and eight guests who type test@test.com at checkout.

    Both are real-world ways for identifiers to collide; a profile merger that follows them blindly would
    fuse unrelated people, so the demo must contain them for the over-merge guard to show itself.
    """
    rng = random.Random(f"afinidad-traps:{seed}")
    family = rng.sample(range(len(personas)), 3)
    head = personas[family[0]]
    for position, index in enumerate(family):
        member = personas[index]
        mix = member.channels
        app = max(mix.app, 0.35)
        scale = (1 - app) / max(1e-9, mix.web + mix.email + mix.store)
        personas[index] = replace(
            member,
            city=head.city,
            locale=head.locale,
            ip=head.ip,
            last_name=head.last_name,
            email=_email(member.first_name, head.last_name, index, random.Random(f"{seed}:{position}")),
            account="registered",
            channels=ChannelMix(
                round(mix.web * scale, 4),
                round(app, 4),
                round(mix.email * scale, 4),
                round(mix.store * scale, 4),
            ),
            shares_family_tablet=True,
        )
    others = [p.index for p in personas if p.index not in family]
    guests = [index for index in others if personas[index].account == "guest"]
    typers = rng.sample(guests, min(8, len(guests)))
    if len(typers) < 8:
        typers += rng.sample([i for i in others if i not in typers], 8 - len(typers))
    for index in typers:
        personas[index] = replace(personas[index], account="guest", types_test_email=True)


def _email(first_name: str, last_name: str, index: int, rng: random.Random) -> str:
    local = f"{_ascii(first_name)}.{_ascii(last_name)}{index}"
    if rng.random() < 0.3:
        local = f"{_ascii(first_name)[0]}{_ascii(last_name)}{index}"
    return f"{local}@{rng.choice(_EMAIL_DOMAINS)}"


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


def _phone(city: City, rng: random.Random) -> str:
    """An E.164 mobile number in a range that validates but is unlikely to be anyone's (555-01xx in the
    US, the numbering plans' example ranges elsewhere)."""
    if city.country == "US":
        return f"{city.dialing}01{rng.randint(0, 99):02d}"
    digits = _SUBSCRIBER_DIGITS[city.country]
    return f"{city.dialing}{rng.randint(0, 10**digits - 1):0{digits}d}"


_SUBSCRIBER_DIGITS = {"GB": 6, "ES": 6, "MX": 8}


def _uid(seed: int, *parts: object) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, ":".join(str(part) for part in (seed, *parts)))


def _popularity(catalog: Sequence[Product], seed: int) -> dict[str, float]:
    """A heavy-tailed popularity per product, so a few best-sellers exist for popularity baselines."""
    rng = random.Random(f"afinidad-popularity:{seed}")
    return {product.product_id: min(25.0, rng.paretovariate(1.2)) for product in catalog}


# --- the simulation ------------------------------------------------------------------------------------

_WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.72.0"}
_APP_LIBRARIES = {
    "ios": {"name": "analytics-swift", "version": "1.6.1"},
    "android": {"name": "analytics-kotlin", "version": "1.16.3"},
}
_ESP_LIBRARY = {"name": "analytics-python", "version": "2.3.3"}
_POS_LIBRARY = {"name": "analytics-java", "version": "3.5.1"}
_APP = {"name": "Afinidad Shop", "version": "3.4.1", "build": "341", "namespace": "com.afinidad.shop"}
_ESP_IP = "203.0.113.250"
_ESP_USER_AGENT = "AfinidadMailer/2.1 (+https://mail.afinidad.example)"
_POS_USER_AGENT = "AfinidadPOS/5.2 (till; Java 17)"
_ADS = (
    {"source": "google", "medium": "cpc", "name": "brand_search"},
    {"source": "google", "medium": "cpc", "name": "generic_home"},
    {"source": "instagram", "medium": "paid_social", "name": "new_season"},
    {"source": "facebook", "medium": "paid_social", "name": "retargeting"},
)
_AD_REFERRERS = {
    "google": "https://www.google.com/",
    "instagram": "https://l.instagram.com/",
    "facebook": "https://l.facebook.com/",
}
_SUBJECTS = {
    "Home > Decor": ("Fresh looks for your home", "Ideas nuevas para tu casa"),
    "Home > Kitchen": ("Cook like you mean it", "Cocina con lo mejor"),
    "Books > Fiction": ("Your next great read", "Tu próxima gran lectura"),
    "Fashion > Apparel": ("The new season is here", "Llega la nueva temporada"),
    "Electronics > Audio": ("Hear the difference", "Escucha la diferencia"),
    "Sports > Outdoors": ("Get outside this week", "Sal al aire libre esta semana"),
    "Grocery > Coffee": ("Freshly roasted for you", "Recién tostado para ti"),
    "Pets > Food": ("Treats for your best friend", "Premios para tu mejor amigo"),
}


@dataclass
class _Plan:
    at: datetime
    channel: str
    tablet: bool = False
    must_buy: bool = False
    campaign: Campaign | None = None


@dataclass
class _State:
    """What changes about a shopper while the month goes by."""

    registered: bool
    cookie: str
    cookie_generation: int = 0
    web_signed_in: bool = False
    app_signed_in: bool = False
    email_known_at: datetime | None = None
    due: dict[str, datetime] = field(default_factory=dict)
    grouped: bool = False
    test_email_used: bool = False
    email_given_at_till: bool = False


class _Session:
    """Emits the messages of one visit, moving a clock forward between them."""

    def __init__(
        self,
        sim: _Simulation,
        rng: random.Random,
        at: datetime,
        context: dict[str, Any],
        anonymous_id: str | None,
        user_id: str | None = None,
        *,
        sent_at: bool = False,
        local_zone: ZoneInfo | None = None,
    ) -> None:
        self.sim = sim
        self.rng = rng
        self.clock = at
        self.context = context
        self.anonymous_id = anonymous_id
        self.user_id = user_id
        self.sent_at = sent_at
        self.local_zone = local_zone  # tills report local time with an offset instead of UTC

    def emit(self, kind: str, body: dict[str, Any], pause: tuple[float, float] = (4.0, 50.0)) -> None:
        self.clock += timedelta(seconds=self.rng.uniform(*pause))
        message: Message = {"type": kind, "messageId": self.sim.next_message_id()}
        if self.user_id is not None:
            message["userId"] = self.user_id
        if self.anonymous_id is not None:
            message["anonymousId"] = self.anonymous_id
        message["timestamp"] = _iso(self.clock, self.local_zone)
        if self.sent_at:
            message["sentAt"] = _iso(self.clock + timedelta(seconds=self.rng.uniform(0.2, 25.0)))
        message["context"] = _copy(self.context)
        message.update(body)
        self.sim.record(self.clock, message)

    def track(self, event: str, properties: dict[str, Any], pause: tuple[float, float] = (4.0, 50.0)) -> None:
        self.emit("track", {"event": event, "properties": properties}, pause)


class _Views:
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

    def __init__(self, session: _Session, web: bool, landing_search: str = "", referrer: str = "") -> None:
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


class _Simulation:
    def __init__(
        self, seed: int, catalog: list[Product], personas: list[Persona], start: datetime, end: datetime
    ) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        self.catalog = catalog
        self.products = {product.product_id: product for product in catalog}
        self.by_category: dict[str, list[Product]] = {}
        for product in catalog:
            self.by_category.setdefault(product.category, []).append(product)
        self.popularity = _popularity(catalog, seed)
        self.companions = companions(catalog, seed)
        self.medians = {
            category: sorted(p.price for p in products)[len(products) // 2]
            for category, products in self.by_category.items()
        }
        self.personas = personas
        self.campaigns = _campaigns(seed, start, end)
        self.tablet_anonymous_id = str(_uid(seed, "family-tablet", "anonymous"))
        self.tablet_device_id = str(_uid(seed, "family-tablet", "device")).upper()
        self._zones: dict[str, ZoneInfo] = {}
        self._weather: dict[tuple[str, date], dict[str, Any]] = {}
        self._messages: list[tuple[datetime, int, Message]] = []
        self._message_count = 0
        self._order_count = 0

    # bookkeeping ---------------------------------------------------------------------------------------

    def next_message_id(self) -> str:
        self._message_count += 1
        return str(_uid(self.seed, "message", self._message_count))

    def record(self, at: datetime, message: Message) -> None:
        if self.start <= at < self.end:
            self._messages.append((at, self._message_count, message))

    def run(self) -> list[Message]:
        for persona in self.personas:
            self._live(persona)
        self._messages.sort(key=lambda item: (item[0], item[1]))
        return [message for _, _, message in self._messages]

    def zone(self, name: str) -> ZoneInfo:
        if name not in self._zones:
            self._zones[name] = ZoneInfo(name)
        return self._zones[name]

    def weather(self, city: City, day: date) -> dict[str, Any]:
        """The day's weather in a city, the same for every shopper living there."""
        key = (city.name, day)
        if key not in self._weather:
            rng = random.Random(f"afinidad-weather:{self.seed}:{city.name}:{day.isoformat()}")
            temperature = city.temperature_by_month[day.month - 1] + rng.gauss(0.0, 3.0)
            if rng.random() < city.wet_share_by_month[day.month - 1]:
                temperature -= 1.5
                condition = "snow" if temperature <= 1.0 else "rain"
            else:
                condition = "cloudy" if rng.random() < 0.45 else "sunny"
            self._weather[key] = {"condition": condition, "temperature_c": round(temperature, 1)}
        return self._weather[key]

    # a shopper's month ---------------------------------------------------------------------------------

    def _live(self, persona: Persona) -> None:
        rng = random.Random(f"afinidad-life:{self.seed}:{persona.index}")
        zone = self.zone(persona.city.timezone)
        state = _State(registered=persona.account == "registered", cookie=persona.anonymous_id)
        if state.registered:
            state.email_known_at = self.start - timedelta(days=365)
        first_day = self.start.astimezone(zone).date()
        last_day = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        self._seed_replenishment(persona, state, rng)
        forced = self._forced_plans(persona, rng, first_day, last_day)
        day = first_day
        while day <= last_day:
            agenda = self._plan_day(persona, state, rng, day, zone) + forced.get(day, [])
            agenda.sort(key=lambda plan: plan.at)
            for plan in agenda:
                if plan.channel == "web":
                    self._web_session(persona, state, rng, plan.at, must_buy=plan.must_buy)
                elif plan.channel == "app":
                    self._app_session(persona, state, rng, plan.at, tablet=plan.tablet, must_buy=plan.must_buy)
                elif plan.channel == "store":
                    self._store_visit(persona, state, rng, plan.at)
                elif plan.campaign is not None:
                    self._newsletter(persona, state, rng, plan.at, plan.campaign)
            day += timedelta(days=1)

    def _seed_replenishment(self, persona: Persona, state: _State, rng: random.Random) -> None:
        """Shoppers of consumables arrive with a usual product already part-way through its cycle, as if
        they had bought it before the window opened."""
        for category in persona.preferred_categories:
            products = self.by_category.get(category, [])
            if products and products[0].repeat_purchase and rng.random() < 0.7:
                usual = self._pick(persona, category, rng)
                state.due[usual.product_id] = self.start + timedelta(days=rng.uniform(0, persona.replenish_days))

    def _forced_plans(
        self, persona: Persona, rng: random.Random, first_day: date, last_day: date
    ) -> dict[date, list[_Plan]]:
        """Guaranteed visits for the identity traps, so they appear in any window of 3 days or more."""
        span = (last_day - first_day).days
        if span < 2 or not (persona.shares_family_tablet or persona.types_test_email):
            return {}
        day = first_day + timedelta(days=rng.randint(1, span - 1))
        at = self._local_time(persona, rng, day)
        if persona.shares_family_tablet:
            return {day: [_Plan(at, "app", tablet=True)]}
        return {day: [_Plan(at, "web", must_buy=True)]}

    def _plan_day(self, persona: Persona, state: _State, rng: random.Random, day: date, zone: ZoneInfo) -> list[_Plan]:
        weekend = day.weekday() >= 5
        weekday_factors = (0.65, 2.2) if persona.weekend_shopper else (1.05, 0.85)
        factor = weekday_factors[weekend]
        rate = min(4.0, persona.sessions_per_week / 7.0 * factor)
        visits = _poisson(rng, rate)
        day_end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
        if any(when <= day_end for when in state.due.values()) and rng.random() < 0.3:
            visits += 1  # running out of coffee brings a shopper back
        plans: list[_Plan] = []
        store_today = False
        mix = persona.channels
        for _ in range(visits):
            has_app = persona.device.is_phone or persona.shares_family_tablet
            shares = (mix.web, mix.app if has_app else 0.0, mix.store if persona.loyalty_card else 0.0)
            channel = rng.choices(("web", "app", "store"), shares)[0] if sum(shares) > 0 else "web"
            if channel == "store":
                if store_today:
                    channel = "web"
                else:
                    store_today = True
                    plans.append(_Plan(self._store_time(persona, rng, day), "store"))
                    continue
            tablet = channel == "app" and persona.shares_family_tablet
            tablet = tablet and (not persona.device.is_phone or rng.random() < 0.6)
            plans.append(_Plan(self._local_time(persona, rng, day), channel, tablet=tablet))
        for campaign in self.campaigns:
            if campaign.send_date == day:
                sent = datetime.combine(day, time(9, 30), tzinfo=zone) + timedelta(minutes=rng.uniform(0, 40))
                plans.append(_Plan(sent.astimezone(UTC), "email", campaign=campaign))
        return plans

    def _local_time(self, persona: Persona, rng: random.Random, day: date) -> datetime:
        """A moment of `day` in the shopper's preferred daypart (sometimes any waking hour), in UTC."""
        if rng.random() < 0.86:
            centre, spread = _DAYPART_CENTRE[persona.daypart]
            hour = rng.gauss(centre, spread)
        else:
            hour = rng.uniform(7.0, 23.5)
        midnight = datetime.combine(day, time(), tzinfo=self.zone(persona.city.timezone))
        return (midnight + timedelta(hours=hour)).astimezone(UTC)

    def _store_time(self, persona: Persona, rng: random.Random, day: date) -> datetime:
        """Stores open 10:00-21:00; shoppers still lean towards their daypart within those hours."""
        centre, spread = _DAYPART_CENTRE[persona.daypart]
        hour = min(20.75, max(10.0, rng.gauss(centre, spread + 1.0)))
        midnight = datetime.combine(day, time(), tzinfo=self.zone(persona.city.timezone))
        return (midnight + timedelta(hours=hour)).astimezone(UTC)

    # contexts ------------------------------------------------------------------------------------------

    def _context(self, persona: Persona, at: datetime, user_agent: str, library: dict[str, str]) -> dict[str, Any]:
        local_day = at.astimezone(self.zone(persona.city.timezone)).date()
        return {
            "ip": persona.ip,
            "locale": persona.locale,
            "timezone": persona.city.timezone,
            "userAgent": user_agent,
            "library": dict(library),
            "weather": dict(self.weather(persona.city, local_day)),
        }

    def _category_weights(self, persona: Persona, at: datetime, weather: dict[str, Any]) -> dict[str, float]:
        """Interest per category for one visit: the persona's taste, tilted by the weather.

        Rain or snow in the evening sends people to the sofa (home, books); a warm sunny day sends them
        outdoors. Small enough not to drown the persona, large enough for a contextual model to find.
        """
        weights = {path: 0.12 for path in CATEGORY_PATHS}
        for rank, path in enumerate(persona.preferred_categories):
            weights[path] = 1.6 if rank == 0 else 1.0
        hour = at.astimezone(self.zone(persona.city.timezone)).hour
        if weather["condition"] in ("rain", "snow") and (hour >= 17 or hour < 3):
            for path in ("Home > Decor", "Home > Kitchen", "Books > Fiction"):
                weights[path] *= 1.9
            weights["Sports > Outdoors"] *= 0.5
        elif weather["condition"] == "sunny" and weather["temperature_c"] >= 18:
            weights["Sports > Outdoors"] *= 1.7
            weights["Fashion > Apparel"] *= 1.2
        return weights

    # channels ------------------------------------------------------------------------------------------

    def _web_session(
        self,
        persona: Persona,
        state: _State,
        rng: random.Random,
        at: datetime,
        *,
        campaign: Campaign | None = None,
        must_buy: bool = False,
    ) -> None:
        if rng.random() < 0.04:  # cleared cookies, a new browser: anonymous again until the next sign-in
            state.cookie_generation += 1
            state.cookie = str(_uid(self.seed, "cookie", persona.index, state.cookie_generation))
            state.web_signed_in = False
        context = self._context(persona, at, persona.device.browser_user_agent, _WEB_LIBRARY)
        landing, referrer = "", ""
        utm: dict[str, str] | None = None
        if campaign is not None:
            utm = {"source": "newsletter", "medium": "email", "name": campaign.slug}
        elif rng.random() < 0.15:
            utm = dict(rng.choice(_ADS))
            referrer = _AD_REFERRERS[utm["source"]]
        if utm is not None:
            context["campaign"] = utm
            landing = f"?utm_source={utm['source']}&utm_medium={utm['medium']}&utm_campaign={utm['name']}"
        user_id = persona.user_id if state.web_signed_in else None
        session = _Session(self, rng, at, context, state.cookie, user_id)
        views = _Views(session, web=True, landing_search=landing, referrer=referrer)
        if campaign is not None:
            views.show("Category", f"/c/{_slug(campaign.category)}")
        else:
            views.show("Home", "/")
        self._sign_in_on_arrival(persona, state, rng, session, sign_in=0.45, sign_up=0.22)
        self._shop(persona, state, rng, session, views, campaign, must_buy)
        state.web_signed_in = session.user_id is not None

    def _app_session(
        self,
        persona: Persona,
        state: _State,
        rng: random.Random,
        at: datetime,
        *,
        tablet: bool = False,
        must_buy: bool = False,
    ) -> None:
        device = FAMILY_TABLET if tablet else persona.device
        device_id = self.tablet_device_id if tablet else persona.app_device_id
        anonymous_id = self.tablet_anonymous_id if tablet else persona.app_anonymous_id
        if device_id is None or anonymous_id is None:
            return
        app_user_agent = f"AfinidadShop/{_APP['version']} ({device.model}; {device.os_name} {device.os_version})"
        context = self._context(persona, at, app_user_agent, _APP_LIBRARIES[device.kind])
        context["device"] = {
            "id": device_id,
            "type": device.kind,
            "model": device.model,
            "manufacturer": device.manufacturer,
        }
        context["os"] = {"name": device.os_name, "version": device.os_version}
        context["app"] = dict(_APP)
        context["network"] = {"wifi": rng.random() < 0.7, "cellular": True}
        context["externalIds"] = [{"id": device_id, "type": "app_device_id", "collection": "users", "encoding": "none"}]
        signed_in = state.app_signed_in and not tablet  # on the shared tablet, whoever uses it signs in
        session = _Session(self, rng, at, context, anonymous_id, persona.user_id if signed_in else None, sent_at=True)
        session.track(
            "Application Opened",
            {"from_background": rng.random() < 0.4, "version": _APP["version"], "build": _APP["build"]},
            pause=(0.0, 1.0),
        )
        views = _Views(session, web=False)
        views.show("Home", "/")
        self._sign_in_on_arrival(persona, state, rng, session, sign_in=1.0 if tablet else 0.9, sign_up=0.6, alias=True)
        self._shop(persona, state, rng, session, views, None, must_buy)
        if not tablet:
            state.app_signed_in = session.user_id is not None

    def _store_visit(self, persona: Persona, state: _State, rng: random.Random, at: datetime) -> None:
        """A till receipt: the store knows the loyalty card, and the e-mail only if the shopper gives it."""
        card = persona.loyalty_card
        if card is None:
            return
        city = persona.city
        context = self._context(persona, at, _POS_USER_AGENT, _POS_LIBRARY)
        context["ip"] = f"{city.network}.{city.store_host}"
        context["channel"] = "store"
        context["externalIds"] = [{"id": card, "type": "loyalty_card", "collection": "users", "encoding": "none"}]
        session = _Session(self, rng, at, context, f"pos-{card}", None, local_zone=self.zone(city.timezone))
        if persona.shares_email_at_till and not state.email_given_at_till and rng.random() < 0.7:
            state.email_given_at_till = True
            session.emit("identify", {"traits": {"email": persona.email, "loyalty_card": card}}, (20.0, 90.0))
            if state.email_known_at is None:
                state.email_known_at = session.clock
        weights = self._category_weights(persona, at, context["weather"])
        basket: list[tuple[Product, int]] = []
        for product_id, when in state.due.items():
            if when <= at and rng.random() < 0.85:
                basket.append((self.products[product_id], rng.choice((1, 1, 2))))
        for _ in range(rng.choice((1, 1, 2, 3))):
            if len(basket) >= 4:
                break
            product = self._pick(persona, _choose(rng, weights), rng)
            if all(product is not item for item, _ in basket):
                basket.append((product, 1))
        basket.extend((companion, 1) for companion in self._companions_to_add(rng, basket))
        order = self._order_properties(rng, basket, affiliation=f"Afinidad {city.name}", coupon=None, store=True)
        order["store_id"] = city.store_id
        order["store_city"] = city.name
        session.track("Order Completed", order, pause=(60.0, 400.0))
        self._remember_purchase(persona, state, rng, basket, session.clock)

    def _newsletter(
        self, persona: Persona, state: _State, rng: random.Random, at: datetime, campaign: Campaign
    ) -> None:
        """What an e-mail service provider reports: delivery, opens and clicks, keyed by the address only."""
        if state.email_known_at is None or state.email_known_at > at:
            return
        email = persona.email
        context = self._context(persona, at, _ESP_USER_AGENT, _ESP_LIBRARY)
        context["ip"] = _ESP_IP
        context["traits"] = {"email": email}
        context["externalIds"] = [{"id": email, "type": "email", "collection": "users", "encoding": "none"}]
        esp_id = "esp-" + hashlib.sha256(email.encode()).hexdigest()[:24]
        session = _Session(self, rng, at, context, esp_id, None)
        subject = _SUBJECTS[campaign.category][0 if persona.locale.startswith("en") else 1]
        properties = {
            "campaign_id": campaign.campaign_id,
            "campaign_name": campaign.name,
            "email_subject": subject,
        }
        session.track("Email Delivered", dict(properties), pause=(0.0, 5.0))
        likes = campaign.category in persona.preferred_categories
        if rng.random() >= 0.12 + 0.6 * persona.channels.email + (0.1 if likes else 0.0):
            return
        session.clock = self._next_daypart_moment(persona, rng, session.clock)
        context["ip"] = persona.ip
        context["userAgent"] = persona.device.browser_user_agent
        session.track("Email Opened", dict(properties), pause=(0.0, 1.0))
        if rng.random() >= 0.06 + 0.35 * persona.channels.email + (0.2 if likes else 0.0):
            return
        link = f"{SITE}/c/{_slug(campaign.category)}?utm_source=newsletter&utm_campaign={campaign.slug}"
        session.track("Email Link Clicked", {**properties, "link_url": link}, pause=(5.0, 90.0))
        clicked_at = session.clock + timedelta(seconds=rng.uniform(2.0, 12.0))
        self._web_session(persona, state, rng, clicked_at, campaign=campaign)

    def _next_daypart_moment(self, persona: Persona, rng: random.Random, after: datetime) -> datetime:
        day = after.astimezone(self.zone(persona.city.timezone)).date()
        for offset in range(3):
            moment = self._local_time(persona, rng, day + timedelta(days=offset))
            if moment > after + timedelta(minutes=5):
                return moment
        return after + timedelta(hours=rng.uniform(1.0, 6.0))

    # identity ------------------------------------------------------------------------------------------

    def _traits(self, persona: Persona) -> dict[str, Any]:
        traits: dict[str, Any] = {
            "email": persona.email,
            "first_name": persona.first_name,
            "last_name": persona.last_name,
            "address": {"city": persona.city.name, "country": persona.city.country},
        }
        if persona.phone:
            traits["phone"] = persona.phone
        return traits

    def _identify(self, persona: Persona, state: _State, session: _Session) -> None:
        session.user_id = persona.user_id
        session.emit("identify", {"traits": self._traits(persona)}, (5.0, 40.0))
        if persona.organization is not None and not state.grouped:
            state.grouped = True
            org = persona.organization
            traits = {"name": org.name, "industry": org.industry, "employees": org.employees}
            session.emit("group", {"groupId": org.group_id, "traits": traits}, (0.5, 3.0))

    def _sign_up(self, persona: Persona, state: _State, session: _Session, alias: bool) -> None:
        state.registered = True
        previous = session.anonymous_id
        self._identify(persona, state, session)
        if alias and previous is not None:  # the mobile pattern: tie the install to the new account
            session.emit("alias", {"previousId": previous}, (0.1, 1.0))
        session.track("Signed Up", {"method": "email"}, pause=(0.2, 2.0))
        if state.email_known_at is None:
            state.email_known_at = session.clock

    def _sign_in_on_arrival(
        self,
        persona: Persona,
        state: _State,
        rng: random.Random,
        session: _Session,
        *,
        sign_in: float,
        sign_up: float,
        alias: bool = False,
    ) -> None:
        if session.user_id is not None:
            return
        if state.registered and rng.random() < sign_in:
            self._identify(persona, state, session)
        elif persona.account == "signs_up" and not state.registered and rng.random() < sign_up:
            self._sign_up(persona, state, session, alias)

    def _checkout_identity(self, persona: Persona, state: _State, rng: random.Random, session: _Session) -> None:
        """At checkout the shop needs an e-mail: members sign in, some sign up, the rest type one in."""
        if session.user_id is not None:
            return
        if state.registered and not persona.types_test_email and rng.random() < 0.85:
            self._identify(persona, state, session)
            return
        if persona.account == "signs_up" and not state.registered and rng.random() < 0.5:
            self._sign_up(persona, state, session, alias=False)
            return
        if persona.types_test_email and not state.test_email_used:
            state.test_email_used = True
            session.emit("identify", {"traits": {"email": TEST_EMAIL}}, (10.0, 40.0))
            return
        typed = persona.email
        if rng.random() < 0.08:  # what people type is not normalised: capitals happen
            local, domain = typed.split("@")
            typed = f"{local.capitalize()}@{domain.capitalize()}"
        traits = {
            "email": typed,
            "first_name": persona.first_name,
            "last_name": persona.last_name,
            "address": {"city": persona.city.name, "country": persona.city.country},
        }
        session.emit("identify", {"traits": traits}, (10.0, 40.0))
        if state.email_known_at is None and rng.random() < 0.5:  # opted in to the newsletter
            state.email_known_at = session.clock

    # shopping ------------------------------------------------------------------------------------------

    def _shop(
        self,
        persona: Persona,
        state: _State,
        rng: random.Random,
        session: _Session,
        views: _Views,
        campaign: Campaign | None,
        must_buy: bool,
    ) -> None:
        """Browse, fill a cart, and maybe buy: the shared funnel of the web and the app."""
        weights = self._category_weights(persona, session.clock, session.context["weather"])
        coupon = campaign.coupon if campaign is not None else None
        cart_id = str(_uid(self.seed, "cart", self._message_count))
        cart: list[tuple[Product, int]] = []

        def add(product: Product, quantity: int) -> None:
            cart.append((product, quantity))
            session.track("Product Added", {"cart_id": cart_id, **_product_properties(product, quantity)})

        due = sorted(pid for pid, when in state.due.items() if when <= session.clock)
        if due and rng.random() < 0.8:
            usual = self.products[rng.choice(due)]
            views.show("Product", f"/p/{usual.product_id}", {"product_id": usual.product_id})
            session.track("Product Viewed", _product_properties(usual))
            add(usual, rng.choice((1, 1, 2)))

        category = campaign.category if campaign is not None else _choose(rng, weights)
        roll = rng.random()
        if roll < 0.55:
            listed = sorted(self.by_category[category], key=lambda p: -self.popularity[p.product_id])[:8]
            views.show("Category", f"/c/{_slug(category)}")
            session.track(
                "Product List Viewed",
                {
                    "list_id": _slug(category),
                    "category": category,
                    "products": [
                        {**_product_properties(product), "position": position}
                        for position, product in enumerate(listed, start=1)
                    ],
                },
            )
        elif roll < 0.75:
            query = _search_query(self._pick(persona, category, rng))
            views.show("Search Results", f"/search?q={query.replace(' ', '+')}")
            session.track("Products Searched", {"query": query})

        previous: Product | None = None
        for step in range(1 + min(6, _geometric(rng, 0.42))):
            if previous is not None and self.companions[previous.product_id] and rng.random() < 0.3:
                product = self.products[rng.choice(self.companions[previous.product_id])]
            else:
                if step > 0 and rng.random() < 0.3:
                    category = _choose(rng, weights)
                product = self._pick(persona, category, rng)
            views.show("Product", f"/p/{product.product_id}", {"product_id": product.product_id})
            session.track("Product Viewed", _product_properties(product))
            in_cart = any(product is item for item, _ in cart)
            if not in_cart and len(cart) < 4 and rng.random() < self._add_probability(persona, product, coupon):
                add(product, 1)
            previous = product
        if must_buy and not cart and previous is not None:
            add(previous, 1)
        if not cart:
            return

        if must_buy or rng.random() < 0.75:
            views.show("Cart", "/cart")
            session.track("Cart Viewed", {"cart_id": cart_id, "products": _line_items(cart)})
        for companion in self._companions_to_add(rng, cart):
            add(companion, 1)

        sensitivity = persona.price_sensitivity
        replenishing = any(product.repeat_purchase for product, _ in cart)
        checkout = 0.45 - 0.25 * sensitivity + (0.2 if coupon else 0.0) + (0.25 if replenishing else 0.0)
        if not must_buy and rng.random() >= checkout:
            return  # an abandoned cart
        order_id = self._next_order_id("AF")
        views.show("Checkout", "/checkout")
        subtotal = round(sum(product.price * quantity for product, quantity in cart), 2)
        session.track(
            "Checkout Started",
            {
                "order_id": order_id,
                "value": subtotal,
                "revenue": subtotal,
                "currency": "EUR",
                "products": _line_items(cart),
            },
        )
        self._checkout_identity(persona, state, rng, session)
        complete = 0.85 - 0.25 * sensitivity + (0.1 * (1 + sensitivity) if coupon else 0.0)
        if not must_buy and rng.random() >= complete:
            return
        affiliation = "Afinidad Online" if views.web else "Afinidad App"
        order = self._order_properties(rng, cart, affiliation=affiliation, coupon=coupon, order_id=order_id)
        views.show("Order Confirmation", "/checkout/complete", {"order_id": order_id})
        session.track("Order Completed", order, pause=(1.0, 5.0))
        self._remember_purchase(persona, state, rng, cart, session.clock)

    def _add_probability(self, persona: Persona, product: Product, coupon: str | None) -> float:
        """Taste, price and coupons decide a cart: bargain hunters shy from dear items unless discounted."""
        relative_price = product.price / self.medians[product.category]
        probability = 0.1 * (1.5 if product.category in persona.preferred_categories else 0.7)
        probability *= relative_price ** (-1.5 * persona.price_sensitivity)
        if coupon:
            probability *= 1.0 + 0.8 * persona.price_sensitivity
        return min(0.75, max(0.02, probability))

    def _companions_to_add(self, rng: random.Random, basket: list[tuple[Product, int]]) -> list[Product]:
        """Companions that join the basket ("bought together"), keeping baskets at four items at most."""
        chosen: list[Product] = []
        present = [product for product, _ in basket]
        for product in list(present):
            for companion_id in self.companions[product.product_id]:
                companion = self.products[companion_id]
                if len(present) >= 4 or any(companion is item for item in present):
                    continue
                if rng.random() < 0.22:
                    chosen.append(companion)
                    present.append(companion)
        return chosen

    def _order_properties(
        self,
        rng: random.Random,
        basket: list[tuple[Product, int]],
        *,
        affiliation: str,
        coupon: str | None,
        store: bool = False,
        order_id: str | None = None,
    ) -> dict[str, Any]:
        subtotal = round(sum(product.price * quantity for product, quantity in basket), 2)
        discount = round(subtotal * 0.10, 2) if coupon else 0.0
        revenue = round(subtotal - discount, 2)
        shipping = 0.0 if store or revenue >= 50 else 3.95
        properties: dict[str, Any] = {
            "order_id": order_id or self._next_order_id("ST" if store else "AF"),
            "affiliation": affiliation,
            "subtotal": subtotal,
            "total": round(revenue + shipping, 2),
            "revenue": revenue,
            "shipping": shipping,
            "tax": 0.0,  # prices include VAT
            "discount": discount,
            "currency": "EUR",
            "products": _line_items(basket),
        }
        if coupon:
            properties["coupon"] = coupon
        return properties

    def _next_order_id(self, prefix: str) -> str:
        self._order_count += 1
        return f"{prefix}{self.seed % 1000:03d}{self._order_count:06d}"

    def _remember_purchase(
        self,
        persona: Persona,
        state: _State,
        rng: random.Random,
        basket: list[tuple[Product, int]],
        at: datetime,
    ) -> None:
        for product, quantity in basket:
            if product.repeat_purchase:
                cycle = persona.replenish_days * quantity * rng.uniform(0.8, 1.25)
                state.due[product.product_id] = at + timedelta(days=cycle)

    def _pick(self, persona: Persona, category: str, rng: random.Random) -> Product:
        """A product of the category, popular ones first, cheaper ones for bargain hunters."""
        products = self.by_category[category]
        median = self.medians[category]
        exponent = 0.3 - 1.6 * persona.price_sensitivity
        weights = [self.popularity[p.product_id] * (p.price / median) ** exponent for p in products]
        return rng.choices(products, weights)[0]


# --- small helpers -------------------------------------------------------------------------------------


def _campaigns(seed: int, start: datetime, end: datetime) -> list[Campaign]:
    """Newsletters go out on Tuesdays and Fridays; Friday's carries a weekend coupon."""
    rng = random.Random(f"afinidad-campaigns:{seed}")
    campaigns: list[Campaign] = []
    day = start.date()
    while day <= end.date():
        if day.weekday() in (1, 4):
            category = rng.choice(CATEGORY_PATHS)
            short = category.split(" > ")[-1]
            slug = f"{day:%Y%m%d}_{_slug(short)}"
            campaigns.append(
                Campaign(
                    campaign_id=f"cmp-{day:%Y%m%d}-{_slug(short)}",
                    name=f"{short} picks {day:%d %b}" + (" (weekend coupon)" if day.weekday() == 4 else ""),
                    slug=slug,
                    category=category,
                    send_date=day,
                    coupon="WEEKEND10" if day.weekday() == 4 else None,
                )
            )
        day += timedelta(days=1)
    return campaigns


def _product_properties(product: Product, quantity: int | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.title,
        "brand": product.brand,
        "category": product.category,
        "price": product.price,
        "currency": product.currency,
        "url": f"{SITE}/p/{product.product_id}",
    }
    if quantity is not None:
        properties["quantity"] = quantity
    return properties


def _line_items(basket: list[tuple[Product, int]]) -> list[dict[str, Any]]:
    return [
        {**_product_properties(product, quantity), "position": position}
        for position, (product, quantity) in enumerate(basket, start=1)
    ]


def _search_query(product: Product) -> str:
    words = product.title.replace("(", "").replace(")", "").split()
    return " ".join(words[-2:]).lower()


def _slug(text: str) -> str:
    return "-".join(part for part in _ascii_words(text) if part)


def _ascii_words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text).lower()
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in decomposed)
    return cleaned.split()


def _choose(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _poisson(rng: random.Random, rate: float) -> int:
    """Knuth's method; rates here stay below 4, where it is exact and quick."""
    limit, count, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _geometric(rng: random.Random, p: float) -> int:
    count = 0
    while rng.random() > p:
        count += 1
    return count


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
