"""The segment rule language: one tree, two spellings. The API takes and returns JSON; people read and type
the text form in the CLI. Both are checked the same way before anything is stored, and every problem says
where it is (a JSON path, or a column in the text) and why.

Conditions (each may be negated with `not`, combined with `and` / `or`, grouped with parentheses), in text
and then in JSON:

- `trait.country = "ES"`: `{"trait": "country", "op": "eq", "value": "ES"}`; `trait.email exists`:
  `{"trait": "email", "op": "exists"}`; `trait.plan in ["gold", "silver"]`.
- `count("Order Completed" in 90d) >= 2`: `{"event": "Order Completed", "within_days": 90, "op": "gte",
  "value": 2}`, at least two orders in the last 90 days.
- `count("Product Viewed" where category = "Shoes" in 7d) >= 1`: the same with
  `"where": [{"property": "category", "op": "eq", "value": "Shoes"}]`, viewed Shoes this week.
- `sum("Order Completed".revenue in 365d) > 100`: `"measure": "sum", "property": "revenue"` (also avg,
  min, max), spent over 100 in a year.
- `consent.email`: `{"consent": "email"}`, the person allows e-mail now.
- `score.churn > 0.5`: `{"score": "churn", "op": "gt", "value": 0.5}`, a stored prediction compares so.
- `segment "vip"`: `{"segment": "vip"}`, a member of that other segment.

Comparisons: `=` `!=` `>` `>=` `<` `<=` (eq, ne, gt, gte, lt, lte), and `in [..]` for traits. Pure.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from afinidad.consent.purposes import PURPOSES
from afinidad.errors import FieldProblem, InvalidInput

OPS = {"=": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
SYMBOL = {name: symbol for symbol, name in OPS.items()}
NUMERIC_OPS = {"gt", "gte", "lt", "lte"}
MEASURES = ("count", "sum", "avg", "min", "max")
MAX_WINDOW_DAYS = 3650
MAX_DEPTH = 8
MAX_CONDITIONS = 50
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")


@dataclass(frozen=True)
class Trait:
    name: str
    op: str  # eq ne gt gte lt lte in exists
    value: Any = None


@dataclass(frozen=True)
class Filter:
    property: str
    op: str
    value: Any


@dataclass(frozen=True)
class Events:
    event: str
    op: str
    value: float
    measure: str = "count"
    property: str | None = None  # what sum / avg / min / max read
    within_days: int | None = None
    where: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class Consent:
    purpose: str


@dataclass(frozen=True)
class Score:
    name: str
    op: str
    value: float


@dataclass(frozen=True)
class Member:
    segment: str  # a segment's name or id


@dataclass(frozen=True)
class Not:
    item: Rule


@dataclass(frozen=True)
class All:
    items: tuple[Rule, ...]


@dataclass(frozen=True)
class Any_:
    items: tuple[Rule, ...]


Rule = Trait | Events | Consent | Score | Member | Not | All | Any_


@dataclass
class _Problems:
    found: list[FieldProblem] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        self.found.append(FieldProblem(where, reason))


# -- JSON ------------------------------------------------------------------------------------------------


def from_json(raw: Any, where: str = "rule") -> Rule:
    """The rule a JSON document describes, checked; every problem is reported with its JSON path."""
    problems = _Problems()
    rule = _node(raw, where, problems, 0)
    count = _count(rule) if rule is not None else 0
    if count > MAX_CONDITIONS:
        problems.add(where, f"has {count} conditions; at most {MAX_CONDITIONS}")
    if problems.found or rule is None:
        raise InvalidInput("Invalid segment rule; nothing was changed.", problems.found)
    return rule


def _node(raw: Any, where: str, problems: _Problems, depth: int) -> Rule | None:
    if depth > MAX_DEPTH:
        problems.add(where, f"nests deeper than {MAX_DEPTH} levels")
        return None
    if not isinstance(raw, dict):
        problems.add(where, "must be an object")
        return None
    for key, kind in (("all", All), ("any", Any_)):
        if key in raw:
            _only(raw, {key}, where, problems)
            items = raw[key]
            if not isinstance(items, list) or not items:
                problems.add(f"{where}.{key}", "must be a non-empty list of conditions")
                return None
            parsed = [_node(item, f"{where}.{key}[{i}]", problems, depth + 1) for i, item in enumerate(items)]
            return kind(tuple(p for p in parsed if p is not None)) if None not in parsed else None
    if "not" in raw:
        _only(raw, {"not"}, where, problems)
        inner = _node(raw["not"], f"{where}.not", problems, depth + 1)
        return Not(inner) if inner is not None else None
    if "trait" in raw:
        return _trait(raw, where, problems)
    if "event" in raw:
        return _events(raw, where, problems)
    if "consent" in raw:
        _only(raw, {"consent"}, where, problems)
        if raw["consent"] not in PURPOSES:
            problems.add(f"{where}.consent", f"unknown purpose; one of {', '.join(PURPOSES)}")
            return None
        return Consent(raw["consent"])
    if "score" in raw:
        _only(raw, {"score", "op", "value"}, where, problems)
        name, op, value = raw["score"], raw.get("op"), raw.get("value")
        ok = _name(name, f"{where}.score", problems) & _numeric(op, value, where, problems)
        return Score(name, op, float(value)) if ok else None
    if "segment" in raw:
        _only(raw, {"segment"}, where, problems)
        if not isinstance(raw["segment"], str) or not raw["segment"].strip():
            problems.add(f"{where}.segment", "must be a segment's name or id")
            return None
        return Member(raw["segment"].strip())
    known = ", ".join(("all", "any", "not", "trait", "event", "consent", "score", "segment"))
    problems.add(where, f"unknown condition {sorted(raw)!r}; a condition has one of: {known}")
    return None


def _only(raw: dict, allowed: set[str], where: str, problems: _Problems) -> None:
    for key in sorted(set(raw) - allowed):
        problems.add(f"{where}.{key}", "unknown field")


def _name(value: Any, where: str, problems: _Problems) -> bool:
    if not isinstance(value, str) or not _NAME.match(value) or len(value) > 100:
        problems.add(where, "must be a name of letters, digits, _ or -, dotted for nested keys")
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numeric(op: Any, value: Any, where: str, problems: _Problems) -> bool:
    if op not in set(OPS.values()):
        problems.add(f"{where}.op", f"must be one of {', '.join(OPS.values())}")
        return False
    if not _is_number(value):
        problems.add(f"{where}.value", "must be a number")
        return False
    return True


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_number(value)


def _trait(raw: dict, where: str, problems: _Problems) -> Trait | None:
    _only(raw, {"trait", "op", "value"}, where, problems)
    name, op, value = raw["trait"], raw.get("op"), raw.get("value")
    if not _name(name, f"{where}.trait", problems):
        return None
    if op == "exists":
        return Trait(name, "exists")
    if op == "in":
        if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
            problems.add(f"{where}.value", "must be a non-empty list of strings, numbers or booleans")
            return None
        return Trait(name, "in", tuple(value))
    if op not in set(OPS.values()):
        problems.add(f"{where}.op", f"must be one of {', '.join([*OPS.values(), 'in', 'exists'])}")
        return None
    if op in NUMERIC_OPS and not _is_number(value):
        problems.add(f"{where}.value", f"must be a number to compare with {SYMBOL[op]}")
        return None
    if not _scalar(value):
        problems.add(f"{where}.value", "must be a string, a number, a boolean or null")
        return None
    return Trait(name, op, value)


def _events(raw: dict, where: str, problems: _Problems) -> Events | None:
    _only(raw, {"event", "op", "value", "measure", "property", "within_days", "where"}, where, problems)
    event, measure, prop = raw["event"], raw.get("measure", "count"), raw.get("property")
    ok = True
    if not isinstance(event, str) or not event.strip() or len(event) > 255:
        problems.add(f"{where}.event", "must be an event name")
        ok = False
    if measure not in MEASURES:
        problems.add(f"{where}.measure", f"must be one of {', '.join(MEASURES)}")
        ok = False
    elif measure == "count" and prop is not None:
        problems.add(f"{where}.property", "only sum, avg, min and max read a property")
        ok = False
    elif measure != "count":
        ok &= _name(prop, f"{where}.property", problems)
    window = raw.get("within_days")
    if window is not None and (not isinstance(window, int) or isinstance(window, bool)
                               or not 1 <= window <= MAX_WINDOW_DAYS):  # fmt: skip
        problems.add(f"{where}.within_days", f"must be a whole number of days, 1 to {MAX_WINDOW_DAYS}")
        ok = False
    ok &= _numeric(raw.get("op"), raw.get("value"), where, problems)
    filters = []
    for i, item in enumerate(raw.get("where") or []):
        here = f"{where}.where[{i}]"
        if not isinstance(item, dict):
            problems.add(here, "must be an object with property, op and value")
            ok = False
            continue
        _only(item, {"property", "op", "value"}, here, problems)
        good = _name(item.get("property"), f"{here}.property", problems)
        op, value = item.get("op"), item.get("value")
        if op not in set(OPS.values()):
            problems.add(f"{here}.op", f"must be one of {', '.join(OPS.values())}")
            good = False
        elif op in NUMERIC_OPS and not _is_number(value):
            problems.add(f"{here}.value", f"must be a number to compare with {SYMBOL[op]}")
            good = False
        elif not _scalar(value):
            problems.add(f"{here}.value", "must be a string, a number, a boolean or null")
            good = False
        ok &= good
        if good:
            filters.append(Filter(item["property"], op, value))
    if not ok:
        return None
    return Events(event.strip(), raw["op"], float(raw["value"]), measure, prop, window, tuple(filters))


def to_json(rule: Rule) -> dict[str, Any]:
    match rule:
        case All(items):
            return {"all": [to_json(item) for item in items]}
        case Any_(items):
            return {"any": [to_json(item) for item in items]}
        case Not(item):
            return {"not": to_json(item)}
        case Trait(name, op, value):
            if op == "exists":
                return {"trait": name, "op": op}
            return {"trait": name, "op": op, "value": list(value) if op == "in" else value}
        case Events():
            found: dict[str, Any] = {"event": rule.event}
            if rule.measure != "count":
                found |= {"measure": rule.measure, "property": rule.property}
            if rule.within_days is not None:
                found["within_days"] = rule.within_days
            if rule.where:
                found["where"] = [{"property": f.property, "op": f.op, "value": f.value} for f in rule.where]
            return found | {"op": rule.op, "value": _number(rule.value)}
        case Consent(purpose):
            return {"consent": purpose}
        case Score(name, op, value):
            return {"score": name, "op": op, "value": _number(value)}
        case Member(segment):
            return {"segment": segment}
    raise TypeError(rule)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _count(rule: Rule) -> int:
    if isinstance(rule, All | Any_):
        return sum(_count(item) for item in rule.items)
    if isinstance(rule, Not):
        return _count(rule.item)
    return 1


def references(rule: Rule) -> set[str]:
    """The other segments a rule reads (for ordering rebuilds and refusing cycles)."""
    if isinstance(rule, All | Any_):
        return set().union(*(references(item) for item in rule.items))
    if isinstance(rule, Not):
        return references(rule.item)
    return {rule.segment} if isinstance(rule, Member) else set()


def events_read(rule: Rule) -> set[str]:
    """The event names a rule reads: a new event of another name cannot change its answer."""
    if isinstance(rule, All | Any_):
        return set().union(*(events_read(item) for item in rule.items))
    if isinstance(rule, Not):
        return events_read(rule.item)
    return {rule.event} if isinstance(rule, Events) else set()


# -- text ------------------------------------------------------------------------------------------------


def to_text(rule: Rule, top: bool = True) -> str:
    """The readable spelling; `parse(to_text(rule)) == rule`."""
    match rule:
        case All(items) | Any_(items):
            joiner = " and " if isinstance(rule, All) else " or "
            text = joiner.join(to_text(item, top=False) for item in items)
            return text if top or len(items) == 1 else f"({text})"
        case Not(item):
            return f"not {to_text(item, top=False)}"
        case Trait(name, op, value):
            if op == "exists":
                return f"trait.{name} exists"
            if op == "in":
                return f"trait.{name} in [{', '.join(_literal(v) for v in value)}]"
            return f"trait.{name} {SYMBOL[op]} {_literal(value)}"
        case Events():
            subject = _literal(rule.event) + (f".{rule.property}" if rule.property else "")
            where = " and ".join(f"{f.property} {SYMBOL[f.op]} {_literal(f.value)}" for f in rule.where)
            inner = subject + (f" where {where}" if where else "") + (
                f" in {rule.within_days}d" if rule.within_days else "")  # fmt: skip
            return f"{rule.measure}({inner}) {SYMBOL[rule.op]} {_literal(_number(rule.value))}"
        case Consent(purpose):
            return f"consent.{purpose}"
        case Score(name, op, value):
            return f"score.{name} {SYMBOL[op]} {_literal(_number(value))}"
        case Member(segment):
            return f"segment {_literal(segment)}"
    raise TypeError(rule)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value) if isinstance(value, float) else str(value)


_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<days>\d+d\b)|(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"""
    r"""|(?P<op>>=|<=|!=|=|>|<)|(?P<punct>[()\[\],.])|(?P<word>[A-Za-z_][A-Za-z0-9_\-]*))"""
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int  # 1-based


def _tokens(text: str) -> list[_Token]:
    found, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            column = position + len(text[position:]) - len(text[position:].lstrip()) + 1
            raise _syntax(column, f"unexpected {text[column - 1]!r}")
        kind = match.lastgroup or ""
        found.append(_Token(kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
    found.append(_Token("end", "", len(text) + 1))
    return found


def _syntax(column: int, reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid segment rule at column {column}: {reason}; nothing was changed.",
                        [FieldProblem("rule", f"column {column}: {reason}")])  # fmt: skip


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self, kind: str | None = None, text: str | None = None) -> _Token:
        token = self.token
        if (kind and token.kind != kind) or (text and token.text != text):
            names = {"string": "a quoted string", "number": "a number", "word": "a name", "days": "days like 30d"}
            wanted = repr(text) if text else names.get(kind or "", kind)
            seen = repr(token.text) if token.text else "the end"
            raise _syntax(token.column, f"expected {wanted}, found {seen}")
        self.at += 1
        return token

    def word(self, text: str) -> bool:
        if self.token.kind == "word" and self.token.text.lower() == text:
            self.at += 1
            return True
        return False

    def expression(self, depth: int = 0) -> Rule:
        if depth > MAX_DEPTH:
            raise _syntax(self.token.column, f"nests deeper than {MAX_DEPTH} levels")
        items = [self.conjunction(depth)]
        while self.word("or"):
            items.append(self.conjunction(depth))
        return items[0] if len(items) == 1 else Any_(tuple(items))

    def conjunction(self, depth: int) -> Rule:
        items = [self.unary(depth)]
        while self.word("and"):
            items.append(self.unary(depth))
        return items[0] if len(items) == 1 else All(tuple(items))

    def unary(self, depth: int) -> Rule:
        if self.word("not"):
            return Not(self.unary(depth + 1))
        if self.token.text == "(":
            self.take(text="(")
            inner = self.expression(depth + 1)
            self.take(text=")")
            return inner
        return self.condition()

    def condition(self) -> Rule:
        start = self.token
        if start.kind != "word":
            raise _syntax(start.column, f"expected a condition, found {start.text or 'the end'!r}")
        head = start.text.lower()
        if head in ("trait", "consent", "score"):
            self.at += 1
            self.take(text=".")
            name = self.dotted()
            if head == "consent":
                if name not in PURPOSES:
                    raise _syntax(start.column, f"unknown consent purpose {name!r}; one of {', '.join(PURPOSES)}")
                return Consent(name)
            if head == "score":
                op = OPS[self.take("op").text]
                return Score(name, op, self.number())
            if self.word("exists"):
                return Trait(name, "exists")
            if self.word("in"):
                return Trait(name, "in", tuple(self.list_literal()))
            op_token = self.take("op")
            op = OPS[op_token.text]
            value = self.literal()
            if op in NUMERIC_OPS and not _is_number(value):
                raise _syntax(op_token.column, f"{op_token.text} compares numbers, not {_literal(value)}")
            return Trait(name, op, value)
        if head == "segment":
            self.at += 1
            return Member(json.loads(self.take("string").text))
        if head in MEASURES:
            return self.events(head, start)
        known = "trait.NAME, count(...), sum(...), avg(...), min(...), max(...), consent.PURPOSE, score.NAME, segment"
        raise _syntax(start.column, f"unknown field {start.text!r}; a condition starts with {known}")

    def events(self, measure: str, start: _Token) -> Events:
        self.at += 1
        self.take(text="(")
        event = json.loads(self.take("string").text)
        prop = None
        if self.token.text == ".":
            self.take(text=".")
            prop = self.dotted()
        if measure == "count" and prop is not None:
            raise _syntax(start.column, "count(...) counts events; sum, avg, min and max read a property")
        if measure != "count" and prop is None:
            raise _syntax(start.column, f'{measure}(...) needs a property, e.g. {measure}("Order Completed".revenue)')
        filters = []
        if self.word("where"):
            while True:
                name = self.dotted()
                op_token = self.take("op")
                value = self.literal()
                if OPS[op_token.text] in NUMERIC_OPS and not _is_number(value):
                    raise _syntax(op_token.column, f"{op_token.text} compares numbers, not {_literal(value)}")
                filters.append(Filter(name, OPS[op_token.text], value))
                if not self.word("and"):
                    break
        window = None
        if self.word("in"):
            days = self.take("days")
            window = int(days.text[:-1])
            if not 1 <= window <= MAX_WINDOW_DAYS:
                raise _syntax(days.column, f"the window must be 1 to {MAX_WINDOW_DAYS} days")
        self.take(text=")")
        op = OPS[self.take("op").text]
        return Events(event, op, self.number(), measure, prop, window, tuple(filters))

    def dotted(self) -> str:
        parts = [self.take("word").text]
        while self.token.text == "." and self.tokens[self.at + 1].kind == "word":
            self.take(text=".")
            parts.append(self.take("word").text)
        return ".".join(parts)

    def number(self) -> float:
        token = self.token
        value = self.literal()
        if not _is_number(value):
            raise _syntax(token.column, f"expected a number, found {token.text or 'the end'!r}")
        return float(value)

    def literal(self) -> Any:
        token = self.token
        if token.kind == "string":
            self.at += 1
            return json.loads(token.text)
        if token.kind == "number":
            self.at += 1
            number = float(token.text)
            whole = number.is_integer() and "." not in token.text and "e" not in token.text.lower()
            return int(number) if whole else number
        if token.kind == "word" and token.text in ("true", "false", "null"):
            self.at += 1
            return {"true": True, "false": False, "null": None}[token.text]
        raise _syntax(token.column, f"expected a value (a quoted string, a number, true, false or null), "
                                    f"found {token.text or 'the end'!r}")  # fmt: skip

    def list_literal(self) -> list[Any]:
        self.take(text="[")
        values = [self.literal()]
        while self.token.text == ",":
            self.take(text=",")
            values.append(self.literal())
        self.take(text="]")
        return values


def parse(text: str) -> Rule:
    """The rule a text spells; a problem names its column and what was expected there."""
    if not text.strip():
        raise _syntax(1, "the rule is empty")
    parser = _Parser(text)
    rule = parser.expression()
    if parser.token.kind != "end":
        raise _syntax(parser.token.column, f"unexpected {parser.token.text!r} after a complete rule")
    return from_json(to_json(rule))  # the same checks as JSON, and a tree in its canonical form
