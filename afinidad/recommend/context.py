"""Context in recommendations: which categories people turn to at a daypart, at the weekend, on a device or
channel, in a country or city, in some weather, learned from the workspace's own events.

A context dimension only shapes the ranking when the data shows it matters, and that is measured out of
sample: the category lifts learned on the earlier 80% of interactions must predict the categories of the
later 20% better than the plain category shares do (a mean log-likelihood gain whose lower 2-sigma bound is
above zero). A lift that only fits noise loses on the later part and is left out, so a shop whose shoppers
behave the same in rain and sun never gets its ranking tilted by the weather. Pure: codes in, lifts out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from afinidad.errors import FieldProblem, InvalidInput

DAYPARTS = ("morning", "afternoon", "evening", "night")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEVICES = ("mobile", "desktop", "tablet")
SINGLE = ("daypart", "week_part", "device", "channel", "country", "city", "weather", "temperature")
PAIRS = (("weather", "daypart"), ("weather", "week_part"), ("daypart", "week_part"))
MAX_VALUES = 50  # per dimension: the most frequent values; rarer ones count as unknown
_WEATHER_WORDS = {"rainy": "rain", "raining": "rain", "showers": "rain", "drizzle": "rain", "snowy": "snow",
                  "snowing": "snow", "sun": "sunny", "clear": "sunny", "cloud": "cloudy", "clouds": "cloudy",
                  "overcast": "cloudy", "fog": "foggy", "wind": "windy"}  # fmt: skip


def daypart_of(hour: int) -> str:
    """Local hours: night 0-5, morning 6-11, afternoon 12-17, evening 18-23 (as enrichment labels events)."""
    return "night" if hour < 6 else "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


def temperature_band(celsius: float) -> str:
    return "cold" if celsius < 8 else "mild" if celsius < 18 else "warm" if celsius < 26 else "hot"


def weather_word(value: str) -> str:
    word = value.strip().lower()
    return _WEATHER_WORDS.get(word, word)


def of_event(enrichment: dict[str, Any] | None) -> dict[str, str]:
    """The context values of one stored event, from what ingestion derived (`events.enrichment`). Without a
    time zone the daypart is the UTC one, which is the local one for a shop whose events carry none."""
    found: dict[str, str] = {}
    if not enrichment:
        return found
    part = enrichment.get("daypart")
    if part is None and isinstance(enrichment.get("utc_hour"), int):
        part = daypart_of(enrichment["utc_hour"])
    if part in DAYPARTS:
        found["daypart"] = part
    day = enrichment.get("day_of_week")
    if day in WEEKDAYS:
        found["week_part"] = "weekend" if WEEKDAYS.index(day) >= 5 else "weekday"
    device = enrichment.get("device")
    if isinstance(device, dict) and device.get("type") in DEVICES:
        found["device"] = device["type"]
    channel = enrichment.get("channel")
    if isinstance(channel, str) and channel and channel != "server":  # server-side events say nothing
        found["channel"] = channel.lower()[:40]
    geo = enrichment.get("geo")
    if isinstance(geo, dict):
        if isinstance(geo.get("country"), str) and geo["country"]:
            found["country"] = geo["country"].strip()[:60]
        if isinstance(geo.get("city"), str) and geo["city"]:
            found["city"] = geo["city"].strip()[:100]
    weather = enrichment.get("weather")
    if isinstance(weather, dict):
        if isinstance(weather.get("condition"), str) and weather["condition"]:
            found["weather"] = weather_word(weather["condition"])[:40]
        if isinstance(weather.get("temperature_c"), int | float):
            found["temperature"] = temperature_band(float(weather["temperature_c"]))
    elif isinstance(weather, str) and weather:
        found["weather"] = weather_word(weather)[:40]
    return found


def of_request(raw: dict[str, Any]) -> dict[str, str]:
    """A request's context, checked: `local_time` (ISO 8601 with its offset) gives the daypart and the day
    of the week unless `daypart` or `day_of_week` say otherwise. Every problem is reported at once."""
    problems: list[FieldProblem] = []
    found: dict[str, str] = {}
    local_time = raw.get("local_time")
    if local_time:
        try:
            moment = datetime.fromisoformat(str(local_time))
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            reason = "must be ISO 8601 with its UTC offset, e.g. 2026-11-23T19:30+01:00"
            problems.append(FieldProblem("local_time", reason))
        else:
            found["daypart"] = daypart_of(moment.hour)
            found["week_part"] = "weekend" if moment.weekday() >= 5 else "weekday"
    if raw.get("daypart"):
        if raw["daypart"] in DAYPARTS:
            found["daypart"] = raw["daypart"]
        else:
            problems.append(FieldProblem("daypart", f"must be one of {', '.join(DAYPARTS)}"))
    if raw.get("day_of_week"):
        day = str(raw["day_of_week"]).lower()
        if day in WEEKDAYS:
            found["week_part"] = "weekend" if WEEKDAYS.index(day) >= 5 else "weekday"
        else:
            problems.append(FieldProblem("day_of_week", "must be a day name in English, e.g. saturday"))
    if raw.get("device"):
        if raw["device"] in DEVICES:
            found["device"] = raw["device"]
        else:
            problems.append(FieldProblem("device", f"must be one of {', '.join(DEVICES)}"))
    for name, limit in (("channel", 40), ("country", 60), ("city", 100), ("weather", 40)):
        value = raw.get(name)
        if value is None or value == "":
            continue
        text = str(value).strip()
        if not text or len(text) > limit or not all(ch.isalnum() or ch in " -_'.," for ch in text):
            problems.append(FieldProblem(name, f"must be 1 to {limit} letters, digits, spaces or - _ ' . ,"))
        else:
            found[name] = weather_word(text) if name == "weather" else text.lower() if name == "channel" else text
    temperature = raw.get("temperature_c")
    if temperature is not None and temperature != "":
        try:
            celsius = float(temperature)
        except (TypeError, ValueError):
            celsius = math.nan
        if not -80 <= celsius <= 70:
            problems.append(FieldProblem("temperature_c", "must be a number of degrees Celsius, -80 to 70"))
        else:
            found["temperature"] = temperature_band(celsius)
    if problems:
        raise InvalidInput("Invalid recommendation context; nothing was logged.", problems)
    return found


@dataclass
class Effect:
    """One dimension (or pair) as learned: its values, the lift of each category under each value, and the
    out-of-sample evidence that decided whether it is used."""

    name: str
    values: list[str]
    lift: np.ndarray  # values x categories, clipped to [1/max_lift, max_lift]
    gain: float  # mean log-likelihood gain per later interaction (nats)
    stderr: float
    held_out: int
    used: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": self.values, "lift": np.round(self.lift, 4).tolist(),
                "gain": self.gain, "stderr": self.stderr, "held_out": self.held_out, "used": self.used}  # fmt: skip


@dataclass
class Used:
    """What a request's context did: the factor per category, each contributing dimension's own lifts (for
    the reasons), and the values given that had no effect, with why."""

    factor: np.ndarray  # categories + 1 (the last: products without a known category, always 1)
    lifts: dict[str, np.ndarray] = field(default_factory=dict)  # single dimension -> lift per category
    used: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)


class ContextAffinity:
    """Category lift per context value, kept only where it predicts later behaviour (see the module)."""

    def __init__(self, smoothing: float = 50.0, max_lift: float = 2.0, min_gain: float = 0.001,
                 holdout: float = 0.2, min_held_out: int = 200) -> None:  # fmt: skip
        self.smoothing = smoothing
        self.max_lift = max_lift
        self.min_gain = min_gain
        self.holdout = holdout
        self.min_held_out = min_held_out

    def fit(
        self, categories: np.ndarray, times: np.ndarray, values: dict[str, list[str | None]], n_categories: int
    ) -> ContextAffinity:
        """`categories`: a category code per interaction (-1 unknown); `times`: when; `values`: per single
        dimension, the value per interaction (None unknown)."""
        self.n_categories_ = n_categories
        self.effects_: dict[str, Effect] = {}
        codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        for name in SINGLE:
            if name in values:
                codes[name] = _encode(values[name])
        for first, second in PAIRS:
            if first in codes and second in codes:
                (a, a_names), (b, b_names) = codes[first], codes[second]
                joined = np.where((a >= 0) & (b >= 0), a * len(b_names) + b, -1)
                names = [f"{x}|{y}" for x in a_names for y in b_names]
                codes[f"{first}+{second}"] = (joined, names)
        cutoff = np.quantile(times, 1 - self.holdout) if len(times) else 0.0
        for name, (value_codes, names) in codes.items():
            self.effects_[name] = self._effect(name, value_codes, names, categories, times < cutoff)
        return self

    def _effect(self, name: str, value_codes: np.ndarray, names: list[str], categories: np.ndarray,
                early: np.ndarray) -> Effect:  # fmt: skip
        known = (value_codes >= 0) & (categories >= 0)
        late = known & ~early
        train = _lift(value_codes[known & early], categories[known & early], len(names), self.n_categories_,
                      self.smoothing)  # fmt: skip
        gains = np.log(train[value_codes[late], categories[late]]) if late.any() else np.zeros(0)
        gain = float(gains.mean()) if len(gains) else 0.0
        stderr = float(gains.std(ddof=1) / math.sqrt(len(gains))) if len(gains) > 1 else 0.0
        used = len(gains) >= self.min_held_out and gain >= self.min_gain and gain - 2 * stderr > 0
        full = _lift(value_codes[known], categories[known], len(names), self.n_categories_, self.smoothing)
        clipped = np.clip(full, 1 / self.max_lift, self.max_lift).astype(np.float32)
        return Effect(name, names, clipped, round(gain, 5), round(stderr, 5), int(len(gains)), bool(used))

    def apply(self, context: dict[str, str]) -> Used:
        """The factor per category for this context: the used pairs first (their lift already holds both
        parts), then the used single dimensions they do not cover; the product is kept within [1/4, 4]."""
        factor = np.ones(self.n_categories_ + 1, dtype=np.float32)
        result = Used(factor)
        covered: set[str] = set()
        pairs = sorted((e for e in self.effects_.values() if "+" in e.name and e.used), key=lambda e: -e.gain)
        for effect in pairs:
            first, second = effect.name.split("+")
            if first in covered or second in covered or first not in context or second not in context:
                continue
            row = _row(effect, f"{context[first]}|{context[second]}")
            if row is None:
                continue
            factor[:-1] *= row
            covered |= {first, second}
            for part in (first, second):  # each part's own lift, for saying which part lifted what
                single = self.effects_.get(part)
                own = _row(single, context[part]) if single is not None else None
                result.lifts[part] = own if own is not None else row
                result.used[part] = context[part]
        for name, value in context.items():
            if name in covered:
                continue
            effect = self.effects_.get(name)
            row = _row(effect, value) if effect is not None and effect.used else None
            if effect is None or not effect.used:
                result.ignored[name] = "no effect found in this shop's data"
            elif row is None:
                result.ignored[name] = "a value not seen in this shop's data"
            else:
                factor[:-1] *= row
                result.lifts[name] = row
                result.used[name] = value
        np.clip(factor, 0.25, 4.0, out=factor)
        return result

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per dimension: whether it is used and the evidence (for model metrics and the docs)."""
        return {name: {"used": e.used, "gain_nats": e.gain, "stderr": e.stderr, "held_out": e.held_out}
                for name, e in self.effects_.items()}  # fmt: skip

    def to_json(self) -> str:
        effects = [effect.as_dict() for effect in self.effects_.values()]
        return json.dumps({"n_categories": self.n_categories_, "smoothing": self.smoothing,
                           "max_lift": self.max_lift, "effects": effects})  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> ContextAffinity:
        raw = json.loads(text)
        model = cls(smoothing=raw["smoothing"], max_lift=raw["max_lift"])
        model.n_categories_ = raw["n_categories"]
        model.effects_ = {
            e["name"]: Effect(e["name"], e["values"], np.asarray(e["lift"], dtype=np.float32).reshape(
                len(e["values"]), model.n_categories_), e["gain"], e["stderr"], e["held_out"], e["used"])
            for e in raw["effects"]
        }  # fmt: skip
        return model


def _encode(column: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """Codes for the most frequent values (at most MAX_VALUES); -1 for unknown or rare."""
    counts: dict[str, int] = {}
    for value in column:
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    names = sorted(counts, key=lambda v: (-counts[v], v))[:MAX_VALUES]
    index = {name: code for code, name in enumerate(names)}
    return np.fromiter((index.get(v, -1) if v is not None else -1 for v in column), np.int32, len(column)), names


def _lift(value_codes: np.ndarray, categories: np.ndarray, n_values: int, n_categories: int,
          smoothing: float) -> np.ndarray:  # fmt: skip
    """P(category | value) / P(category), the conditional shrunk towards the shares by `smoothing`
    pseudo-interactions, so a value seen ten times cannot claim a tenfold lift."""
    counts = np.bincount(value_codes * n_categories + categories, minlength=n_values * n_categories)
    counts = counts.reshape(n_values, n_categories).astype(np.float64)
    shares = (counts.sum(axis=0) + 1) / (counts.sum() + n_categories)
    conditional = (counts + smoothing * shares) / (counts.sum(axis=1, keepdims=True) + smoothing)
    return conditional / shares


def _row(effect: Effect | None, value: str) -> np.ndarray | None:
    if effect is None or value not in effect.values:
        return None
    return effect.lift[effect.values.index(value)]


def rollup(categories: list[str], limit: int = 100) -> dict[str, str]:
    """Each category path -> the level context is learned at: the full path while there are at most `limit`
    distinct ones, else cut a level at a time ("Home > Decor > Candles" -> "Home > Decor") so that each
    learned lift rests on enough interactions."""
    depth = max((c.count(" > ") + 1 for c in categories if c), default=1)
    while depth > 1:
        cut = {c: " > ".join(c.split(" > ")[:depth]) for c in categories if c}
        if len(set(cut.values())) <= limit:
            return cut
        depth -= 1
    return {c: c.split(" > ")[0] for c in categories if c}


def popular_ranking_quality(
    affinity: ContextAffinity,
    item_category: np.ndarray,
    popularity: np.ndarray,
    items: np.ndarray,
    contexts: list[dict[str, str]],
    k: int = 10,
) -> dict[str, float]:
    """Where the item someone turned to ranks among the popular items, plain and tilted by the context they
    were in (hit rate in the top k, and mean reciprocal rank): what context adds for a shopper the model
    knows nothing about. Rows sharing a context share one ranking: one sort per distinct context."""
    plain_rank = _positions(popularity)
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for row, values in enumerate(contexts):
        groups.setdefault(tuple(sorted(values.items())), []).append(row)
    plain, tilted = plain_rank[items], plain_rank[items].copy()
    for key, rows in groups.items():
        applied = affinity.apply(dict(key)) if key else None
        if applied is not None and applied.used:
            tilted[rows] = _positions(popularity * applied.factor[item_category])[items[rows]]
    count = max(len(items), 1)
    return {"popular_hit10": round(float((plain < k).sum() / count), 4),
            "context_popular_hit10": round(float((tilted < k).sum() / count), 4),
            "popular_mrr": round(float((1 / (plain + 1)).sum() / count), 4),
            "context_popular_mrr": round(float((1 / (tilted + 1)).sum() / count), 4)}  # fmt: skip


def _positions(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    positions = np.empty_like(order)
    positions[order] = np.arange(len(order))
    return positions
