"""Where recommendations are shown, and the rules of each place: a shop's home page wants variety, its cart
wants what goes with the cart, an e-mail wants few items. A workspace stores its own rules per slot
(`recommendation_slots` in the workspace settings); a request's own parameters win over them.

Boosts are promotions: a boost of b moves an item ahead of the items ranked up to b times higher than it,
among the candidates the model ranked near the top (so a boost reorders good candidates, it never puts an
irrelevant product first)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Boost = Annotated[float, Field(ge=1.0, le=10.0)]


class SlotRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["personal", "cart"] | None = Field(
        None, description="personal: from all the person did; cart: what goes with the products in the cart now."
    )
    n: Annotated[int, Field(ge=1, le=100)] | None = Field(None, description="How many items by default.")
    in_stock: bool | None = Field(None, description="Only products in stock (default true).")
    exclude_bought: bool | None = Field(None, description="Leave out bought products, except repeat purchases.")
    max_per_category: Annotated[int, Field(ge=1, le=100)] | None = Field(None, description="Diversity cap.")
    category: Annotated[str, Field(max_length=1000)] | None = Field(None, description="Only this category subtree.")
    brands: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=100)
    min_price: Annotated[float, Field(ge=0)] | None = None
    max_price: Annotated[float, Field(ge=0)] | None = None
    boost_on_sale: Boost | None = Field(None, description="Boost for products whose sale price is under the price.")
    boost_brands: dict[Annotated[str, Field(max_length=200)], Boost] | None = Field(None, max_length=100)
    boost_categories: dict[Annotated[str, Field(max_length=1000)], Boost] | None = Field(None, max_length=100)
    boost_products: dict[Annotated[str, Field(max_length=255)], Boost] | None = Field(None, max_length=1000)


DEFAULT_SLOTS: dict[str, SlotRules] = {
    "home": SlotRules(source="personal", n=10, max_per_category=3),
    "product": SlotRules(source="personal", n=8),
    "cart": SlotRules(source="cart", n=6),
    "email": SlotRules(source="personal", n=4, max_per_category=2),
}
BASE = SlotRules(source="personal", n=10, in_stock=True, exclude_bought=True)


def rules_for(slot: str, stored: dict[str, SlotRules] | None, given: SlotRules) -> SlotRules:
    """The rules in force: the request's own, then the workspace's for this slot, then the built-in ones
    for well-known slots, then the base."""
    layers = [given, (stored or {}).get(slot), DEFAULT_SLOTS.get(slot), BASE]
    merged: dict[str, object] = {}
    for layer in layers:
        if layer is None:
            continue
        for name, value in layer.model_dump(exclude_none=True).items():
            merged.setdefault(name, value)
    return SlotRules.model_validate(merged)


def boost_of(rules: SlotRules, product_id: str, brand: str | None, category: str | None, on_sale: bool) -> float:
    """The product of the boosts that apply to one product (a category boost covers its subtree)."""
    boost = 1.0
    if on_sale and rules.boost_on_sale:
        boost *= rules.boost_on_sale
    if rules.boost_brands and brand in rules.boost_brands:
        boost *= rules.boost_brands[brand]
    if rules.boost_categories and category:
        for name, factor in rules.boost_categories.items():
            if category == name or category.startswith(name + " > "):
                boost *= factor
    if rules.boost_products and product_id in rules.boost_products:
        boost *= rules.boost_products[product_id]
    return boost


def boosts_anything(rules: SlotRules) -> bool:
    return bool(rules.boost_on_sale or rules.boost_brands or rules.boost_categories or rules.boost_products)
