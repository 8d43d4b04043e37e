"""``[totals]``: sums over a group's items (``sum(quantity * price)``), in decimal so money adds up to the
cent, as the file wrote it."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from afinidad.tracking.importer.mapping import Total


@lru_cache(maxsize=65536)  # prices and quantities repeat across rows
def _exact(value: float) -> Decimal:
    """The decimal a float was written as (2.55, not 2.54999...): what the file said."""
    return Decimal(repr(value))


def group_total(total: Total, items: list[dict[str, Any]]) -> tuple[Any, tuple[int, str, str] | None]:
    """Sum of products in decimal, so money adds up to the cent; an int when every factor is one.
    Returns (amount, None), or (None, (index of the item at fault, its field, reason))."""
    amount = Decimal(0)
    whole = True
    for index, item in enumerate(items):
        product = Decimal(1)
        for name in total.factors:
            value = item.get(name)
            if value.__class__ is float:
                whole = False
                product *= _exact(value)
            elif value.__class__ is int:
                product *= value
            else:
                got = "missing" if value is None else f"{value!r}, not a number"
                where = ".".join(total.path)
                return None, (index, name, f"{name} is {got}; needed by {where} = {total.expression}")
        amount += product
    return (int(amount) if whole else float(amount)), None
