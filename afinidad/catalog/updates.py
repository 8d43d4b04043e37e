"""Stock and price changes that arrive as tracked events, for systems that already speak Segment (a POS,
a warehouse, an ERP feed through RudderStack): `Inventory Updated` and `Price Updated`.

    {"type": "track", "event": "Inventory Updated", "userId": "warehouse-3",
     "properties": {"product_id": "sku-1", "location": "madrid", "quantity": 12}}
    {"type": "track", "event": "Price Updated", "userId": "erp",
     "properties": {"product_id": "sku-1", "price": 59.9, "sale_price": 44.9, "currency": "EUR"}}

Pure: the tracking edge refuses a malformed one (400, nothing stored) with `update_problems`; the store side
applies a well-formed one in the transaction that stores the event (`catalog.service.apply_updates`). The
event is kept like any other, so the history of where a change came from is in the event log too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

INVENTORY_UPDATED = "Inventory Updated"
PRICE_UPDATED = "Price Updated"
CATALOG_EVENTS = (INVENTORY_UPDATED, PRICE_UPDATED)
_UNSET = object()


@dataclass(frozen=True)
class CatalogUpdate:
    """A stock level (`quantity` at `location`) or a price (`price`, `sale_price`; None = unchanged, and
    `clear_sale` removes the sale price) for one product."""

    product_id: str
    quantity: int | None = None
    location: str = "default"
    price: Decimal | None = None
    sale_price: Decimal | None = None
    clear_sale: bool = False
    currency: str | None = None


def _money(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def parse_update(event: str | None, properties: dict[str, Any]) -> tuple[CatalogUpdate | None, list[tuple[str, str]]]:
    """The update an event carries (None for other events), or the problems that make it invalid."""
    if event not in CATALOG_EVENTS:
        return None, []
    problems: list[tuple[str, str]] = []
    product_id = properties.get("product_id", properties.get("sku"))
    if not isinstance(product_id, str | int) or isinstance(product_id, bool) or not str(product_id).strip():
        problems.append(("properties.product_id", "a catalog update needs product_id (or sku)"))
    if event == INVENTORY_UPDATED:
        quantity = properties.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            problems.append(("properties.quantity", "must be a whole number of units, 0 or more"))
        location = properties.get("location", "default")
        if not isinstance(location, str) or not location.strip() or len(location) > 100:
            problems.append(("properties.location", "must be a non-empty text of up to 100 characters"))
        if problems:
            return None, problems
        return CatalogUpdate(str(product_id).strip(), quantity=quantity, location=location.strip()), []
    price, sale = properties.get("price", _UNSET), properties.get("sale_price", _UNSET)
    if price is _UNSET and sale is _UNSET:
        problems.append(("properties.price", "a price update needs price and/or sale_price"))
    if price is not _UNSET and _money(price) is None:
        problems.append(("properties.price", "must be a number, 0 or more"))
    if sale is not _UNSET and sale is not None and _money(sale) is None:
        problems.append(("properties.sale_price", "must be a number, 0 or more, or null to end a sale"))
    currency = properties.get("currency")
    if currency is not None and (not isinstance(currency, str) or len(currency.strip()) != 3):
        problems.append(("properties.currency", "must be a 3-letter ISO 4217 code"))
    if problems:
        return None, problems
    return CatalogUpdate(
        str(product_id).strip(),
        price=_money(price) if price is not _UNSET else None,
        sale_price=_money(sale) if sale not in (_UNSET, None) else None,
        clear_sale=sale is None,
        currency=currency.strip().upper() if currency else None,
    ), []
