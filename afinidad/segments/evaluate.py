"""Who a rule selects, as set algebra over facts gathered once: `and` intersects, `or` unites, `not` takes
the rest of the profiles considered. A rebuild of 100,000 profiles is then a few set operations per
condition, and following one new event is the same code over a universe of one profile. Pure: the facts
come from `segments.facts`."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from afinidad.segments.rules import All, Any_, Consent, Events, Member, Not, Rule, Score, Trait

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le,
}  # fmt: skip


def aggregate_key(condition: Events) -> tuple:
    """What two event conditions share when they read the same numbers (they may compare differently)."""
    return (condition.event, condition.within_days, condition.where, condition.measure, condition.property)


@dataclass
class Facts:
    """What the rules read, for a universe of (unified) profiles."""

    profiles: set[str]
    traits: dict[str, dict[str, Any]] = field(default_factory=dict)
    aggregates: dict[tuple, dict[str, float]] = field(default_factory=dict)  # aggregate_key -> profile -> value
    consent: dict[str, set[str]] = field(default_factory=dict)  # purpose -> profiles allowing it now
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # score name -> profile -> value
    members: dict[str, set[str]] = field(default_factory=dict)  # segment id -> its members (within the universe)


def select(rule: Rule, facts: Facts, segment_ids: dict[str, str] | None = None) -> set[str]:
    """The profiles of `facts.profiles` the rule selects; `segment_ids` maps a segment's name to its id."""
    match rule:
        case All(items):
            chosen = set(facts.profiles)
            for item in items:  # each part only looks at those the parts before it kept
                chosen = select(item, replace(facts, profiles=chosen), segment_ids)
                if not chosen:
                    break
            return chosen
        case Any_(items):
            return set().union(*(select(item, facts, segment_ids) for item in items))
        case Not(item):
            return facts.profiles - select(item, facts, segment_ids)
        case Trait():
            return {pid for pid in facts.profiles if trait_holds(rule, facts.traits.get(pid) or {})}
        case Events():
            values = facts.aggregates.get(aggregate_key(rule), {})
            compare = _COMPARE[rule.op]
            if rule.measure in ("count", "sum"):  # no event counts as 0
                return {pid for pid in facts.profiles if compare(values.get(pid, 0.0), rule.value)}
            return {pid for pid, value in values.items() if pid in facts.profiles and compare(value, rule.value)}
        case Consent(purpose):
            return facts.consent.get(purpose, set()) & facts.profiles
        case Score(name, op, value):
            compare = _COMPARE[op]
            return {pid for pid, score in facts.scores.get(name, {}).items()
                    if pid in facts.profiles and compare(score, value)}  # fmt: skip
        case Member(segment):
            found = facts.members.get(segment)  # as the rule names it, else by its id
            if found is None:
                found = facts.members.get((segment_ids or {}).get(segment, segment), set())
            return found & facts.profiles
    raise TypeError(rule)


def trait_value(traits: dict[str, Any], name: str) -> tuple[bool, Any]:
    """(found, value) of a dotted trait name ("address.city")."""
    value: Any = traits
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def trait_holds(condition: Trait, traits: dict[str, Any]) -> bool:
    found, value = trait_value(traits, condition.name)
    if condition.op == "exists":
        return found and value is not None
    if not found:
        return condition.op == "ne"  # a trait that is not there differs from any value
    if condition.op == "in":
        return any(_same(value, option) for option in condition.value)
    if condition.op in ("eq", "ne"):
        return _same(value, condition.value) == (condition.op == "eq")
    number = _number(value)
    return number is not None and _COMPARE[condition.op](number, condition.value)


def _same(value: Any, expected: Any) -> bool:
    """Equal as the rule's author means it: numbers by value (2 == 2.0), strings without regard to case,
    never a string equal to a number or a boolean equal to 1."""
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and value == expected
    if isinstance(expected, str):
        return isinstance(value, str) and value.casefold() == expected.casefold()
    if expected is None:
        return value is None
    number = _number(value)
    return number is not None and number == expected


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def measure(condition: Events, values: list[float], count: int) -> float | None:
    """The number an event condition compares: how many events, or the sum / mean / min / max of the
    property over the events that carry it as a number (None when none does)."""
    if condition.measure == "count":
        return float(count)
    if not values:
        return 0.0 if condition.measure == "sum" else None
    if condition.measure == "sum":
        return float(sum(values))
    if condition.measure == "avg":
        return float(sum(values) / len(values))
    return float(min(values) if condition.measure == "min" else max(values))


def filter_holds(filters: tuple, properties: dict[str, Any]) -> bool:
    for item in filters:
        probe = Trait(item.property, item.op, item.value)
        if not trait_holds(probe, properties):
            return False
    return True
