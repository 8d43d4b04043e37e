"""Recommendations for a person, with a reason per item and a `decision_id` to report outcomes with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.recommend.report import outcome_report
from afinidad.recommend.serving import Request, for_product, recommend
from afinidad.recommend.trending import trending
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


@router.get("/report", summary="Click-through and conversion per slot and model version")
def report(
    days: int = Query(30, ge=1, le=366),
    caller: Caller = Depends(secret_caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """Decisions joined to the `Product Clicked` and `Order Completed` events that carry their `decision_id`."""
    return outcome_report(session, caller.workspace_id, days)


@router.get("/{identifier}", summary="Products for this person now, each with a reason (logged as a decision)")
def recommendations(
    identifier: str,
    n: int | None = Query(None, description="How many, 1 to 100 (default: the slot's, else 10)."),
    slot: str = Query("home", description="Where they are shown: home, product, cart, email, or your own."),
    source: str | None = Query(None, description="personal, or cart: what goes with the products in the cart."),
    lang: str | None = Query(None, max_length=35, description="Language of the reasons (default: the profile's)."),
    category: str | None = Query(None, max_length=1000, description="Only this category and those under it."),
    brand: list[str] | None = Query(None, max_length=100, description="Only these brands (repeat the parameter)."),
    min_price: float | None = Query(None, description="Lowest price paid (the sale price when there is one)."),
    max_price: float | None = Query(None, description="Highest price paid."),
    in_stock: bool | None = Query(None, description="Only products in stock (default true)."),
    exclude_bought: bool | None = Query(None, description="Leave out bought products (default true)."),
    max_per_category: int | None = Query(None, description="Diversity: at most this many from one category."),
    local_time: str | None = Query(None, max_length=40, description="The shopper's clock, ISO 8601 with offset."),
    daypart: str | None = Query(None, max_length=20, description="morning, afternoon, evening or night."),
    day_of_week: str | None = Query(None, max_length=20, description="monday ... sunday."),
    device: str | None = Query(None, max_length=20, description="mobile, desktop or tablet."),
    channel: str | None = Query(None, max_length=40, description="web, app, email, store..."),
    country: str | None = Query(None, max_length=60),
    city: str | None = Query(None, max_length=100),
    weather: str | None = Query(None, max_length=40, description="rain, snow, sunny, cloudy..."),
    temperature_c: float | None = Query(None, description="Outside temperature in degrees Celsius."),
    caller: Caller = Depends(secret_caller),
    p: Platform = Depends(platform),
) -> dict[str, Any]:
    """An unknown person gets the popular products (a cold start), not an error. Without `personalization`
    consent, everyone gets the popular products. The context given tilts the ranking only where the
    workspace's data showed it matters; the response's `context` says what was used and what was not."""
    context = {"local_time": local_time, "daypart": daypart, "day_of_week": day_of_week, "device": device,
               "channel": channel, "country": country, "city": city, "weather": weather,
               "temperature_c": temperature_c}  # fmt: skip
    request = Request(identifier=identifier, n=n, slot=slot, language=lang, category=category, in_stock=in_stock,
                      exclude_bought=exclude_bought, max_per_category=max_per_category, brands=brand,
                      min_price=min_price, max_price=max_price, source=source,
                      context={k: v for k, v in context.items() if v is not None})  # fmt: skip
    with p.store.session() as session:
        return recommend(session, caller.workspace_id, request)


products = APIRouter(prefix="/v1/products", tags=["recommendations"])


def _beside(kind: str):  # type: ignore[no-untyped-def]
    def endpoint(
        product_id: str,
        n: int = Query(10, description="How many, 1 to 100."),
        slot: str = Query("product"),
        lang: str | None = Query(None, max_length=35),
        in_stock: bool = Query(True),
        caller: Caller = Depends(secret_caller),
        p: Platform = Depends(platform),
    ) -> dict[str, Any]:
        with p.store.session() as session:
            return for_product(session, caller.workspace_id, product_id, kind, n=n, in_stock=in_stock,
                               language=lang, slot=slot)  # fmt: skip

    return endpoint


products.get("/{product_id}/bought-together", summary="Often bought with this product (lift over baskets)")(
    _beside("bought-together")
)
products.get("/{product_id}/similar", summary="Liked by the same shoppers as this product")(_beside("similar"))


trends = APIRouter(prefix="/v1", tags=["recommendations"])


@trends.get("/trending", summary="What people are turning to now (time-decayed, with how fast it rises)")
def get_trending(
    n: int = Query(10, description="How many, 1 to 100."),
    days: int = Query(7, description="The window, 1 to 90 days."),
    category: str | None = Query(None, max_length=1000),
    location: str | None = Query(None, max_length=100, description="A city, from the events' context."),
    lang: str | None = Query(None, max_length=35),
    caller: Caller = Depends(secret_caller),
    p: Platform = Depends(platform),
) -> dict[str, Any]:
    with p.store.session() as session:
        return trending(session, caller.workspace_id, n=n, days=days, category=category, location=location,
                        lang=lang)  # fmt: skip
