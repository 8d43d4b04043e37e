"""What the platform adds to a message at ingest: the corrected time, and context facts later capabilities
ask for again and again (local daypart, day of week, device class, coarse country, channel, campaign).

The raw context is stored untouched beside it; this is derived, so it can be recomputed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import iptocc
from ua_parser import parse as parse_user_agent

DAYPARTS = ((0, "night"), (6, "morning"), (12, "afternoon"), (18, "evening"))
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MOBILE_OS = {"ios", "android", "ipados"}


def to_naive_utc(moment: datetime) -> datetime:
    """Timestamps without a zone are taken as UTC, like Segment does."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def corrected_timestamp(received_at: datetime, timestamp: datetime | None, sent_at: datetime | None) -> datetime:
    """Segment's clock-skew rule: a device whose clock is off is off by the same amount when it stamps the
    event and when it sends it, so `timestamp = receivedAt - (sentAt - originalTimestamp)`."""
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    return received_at - (sent_at - timestamp)


def daypart(hour: int) -> str:
    name = DAYPARTS[0][1]
    for start, label in DAYPARTS:
        if hour >= start:
            name = label
    return name


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=8192)
def device_from_user_agent(user_agent: str) -> dict[str, str]:
    parsed = parse_user_agent(user_agent)
    os_family = parsed.os.family if parsed.os else "Other"
    device_family = parsed.device.family if parsed.device else "Other"
    lowered = user_agent.lower()
    if "bot" in lowered or "spider" in lowered or device_family == "Spider":
        kind = "bot"
    elif "ipad" in lowered or "tablet" in lowered:
        kind = "tablet"
    elif "mobile" in lowered or os_family.lower() in _MOBILE_OS:
        kind = "mobile"
    else:
        kind = "desktop"
    result = {"type": kind, "os": os_family}
    if parsed.user_agent:
        result["browser"] = parsed.user_agent.family
    return result


@lru_cache(maxsize=65536)
def country_of_ip(ip: str) -> str | None:
    try:
        return iptocc.country_code(ip)
    except Exception:  # an unparsable address is just "unknown"
        return None


def _campaign(context: dict[str, Any], properties: dict[str, Any]) -> dict[str, str] | None:
    campaign = context.get("campaign")
    if isinstance(campaign, dict) and campaign:
        return {str(k): str(v) for k, v in campaign.items() if v is not None}
    page = context.get("page")
    url = (page.get("url") if isinstance(page, dict) else None) or properties.get("url")
    if not isinstance(url, str) or "utm_" not in url:
        return None
    query = parse_qs(urlsplit(url).query)
    found = {key[4:]: values[0] for key, values in query.items() if key.startswith("utm_") and values}
    if "campaign" in found:
        found["name"] = found.pop("campaign")
    return found or None


def _channel(context: dict[str, Any], message_type: str, device_type: str | None) -> str:
    channel = context.get("channel")
    if isinstance(channel, str) and channel:
        return channel
    if context.get("app") or message_type == "screen":
        return "app"
    if context.get("page") or context.get("userAgent") or message_type == "page":
        return "web" if device_type != "mobile" else "mobile_web"
    return "server"


def enrich(
    *,
    message_type: str,
    timestamp: datetime,
    context: dict[str, Any],
    properties: dict[str, Any],
    request_ip: str | None,
) -> dict[str, Any]:
    """Derived context for one message (timestamp is naive UTC)."""
    result: dict[str, Any] = {}
    zone_name = context.get("timezone")
    zone = _zone(zone_name) if isinstance(zone_name, str) else None
    local = timestamp.replace(tzinfo=UTC).astimezone(zone) if zone else None
    if local is not None:
        result["local_time"] = local.isoformat(timespec="seconds")
        result["local_hour"] = local.hour
        result["daypart"] = daypart(local.hour)
        result["day_of_week"] = WEEKDAYS[local.weekday()]
        result["weekend"] = local.weekday() >= 5
    else:
        result["utc_hour"] = timestamp.hour
        result["day_of_week"] = WEEKDAYS[timestamp.weekday()]

    device = context.get("device") if isinstance(context.get("device"), dict) else {}
    user_agent = context.get("userAgent")
    device_type = None
    if isinstance(user_agent, str) and user_agent:
        found = device_from_user_agent(user_agent[:512])
        device_type = found["type"]
        result["device"] = found
    elif device.get("type"):
        kind = str(device["type"]).lower()
        device_type = "mobile" if kind in _MOBILE_OS or kind in ("phone", "mobile") else kind
        result["device"] = {"type": device_type}
    result["channel"] = _channel(context, message_type, device_type)

    location = context.get("location") if isinstance(context.get("location"), dict) else {}
    if location.get("country") or location.get("city"):
        result["geo"] = {key: location[key] for key in ("country", "region", "city") if location.get(key)} | {
            "source": "context.location"
        }
    else:
        ip = context.get("ip") if isinstance(context.get("ip"), str) else request_ip
        country = country_of_ip(ip) if ip else None
        if country:
            result["geo"] = {"country": country, "source": "ip"}

    campaign = _campaign(context, properties)
    if campaign:
        result["campaign"] = campaign
    weather = context.get("weather")
    if isinstance(weather, dict):
        result["weather"] = weather
    return result


def future_limit(received_at: datetime, max_future_seconds: int) -> datetime:
    return received_at + timedelta(seconds=max_future_seconds)


def warm_up() -> None:
    """Load the user-agent rules and the IP table now rather than in the first request (a 150-300 ms
    stall for whoever comes first)."""
    device_from_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1")
    device_from_user_agent.cache_clear()
    country_of_ip("192.0.2.1")
    _zone("UTC")
