"""The shopping funnel shared by the web and the app, and the orders it (and the tills) produce.

Browse, fill a cart, maybe check out: taste, price sensitivity and coupons decide each step, companions join
baskets, and consumables bought here come back due on the shopper's own replenishment cycle.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from afinidad.demo.assortment import Assortment
from afinidad.demo.campaigns import Campaign
from afinidad.demo.catalog import Product
from afinidad.demo.identity import checkout_identity
from afinidad.demo.messages import MessageLog, Session, Views
from afinidad.demo.personas import Persona, ShopperState
from afinidad.demo.randomness import choose, geometric, uid
from afinidad.demo.text import slug
from afinidad.demo.weather import category_weights
from afinidad.demo.world import SITE


class Funnel:
    """The shop's side of every purchase in a run: what a visit browses and buys, and the order numbers."""

    def __init__(self, seed: int, assortment: Assortment, log: MessageLog, start: datetime) -> None:
        self.seed = seed
        self.assortment = assortment
        self.log = log  # cart ids are numbered by the message count
        self.start = start
        self._order_count = 0

    def shop(
        self,
        persona: Persona,
        state: ShopperState,
        rng: random.Random,
        session: Session,
        views: Views,
        campaign: Campaign | None,
        must_buy: bool,
    ) -> None:
        """Browse, fill a cart, and maybe buy: the shared funnel of the web and the app."""
        assortment = self.assortment
        weights = category_weights(persona, session.clock, session.context["weather"])
        coupon = campaign.coupon if campaign is not None else None
        cart_id = str(uid(self.seed, "cart", self.log.count))
        cart: list[tuple[Product, int]] = []

        def add(product: Product, quantity: int) -> None:
            cart.append((product, quantity))
            session.track("Product Added", {"cart_id": cart_id, **_product_properties(product, quantity)})

        due = sorted(pid for pid, when in state.due.items() if when <= session.clock)
        if due and rng.random() < 0.8:
            usual = assortment.products[rng.choice(due)]
            views.show("Product", f"/p/{usual.product_id}", {"product_id": usual.product_id})
            session.track("Product Viewed", _product_properties(usual))
            add(usual, rng.choice((1, 1, 2)))

        category = campaign.category if campaign is not None else choose(rng, weights)
        roll = rng.random()
        if roll < 0.55:
            listed = sorted(assortment.by_category[category], key=lambda p: -assortment.popularity[p.product_id])[:8]
            views.show("Category", f"/c/{slug(category)}")
            session.track(
                "Product List Viewed",
                {
                    "list_id": slug(category),
                    "category": category,
                    "products": [
                        {**_product_properties(product), "position": position}
                        for position, product in enumerate(listed, start=1)
                    ],
                },
            )
        elif roll < 0.75:
            query = _search_query(assortment.pick(persona, category, rng))
            views.show("Search Results", f"/search?q={query.replace(' ', '+')}")
            session.track("Products Searched", {"query": query})

        previous: Product | None = None
        for step in range(1 + min(6, geometric(rng, 0.42))):
            if previous is not None and assortment.companions[previous.product_id] and rng.random() < 0.3:
                product = assortment.products[rng.choice(assortment.companions[previous.product_id])]
            else:
                if step > 0 and rng.random() < 0.3:
                    category = choose(rng, weights)
                product = assortment.pick(persona, category, rng)
            views.show("Product", f"/p/{product.product_id}", {"product_id": product.product_id})
            session.track("Product Viewed", _product_properties(product))
            in_cart = any(product is item for item, _ in cart)
            if not in_cart and len(cart) < 4 and rng.random() < self._add_probability(persona, product, coupon):
                add(product, 1)
            previous = product
        if must_buy and not cart and previous is not None:
            add(previous, 1)
        if not cart:
            return

        if must_buy or rng.random() < 0.75:
            views.show("Cart", "/cart")
            session.track("Cart Viewed", {"cart_id": cart_id, "products": _line_items(cart)})
        for companion in assortment.companions_to_add(rng, cart):
            add(companion, 1)

        sensitivity = persona.price_sensitivity
        replenishing = any(product.repeat_purchase for product, _ in cart)
        checkout = 0.45 - 0.25 * sensitivity + (0.2 if coupon else 0.0) + (0.25 if replenishing else 0.0)
        if not must_buy and rng.random() >= checkout:
            return  # an abandoned cart
        order_id = self._next_order_id("AF")
        views.show("Checkout", "/checkout")
        subtotal = round(sum(product.price * quantity for product, quantity in cart), 2)
        session.track(
            "Checkout Started",
            {
                "order_id": order_id,
                "value": subtotal,
                "revenue": subtotal,
                "currency": "EUR",
                "products": _line_items(cart),
            },
        )
        checkout_identity(persona, state, rng, session)
        complete = 0.85 - 0.25 * sensitivity + (0.1 * (1 + sensitivity) if coupon else 0.0)
        if not must_buy and rng.random() >= complete:
            return
        affiliation = "Afinidad Online" if views.web else "Afinidad App"
        order = self.order_properties(rng, cart, affiliation=affiliation, coupon=coupon, order_id=order_id)
        views.show("Order Confirmation", "/checkout/complete", {"order_id": order_id})
        session.track("Order Completed", order, pause=(1.0, 5.0))
        self.remember_purchase(persona, state, rng, cart, session.clock)

    def _add_probability(self, persona: Persona, product: Product, coupon: str | None) -> float:
        """Taste, price and coupons decide a cart: bargain hunters shy from dear items unless discounted."""
        relative_price = product.price / self.assortment.medians[product.category]
        probability = 0.1 * (1.5 if product.category in persona.preferred_categories else 0.7)
        probability *= relative_price ** (-1.5 * persona.price_sensitivity)
        if coupon:
            probability *= 1.0 + 0.8 * persona.price_sensitivity
        return min(0.75, max(0.02, probability))

    def order_properties(
        self,
        rng: random.Random,
        basket: list[tuple[Product, int]],
        *,
        affiliation: str,
        coupon: str | None,
        store: bool = False,
        order_id: str | None = None,
    ) -> dict[str, Any]:
        subtotal = round(sum(product.price * quantity for product, quantity in basket), 2)
        discount = round(subtotal * 0.10, 2) if coupon else 0.0
        revenue = round(subtotal - discount, 2)
        shipping = 0.0 if store or revenue >= 50 else 3.95
        properties: dict[str, Any] = {
            "order_id": order_id or self._next_order_id("ST" if store else "AF"),
            "affiliation": affiliation,
            "subtotal": subtotal,
            "total": round(revenue + shipping, 2),
            "revenue": revenue,
            "shipping": shipping,
            "tax": 0.0,  # prices include VAT
            "discount": discount,
            "currency": "EUR",
            "products": _line_items(basket),
        }
        if coupon:
            properties["coupon"] = coupon
        return properties

    def _next_order_id(self, prefix: str) -> str:
        self._order_count += 1
        return f"{prefix}{self.seed % 1000:03d}{self._order_count:06d}"

    def remember_purchase(
        self,
        persona: Persona,
        state: ShopperState,
        rng: random.Random,
        basket: list[tuple[Product, int]],
        at: datetime,
    ) -> None:
        for product, quantity in basket:
            if product.repeat_purchase:
                cycle = persona.replenish_days * quantity * rng.uniform(0.8, 1.25)
                state.due[product.product_id] = at + timedelta(days=cycle)

    def seed_replenishment(self, persona: Persona, state: ShopperState, rng: random.Random) -> None:
        """Shoppers of consumables arrive with a usual product already part-way through its cycle, as if
        they had bought it before the window opened."""
        for category in persona.preferred_categories:
            products = self.assortment.by_category.get(category, [])
            if products and products[0].repeat_purchase and rng.random() < 0.7:
                usual = self.assortment.pick(persona, category, rng)
                state.due[usual.product_id] = self.start + timedelta(days=rng.uniform(0, persona.replenish_days))


def _product_properties(product: Product, quantity: int | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.title,
        "brand": product.brand,
        "category": product.category,
        "price": product.price,
        "currency": product.currency,
        "url": f"{SITE}/p/{product.product_id}",
    }
    if quantity is not None:
        properties["quantity"] = quantity
    return properties


def _line_items(basket: list[tuple[Product, int]]) -> list[dict[str, Any]]:
    return [
        {**_product_properties(product, quantity), "position": position}
        for position, (product, quantity) in enumerate(basket, start=1)
    ]


def _search_query(product: Product) -> str:
    words = product.title.replace("(", "").replace(")", "").split()
    return " ".join(words[-2:]).lower()
