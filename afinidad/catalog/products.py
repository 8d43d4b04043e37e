"""What a product is, at the edge: the shape the API and imports accept, checked before anything is
stored. Money is Decimal (a price is never 19.989999), stock is per location and never negative."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from afinidad.catalog.currencies import ISO_4217

ProductId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
CATEGORY_SEPARATOR = " > "


class ProductIn(BaseModel):
    """A product as sent to `PUT /v1/catalog/products/{id}`, the bulk endpoint or an import."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    brand: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    category: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        default_factory=list, description='Path from the root, e.g. ["Home", "Decor"] or "Home > Decor".'
    )
    price: Money
    currency: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=3)]
    sale_price: Money | None = None
    cost: Money | None = None
    stock: dict[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)],
        Annotated[int, Field(ge=0, strict=True)],
    ] = Field(default_factory=dict, description="Units on hand per location (warehouse, store).")
    attributes: dict[str, Any] = Field(default_factory=dict)
    image_urls: list[Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]] = Field(
        default_factory=list
    )
    language: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = None
    parent_id: ProductId | None = Field(default=None, description="The product this one is a variant of.")
    active: bool = True

    @field_validator("category", mode="before")
    @classmethod
    def _split_path(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in (p.strip() for p in value.split(">")) if part]
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in ISO_4217:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value

    @model_validator(mode="after")
    def _sale_below_price(self) -> ProductIn:
        if self.sale_price is not None and self.sale_price > self.price:
            raise ValueError("sale_price must not exceed price")
        return self


class StockUpdate(BaseModel):
    """A stock level set for one product at one location."""

    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    location: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = "default"
    quantity: Annotated[int, Field(ge=0, strict=True)]


def category_text(path: list[str]) -> str:
    return CATEGORY_SEPARATOR.join(path)


def money_text(value: Decimal | None) -> str | None:
    """A stored amount as the API shows it: exact, without trailing zeros ("19.9", "20")."""
    return None if value is None else format(value.normalize(), "f")
