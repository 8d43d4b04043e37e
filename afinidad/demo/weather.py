"""The daily weather of each home city, and how it tilts what shoppers look at.

Rain or snow in the evening sends people to the sofa (home, books); a warm sunny day sends them outdoors.
The weather travels in the free `context.weather` key of every message, so a contextual model can find the
tilt that `category_weights` plants.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any

from afinidad.demo.catalog import CATEGORY_PATHS
from afinidad.demo.personas import Persona
from afinidad.demo.world import City, zone


class Weather:
    """The weather of one run: a pure function of the seed, a city and a day, remembered once drawn."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._days: dict[tuple[str, date], dict[str, Any]] = {}

    def on(self, city: City, day: date) -> dict[str, Any]:
        """The day's weather in a city, the same for every shopper living there."""
        key = (city.name, day)
        if key not in self._days:
            rng = random.Random(f"afinidad-weather:{self.seed}:{city.name}:{day.isoformat()}")
            temperature = city.temperature_by_month[day.month - 1] + rng.gauss(0.0, 3.0)
            if rng.random() < city.wet_share_by_month[day.month - 1]:
                temperature -= 1.5
                condition = "snow" if temperature <= 1.0 else "rain"
            else:
                condition = "cloudy" if rng.random() < 0.45 else "sunny"
            self._days[key] = {"condition": condition, "temperature_c": round(temperature, 1)}
        return self._days[key]


def category_weights(persona: Persona, at: datetime, weather: dict[str, Any]) -> dict[str, float]:
    """Interest per category for one visit: the persona's taste, tilted by the weather.

    Small enough not to drown the persona, large enough for a contextual model to find.
    """
    weights = {path: 0.12 for path in CATEGORY_PATHS}
    for rank, path in enumerate(persona.preferred_categories):
        weights[path] = 1.6 if rank == 0 else 1.0
    hour = at.astimezone(zone(persona.city.timezone)).hour
    if weather["condition"] in ("rain", "snow") and (hour >= 17 or hour < 3):
        for path in ("Home > Decor", "Home > Kitchen", "Books > Fiction"):
            weights[path] *= 1.9
        weights["Sports > Outdoors"] *= 0.5
    elif weather["condition"] == "sunny" and weather["temperature_c"] >= 18:
        weights["Sports > Outdoors"] *= 1.7
        weights["Fashion > Apparel"] *= 1.2
    return weights
