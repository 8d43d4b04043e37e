"""The demo data must look like a shop to every later capability: valid Segment messages, the four channels,
the planted behaviour (dayparts, repeat purchases, companions, weather) and the identity traps."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest

from afinidad.demo.catalog import CATEGORY_PATHS, generate_catalog
from afinidad.demo.simulator import (
    DAYPART_HOURS,
    TEST_EMAIL,
    channel_of,
    companions,
    generate_personas,
    simulate,
    summarize,
)

SEED = 7
END = datetime(2025, 2, 1, tzinfo=UTC)  # a winter month, so snow and rain both happen
DAYS = 30
START = END - timedelta(days=DAYS)
DOCUMENTATION_NETWORKS = ("192.0.2.", "198.51.100.", "203.0.113.")
REQUIRED_BY_TYPE = {
    "identify": ("traits",),
    "track": ("event", "properties"),
    "page": ("name", "properties"),
    "screen": ("name", "properties"),
    "alias": ("previousId", "userId"),
    "group": ("groupId", "traits"),
}


@pytest.fixture(scope="module")
def default_run() -> tuple[list[dict[str, Any]], float]:
    started = time.perf_counter()
    messages = list(simulate(seed=SEED, shoppers=300, days=DAYS, end=END))
    return messages, time.perf_counter() - started


@pytest.fixture(scope="module")
def messages(default_run: tuple[list[dict[str, Any]], float]) -> list[dict[str, Any]]:
    return default_run[0]


def _at(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["timestamp"])


def _local_hour(message: dict[str, Any]) -> int:
    return _at(message).astimezone(ZoneInfo(message["context"]["timezone"])).hour


def _orders(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "track" and m["event"] == "Order Completed"]


# --- catalogue -----------------------------------------------------------------------------------------


def test_catalog_is_deterministic_and_shop_like() -> None:
    catalog = generate_catalog(SEED)

    assert catalog == generate_catalog(SEED)
    assert catalog != generate_catalog(SEED + 1)
    assert len(catalog) == 120
    assert {p.category for p in catalog} == set(CATEGORY_PATHS)
    assert len(CATEGORY_PATHS) == 8
    for key in ("product_id", "sku", "title"):
        assert len({getattr(p, key) for p in catalog}) == len(catalog), key
    assert all(p.price > 0 and round(p.price, 2) == p.price and p.currency == "EUR" for p in catalog)
    assert {p.category for p in catalog if p.repeat_purchase} == {"Grocery > Coffee", "Pets > Food"}

    def median_price(category: str) -> float:
        return median(p.price for p in catalog if p.category == category)

    assert median_price("Electronics > Audio") > 4 * median_price("Grocery > Coffee")


def test_catalog_size_is_respected() -> None:
    assert len(generate_catalog(1, size=37)) == 37
    with pytest.raises(ValueError):
        generate_catalog(1, size=3)


# --- determinism and shape -----------------------------------------------------------------------------


def test_same_seed_gives_identical_messages_and_another_seed_does_not() -> None:
    first = list(simulate(seed=3, shoppers=40, days=10, end=END))
    again = list(simulate(seed=3, shoppers=40, days=10, end=END))
    other = list(simulate(seed=4, shoppers=40, days=10, end=END))

    assert json.dumps(first) == json.dumps(again)
    assert first
    assert {m["messageId"] for m in first}.isdisjoint({m["messageId"] for m in other})
    assert [m["timestamp"] for m in first] != [m["timestamp"] for m in other]


def test_default_run_has_demo_volume_and_is_quick(default_run: tuple[list[dict[str, Any]], float]) -> None:
    messages, seconds = default_run

    assert 15_000 <= len(messages) <= 40_000
    assert seconds < 15  # about 1 s on a laptop; generous so a busy CI machine does not fail it


def test_every_message_is_a_valid_segment_message(messages: list[dict[str, Any]]) -> None:
    ids = [m["messageId"] for m in messages]
    assert len(set(ids)) == len(ids)
    previous = START
    for message in messages:
        assert message["type"] in REQUIRED_BY_TYPE
        for key in REQUIRED_BY_TYPE[message["type"]]:
            assert key in message, (message["type"], key)
        assert message.get("userId") or message.get("anonymousId")
        at = _at(message)
        assert at.tzinfo is not None
        assert START <= at < END
        assert at >= previous, "messages must come oldest first"
        previous = at
        context = message["context"]
        for key in ("ip", "locale", "timezone", "userAgent", "library", "weather"):
            assert key in context, key
        assert context["ip"].startswith(DOCUMENTATION_NETWORKS)
        assert context["locale"] in ("en-GB", "en-US", "es-ES", "es-MX")
        assert context["weather"]["condition"] in ("sunny", "rain", "cloudy", "snow")
        assert len(json.dumps(message).encode()) < 32 * 1024


def test_all_four_channels_are_present(messages: list[dict[str, Any]]) -> None:
    channels = Counter(channel_of(m) for m in messages)

    assert set(channels) == {"web", "app", "email", "store"}
    assert all(count >= 100 for count in channels.values()), channels
    assert any(m["type"] == "page" for m in messages)
    assert any(m["type"] == "screen" for m in messages)
    assert any(m["context"].get("channel") == "store" for m in messages)


def test_app_messages_carry_device_and_a_later_sent_at(messages: list[dict[str, Any]]) -> None:
    app = [m for m in messages if "app" in m["context"]]
    assert app
    for message in app:
        device = message["context"]["device"]
        assert device["type"] in ("ios", "android")
        assert message["context"]["externalIds"] == [
            {"id": device["id"], "type": "app_device_id", "collection": "users", "encoding": "none"}
        ]
        delay = datetime.fromisoformat(message["sentAt"]) - _at(message)
        assert timedelta(0) <= delay < timedelta(minutes=1)
    assert all("sentAt" not in m for m in messages if "app" not in m["context"])
    signed_in = sum(1 for m in app if "userId" in m)
    assert signed_in > len(app) / 2, "app users are signed in most of the time"


# --- commerce ------------------------------------------------------------------------------------------


def test_orders_use_catalog_prices_and_add_up(messages: list[dict[str, Any]]) -> None:
    catalog = {p.product_id: p for p in generate_catalog(SEED)}
    orders = _orders(messages)
    assert len(orders) > 100
    for order in orders:
        properties = order["properties"]
        assert 1 <= len(properties["products"]) <= 4
        for item in properties["products"]:
            product = catalog[item["product_id"]]
            assert item["price"] == product.price
            assert item["sku"] == product.sku
            assert (item["name"], item["category"]) == (product.title, product.category)
        subtotal = round(sum(i["price"] * i["quantity"] for i in properties["products"]), 2)
        assert properties["subtotal"] == subtotal
        assert properties["revenue"] == round(subtotal - properties["discount"], 2)
        assert properties["total"] == round(properties["revenue"] + properties["shipping"], 2)
        assert properties["currency"] == "EUR"
    assert len({o["properties"]["order_id"] for o in orders}) == len(orders)


def test_consumables_are_bought_again(messages: list[dict[str, Any]]) -> None:
    bought: Counter[tuple[str, str, bool]] = Counter()
    for order in _orders(messages):
        buyer = order.get("userId") or order["anonymousId"]
        for item in order["properties"]["products"]:
            repeat = item["category"] in ("Grocery > Coffee", "Pets > Food")
            bought[(buyer, item["product_id"], repeat)] += 1

    def rebuy_rate(repeat: bool) -> float:
        counts = [n for (_, _, is_repeat), n in bought.items() if is_repeat == repeat]
        return sum(n > 1 for n in counts) / len(counts)

    assert rebuy_rate(True) > 2 * rebuy_rate(False)


def test_companions_end_up_in_the_same_basket(messages: list[dict[str, Any]]) -> None:
    pairs = companions(generate_catalog(SEED), SEED)
    baskets = [[i["product_id"] for i in o["properties"]["products"]] for o in _orders(messages)]
    multi = [b for b in baskets if len(b) > 1]
    with_companion = [b for b in multi if any(other in pairs[one] for one in b for other in b)]

    assert len(multi) > 50
    assert len(with_companion) / len(multi) > 0.5


def test_rainy_evenings_tilt_browsing_towards_home_and_books(messages: list[dict[str, Any]]) -> None:
    cozy = {"Home > Decor", "Home > Kitchen", "Books > Fiction"}
    share: dict[bool, list[bool]] = defaultdict(list)
    for message in messages:
        if message["type"] == "track" and message["event"] == "Product Viewed" and _local_hour(message) >= 17:
            wet = message["context"]["weather"]["condition"] in ("rain", "snow")
            share[wet].append(message["properties"]["category"] in cozy)

    wet_share = sum(share[True]) / len(share[True])
    dry_share = sum(share[False]) / len(share[False])
    assert wet_share > 1.2 * dry_share


# --- identity ------------------------------------------------------------------------------------------


def test_signing_in_links_the_anonymous_browser_to_the_user(messages: list[dict[str, Any]]) -> None:
    anonymous_before: set[str] = set()
    linked: set[str] = set()
    for message in messages:
        if "userId" not in message and "anonymousId" in message:
            anonymous_before.add(message["anonymousId"])
        if message["type"] == "identify" and "userId" in message and message.get("anonymousId"):
            assert message["traits"]["email"]
            if message["anonymousId"] in anonymous_before:
                linked.add(message["userId"])

    assert len(linked) >= 20
    assert any(m["type"] == "track" and m["event"] == "Signed Up" and "userId" in m for m in messages)


def test_a_family_tablet_is_shared_by_three_accounts(messages: list[dict[str, Any]]) -> None:
    users_by_anonymous_id: dict[str, set[str]] = defaultdict(set)
    for message in messages:
        if "userId" in message and "anonymousId" in message:
            users_by_anonymous_id[message["anonymousId"]].add(message["userId"])
    shared = {anonymous_id: users for anonymous_id, users in users_by_anonymous_id.items() if len(users) >= 3}

    family = {p.user_id for p in generate_personas(SEED, 300) if p.shares_family_tablet}
    assert len(shared) == 1
    assert next(iter(shared.values())) == family


def test_test_email_is_typed_by_several_shoppers(messages: list[dict[str, Any]]) -> None:
    typed = [m for m in messages if m["type"] == "identify" and m["traits"].get("email") == TEST_EMAIL]
    shoppers = {m.get("userId") or m["anonymousId"] for m in typed}

    assert len(shoppers) >= 5


def test_store_messages_are_keyed_by_loyalty_card(messages: list[dict[str, Any]]) -> None:
    store = [m for m in messages if m["context"].get("channel") == "store"]
    assert store
    for message in store:
        (external_id,) = message["context"]["externalIds"]
        assert external_id["type"] == "loyalty_card"
        assert external_id["id"].startswith("LC-")
        assert message["anonymousId"] == f"pos-{external_id['id']}"
        assert "userId" not in message
        if message["type"] == "track":
            assert message["properties"]["store_id"] and message["properties"]["store_city"]

    online_emails = {m["traits"]["email"] for m in messages if m["type"] == "identify" and "userId" in m}
    till_emails = {m["traits"]["email"] for m in store if m["type"] == "identify"}
    assert till_emails & online_emails, "an e-mail given at the till is what links the store to online"


def test_email_events_are_keyed_by_address_only(messages: list[dict[str, Any]]) -> None:
    email = [m for m in messages if m["type"] == "track" and m["event"].startswith("Email ")]
    assert {m["event"] for m in email} == {"Email Delivered", "Email Opened", "Email Link Clicked"}
    for message in email:
        address = message["context"]["traits"]["email"]
        assert "userId" not in message
        assert message["anonymousId"].startswith("esp-")
        assert message["context"]["externalIds"][0] == {
            "id": address,
            "type": "email",
            "collection": "users",
            "encoding": "none",
        }
        assert {"campaign_id", "campaign_name", "email_subject"} <= set(message["properties"])
    clicked = [m["properties"]["link_url"] for m in email if m["event"] == "Email Link Clicked"]
    landings = {m["context"]["campaign"]["name"] for m in messages if m["context"].get("campaign")}
    assert clicked
    for link in clicked:
        assert parse_qs(urlparse(link).query)["utm_campaign"][0] in landings, "a click lands with its UTM"


# --- time ----------------------------------------------------------------------------------------------


def test_shoppers_visit_in_their_preferred_daypart(messages: list[dict[str, Any]]) -> None:
    daypart_of = {p.user_id: p.daypart for p in generate_personas(SEED, 300)}
    hours: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        if channel_of(message) in ("web", "app") and "userId" in message:
            hours[daypart_of[message["userId"]]].append(_local_hour(message))
    start, stop = DAYPART_HOURS["evening"]

    def evening_share(daypart: str) -> float:
        return sum(start <= hour < stop for hour in hours[daypart]) / len(hours[daypart])

    assert evening_share("evening") > 0.7
    assert evening_share("morning") < 0.2


def test_window_ends_at_todays_midnight_utc_by_default() -> None:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    messages = list(simulate(seed=1, shoppers=25, days=3))

    assert messages
    assert all(midnight - timedelta(days=3) <= _at(m) < midnight for m in messages)


def test_summary_counts_what_was_generated(messages: list[dict[str, Any]]) -> None:
    summary = summarize(messages)

    assert summary.messages == len(messages)
    assert summary.orders == len(_orders(messages))
    assert sum(summary.by_channel.values()) == len(messages)
    assert summary.revenue == round(sum(o["properties"]["revenue"] for o in _orders(messages)), 2)
