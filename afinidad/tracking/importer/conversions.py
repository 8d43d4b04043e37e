"""The conversions a placeholder may chain (``{Quantity|int}``, ``{InvoiceDate|datetime}``): a cell's text in,
a typed value out. A conversion that fails raises ValueError with a reason meant for the user; the template
adds the column, the reader the line."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson

CONVERSIONS = ("str", "int", "float", "bool", "json", "lower", "upper", "datetime")


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


def converters(datetime_format: str | None, timezone: str) -> dict[str, Callable[[str], Any]]:
    """Each conversion by name, for one file: ``datetime`` reads `datetime_format` (None: ISO 8601) and
    places date-times written without an offset in `timezone`."""
    return {
        "str": str,
        "int": _to_int,
        "float": _to_float,
        "bool": _to_bool,
        "json": _to_json,
        "lower": str.lower,
        "upper": str.upper,
        "datetime": _datetime_converter(datetime_format, ZoneInfo(timezone)),
    }
