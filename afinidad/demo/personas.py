"""The simulated shoppers: who each one is (`Persona`, the hidden truth), what changes about them while the
month goes by (`ShopperState`), and the identity traps planted among them.

Each persona draws from its own `random.Random`, seeded by the run's seed and the shopper's index, so adding
shoppers does not change the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime

from afinidad.demo.catalog import CATEGORY_PATHS
from afinidad.demo.randomness import uid
from afinidad.demo.text import ascii_letters
from afinidad.demo.world import CITIES, DAYPARTS, DEVICE_WEIGHTS, DEVICES, ORGANIZATIONS, City, Device, Organization

TEST_EMAIL = "test@test.com"  # typed at checkout by several guests: an identity trap


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


@dataclass
class ShopperState:
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


def generate_personas(seed: int, shoppers: int) -> list[Persona]:
    """Invent the shoppers of a simulation; `simulate` with the same seed uses exactly these."""
    personas = [_persona(seed, index) for index in range(shoppers)]
    if shoppers >= 20:
        _plant_identity_traps(seed, personas)
    return personas


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
    device = rng.choices(DEVICES, DEVICE_WEIGHTS)[0]
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
        user_id=f"usr_{uid(seed, 'user', index).hex[:12]}",
        anonymous_id=str(uid(seed, "cookie", index, 0)),
        app_anonymous_id=str(uid(seed, "app-install", index)) if device.is_phone else None,
        app_device_id=str(uid(seed, "app-device", index)).upper() if device.is_phone else None,
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
    local = f"{ascii_letters(first_name)}.{ascii_letters(last_name)}{index}"
    if rng.random() < 0.3:
        local = f"{ascii_letters(first_name)[0]}{ascii_letters(last_name)}{index}"
    return f"{local}@{rng.choice(_EMAIL_DOMAINS)}"


def _phone(city: City, rng: random.Random) -> str:
    """An E.164 mobile number in a range that validates but is unlikely to be anyone's (555-01xx in the
    US, the numbering plans' example ranges elsewhere)."""
    if city.country == "US":
        return f"{city.dialing}01{rng.randint(0, 99):02d}"
    digits = _SUBSCRIBER_DIGITS[city.country]
    return f"{city.dialing}{rng.randint(0, 10**digits - 1):0{digits}d}"


_SUBSCRIBER_DIGITS = {"GB": 6, "ES": 6, "MX": 8}
