"""Segment's e-commerce spec (v2): the event names later capabilities rely on, their v1 and
differently-cased spellings, and the properties whose type must be right for revenue and baskets to add up.

Clients send "order completed", "Completed Order" (spec v1) or "Order Completed"; we store one canonical
name so recommendations, CLV and attribution read one vocabulary."""

from __future__ import annotations

from typing import Any

ECOMMERCE_EVENTS: tuple[str, ...] = (
    "Products Searched",
    "Product List Viewed",
    "Product List Filtered",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Updated",
    "Order Completed",
    "Order Refunded",
    "Order Cancelled",
    "Coupon Entered",
    "Coupon Applied",
    "Coupon Denied",
    "Coupon Removed",
    "Product Added to Wishlist",
    "Product Removed from Wishlist",
    "Wishlist Product Added to Cart",
    "Product Shared",
    "Cart Shared",
    "Product Reviewed",
)

# Spec v1 names that v2 renamed.
_V1_NAMES = {
    "viewed product": "Product Viewed",
    "viewed product category": "Product List Viewed",
    "added product": "Product Added",
    "removed product": "Product Removed",
    "completed order": "Order Completed",
    "started order": "Checkout Started",
    "updated order": "Order Updated",
    "refunded order": "Order Refunded",
    "viewed checkout step": "Checkout Step Viewed",
    "completed checkout step": "Checkout Step Completed",
}

# Afinidad's own: stock and price changes sent as events (afinidad.catalog.updates).
_CATALOG_EVENTS = ("Inventory Updated", "Price Updated")
_CANONICAL = {name.lower(): name for name in (*ECOMMERCE_EVENTS, *_CATALOG_EVENTS)} | _V1_NAMES

# Events whose `products` list describes what was bought or carted.
BASKET_EVENTS = frozenset(
    {
        "Order Completed",
        "Order Updated",
        "Order Refunded",
        "Order Cancelled",
        "Checkout Started",
        "Cart Viewed",
        "Product List Viewed",
        "Product List Filtered",
    }
)
ORDER_EVENTS = frozenset({"Order Completed", "Order Refunded", "Order Cancelled", "Order Updated"})

_NUMERIC_PROPERTIES = (
    "price",
    "quantity",
    "revenue",
    "total",
    "subtotal",
    "value",
    "shipping",
    "tax",
    "discount",
)
_NUMERIC_PRODUCT_FIELDS = ("price", "quantity", "position")


def canonical_event_name(name: str) -> str:
    """The spec's spelling of a known e-commerce event, or the name as sent (trimmed)."""
    stripped = name.strip()
    return _CANONICAL.get(" ".join(stripped.lower().split()), stripped)


def is_ecommerce(name: str) -> bool:
    return name in _CANONICAL.values()


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def check_properties(event: str, properties: dict[str, Any]) -> list[tuple[str, str]]:
    """Type problems in an e-commerce event's properties, as (field, reason) pairs.

    Only the fields money and baskets are computed from are checked; anything else is kept as sent."""
    if not is_ecommerce(event):
        return []
    problems: list[tuple[str, str]] = []
    for key in _NUMERIC_PROPERTIES:
        if key in properties and properties[key] is not None and not _is_number(properties[key]):
            problems.append((f"properties.{key}", "must be a number"))
    if "products" in properties:
        products = properties["products"]
        if not isinstance(products, list):
            problems.append(("properties.products", "must be a list of product objects"))
            return problems
        for index, product in enumerate(products):
            where = f"properties.products[{index}]"
            if not isinstance(product, dict):
                problems.append((where, "must be an object"))
                continue
            for key in _NUMERIC_PRODUCT_FIELDS:
                if key in product and product[key] is not None and not _is_number(product[key]):
                    problems.append((f"{where}.{key}", "must be a number"))
            if event in ORDER_EVENTS and not (product.get("product_id") or product.get("sku")):
                problems.append((f"{where}.product_id", "an ordered product needs product_id or sku"))
    return problems
