"""A workspace's pricing rules, as it stores them (`pricing` in the workspace settings): the objective, the
shop-wide guardrails, and floors and ceilings per product. Checked here so that a typo never becomes a price."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from afinidad.decide.pricing import Guardrails

Share = Annotated[float, Field(ge=0, le=10)]
Amount = Annotated[float, Field(gt=0, le=1e12)]


class PriceBounds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    floor: Amount | None = None
    ceiling: Amount | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PriceBounds:
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError("the floor must not be above the ceiling")
        return self


class PricingRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objective: Literal["margin", "revenue"] = Field("margin", description="Margin needs a cost; else revenue.")
    require_approval: bool = Field(True, description="Proposals wait for a person; off, they apply at once.")
    min_margin: Share | None = Field(None, description="Price >= cost x (1 + this).")
    max_change_per_day: Share | None = Field(0.1, description="At most this share up or down from a day ago.")
    max_above_competitor: Share | None = Field(None, description="At most this share above a competitor's price.")
    competitor_max_age_days: Annotated[int, Field(ge=1, le=365)] = Field(
        7, description="Competitor prices older than this are ignored."
    )
    products: dict[Annotated[str, Field(min_length=1, max_length=255)], PriceBounds] = Field(
        default_factory=dict, description="Floor and ceiling per product id."
    )

    def guardrails(self, product_id: str) -> Guardrails:
        bounds = self.products.get(product_id, PriceBounds())
        return Guardrails(floor=bounds.floor, ceiling=bounds.ceiling, min_margin=self.min_margin,
                          max_change_per_day=self.max_change_per_day, max_above_competitor=self.max_above_competitor,
                          require_approval=self.require_approval)  # fmt: skip
