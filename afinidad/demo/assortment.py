"""The catalogue as shoppers meet it: how popular each product is, which products are bought together, and
which product a shopper picks from a category.

The companions are the planted co-purchase structure a basket recommender should recover; the popularity is
heavy-tailed so that a few best-sellers exist for popularity baselines.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from afinidad.demo.catalog import Product
from afinidad.demo.personas import Persona

# Categories whose products end up in the same basket as a category's own (coffee with kitchen, ...).
COMPLEMENTS = {
    "Grocery > Coffee": ("Home > Kitchen",),
    "Home > Kitchen": ("Grocery > Coffee", "Home > Decor"),
    "Pets > Food": ("Home > Decor",),
    "Home > Decor": ("Books > Fiction", "Home > Kitchen"),
    "Books > Fiction": ("Home > Decor",),
    "Sports > Outdoors": ("Fashion > Apparel", "Electronics > Audio"),
    "Fashion > Apparel": ("Sports > Outdoors",),
    "Electronics > Audio": ("Sports > Outdoors", "Books > Fiction"),
}


def popularity(catalog: Sequence[Product], seed: int) -> dict[str, float]:
    """A heavy-tailed popularity per product, so a few best-sellers exist for popularity baselines."""
    rng = random.Random(f"afinidad-popularity:{seed}")
    return {product.product_id: min(25.0, rng.paretovariate(1.2)) for product in catalog}


def companions(catalog: Sequence[Product], seed: int) -> dict[str, tuple[str, ...]]:
    """The planted co-purchase structure: each product's 1-2 companions, by product id.

    Mostly from the same category, sometimes from a complementary one (coffee with kitchen, pets with home),
    chosen among popular products; the ground truth a basket recommender should recover.
    """
    rng = random.Random(f"afinidad-companions:{seed}")
    weight_of = popularity(catalog, seed)
    by_category: dict[str, list[Product]] = {}
    for product in catalog:
        by_category.setdefault(product.category, []).append(product)
    result: dict[str, tuple[str, ...]] = {}
    for product in catalog:
        chosen: list[str] = []
        for _ in range(rng.choice((1, 2, 2))):
            category = product.category
            if rng.random() < 0.35 and category in COMPLEMENTS:
                category = rng.choice(COMPLEMENTS[category])
            candidates = [p for p in by_category.get(category, []) if p.product_id != product.product_id]
            candidates = [p for p in candidates if p.product_id not in chosen]
            if not candidates:
                continue
            weights = [weight_of[p.product_id] for p in candidates]
            chosen.append(rng.choices(candidates, weights)[0].product_id)
        result[product.product_id] = tuple(chosen)
    return result


class Assortment:
    """One run's catalogue, indexed the ways shoppers reach it: by id, by category, by popularity."""

    def __init__(self, catalog: list[Product], seed: int) -> None:
        self.products = {product.product_id: product for product in catalog}
        self.by_category: dict[str, list[Product]] = {}
        for product in catalog:
            self.by_category.setdefault(product.category, []).append(product)
        self.popularity = popularity(catalog, seed)
        self.companions = companions(catalog, seed)
        self.medians = {
            category: sorted(p.price for p in products)[len(products) // 2]
            for category, products in self.by_category.items()
        }

    def pick(self, persona: Persona, category: str, rng: random.Random) -> Product:
        """A product of the category, popular ones first, cheaper ones for bargain hunters."""
        products = self.by_category[category]
        median = self.medians[category]
        exponent = 0.3 - 1.6 * persona.price_sensitivity
        weights = [self.popularity[p.product_id] * (p.price / median) ** exponent for p in products]
        return rng.choices(products, weights)[0]

    def companions_to_add(self, rng: random.Random, basket: list[tuple[Product, int]]) -> list[Product]:
        """Companions that join the basket ("bought together"), keeping baskets at four items at most."""
        chosen: list[Product] = []
        present = [product for product, _ in basket]
        for product in list(present):
            for companion_id in self.companions[product.product_id]:
                companion = self.products[companion_id]
                if len(present) >= 4 or any(companion is item for item in present):
                    continue
                if rng.random() < 0.22:
                    chosen.append(companion)
                    present.append(companion)
        return chosen
