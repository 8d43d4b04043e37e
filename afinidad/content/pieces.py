"""A piece of content as the generators write it and the checker reads it: its type, language, fields (a
subject, a body, ad headlines...) and the catalog facts it may state. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Merge fields filled per person at send time: allowed in a template, never in what is sent.
MERGE_FIELDS: tuple[str, ...] = ("first_name", "last_product", "last_basket", "recommended_products")


@dataclass(frozen=True)
class ProductFact:
    """What the catalog says about a product now: the only product facts copy may state."""

    product_id: str
    title: str
    price: Decimal | None  # None: the catalog has no price, so the copy states none
    currency: str
    sale_price: Decimal | None = None
    brand: str | None = None
    category: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    url: str | None = None

    @property
    def selling_price(self) -> Decimal | None:
        return self.sale_price if self.sale_price is not None else self.price


@dataclass
class Piece:
    """One piece of copy. `fields` maps a field name to its text (or a list of texts for ad headlines and
    descriptions); `products` are the catalog facts it was written from."""

    content_type: str
    language: str
    fields: dict[str, str | list[str]]
    products: list[ProductFact] = field(default_factory=list)
    network: str | None = None  # for social posts
    offer_percent: int | None = None  # a discount the brief allows the copy to state

    def texts(self) -> list[tuple[str, str]]:
        """(field path, text) for every text in the piece, list items as `headlines.0`."""
        found = []
        for name, value in self.fields.items():
            if isinstance(value, list):
                found += [(f"{name}.{i}", item) for i, item in enumerate(value)]
            else:
                found.append((name, value))
        return found
