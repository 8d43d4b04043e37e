"""What the platform may use to personalise for one person right now: a compact view of their profile (a few
traits, the products they touched lately, the categories they lean to). Recommendations, content blocks and
generated copy read it through `personalization_context`, which asks consent first: without `personalization`
consent it returns nothing personal, so no capability can personalise by mistake."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from afinidad.consent.service import consent_state
from afinidad.profiles.service import member_profile_ids
from afinidad.store.models import Event, Profile

# Traits useful to address and localise; never identifiers (e-mail, phone) or anything sensitive.
USEFUL_TRAITS = ("first_name", "firstName", "name", "language", "locale", "city", "country", "gender", "birthday")
_PRODUCT_EVENTS = {"Product Viewed": "viewed", "Product Added": "added to cart", "Product Clicked": "clicked",
                   "Order Completed": "bought", "Product Added to Wishlist": "wished"}  # fmt: skip
RECENT_EVENTS = 200


def personalization_context(
    session: Session, workspace_id: str, identifier: str, *, recent: int = 20
) -> dict[str, Any]:
    """The person's personalisation view, or `personalized: false` with the reason when consent is missing."""
    state = consent_state(session, workspace_id, identifier)
    if not state.allows("personalization"):
        return {"profile_id": state.profile_id, "personalized": False,
                "reason": "no consent for personalization", "traits": {}, "recent_products": [],
                "top_categories": []}  # fmt: skip
    profile = session.get(Profile, state.profile_id)
    traits = {
        key: value for key, value in ((profile.traits if profile else None) or {}).items() if key in USEFUL_TRAITS
    }
    members = member_profile_ids(session, workspace_id, state.profile_id)
    rows = session.execute(
        select(Event.event, Event.properties, Event.timestamp)
        .where(Event.workspace_id == workspace_id, Event.profile_id.in_(members), Event.event.in_(_PRODUCT_EVENTS))
        .order_by(Event.timestamp.desc(), Event.seq.desc())
        .limit(RECENT_EVENTS)
    ).all()
    products: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    categories: Counter[str] = Counter()
    for event, properties, at in rows:
        items = (properties or {}).get("products") if event == "Order Completed" else [properties or {}]
        for item in items or []:
            product_id = item.get("product_id") or item.get("sku")
            if item.get("category"):
                categories[str(item["category"])] += 1
            key = (str(product_id), _PRODUCT_EVENTS[event])
            if product_id is None or key in seen or len(products) >= recent:
                continue
            seen.add(key)
            products.append({"product_id": str(product_id), "action": _PRODUCT_EVENTS[event],
                             "at": at.isoformat(timespec="seconds") + "Z"})  # fmt: skip
    return {
        "profile_id": state.profile_id,
        "personalized": True,
        "traits": traits,
        "recent_products": products,
        "top_categories": [{"category": name, "events": count} for name, count in categories.most_common(5)],
    }
