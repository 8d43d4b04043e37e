"""When shoppers show up: each day's visits per channel, the moments inside their preferred daypart, the
newsletters that land in their inbox, and the guaranteed visits of the identity traps.

A shopper's activity is a Poisson draw around their weekly rate, tilted towards weekends for weekend
shoppers, with one more visit when a consumable is about to run out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from afinidad.demo.campaigns import Campaign
from afinidad.demo.personas import Persona, ShopperState
from afinidad.demo.randomness import poisson
from afinidad.demo.world import DAYPART_CENTRE, zone


@dataclass
class Visit:
    """One planned visit: when, through which channel, and what is special about it."""

    at: datetime
    channel: str
    tablet: bool = False
    must_buy: bool = False
    campaign: Campaign | None = None


def plan_day(
    persona: Persona,
    state: ShopperState,
    rng: random.Random,
    day: date,
    home_zone: ZoneInfo,
    campaigns: list[Campaign],
) -> list[Visit]:
    """The visits of one day, unsorted: web, app and at most one store visit, plus the day's newsletters."""
    weekend = day.weekday() >= 5
    weekday_factors = (0.65, 2.2) if persona.weekend_shopper else (1.05, 0.85)
    factor = weekday_factors[weekend]
    rate = min(4.0, persona.sessions_per_week / 7.0 * factor)
    visits = poisson(rng, rate)
    day_end = datetime.combine(day + timedelta(days=1), time(), tzinfo=home_zone).astimezone(UTC)
    if any(when <= day_end for when in state.due.values()) and rng.random() < 0.3:
        visits += 1  # running out of coffee brings a shopper back
    plans: list[Visit] = []
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
                plans.append(Visit(store_time(persona, rng, day), "store"))
                continue
        tablet = channel == "app" and persona.shares_family_tablet
        tablet = tablet and (not persona.device.is_phone or rng.random() < 0.6)
        plans.append(Visit(local_time(persona, rng, day), channel, tablet=tablet))
    for campaign in campaigns:
        if campaign.send_date == day:
            sent = datetime.combine(day, time(9, 30), tzinfo=home_zone) + timedelta(minutes=rng.uniform(0, 40))
            plans.append(Visit(sent.astimezone(UTC), "email", campaign=campaign))
    return plans


def forced_visits(persona: Persona, rng: random.Random, first_day: date, last_day: date) -> dict[date, list[Visit]]:
    """Guaranteed visits for the identity traps, so they appear in any window of 3 days or more."""
    span = (last_day - first_day).days
    if span < 2 or not (persona.shares_family_tablet or persona.types_test_email):
        return {}
    day = first_day + timedelta(days=rng.randint(1, span - 1))
    at = local_time(persona, rng, day)
    if persona.shares_family_tablet:
        return {day: [Visit(at, "app", tablet=True)]}
    return {day: [Visit(at, "web", must_buy=True)]}


def local_time(persona: Persona, rng: random.Random, day: date) -> datetime:
    """A moment of `day` in the shopper's preferred daypart (sometimes any waking hour), in UTC."""
    if rng.random() < 0.86:
        centre, spread = DAYPART_CENTRE[persona.daypart]
        hour = rng.gauss(centre, spread)
    else:
        hour = rng.uniform(7.0, 23.5)
    midnight = datetime.combine(day, time(), tzinfo=zone(persona.city.timezone))
    return (midnight + timedelta(hours=hour)).astimezone(UTC)


def store_time(persona: Persona, rng: random.Random, day: date) -> datetime:
    """Stores open 10:00-21:00; shoppers still lean towards their daypart within those hours."""
    centre, spread = DAYPART_CENTRE[persona.daypart]
    hour = min(20.75, max(10.0, rng.gauss(centre, spread + 1.0)))
    midnight = datetime.combine(day, time(), tzinfo=zone(persona.city.timezone))
    return (midnight + timedelta(hours=hour)).astimezone(UTC)


def next_daypart_moment(persona: Persona, rng: random.Random, after: datetime) -> datetime:
    """The shopper's next moment in their daypart at least five minutes after `after` (opening a newsletter)."""
    day = after.astimezone(zone(persona.city.timezone)).date()
    for offset in range(3):
        moment = local_time(persona, rng, day + timedelta(days=offset))
        if moment > after + timedelta(minutes=5):
            return moment
    return after + timedelta(hours=rng.uniform(1.0, 6.0))
