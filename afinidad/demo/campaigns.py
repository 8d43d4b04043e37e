"""The shop's newsletters: which go out when, about what, and with which subject line."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from afinidad.demo.catalog import CATEGORY_PATHS
from afinidad.demo.text import slug

# Subject line per category, in English and in Spanish (the shopper's locale picks one).
SUBJECTS = {
    "Home > Decor": ("Fresh looks for your home", "Ideas nuevas para tu casa"),
    "Home > Kitchen": ("Cook like you mean it", "Cocina con lo mejor"),
    "Books > Fiction": ("Your next great read", "Tu próxima gran lectura"),
    "Fashion > Apparel": ("The new season is here", "Llega la nueva temporada"),
    "Electronics > Audio": ("Hear the difference", "Escucha la diferencia"),
    "Sports > Outdoors": ("Get outside this week", "Sal al aire libre esta semana"),
    "Grocery > Coffee": ("Freshly roasted for you", "Recién tostado para ti"),
    "Pets > Food": ("Treats for your best friend", "Premios para tu mejor amigo"),
}


@dataclass(frozen=True)
class Campaign:
    """One newsletter send, focused on a category; weekend sends carry a coupon."""

    campaign_id: str
    name: str
    slug: str
    category: str
    send_date: date
    coupon: str | None


def plan_campaigns(seed: int, start: datetime, end: datetime) -> list[Campaign]:
    """Newsletters go out on Tuesdays and Fridays; Friday's carries a weekend coupon."""
    rng = random.Random(f"afinidad-campaigns:{seed}")
    campaigns: list[Campaign] = []
    day = start.date()
    while day <= end.date():
        if day.weekday() in (1, 4):
            category = rng.choice(CATEGORY_PATHS)
            short = category.split(" > ")[-1]
            campaigns.append(
                Campaign(
                    campaign_id=f"cmp-{day:%Y%m%d}-{slug(short)}",
                    name=f"{short} picks {day:%d %b}" + (" (weekend coupon)" if day.weekday() == 4 else ""),
                    slug=f"{day:%Y%m%d}_{slug(short)}",
                    category=category,
                    send_date=day,
                    coupon="WEEKEND10" if day.weekday() == 4 else None,
                )
            )
        day += timedelta(days=1)
    return campaigns
