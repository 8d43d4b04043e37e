"""A generated product catalogue for the bundled demo.

The product may not ship rows of real data sets, so the demo shop invents its own products. Titles are
assembled from per-category vocabularies and prices are anchored on the kind of thing sold (a turntable
costs more than earbuds), so that price-sensitive shoppers, baskets and recommendations in the demo look
like a shop and not like noise. Everything is a pure function of the seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

CURRENCY = "EUR"


@dataclass(frozen=True)
class Product:
    """One sellable item, carrying exactly the fields Segment's e-commerce spec sends per product."""

    product_id: str
    sku: str
    title: str
    brand: str
    category: str  # a path such as "Home > Decor"
    price: float  # two decimals, VAT included
    currency: str
    repeat_purchase: bool  # consumables that a shopper buys again (coffee, pet food)


@dataclass(frozen=True)
class Category:
    """The vocabulary a category's titles are built from.

    Nouns carry a base price and materials a multiplier, because the price of a product depends mostly on
    what it is and a little on what it is made of; the rest is noise.
    """

    path: str
    code: str
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    materials: tuple[tuple[str, float], ...]
    nouns: tuple[tuple[str, float], ...]
    title_template: str
    repeat_purchase: bool = False


CATEGORIES: tuple[Category, ...] = (
    Category(
        path="Home > Decor",
        code="HD",
        brands=("Casa Lumen", "Nordvik Living", "Terracota & Co"),
        adjectives=("Rustic", "Minimal", "Handwoven", "Scandi", "Vintage", "Textured"),
        materials=(("Linen", 1.0), ("Ceramic", 1.1), ("Rattan", 1.2), ("Oak", 1.4), ("Jute", 0.9)),
        nouns=(
            ("Cushion Cover", 19),
            ("Vase", 29),
            ("Throw Blanket", 45),
            ("Wall Mirror", 79),
            ("Candle Holder", 15),
            ("Table Lamp", 65),
            ("Picture Frame", 18),
        ),
        title_template="{adjective} {material} {noun}",
    ),
    Category(
        path="Home > Kitchen",
        code="HK",
        brands=("Cocina Viva", "Ironleaf", "Panadería Pro"),
        adjectives=("Professional", "Compact", "Everyday", "Classic", "Heritage"),
        materials=(
            ("Cast Iron", 1.3),
            ("Stainless Steel", 1.1),
            ("Bamboo", 0.8),
            ("Stoneware", 1.0),
            ("Copper", 1.6),
        ),
        nouns=(
            ("Frying Pan", 39),
            ("Chef's Knife", 59),
            ("Cutting Board", 22),
            ("Mixing Bowl Set", 29),
            ("French Press", 34),
            ("Dutch Oven", 89),
            ("Pour-Over Kettle", 45),
        ),
        title_template="{adjective} {material} {noun}",
    ),
    Category(
        path="Books > Fiction",
        code="BF",
        brands=("Atalaya Press", "Quill & Fern", "Editorial Faro"),
        adjectives=("Silent", "Last", "Hidden", "Crimson", "Distant", "Forgotten", "Northern"),
        materials=(("Paperback", 1.0), ("Hardcover", 1.9), ("Illustrated Edition", 2.4)),
        nouns=(
            ("Harbour", 11),
            ("Orchard", 11),
            ("Cartographer", 12),
            ("Lighthouse", 10),
            ("Winter Garden", 12),
            ("Archivist", 11),
            ("Tide", 10),
        ),
        title_template="The {adjective} {noun} ({material})",
    ),
    Category(
        path="Fashion > Apparel",
        code="FA",
        brands=("Alba Studio", "Northern Thread", "Marea"),
        adjectives=("Relaxed", "Slim-Fit", "Organic", "Oversized", "Classic"),
        materials=(
            ("Cotton", 1.0),
            ("Merino Wool", 1.8),
            ("Denim", 1.3),
            ("Linen", 1.3),
            ("Cashmere Blend", 2.6),
        ),
        nouns=(
            ("T-Shirt", 19),
            ("Sweater", 45),
            ("Jeans", 55),
            ("Shirt", 35),
            ("Hoodie", 42),
            ("Scarf", 22),
            ("Jacket", 89),
        ),
        title_template="{adjective} {material} {noun}",
    ),
    Category(
        path="Electronics > Audio",
        code="EA",
        brands=("Sonora", "Pulse Audio", "Kestrel"),
        adjectives=("Wireless", "Noise-Cancelling", "Portable", "Studio", "Compact"),
        materials=(
            ("Matte Black", 1.0),
            ("Aluminium", 1.2),
            ("Walnut", 1.4),
            ("Graphite", 1.0),
            ("Pearl White", 1.05),
        ),
        nouns=(
            ("Headphones", 129),
            ("Earbuds", 79),
            ("Bluetooth Speaker", 69),
            ("Soundbar", 199),
            ("Turntable", 249),
        ),
        title_template="{adjective} {noun} ({material})",
    ),
    Category(
        path="Sports > Outdoors",
        code="SO",
        brands=("Cumbre", "Trailhead", "Ría Outdoor"),
        adjectives=("Lightweight", "Waterproof", "Ultralight", "Trail", "All-Weather"),
        materials=(
            ("Ripstop Nylon", 1.0),
            ("Recycled Polyester", 0.9),
            ("Aluminium", 1.1),
            ("Merino", 1.3),
            ("Gore-Tex", 1.7),
        ),
        nouns=(
            ("Hiking Backpack", 79),
            ("Rain Jacket", 99),
            ("Trekking Poles", 49),
            ("Camping Tent", 179),
            ("Water Bottle", 19),
            ("Running Cap", 17),
        ),
        title_template="{adjective} {material} {noun}",
    ),
    Category(
        path="Grocery > Coffee",
        code="GC",
        brands=("Finca Alta", "Tostadero Norte", "Bean & Bloom"),
        adjectives=("Single-Origin", "House Blend", "Decaf", "Dark Roast", "Light Roast"),
        materials=(
            ("Colombia", 1.0),
            ("Ethiopia", 1.15),
            ("Guatemala", 1.05),
            ("Brazil", 0.9),
            ("Sumatra", 1.1),
        ),
        nouns=(
            ("Whole Beans 500g", 12),
            ("Ground Coffee 250g", 6.5),
            ("Espresso Capsules x20", 7.5),
            ("Whole Beans 1kg", 22),
        ),
        title_template="{adjective} {material} {noun}",
        repeat_purchase=True,
    ),
    Category(
        path="Pets > Food",
        code="PF",
        brands=("Huella", "Happy Paws", "Wildbowl"),
        adjectives=("Grain-Free", "Senior", "Puppy", "Adult", "Sensitive"),
        materials=(("Chicken", 1.0), ("Salmon", 1.2), ("Lamb", 1.15), ("Turkey", 1.05), ("Duck", 1.25)),
        nouns=(
            ("Dry Dog Food 2kg", 19),
            ("Dry Cat Food 1.5kg", 16),
            ("Wet Cat Food x12", 11),
            ("Dog Treats 300g", 5.5),
            ("Dry Dog Food 10kg", 54),
        ),
        title_template="{adjective} {material} {noun}",
        repeat_purchase=True,
    ),
)

CATEGORY_PATHS: tuple[str, ...] = tuple(category.path for category in CATEGORIES)

_PRICE_ENDINGS = (0.99, 0.99, 0.95, 0.49, 0.0)


def generate_catalog(seed: int, size: int = 120) -> list[Product]:
    """Invent `size` products spread evenly over `CATEGORIES`, the same ones for the same seed.

    Products keep their position for a given seed and size, and ids are assigned in order, so a product id
    names the same product wherever the same seed is used (the simulator relies on that).
    """
    if size < len(CATEGORIES):
        raise ValueError(f"a catalogue needs at least one product per category ({len(CATEGORIES)})")
    rng = random.Random(f"afinidad-catalog:{seed}")
    per_category, remainder = divmod(size, len(CATEGORIES))
    products: list[Product] = []
    for position, category in enumerate(CATEGORIES):
        count = per_category + (1 if position < remainder else 0)
        for title, brand, price in _invent(category, count, rng):
            number = len(products) + 1
            brand_code = "".join(word[0] for word in brand.split() if word[0].isalpha()).upper()
            products.append(
                Product(
                    product_id=f"P{10000 + number}",
                    sku=f"{category.code}-{brand_code}-{number:04d}",
                    title=title,
                    brand=brand,
                    category=category.path,
                    price=price,
                    currency=CURRENCY,
                    repeat_purchase=category.repeat_purchase,
                )
            )
    return products


def _invent(category: Category, count: int, rng: random.Random) -> list[tuple[str, str, float]]:
    """Draw `count` distinct titles for one category, each with a brand and a shop-like price."""
    combinations = len(category.adjectives) * len(category.materials) * len(category.nouns)
    if count > combinations:
        raise ValueError(f"{category.path} can name at most {combinations} distinct products")
    seen: set[str] = set()
    invented: list[tuple[str, str, float]] = []
    while len(invented) < count:
        adjective = rng.choice(category.adjectives)
        material, material_factor = rng.choice(category.materials)
        noun, base_price = rng.choice(category.nouns)
        title = category.title_template.format(adjective=adjective, material=material, noun=noun)
        if title in seen:
            continue
        seen.add(title)
        price = _shop_price(base_price * material_factor * rng.uniform(0.85, 1.2), rng)
        invented.append((title, rng.choice(category.brands), price))
    return invented


def _shop_price(raw: float, rng: random.Random) -> float:
    """Round a raw price to the endings shops use (x.99, x.95, x.49, x.00)."""
    whole = max(1, math.floor(raw))
    return round(whole + rng.choice(_PRICE_ENDINGS), 2)
