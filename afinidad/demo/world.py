"""The world the simulated shoppers live in: the shop's channels and dayparts, its home cities (clock,
language, weather, IP range, nearest store), the devices shoppers own, and the businesses some buy for.

Constants and a time-zone lookup; nothing here draws a random number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

CHANNELS = ("web", "app", "email", "store")
DAYPARTS = ("morning", "afternoon", "evening", "night")
SITE = "https://shop.afinidad.example"  # .example is reserved (RFC 2606), so no link can reach a real shop

# Local hours [start, stop) of each daypart; night wraps past midnight. Sessions centre on the middle.
DAYPART_HOURS: dict[str, tuple[int, int]] = {
    "morning": (6, 12),
    "afternoon": (12, 17),
    "evening": (17, 23),
    "night": (22, 26),
}
DAYPART_CENTRE = {  # (mean, standard deviation) of the local hour of a session in each daypart
    "morning": (9.0, 1.1),
    "afternoon": (14.5, 1.2),
    "evening": (19.75, 1.0),
    "night": (23.6, 0.8),
}


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
DEVICE_WEIGHTS = (0.32, 0.18, 0.12, 0.24, 0.14)

FAMILY_TABLET = Device(
    "ios", "iPad13,18", "Apple", "iPadOS", "17.5",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
)  # fmt: skip


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


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, looked up once per process: every shopper's clock goes through it."""
    return ZoneInfo(name)
