"""The conversions a placeholder may chain (``{Quantity|int}``, ``{Tree|json|first|split(>)}``): a cell's text
in, a typed value out. A conversion that fails raises ValueError with a reason meant for the user; the template
adds the column, the reader the line. A conversion may return `MISSING` (``get(size)`` of an object without a
size, ``split(,)`` of nothing but commas): the field is then left out, as for an empty cell."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from afinidad.importing.missing import MISSING


@dataclass(frozen=True)
class Conversion:
    """How a conversion is written: `argument` says whether it needs one (``split(>)``); `on_text` whether it
    reads text (a value an earlier step made, such as an int, is then written as text first, as before)."""

    argument: bool = False
    on_text: bool = True


CONVERSIONS: dict[str, Conversion] = {
    "str": Conversion(),
    "int": Conversion(),
    "float": Conversion(),
    "decimal": Conversion(),
    "bool": Conversion(),
    "json": Conversion(),
    "ruby_hash": Conversion(),
    "lower": Conversion(),
    "upper": Conversion(),
    "datetime": Conversion(),
    "split": Conversion(argument=True),
    "first": Conversion(on_text=False),
    "get": Conversion(argument=True, on_text=False),
    "key_values": Conversion(on_text=False),
}


def _to_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{text!r} is not an integer")
    return int(number)


def _to_float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return number


def _to_decimal(text: str) -> Decimal:
    """Exact, for money: "2.55" stays 2.55 (a float would be 2.54999...)."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return number


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true/false")


def _to_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error})") from None


# A Ruby string (kept, escapes and all), `=>`, `nil`, or a :symbol -- outside strings only, as the scan takes
# each string whole before it could look inside.
_RUBY_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|=>|\bnil\b|:([A-Za-z_]\w*[?!]?)', re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_RUBY_ONLY_ESCAPES = {"#": "#", "$": "$", "@": "@", "e": "\\u001b"}  # escapes Ruby writes and JSON lacks


def _ruby_token_as_json(match: re.Match[str]) -> str:
    token = match.group(0)
    if token.startswith('"'):
        return _ESCAPE.sub(lambda escape: _RUBY_ONLY_ESCAPES.get(escape.group(1), escape.group(0)), token)
    if token == "=>":
        return ":"
    if token == "nil":
        return "null"
    return f'"{match.group(1)}"'


def _from_ruby_hash(text: str) -> Any:
    """Ruby's ``Hash#inspect`` text (``{"key"=>"value", "n"=>1, "x"=>nil}``), as some scrapers and Rails
    exports write nested data, read as JSON once ``=>``, ``nil`` and ``:symbols`` are translated."""
    try:
        return orjson.loads(_RUBY_TOKEN.sub(_ruby_token_as_json, text))
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not a Ruby hash ({error})") from None


def _splitter(separator: str) -> Callable[[str], Any]:
    def split(text: str) -> Any:
        parts = [part for part in (piece.strip() for piece in text.split(separator)) if part]
        return parts or MISSING

    return split


def _first(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError(f"first needs a list, not {_kind(value)}")
    return value[0] if value else MISSING


def _getter(key: str) -> Callable[[Any], Any]:
    def get(value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"get({key}) needs an object, not {_kind(value)}")
        found = value.get(key)
        return MISSING if found is None else found

    return get


def _key_values(value: Any) -> Any:
    """``[{"key": "Fabric", "value": "Cotton"}, ...]`` -> ``{"Fabric": "Cotton", ...}``: the list of pairs many
    exports use for free-form specifications. A single pair object counts as a list of one; entries without a
    key are dropped (there is no name to file them under); a later pair wins over an earlier one."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"key_values needs a list of {{key, value}} objects, not {_kind(value)}")
    pairs = {}
    for entry in value:
        if not isinstance(entry, dict):
            raise ValueError(f"key_values needs a list of {{key, value}} objects, found {_kind(entry)}")
        key = entry.get("key")
        if key is not None and key != "":
            pairs[str(key)] = entry.get("value")
    return pairs or MISSING


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _datetime_converter(datetime_format: str | None, zone: ZoneInfo) -> Callable[[str], str]:
    expected = f"format {datetime_format!r}" if datetime_format else "ISO 8601"

    def parse(text: str) -> datetime:
        if datetime_format is None:
            return datetime.fromisoformat(text)
        return datetime.strptime(text, datetime_format)

    @lru_cache(maxsize=4096)  # exports repeat timestamps (all lines of one order): parse each once
    def to_datetime(text: str) -> str:
        try:
            moment = parse(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date-time in {expected}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.isoformat()

    return to_datetime


class Converters:
    """The conversions for one file: ``datetime`` reads `datetime_format` (None: ISO 8601) and places date-times
    written without an offset in `timezone`; its cache of parsed times lives as long as the file's reading."""

    def __init__(self, datetime_format: str | None = None, timezone: str = "UTC") -> None:
        self._plain: dict[str, Callable[[Any], Any]] = {
            "str": str,
            "int": _to_int,
            "float": _to_float,
            "decimal": _to_decimal,
            "bool": _to_bool,
            "json": _to_json,
            "ruby_hash": _from_ruby_hash,
            "lower": str.lower,
            "upper": str.upper,
            "datetime": _datetime_converter(datetime_format, ZoneInfo(timezone)),
            "first": _first,
            "key_values": _key_values,
        }
        self._with_argument: dict[str, Callable[[str], Callable[[Any], Any]]] = {
            "split": _splitter,
            "get": _getter,
        }

    def get(self, name: str, argument: str | None = None) -> Callable[[Any], Any]:
        """The function for ``name`` (``name(argument)``); names and arguments were checked with the template."""
        if argument is None:
            return self._plain[name]
        return self._with_argument[name](argument)
