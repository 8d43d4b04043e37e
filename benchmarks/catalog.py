"""Catalog benchmark: bulk upserts and full-text search of a 100,000-product catalog, in-process, on SQLite
and PostgreSQL.

    .venv/bin/python benchmarks/catalog.py [--database sqlite|postgres|both] [--products N] [--queries N]
    .venv/bin/python benchmarks/catalog.py --products 5000 --profile     # where the time goes (cProfile)

For each database, in one run, on a fresh database:

a) load: a synthetic catalog generated from a seed (English and Spanish titles and descriptions, ~500 brands,
   ~200 category leaves 2-3 levels deep, long-tailed prices, sale prices, stock at 1-3 locations) is stored
   with `catalog.service.upsert_products` in batches of 1,000, one transaction per batch, as the bulk endpoint
   does. Products/s counts only the upsert and its commit: building the `ProductIn` models (what the API's
   validation costs) is timed apart. Peak RSS of this process (the kernel's VmHWM, reset before each
   database) and the size of the database on disk are read afterwards;
b) search: a fixed, seeded mix of queries (one word, two words, a rare word, a very common word; without a
   filter, or with a category, a price range, in stock, a brand, or all three of category, price and stock),
   facets on, each through `catalog.search.search_catalog` in a session of its own, after a warm-up. In the
   same pass, query by query, the baseline: the naive `LIKE '%word%'` scan over title and description with
   the same filters, a COUNT and a page of 20. Then the same queries without facets; then `ANALYZE` and the
   mix once more, since the plans depend on planner statistics that nothing else gathers here (SQLite never
   analyses by itself; autovacuum may be off on PostgreSQL). The aim of the issue, p99 < 30 ms at 100,000
   products, is marked PASS/MISS for information only. Each pass has a time budget: a pass that runs out has
   measured the first queries of the mix (which cycles through every kind and filter) and says so;
c) re-upsert: the same catalog again with 10% of the prices changed (the daily feed).

Every phase checks what it stored (rows in each table, history records against what the generator implies)
and what search found: a rare word finds exactly the products whose text holds it, by search and by LIKE, and
every pass finds the same total for the same query.

Figures go to the terminal and to `benchmarks/results/catalog.json`; the plan of the slowest search of each
pass is written to `benchmarks/results/catalog-<database>-slowest-plan[-analysed].txt`. With `--profile`,
every phase runs under cProfile (so its figures are slower than normal) and its profile is kept in
`benchmarks/results/catalog-<database>-<phase>.prof`.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import math
import os
import platform
import pstats
import random
import re
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import event, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.catalog.products import CATEGORY_SEPARATOR, ProductIn
from afinidad.catalog.search import SearchQuery, search_catalog
from afinidad.catalog.service import upsert_products
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import CatalogChange, Product, ProductSearch, ProductStock
from afinidad.workspaces.service import create_workspace
from benchmarks.common import (
    DATABASE_LABELS,
    MIB,
    RESULTS,
    Database,
    DatabaseUnavailable,
    MemorySampler,
    announce_run,
    code_state,
    database_settings,
    fresh_database,
    percentile,
    progress_bar,
    verdict,
    write_figures,
)

AIM_SEARCH_P99_MS = 30.0
BATCH_SIZE = 1_000
PRICE_CHANGE_SHARE = 0.10
WARM_UP_QUERIES = 40
PLAN_LINES_SHOWN = 45
SEED = 20_240_611

# -- the synthetic catalog ---------------------------------------------------------------------------------

# Department -> (sub-categories, product nouns as (English, Spanish)). Titles use the nouns of their own
# department, so a word and a category filter correlate as they do in a real shop.
DEPARTMENTS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "Home": (("Decor", "Lighting", "Bedding", "Bath", "Storage", "Rugs", "Curtains", "Furniture"),
             (("lamp", "lámpara"), ("cushion", "cojín"), ("vase", "jarrón"), ("blanket", "manta"),
              ("towel", "toalla"), ("mirror", "espejo"), ("shelf", "estantería"), ("rug", "alfombra"),
              ("curtain", "cortina"), ("chair", "silla"))),
    "Kitchen": (("Cookware", "Tableware", "Utensils", "Appliances", "Pantry", "Coffee and Tea", "Baking",
                 "Cutlery"),
                (("pan", "sartén"), ("pot", "olla"), ("knife", "cuchillo"), ("mug", "taza"), ("plate", "plato"),
                 ("kettle", "hervidor"), ("blender", "batidora"), ("bowl", "cuenco"), ("teapot", "tetera"),
                 ("glass", "vaso"))),
    "Clothing": (("Shirts", "Trousers", "Dresses", "Jackets", "Knitwear", "Underwear", "Sleepwear", "Sportswear"),
                 (("shirt", "camisa"), ("trousers", "pantalón"), ("dress", "vestido"), ("jacket", "chaqueta"),
                  ("sweater", "jersey"), ("coat", "abrigo"), ("skirt", "falda"), ("socks", "calcetines"),
                  ("scarf", "bufanda"))),
    "Shoes": (("Sneakers", "Boots", "Sandals", "Formal", "Running", "Slippers", "Kids", "Care"),
              (("shoe", "zapato"), ("boot", "bota"), ("sandal", "sandalia"), ("sneaker", "zapatilla"),
               ("slipper", "pantufla"), ("insole", "plantilla"), ("loafer", "mocasín"), ("heel", "tacón"))),
    "Sports": (("Running", "Cycling", "Fitness", "Camping", "Swimming", "Team Sports", "Yoga", "Climbing"),
               (("bicycle", "bicicleta"), ("helmet", "casco"), ("tent", "tienda"), ("backpack", "mochila"),
                ("ball", "balón"), ("racket", "raqueta"), ("mat", "esterilla"), ("dumbbell", "mancuerna"),
                ("bottle", "botella"), ("rope", "cuerda"))),
    "Electronics": (("Phones", "Audio", "Computers", "Cameras", "Television", "Wearables", "Accessories", "Gaming"),
                    (("headphones", "auriculares"), ("speaker", "altavoz"), ("charger", "cargador"),
                     ("cable", "cable"), ("camera", "cámara"), ("keyboard", "teclado"), ("mouse", "ratón"),
                     ("monitor", "monitor"), ("watch", "reloj"), ("tablet", "tableta"))),
    "Toys": (("Vehicles", "Dolls", "Puzzles", "Building", "Outdoor", "Board Games", "Baby", "Educational"),
             (("truck", "camión"), ("doll", "muñeca"), ("puzzle", "rompecabezas"), ("blocks", "bloques"),
              ("kite", "cometa"), ("game", "juego"), ("bear", "oso"), ("train", "tren"))),
    "Beauty": (("Skincare", "Makeup", "Fragrance", "Hair", "Nails", "Grooming", "Bath and Body", "Tools"),
               (("cream", "crema"), ("perfume", "perfume"), ("shampoo", "champú"), ("lipstick", "pintalabios"),
                ("brush", "cepillo"), ("soap", "jabón"), ("serum", "sérum"), ("comb", "peine"))),
    "Garden": (("Plants", "Pots", "Tools", "Furniture", "Lighting", "Watering", "Barbecue", "Seeds"),
               (("planter", "maceta"), ("hose", "manguera"), ("shovel", "pala"), ("bench", "banco"),
                ("lantern", "farol"), ("grill", "parrilla"), ("seeds", "semillas"), ("shears", "tijeras"))),
    "Books": (("Fiction", "Non-fiction", "Children", "Cooking", "Travel", "Comics", "Art", "Science"),
              (("novel", "novela"), ("guide", "guía"), ("recipes", "recetas"), ("atlas", "atlas"),
               ("comic", "cómic"), ("notebook", "cuaderno"), ("dictionary", "diccionario"), ("album", "álbum"))),
    "Pets": (("Dogs", "Cats", "Fish", "Birds", "Small Animals", "Food", "Beds", "Toys"),
             (("collar", "collar"), ("leash", "correa"), ("bed", "cama"), ("feeder", "comedero"), ("cage", "jaula"),
              ("aquarium", "acuario"), ("scratcher", "rascador"), ("treats", "premios"))),
    "Office": (("Paper", "Writing", "Desks", "Chairs", "Organisation", "Printers", "Bags", "Art Supplies"),
               (("pen", "bolígrafo"), ("pencil", "lápiz"), ("desk", "escritorio"), ("folder", "carpeta"),
                ("stapler", "grapadora"), ("printer", "impresora"), ("briefcase", "maletín"), ("paper", "papel"))),
    "Accessories": (("Rings", "Necklaces", "Earrings", "Watches", "Bags", "Belts", "Sunglasses", "Hats"),
                    (("ring", "anillo"), ("necklace", "collar"), ("earrings", "pendientes"),
                     ("bracelet", "pulsera"), ("bag", "bolso"), ("belt", "cinturón"), ("sunglasses", "gafas"),
                     ("hat", "sombrero"), ("wallet", "cartera"))),
    "Food and Drink": (("Coffee", "Tea", "Wine", "Olive Oil", "Snacks", "Chocolate", "Spices", "Preserves"),
                       (("coffee", "café"), ("tea", "té"), ("wine", "vino"), ("oil", "aceite"),
                        ("chocolate", "chocolate"), ("honey", "miel"), ("cheese", "queso"), ("ham", "jamón"))),
}  # fmt: skip
PEOPLE_DEPARTMENTS = frozenset({"Clothing", "Shoes", "Sports", "Accessories", "Beauty"})
ADJECTIVES = (
    ("large", "grande"), ("small", "pequeño"), ("light", "ligero"), ("classic", "clásico"), ("modern", "moderno"),
    ("portable", "portátil"), ("waterproof", "impermeable"), ("soft", "suave"), ("elegant", "elegante"),
    ("compact", "compacto"), ("organic", "ecológico"), ("handmade", "artesanal"), ("vintage", "vintage"),
    ("foldable", "plegable"), ("wireless", "inalámbrico"), ("durable", "resistente"), ("comfortable", "cómodo"),
    ("ergonomic", "ergonómico"), ("rustic", "rústico"), ("minimalist", "minimalista"), ("adjustable", "ajustable"),
    ("thermal", "térmico"), ("professional", "profesional"), ("reversible", "reversible"),
)  # fmt: skip
MATERIALS = (
    ("cotton", "algodón"), ("wool", "lana"), ("leather", "cuero"), ("linen", "lino"), ("steel", "acero"),
    ("wood", "madera"), ("bamboo", "bambú"), ("ceramic", "cerámica"), ("glass", "cristal"), ("silk", "seda"),
    ("aluminium", "aluminio"), ("oak", "roble"), ("porcelain", "porcelana"), ("cork", "corcho"), ("copper", "cobre"),
)  # fmt: skip
COLOURS = (
    ("black", "negro"), ("white", "blanco"), ("red", "rojo"), ("blue", "azul"), ("green", "verde"), ("grey", "gris"),
    ("brown", "marrón"), ("yellow", "amarillo"), ("pink", "rosa"), ("navy", "marino"), ("orange", "naranja"),
)  # fmt: skip
USES = (
    ("everyday use", "el uso diario"), ("the office", "la oficina"), ("travel", "viajar"), ("the home", "el hogar"),
    ("gifts", "regalar"), ("outdoor activities", "actividades al aire libre"), ("children", "niños"),
    ("professionals", "profesionales"),
)  # fmt: skip
# Words no other text uses: each is in about 1 description in 2,000, so a search for one finds a handful.
RARE_WORDS = (
    "tourmaline", "marquetry", "filigree", "obsidian", "guilloche", "damascene", "azabache", "cochinilla",
    "esparto", "lapislazuli", "sandalwood", "macrame", "shibori", "celadon", "verdigris", "ammonite", "meteorite",
    "ebonised", "raku", "mokume", "sashiko", "kintsugi", "tagua", "alcantara",
)  # fmt: skip
RARE_SHARE = len(RARE_WORDS) / 2_000
# Words in a fifth to a half of all products ("ideal" is in both languages' descriptions).
COMMON_WORDS = ("ideal", "ideal", "easy", "fácil")
LOCATIONS = ("madrid", "barcelona", "valencia", "lisboa", "web")


def category_leaves() -> list[tuple[str, ...]]:
    """About 200 leaves, 2 or 3 levels deep: two sub-categories in five are split once more."""
    leaves: list[tuple[str, ...]] = []
    for department, (subcategories, _) in DEPARTMENTS.items():
        third = ("Men", "Women", "Kids") if department in PEOPLE_DEPARTMENTS else ("Basic", "Premium", "Professional")
        for position, subcategory in enumerate(subcategories):
            if (position + len(department)) % 5 in (0, 2):
                leaves.extend((department, subcategory, name) for name in third)
            else:
                leaves.append((department, subcategory))
    return leaves


def brand_names(count: int, seed: int) -> list[str]:
    syllables = ("al", "bor", "ca", "den", "el", "fa", "gor", "hi", "ka", "lu", "mar", "no", "pe", "quin", "ro",
                 "sa", "ti", "ur", "va", "zen", "ne", "lo", "tex", "vi")  # fmt: skip
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        name = "".join(rng.choice(syllables) for _ in range(rng.choice((2, 2, 3))))
        found[name.capitalize() + rng.choice(("", "", "", " Home", " Co", " Studio", " Lab"))] = None
    return list(found)


@dataclass(frozen=True)
class GeneratedProduct:
    product_id: str
    body: dict[str, Any]
    words: frozenset[str]  # every whole word of its indexed text, case-folded (to check search results)


class CatalogGenerator:
    """Products from a seed, each from its own index, so a run can make product 41,237 again (for the
    re-upsert) without keeping the catalog in memory."""

    def __init__(self, seed: int = SEED) -> None:
        self.seed = seed
        self.leaves = category_leaves()
        self.brands = brand_names(500, seed)
        self._brand_weights = list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(self.brands))))
        self._leaf_weights = list(itertools.accumulate(1 / (rank + 1) ** 0.5 for rank in range(len(self.leaves))))

    def product(self, index: int, price_factor: Decimal | None = None) -> GeneratedProduct:
        rng = random.Random(self.seed * 1_000_003 + index)
        leaf = rng.choices(self.leaves, cum_weights=self._leaf_weights)[0]
        roll = rng.random()
        language = "en" if roll < 0.45 else "es" if roll < 0.90 else None
        writes_in = language or rng.choice(("en", "es"))  # an untagged product is still written in one language
        side = 0 if writes_in == "en" else 1
        brand = rng.choices(self.brands, cum_weights=self._brand_weights)[0]
        nouns = DEPARTMENTS[leaf[0]][1]
        noun = rng.choice(nouns)[side]
        adjective, other = (pair[side] for pair in rng.sample(ADJECTIVES, 2))
        material = rng.choice(MATERIALS)[side]
        colour = rng.choice(COLOURS)[side]
        use = rng.choice(USES)[side]
        model = f"{rng.choice('ABCDEFGHKLMNPRSTVXZ')}{rng.randint(10, 999)}"
        if side == 0:
            title = rng.choice(
                (f"{adjective.capitalize()} {material} {noun}", f"{adjective.capitalize()} {noun} {model}",
                 f"{noun.capitalize()} in {colour} {material}", f"{brand} {adjective} {noun}")
            )  # fmt: skip
            sentences = [
                rng.choice((f"A {adjective} {noun} made of {material}, ideal for {use}.",
                            f"This {noun} is {adjective} and {other}.",
                            f"Designed for {use} with a {adjective} finish.")),
                rng.choice((f"Available in {colour}.", f"Comes in {colour} with {material} details.", "")),
                rng.choice(("Quality you can feel.", "Easy to clean and built to last.", "Free returns within "
                            "30 days.", f"Part of the {brand} collection.", "Ideal as a gift.")),
                rng.choice(("", "", f"Modern design, {other} and {adjective}.", "Easy to use.")),
            ]  # fmt: skip
            rare_sentence = "Finished with {} details."
        else:
            title = rng.choice(
                (f"{noun.capitalize()} de {material} {adjective}", f"{noun.capitalize()} {adjective} {model}",
                 f"{noun.capitalize()} {colour} de {material}", f"{noun.capitalize()} {adjective} {brand}")
            )  # fmt: skip
            sentences = [
                rng.choice((f"{noun.capitalize()} {adjective} de {material}, ideal para {use}.",
                            f"Este producto es {adjective} y {other}.",
                            f"Diseñado para {use} con un acabado {adjective}.")),
                rng.choice((f"Disponible en color {colour}.", f"En {colour} con detalles de {material}.", "")),
                rng.choice(("Calidad que se nota.", "Fácil de limpiar y hecho para durar.",
                            "Devolución gratuita en 30 días.", f"Parte de la colección {brand}.",
                            "Ideal para regalar.")),
                rng.choice(("", "", f"Diseño moderno, {other} y {adjective}.", "Fácil de usar.")),
            ]  # fmt: skip
            rare_sentence = "Con detalles de {}."
        if rng.random() < RARE_SHARE:
            sentences.insert(rng.randint(1, len(sentences)), rare_sentence.format(rng.choice(RARE_WORDS)))
        description = " ".join(sentence for sentence in sentences if sentence)
        price = Decimal(str(round(min(20_000.0, math.exp(rng.gauss(3.3, 1.0))), 0))) - Decimal("0.01")
        price = max(price, Decimal("0.99"))
        sale_price = None
        if rng.random() < 0.30:
            sale_price = (price * Decimal(str(round(rng.uniform(0.5, 0.95), 2)))).quantize(Decimal("0.01"))
        cost = (price * Decimal(str(round(rng.uniform(0.35, 0.7), 2)))).quantize(Decimal("0.01"))
        stock: dict[str, int] = {}
        if rng.random() < 0.60:
            for location in rng.sample(LOCATIONS, rng.choice((1, 1, 2, 3))):
                stock[location] = 0 if rng.random() < 0.25 else int(rng.expovariate(1 / 40)) + 1
        if price_factor is not None:
            price = (price * price_factor).quantize(Decimal("0.01"))
            if sale_price is not None and sale_price > price:
                price = sale_price + Decimal("1.00")  # a feed never sends a sale price above the price
        attributes = {"colour" if side == 0 else "color": colour, "material": material}
        body = {
            "title": title,
            "description": description,
            "brand": brand,
            "category": list(leaf),
            "price": price,
            "sale_price": sale_price,
            "cost": cost,
            "currency": "EUR",
            "stock": stock,
            "attributes": attributes,
            "image_urls": [f"https://cdn.example.com/p/{index}.jpg"],
            "language": language,
        }
        indexed = " ".join((title, description, brand, " ".join(leaf), colour, material))
        return GeneratedProduct(f"sku-{index:07d}", body, frozenset(re.findall(r"\w+", indexed.casefold())))

    def price_factor(self, index: int) -> Decimal:
        """How much the daily feed moves one product's price: up or down by 3-20%, never to the same price."""
        rng = random.Random(self.seed * 7_919 + index)
        return Decimal(str(round(rng.choice((rng.uniform(0.80, 0.97), rng.uniform(1.03, 1.20))), 3)))


# -- the queries ------------------------------------------------------------------------------------------

QUERY_KINDS = ("one word", "two words", "rare word", "common word")
FILTERS = ("none", "category", "price range", "in stock", "brand", "category+price+stock")


@dataclass(frozen=True)
class BenchQuery:
    kind: str
    filter: str
    q: str
    category: str | None = None
    brands: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None

    def search(self, facets: bool = True) -> SearchQuery:
        return SearchQuery(q=self.q, category=self.category, brands=self.brands, min_price=self.min_price,
                           max_price=self.max_price, in_stock=self.in_stock, facets=facets)  # fmt: skip

    def describe(self) -> str:
        shown = [f"q={self.q!r}"]
        if self.category:
            shown.append(f"category={self.category!r}")
        if self.brands:
            shown.append(f"brands={list(self.brands)!r}")
        if self.min_price is not None or self.max_price is not None:
            shown.append(f"price {self.min_price}-{self.max_price}")
        if self.in_stock is not None:
            shown.append(f"in_stock={self.in_stock}")
        return ", ".join(shown)


def query_mix(count: int, generator: CatalogGenerator, seed: int) -> list[BenchQuery]:
    """`count` queries, every (kind, filter) pair equally often, words and filter values from the seed."""
    rng = random.Random(seed)
    departments = list(DEPARTMENTS)
    categories: dict[str, list[str]] = defaultdict(list)  # a department's own paths, one and two levels deep
    for department, subcategory, *_ in generator.leaves:
        for path in (department, f"{department}{CATEGORY_SEPARATOR}{subcategory}"):
            if path not in categories[department]:
                categories[department].append(path)
    pairs = list(itertools.product(QUERY_KINDS, FILTERS))
    queries = []
    for position in range(count):
        kind, chosen_filter = pairs[position % len(pairs)]
        side = rng.randrange(2)
        department = rng.choice(departments)  # the words come from it, and so (usually) does the category
        nouns = DEPARTMENTS[department][1]
        if kind == "one word":
            q = rng.choice((rng.choice(nouns)[side], rng.choice(ADJECTIVES)[side], rng.choice(MATERIALS)[side]))
        elif kind == "two words":
            q = f"{rng.choice(nouns)[side]} {rng.choice((rng.choice(COLOURS), rng.choice(ADJECTIVES)))[side]}"
        elif kind == "rare word":
            q = rng.choice(RARE_WORDS)
        else:
            q = rng.choice(COMMON_WORDS)
        options: dict[str, Any] = {}
        if chosen_filter in ("category", "category+price+stock"):
            chosen = department if rng.random() < 0.75 else rng.choice(departments)
            options["category"] = rng.choice(categories[chosen])
        if chosen_filter in ("price range", "category+price+stock"):
            low = rng.choice((5, 10, 20, 50, 100))
            options["min_price"], options["max_price"] = Decimal(low), Decimal(low * rng.choice((2, 4, 10)))
        if chosen_filter in ("in stock", "category+price+stock"):
            options["in_stock"] = True
        if chosen_filter == "brand":
            options["brands"] = tuple(rng.sample(generator.brands[:60], rng.choice((1, 1, 2))))
        queries.append(BenchQuery(kind, chosen_filter, q, **options))
    return queries


# -- the baseline: LIKE over title and description ----------------------------------------------------------


def like_search(session: Any, workspace_id: str, query: BenchQuery, postgres: bool) -> tuple[int, list[str]]:
    """What a shop without a search index would run: every word as `%word%` in the title or the description,
    the same filters, a COUNT and the first 20 ids. No stems, no relevance, no facets."""
    like = "ILIKE" if postgres else "LIKE"  # SQLite's LIKE already ignores ASCII case
    params: dict[str, Any] = {"ws": workspace_id}
    clauses = ["p.workspace_id = :ws", "p.active"]
    for position, word in enumerate(query.q.split()):
        params[f"w{position}"] = f"%{word}%"
        clauses.append(f"(p.title {like} :w{position} OR p.description {like} :w{position})")
    if query.category:
        params["category"], params["category_under"] = query.category, f"{query.category}{CATEGORY_SEPARATOR}%"
        clauses.append("(p.category = :category OR p.category LIKE :category_under)")
    if query.brands:
        names = {f"brand_{i}": brand.casefold() for i, brand in enumerate(query.brands)}
        params.update(names)
        clauses.append(f"lower(p.brand) IN ({', '.join(':' + name for name in names)})")
    for bound, operator in (("min_price", ">="), ("max_price", "<=")):
        value = getattr(query, bound)
        if value is not None:
            params[bound] = value if postgres else float(value)
            clauses.append(f"COALESCE(p.sale_price, p.price) {operator} :{bound}")
    if query.in_stock:
        clauses.append(
            "(NOT EXISTS (SELECT 1 FROM product_stock s WHERE s.workspace_id = p.workspace_id AND s.product_id = p.id)"
            " OR EXISTS (SELECT 1 FROM product_stock s WHERE s.workspace_id = p.workspace_id AND s.product_id = p.id"
            " AND s.quantity > 0))"
        )
    where = " AND ".join(clauses)
    total = session.execute(text(f"SELECT COUNT(*) FROM products p WHERE {where}"), params).scalar_one()
    page = session.execute(text(f"SELECT p.id FROM products p WHERE {where} ORDER BY p.id LIMIT 20"), params)
    return total, list(page.scalars())


# -- measuring ----------------------------------------------------------------------------------------------


@contextmanager
def profiled(enabled: bool, path: Path) -> Iterator[cProfile.Profile | None]:
    if not enabled:
        yield None
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield profile
    finally:
        profile.disable()
        path.parent.mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(path))


def reset_peak_memory() -> None:
    """Start this process's VmHWM afresh (Linux: `5` in clear_refs), so each database's peak is its own."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class StatementTimer:
    """Time spent in each kind of statement, told apart by how the statement starts: where a search spends
    its time between the language lookup, the main query and the fetch of the page's products."""

    KINDS = (
        ("SELECT DISTINCT language", "languages of the catalog"),
        ("WITH m AS", "matches, page, total and facets"),
        ("SELECT products.", "page's products"),
        ("SELECT product_stock.", "page's stock"),
        ("SELECT COUNT(*) FROM products", "baseline COUNT"),
        ("SELECT p.id FROM products", "baseline page"),
    )

    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.last: dict[str, tuple[str, Any]] = {}
        self._started: list[float] = []

    def _kind(self, statement: str) -> str:
        for start, name in self.KINDS:
            if statement.lstrip().startswith(start):
                return name
        return statement.split(" WHERE ")[0][:60]

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        kind = self._kind(statement)
        self.seconds[kind] += time.perf_counter() - self._started.pop()
        self.calls[kind] += 1
        self.last[kind] = (statement, parameters)

    def __enter__(self) -> StatementTimer:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc_info: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)

    def means_ms(self) -> dict[str, dict[str, float]]:
        return {
            kind: {"calls": self.calls[kind], "mean_ms": round(self.seconds[kind] / self.calls[kind] * 1000, 3)}
            for kind in self.seconds
        }


@dataclass
class LoadFigures:
    products: int
    batches: int
    seconds: float  # upserts and commits only
    validation_seconds: float  # building ProductIn from the generated bodies
    generation_seconds: float
    batch_ms: list[float] = field(repr=False)

    @property
    def products_per_second(self) -> float:
        return self.products / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        fifth = max(1, math.ceil(len(self.batch_ms) / 5))
        by_fifth = [
            round(len(part) * BATCH_SIZE / (sum(part) / 1000), 1)
            for part in (self.batch_ms[i : i + fifth] for i in range(0, len(self.batch_ms), fifth))
        ]
        return {
            "products": self.products,
            "batches": self.batches,
            "batch_size": BATCH_SIZE,
            "seconds": round(self.seconds, 3),
            "products_per_second": round(self.products_per_second, 1),
            "validation_seconds": round(self.validation_seconds, 3),
            "generation_seconds": round(self.generation_seconds, 3),
            "batch_p50_ms": round(percentile(self.batch_ms, 0.50), 1),
            "batch_p99_ms": round(percentile(self.batch_ms, 0.99), 1),
            "batch_max_ms": round(max(self.batch_ms, default=float("nan")), 1),
            "products_per_second_by_fifth": by_fifth,
        }


def load_catalog(
    store: Store,
    workspace_id: str,
    generator: CatalogGenerator,
    count: int,
    description: str,
    changed: frozenset[int] = frozenset(),
    on_product: Callable[[int, GeneratedProduct], None] | None = None,
) -> LoadFigures:
    """Upsert products 0..count-1 in batches of BATCH_SIZE, one transaction each; `changed` products get a new
    price (the daily feed)."""
    seconds = validation = generation = 0.0
    batch_ms: list[float] = []
    with progress_bar() as progress:
        task = progress.add_task(description, total=count)
        for start in range(0, count, BATCH_SIZE):
            began = time.perf_counter()
            made = []
            for index in range(start, min(start + BATCH_SIZE, count)):
                made.append(generator.product(index, generator.price_factor(index) if index in changed else None))
                if on_product is not None:
                    on_product(index, made[-1])
            validating = time.perf_counter()
            items = [(product.product_id, ProductIn(**product.body)) for product in made]
            upserting = time.perf_counter()
            with store.session() as session:
                upsert_products(session, workspace_id, items, source="import")
            finished = time.perf_counter()
            generation += validating - began
            validation += upserting - validating
            seconds += finished - upserting
            batch_ms.append((finished - upserting) * 1000)
            progress.advance(task, len(items))
    return LoadFigures(count, len(batch_ms), seconds, validation, generation, batch_ms)


@dataclass
class Expected:
    """What the generator implies the store holds, counted while the products are made."""

    products: int = 0
    stock_rows: int = 0
    changes_first_load: int = 0  # price, sale price and cost set for the first time, and each stock level
    rare_word_products: Counter[str] = field(default_factory=Counter)

    def count(self, index: int, product: GeneratedProduct) -> None:
        body = product.body
        self.products += 1
        self.stock_rows += len(body["stock"])
        self.changes_first_load += 1 + (body["sale_price"] is not None) + (body["cost"] is not None)
        self.changes_first_load += len(body["stock"])
        for word in RARE_WORDS:
            if word in product.words:
                self.rare_word_products[word] += 1


def stored_counts(store: Store, workspace_id: str) -> dict[str, int]:
    with store.reader() as session:

        def count(model: Any) -> int:
            return session.execute(
                select(func.count()).select_from(model).where(model.workspace_id == workspace_id)
            ).scalar_one()

        counts = {
            "products": count(Product),
            "search_index": count(ProductSearch),
            "stock_rows": count(ProductStock),
            "change_records": count(CatalogChange),
        }
        if session.get_bind().dialect.name == "sqlite":
            counts["fts_rows"] = session.execute(text("SELECT COUNT(*) FROM product_search_fts")).scalar_one()
        return counts


def database_size(store: Store) -> dict[str, Any]:
    """Bytes on disk: the whole database, and the largest tables with their indexes."""
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            path = Path(store.engine.url.database or "")
            wal = path.with_name(path.name + "-wal")
            by_table: Counter[str] = Counter()
            for name, size in connection.exec_driver_sql(
                "SELECT COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1"
            ):
                by_table["product_search_fts" if name.startswith("product_search_fts") else name] += size
            rows = by_table.most_common(6)
            total = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        else:
            total = connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
            rows = connection.exec_driver_sql(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relkind = 'r' "
                "AND relnamespace = 'public'::regnamespace ORDER BY 2 DESC LIMIT 6"
            ).all()
    return {"total_mib": round(total / MIB, 1), "largest_mib": {name: round(size / MIB, 1) for name, size in rows}}


@dataclass
class SearchPass:
    """One pass over the query mix, in the mix's order, until its time budget runs out: each query's time and
    total. The mix cycles through every (kind, filter) pair, so a pass cut short still covers them evenly."""

    name: str
    planned: int
    budget_seconds: float
    search_ms: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    like_ms: list[float] = field(default_factory=list)
    like_totals: list[int] = field(default_factory=list)
    seconds: float = 0.0
    warm_up: int = 0
    statements: dict[str, dict[str, float]] = field(default_factory=dict)
    slowest_statement: tuple[str, Any] | None = None  # the main statement of the slowest search, to explain
    errors: list[str] = field(default_factory=list)

    @property
    def measured(self) -> int:
        return len(self.search_ms)


def _spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    found = {name: round(percentile(values, fraction), 2)
             for name, fraction in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))}  # fmt: skip
    return found | {"max_ms": round(max(values), 2), "mean_ms": round(statistics.fmean(values), 2)}


def run_pass(
    store: Store,
    workspace_id: str,
    queries: Sequence[BenchQuery],
    name: str,
    budget_seconds: float,
    *,
    facets: bool = True,
    baseline: bool = False,
    warm_up: Sequence[BenchQuery] = (),
    warm_up_seconds: float = 15.0,
) -> SearchPass:
    """Each query through `search_catalog` in a session of its own, as the API runs it; with `baseline`, the
    LIKE scan of the same query right after it, so a slower minute of the machine touches both alike."""
    postgres = store.engine.dialect.name == "postgresql"
    figures = SearchPass(name, len(queries), budget_seconds)

    def search(query: BenchQuery) -> tuple[float, int]:
        started = time.perf_counter()
        with store.reader() as session:
            result = search_catalog(session, workspace_id, query.search(facets))
        return (time.perf_counter() - started) * 1000, result["total"]

    def like(query: BenchQuery) -> tuple[float, int]:
        started = time.perf_counter()
        with store.reader() as session:
            total, _ = like_search(session, workspace_id, query, postgres)
        return (time.perf_counter() - started) * 1000, total

    warming = time.perf_counter()
    for query in warm_up:
        if time.perf_counter() - warming > warm_up_seconds:
            break
        search(query)
        if baseline:
            like(query)
        figures.warm_up += 1
    started = time.perf_counter()
    with progress_bar() as progress, StatementTimer(store) as statements:
        task = progress.add_task(f"{name} (at most {budget_seconds:.0f} s)", total=len(queries))
        for query in queries:
            if time.perf_counter() - started > budget_seconds:
                break
            try:
                elapsed, total = search(query)
                if baseline:
                    like_elapsed, like_total = like(query)
            except Exception as error:  # reported; the pass stops so its lists stay aligned with the mix
                figures.errors.append(f"{query.describe()}: {type(error).__name__}: {error}")
                break
            if elapsed > max(figures.search_ms, default=0.0):
                figures.slowest_statement = statements.last.get("matches, page, total and facets")
            figures.search_ms.append(elapsed)
            figures.totals.append(total)
            if baseline:
                figures.like_ms.append(like_elapsed)
                figures.like_totals.append(like_total)
            progress.advance(task)
    figures.seconds = time.perf_counter() - started
    figures.statements = statements.means_ms()
    return figures


def summarise_pass(figures: SearchPass, queries: Sequence[BenchQuery], like_ms: Sequence[float] = ()) -> dict[str, Any]:
    """Percentiles overall, by kind and by filter; the baseline's over the same queries (its own, or those of
    `like_ms` from another pass); the slowest searches."""
    like_ms = figures.like_ms or list(like_ms)[: figures.measured]
    measured = queries[: figures.measured]

    def grouped(key: Callable[[BenchQuery], str], order: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in order:
            chosen = [i for i, query in enumerate(measured) if key(query) == name]
            if chosen:
                found[name] = {
                    "queries": len(chosen),
                    "search": _spread([figures.search_ms[i] for i in chosen]),
                    "baseline": _spread([like_ms[i] for i in chosen if i < len(like_ms)]),
                    "median_matches": statistics.median(figures.totals[i] for i in chosen),
                }
        return found

    search = _spread(figures.search_ms)
    compared = min(figures.measured, len(like_ms))  # the ratio compares the same queries, however far each got
    like = _spread(like_ms[:compared])
    search_compared = _spread(figures.search_ms[:compared])
    slowest = sorted(range(figures.measured), key=lambda i: -figures.search_ms[i])[:5]
    return {
        "pass": figures.name,
        "queries_planned": figures.planned,
        "queries_measured": figures.measured,
        "budget_seconds": figures.budget_seconds,
        "stopped_by_budget": figures.measured < figures.planned and not figures.errors,
        "seconds": round(figures.seconds, 1),
        "warm_up_queries": figures.warm_up,
        "search": search,
        "baseline_like": like,
        "ratio_queries": compared,
        "ratio_p50": round(like["p50_ms"] / search_compared["p50_ms"], 2) if like and search_compared else None,
        "ratio_p99": round(like["p99_ms"] / search_compared["p99_ms"], 2) if like and search_compared else None,
        "aim_p99_ms": AIM_SEARCH_P99_MS,
        "aim_met": bool(search) and search["p99_ms"] < AIM_SEARCH_P99_MS,
        "by_kind": grouped(lambda query: query.kind, QUERY_KINDS),
        "by_filter": grouped(lambda query: query.filter, FILTERS),
        "slowest": [
            {
                "query": measured[i].describe(),
                "kind": measured[i].kind,
                "filter": measured[i].filter,
                "ms": round(figures.search_ms[i], 2),
                "matches": figures.totals[i],
            }
            for i in slowest
        ],  # fmt: skip
        "statements": figures.statements,
        "errors": figures.errors[:10],
        "per_query": [
            {
                "query": query.describe(),
                "kind": query.kind,
                "filter": query.filter,
                "ms": round(figures.search_ms[i], 2),
                "matches": figures.totals[i],
                "like_ms": round(like_ms[i], 2) if i < len(like_ms) else None,
            }
            for i, query in enumerate(measured)
        ],  # fmt: skip
    }


def result_checks(queries: Sequence[BenchQuery], passes: Sequence[SearchPass], expected: Expected) -> dict[str, Any]:
    """What the searches found, checked: a rare word (without filters) finds exactly the products whose text
    holds it, by search and by LIKE alike; every pass finds the same total for the same query (planner
    statistics and facets change the plan, never the answer)."""
    first = passes[0]
    rare = []
    for index in range(first.measured):
        query = queries[index]
        if query.kind == "rare word" and query.filter == "none":
            rare.append({"word": query.q, "expected": expected.rare_word_products[query.q],
                         "search": first.totals[index],
                         "like": first.like_totals[index] if index < len(first.like_totals) else None})  # fmt: skip
    rare_wrong = [r for r in rare if r["search"] != r["expected"] or r["like"] not in (None, r["expected"])]
    disagreements = []
    for other in passes[1:]:
        for index in range(min(first.measured, other.measured)):
            if first.totals[index] != other.totals[index]:
                disagreements.append({"query": queries[index].describe(), first.name: first.totals[index],
                                      other.name: other.totals[index]})  # fmt: skip
    return {
        "rare_words_checked": len(rare),
        "rare_words_wrong": rare_wrong,
        "totals_compared": sum(min(first.measured, other.measured) for other in passes[1:]),
        "totals_differing": disagreements[:10],
        "all_as_expected": not rare_wrong and not disagreements,
    }


def explain(store: Store, captured: tuple[str, Any] | None, query: BenchQuery | None, path: Path) -> str:
    """The plan of a search's main statement, as the database runs it: EXPLAIN QUERY PLAN on SQLite,
    EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL (which runs it once more). Written in full to `path`."""
    if captured is None or query is None:
        return ""
    statement, parameters = captured
    postgres = store.engine.dialect.name == "postgresql"
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN ") + statement, parameters)
        rows = cursor.fetchall()
        cursor.close()
        raw.rollback()
    finally:
        raw.close()
    if postgres:
        plan = "\n".join(row[0] for row in rows)
    else:  # rows of (id, parent, unused, detail): indented by depth
        depth: dict[int, int] = {0: -1}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        plan = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"-- {query.describe()} ({query.kind}, {query.filter})\n-- parameters: {parameters}\n"
                    f"{statement}\n\n{plan}\n")  # fmt: skip
    return plan


def analyse(store: Store) -> float:
    """Gather planner statistics (what autovacuum does on PostgreSQL; nothing does it on SQLite by itself)."""
    started = time.perf_counter()
    with store.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


# -- one database -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    products: int
    queries: int
    seed: int
    profile: bool
    baseline: bool
    search_budget_seconds: float
    facets_off_budget_seconds: float
    analysed_budget_seconds: float


def run_database(database: Database, plan: Plan, run_id: str, console: Console) -> dict[str, Any]:
    settings = Settings(database_url=database.url)
    code_at_start = code_state()
    store = Store.from_url(database.url, sqlite_synchronous=settings.sqlite_synchronous)  # as the API opens it
    generator = CatalogGenerator(plan.seed)
    queries = query_mix(plan.queries, generator, plan.seed + 1)
    warm_up = query_mix(WARM_UP_QUERIES, generator, plan.seed + 2)
    files = RESULTS / f"catalog-{database.kind}"
    try:
        with store.session() as session:
            workspace_id = create_workspace(session, f"catalog-bench-{run_id}-{uuid.uuid4().hex[:6]}").id
        expected = Expected()
        reset_peak_memory()
        sampler = MemorySampler(os.getpid()).start()
        with profiled(plan.profile, Path(f"{files}-load.prof")):
            load = load_catalog(store, workspace_id, generator, plan.products, f"{database.label}: upsert",
                                on_product=expected.count)  # fmt: skip
        sampler.stop()
        after_load = stored_counts(store, workspace_id)
        size_after_load = database_size(store)

        with profiled(plan.profile, Path(f"{files}-search.prof")):
            as_loaded = run_pass(store, workspace_id, queries, f"{database.label}: search + LIKE",
                                 plan.search_budget_seconds, baseline=plan.baseline, warm_up=warm_up)  # fmt: skip
        facets_off = run_pass(store, workspace_id, queries[: as_loaded.measured], f"{database.label}: no facets",
                              plan.facets_off_budget_seconds, facets=False)  # fmt: skip
        plan_as_loaded = explain(store, as_loaded.slowest_statement, _slowest_query(as_loaded, queries),
                                 Path(f"{files}-slowest-plan.txt"))  # fmt: skip
        analyse_seconds = analyse(store)
        analysed = run_pass(store, workspace_id, queries, f"{database.label}: search after ANALYZE",
                            plan.analysed_budget_seconds, warm_up=warm_up)  # fmt: skip
        plan_analysed = explain(store, analysed.slowest_statement, _slowest_query(analysed, queries),
                                Path(f"{files}-slowest-plan-analysed.txt"))  # fmt: skip

        changed = frozenset(random.Random(plan.seed + 3).sample(range(plan.products),
                                                                int(plan.products * PRICE_CHANGE_SHARE)))  # fmt: skip
        reset_peak_memory()
        resampler = MemorySampler(os.getpid()).start()
        with profiled(plan.profile, Path(f"{files}-reupsert.prof")):
            reload = load_catalog(store, workspace_id, generator, plan.products,
                                  f"{database.label}: re-upsert, {len(changed):,} prices changed", changed)  # fmt: skip
        resampler.stop()
        after_reload = stored_counts(store, workspace_id)
        size_after_reload = database_size(store)
    finally:
        store.dispose()
    code_at_end = code_state()
    if code_at_end["source_sha256"] != code_at_start["source_sha256"]:
        console.print(
            "[yellow]The afinidad source changed on disk while this database was measured (source "
            f"{code_at_start['source_sha256']} at start, {code_at_end['source_sha256']} at end). This process kept "
            "the modules it imported at start, but a database created after the change was migrated with the "
            "new migrations.[/]"
        )
    expected_counts = {
        "products": expected.products,
        "search_index": expected.products,
        "stock_rows": expected.stock_rows,
        "change_records": expected.changes_first_load,
    }
    if database.kind == "sqlite":
        expected_counts["fts_rows"] = expected.products
    expected_after_reload = {**expected_counts, "change_records": expected.changes_first_load + len(changed)}
    return {
        "database": database.kind,
        "code": code_at_start,
        "code_changed_during_run": code_at_end["source_sha256"] != code_at_start["source_sha256"],
        "settings": {
            "sqlite_synchronous": settings.sqlite_synchronous if database.kind == "sqlite" else None,
            "database_settings": database_settings(database.url),
        },
        "workspace_id": workspace_id,
        "load": {
            **load.summary(),
            "peak_rss_mib": round(sampler.peak_bytes / MIB, 1),
            "rss_at_start_mib": round(sampler.start_bytes / MIB, 1),
            "stored": after_load,
            "expected": expected_counts,
            "as_expected": after_load == expected_counts,
            "database_size": size_after_load,
        },
        "search": {
            **summarise_pass(as_loaded, queries),
            "without_facets": summarise_pass(facets_off, queries, as_loaded.like_ms),
            "slowest_plan_file": f"{files}-slowest-plan.txt",
            "slowest_plan": plan_as_loaded,
        },
        "search_after_analyze": {
            **summarise_pass(analysed, queries, as_loaded.like_ms),
            "analyze_seconds": round(analyse_seconds, 2),
            "slowest_plan_file": f"{files}-slowest-plan-analysed.txt",
            "slowest_plan": plan_analysed,
        },
        "checks": result_checks(queries, [as_loaded, facets_off, analysed], expected),
        "reupsert": {
            **reload.summary(),
            "prices_changed": len(changed),
            "peak_rss_mib": round(resampler.peak_bytes / MIB, 1),
            "stored": after_reload,
            "expected": expected_after_reload,
            "as_expected": after_reload == expected_after_reload,
            "database_size": size_after_reload,
        },
        "profiles": [f"{files}-{phase}.prof" for phase in ("load", "search", "reupsert")] if plan.profile else [],
    }


def _slowest_query(figures: SearchPass, queries: Sequence[BenchQuery]) -> BenchQuery | None:
    if not figures.measured:
        return None
    return queries[max(range(figures.measured), key=figures.search_ms.__getitem__)]


# -- reporting ----------------------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if value is not None else "n/a"


def _percentiles(figures: dict[str, float] | None) -> str:
    if not figures:
        return "n/a"
    return f"{figures['p50_ms']:,.1f} / {figures['p95_ms']:,.1f} / {figures['p99_ms']:,.1f} ms"


def _check(ok: bool) -> str:
    return "[green]as expected[/]" if ok else "[bold red]differs[/]"


def _coverage(summary: dict[str, Any]) -> str:
    text_ = f"{summary['queries_measured']} of {summary['queries_planned']} queries"
    if summary["stopped_by_budget"]:
        text_ += f" [yellow](time budget of {summary['budget_seconds']:.0f} s ran out)[/]"
    return text_


def _statement_means(summary: dict[str, Any]) -> str:
    return ", ".join(
        f"{name} {figures['mean_ms']:,.1f}"
        for name, figures in summary["statements"].items()
        if not name.startswith("baseline")
    )


def _add_search_rows(table: Table, summary: dict[str, Any], title: str, with_baseline: bool) -> None:
    table.add_row(f"{title}: p50 / p95 / p99", _percentiles(summary["search"]),
                  f"p99 < {AIM_SEARCH_P99_MS:.0f} ms", verdict(summary["aim_met"]))  # fmt: skip
    table.add_row("  measured", _coverage(summary), f"{summary['seconds']:.0f} s", "")
    suffix = " | LIKE" if with_baseline else ""
    for kind, figures in summary["by_kind"].items():
        table.add_row(f"  {kind}: search{suffix} (median matches {_number(figures['median_matches'])})",
                      _percentiles(figures["search"]), _percentiles(figures["baseline"]) if with_baseline else "",
                      "")  # fmt: skip
    for name, figures in summary["by_filter"].items():
        table.add_row(f"  filter {name}: search{suffix}", _percentiles(figures["search"]),
                      _percentiles(figures["baseline"]) if with_baseline else "", "")  # fmt: skip
    table.add_row("  statements of a search, mean ms", _statement_means(summary), "", "")


def database_table(label: str, result: dict[str, Any]) -> Table:
    load, search, analysed = result["load"], result["search"], result["search_after_analyze"]
    reupsert, checks = result["reupsert"], result["checks"]
    found = result["settings"]
    if found["sqlite_synchronous"]:
        durability = f"WAL, synchronous={found['sqlite_synchronous']}"
    else:
        server = found["database_settings"]
        durability = ", ".join(f"{name}={server[name]}" for name in ("server_version", "synchronous_commit",
                                                                      "autovacuum"))  # fmt: skip
    table = Table(title=f"Catalog on {label} ({durability})", title_justify="left")
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    table.add_column("Aim / expected / baseline", justify="right")
    table.add_column("", justify="center")
    table.add_row(
        f"Bulk upsert, {_number(load['products'])} products in batches of {load['batch_size']:,}",
        f"{_number(load['products_per_second'])} products/s",
        f"{load['seconds']:.1f} s",
        "",
    )
    table.add_row(
        "  batch p50 / p99 / max",
        f"{load['batch_p50_ms']:.0f} / {load['batch_p99_ms']:.0f} / {load['batch_max_ms']:.0f} ms",
        "",
        "",
    )
    table.add_row(
        "  products/s in each fifth", " / ".join(_number(rate) for rate in load["products_per_second_by_fifth"]), "", ""
    )
    table.add_row("  ProductIn validation (not in the rate)", f"{load['validation_seconds']:.1f} s", "", "")
    stored, expected = load["stored"], load["expected"]
    names = ("products", "search_index", "stock_rows", "change_records")
    table.add_row(
        "  stored: products | index | stock rows | history",
        " | ".join(_number(stored[name]) for name in names),
        " | ".join(_number(expected[name]) for name in names),
        _check(load["as_expected"]),
    )
    table.add_row(
        "  peak RSS of this process (VmHWM)",
        f"{load['peak_rss_mib']:.0f} MiB",
        f"(at start {load['rss_at_start_mib']:.0f})",
        "",
    )
    size = load["database_size"]
    largest = ", ".join(f"{name} {mib:.0f}" for name, mib in list(size["largest_mib"].items())[:4])
    table.add_row("  database on disk (MiB)", f"{size['total_mib']:.0f} MiB", largest, "")
    _add_search_rows(table, search, "Search as loaded (no planner statistics), facets on", True)
    table.add_row("Baseline: LIKE '%word%' + filters, COUNT + 20", _percentiles(search["baseline_like"]), "", "")
    table.add_row(
        "Baseline / search, at p50 | p99",
        f"{search['ratio_p50']:.2f}x | {search['ratio_p99']:.2f}x" if search["ratio_p50"] else "n/a",
        "",
        "",
    )
    off = search["without_facets"]
    table.add_row("Search without facets (same queries)", _percentiles(off["search"]), _coverage(off), "")
    _add_search_rows(table, analysed, f"Search after ANALYZE ({analysed['analyze_seconds']:.1f} s), facets on",
                     False)  # fmt: skip
    table.add_row(f"  LIKE / search after ANALYZE, at p50 | p99 (first {analysed['ratio_queries']} queries)",
                  f"{analysed['ratio_p50']:.2f}x | {analysed['ratio_p99']:.2f}x" if analysed["ratio_p50"] else "n/a",
                  "", "")  # fmt: skip
    table.add_row("Rare words: search and LIKE find exactly the products holding them",
                  f"{checks['rare_words_checked'] - len(checks['rare_words_wrong'])} of {checks['rare_words_checked']}",
                  "", _check(not checks["rare_words_wrong"]))  # fmt: skip
    table.add_row("Same totals with and without facets and statistics",
                  f"{checks['totals_compared'] - len(checks['totals_differing'])} of {checks['totals_compared']}",
                  "", _check(not checks["totals_differing"]))  # fmt: skip
    errors = len(search["errors"]) + len(analysed["errors"]) + len(off["errors"])
    if errors:
        table.add_row("[red]Failed searches[/]", f"[red]{errors}[/]", "", "")
    table.add_row(
        f"Re-upsert, {reupsert['prices_changed']:,} prices changed",
        f"{_number(reupsert['products_per_second'])} products/s",
        f"{reupsert['seconds']:.1f} s",
        "",
    )
    table.add_row("  batch p50 / p99 / max", f"{reupsert['batch_p50_ms']:.0f} / {reupsert['batch_p99_ms']:.0f} / "
                  f"{reupsert['batch_max_ms']:.0f} ms", "", "")  # fmt: skip
    table.add_row(
        "  history records after it",
        _number(reupsert["stored"]["change_records"]),
        _number(reupsert["expected"]["change_records"]),
        _check(reupsert["as_expected"]),
    )
    table.add_row(
        "  peak RSS | database on disk after it",
        f"{reupsert['peak_rss_mib']:.0f} MiB | {reupsert['database_size']['total_mib']:.0f} MiB",
        "",
        "",
    )
    return table


def summary_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Summary", title_justify="left")
    headings = ("Database", "Upsert", "Re-upsert", "Search p50 / p99", "LIKE p50 / p99", "LIKE / search p50, p99",
                "After ANALYZE p50 / p99", "Peak RSS", "On disk")  # fmt: skip
    for heading in headings:
        table.add_column(heading, justify="left" if heading == "Database" else "right")
    for kind, result in results.items():
        label = DATABASE_LABELS[kind]
        if "skipped" in result:
            table.add_row(label, "[yellow]skipped (see above)[/]", *[""] * (len(headings) - 2))
            continue
        load, search, analysed, reupsert = result["load"], result["search"], result["search_after_analyze"], \
            result["reupsert"]  # fmt: skip

        def both(figures: dict[str, float] | None) -> str:
            return f"{figures['p50_ms']:,.1f} / {figures['p99_ms']:,.1f} ms" if figures else "n/a"

        table.add_row(
            label,
            f"{_number(load['products_per_second'])}/s",
            f"{_number(reupsert['products_per_second'])}/s",
            f"{both(search['search'])} {verdict(search['aim_met'])}",
            both(search["baseline_like"]),
            f"{search['ratio_p50']:.2f}x, {search['ratio_p99']:.2f}x" if search["ratio_p50"] else "n/a",
            f"{both(analysed['search'])} {verdict(analysed['aim_met'])}",
            f"{max(load['peak_rss_mib'], reupsert['peak_rss_mib']):.0f} MiB",
            f"{load['database_size']['total_mib']:.0f} MiB",
        )
    return table


def print_findings(console: Console, label: str, result: dict[str, Any]) -> None:
    for title, summary in (("as loaded", result["search"]), ("after ANALYZE", result["search_after_analyze"])):
        console.print(f"\n[bold]{label}, search {title}: the slowest[/]")
        for slow in summary["slowest"]:
            console.print(f"  {slow['ms']:9,.1f} ms  {slow['kind']:<11} | {slow['filter']:<20} | "
                          f"{slow['matches']:>6,} matches | {slow['query']}")  # fmt: skip
        if summary["slowest_plan"]:
            lines = summary["slowest_plan"].splitlines()
            shown = [line if len(line) <= 150 else line[:147] + "..." for line in lines[:PLAN_LINES_SHOWN]]
            more = f", first {PLAN_LINES_SHOWN} of {len(lines)} lines" if len(lines) > PLAN_LINES_SHOWN else ""
            console.print(f"[bold]Plan of the slowest[/] (in full, with its statement: {summary['slowest_plan_file']}"
                          f"{more}):")  # fmt: skip
            console.print("\n".join(shown), markup=False, highlight=False, soft_wrap=True)
        for error in summary["errors"]:
            console.print(f"[red]{error}[/]")
    checks = result["checks"]
    for wrong in checks["rare_words_wrong"]:
        console.print(f"[red]Rare word found differently from the catalog's text: {wrong}[/]")
    for differing in checks["totals_differing"]:
        console.print(f"[red]Totals differ between passes: {differing}[/]")


def print_profile(console: Console, path: Path, top: int = 15) -> None:
    """The functions with the most time of their own, and the project's functions with the most time
    including what they call, each with file:line."""
    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = stats.stats  # type: ignore[attr-defined]

    def where(key: tuple[str, int, str]) -> str:
        filename, line, name = key
        for marker in ("site-packages/", "afinidad/", "benchmarks/", "lib/python3"):
            if marker in filename:
                filename = filename[filename.index(marker) :]
                break
        return f"{name} ({filename}:{line})"

    own = sorted(entries.items(), key=lambda item: -item[1][2])[:top]
    ours = sorted(
        ((key, value) for key, value in entries.items() if "/afinidad/" in key[0]), key=lambda item: -item[1][3]
    )[:top]
    table = Table(title=f"{path.name}: {total:.1f} s profiled", title_justify="left")
    table.add_column("own s", justify="right")
    table.add_column("own %", justify="right")
    table.add_column("calls", justify="right")
    table.add_column("function, own time")
    table.add_column("incl. s", justify="right")
    table.add_column("incl. %", justify="right")
    table.add_column("afinidad function, inclusive")
    for index in range(top):
        left = own[index] if index < len(own) else None
        right = ours[index] if index < len(ours) else None
        table.add_row(
            f"{left[1][2]:.2f}" if left else "",
            f"{left[1][2] / total:.0%}" if left else "",
            f"{left[1][1]:,}" if left else "",
            where(left[0]) if left else "",
            f"{right[1][3]:.2f}" if right else "",
            f"{right[1][3] / total:.0%}" if right else "",
            where(right[0]) if right else "",
        )
    console.print(table)


# -- entry point --------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--products", type=int, default=100_000, help="products in the catalog (default 100,000)")
    parser.add_argument("--queries", type=int, default=312, help="searches in the measured mix (default 312)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the catalog and the queries")
    parser.add_argument("--no-baseline", action="store_true", help="skip the LIKE baseline")
    parser.add_argument(
        "--search-budget",
        type=float,
        default=150.0,
        help="seconds for the search + LIKE pass, per database (default 150)",
    )
    parser.add_argument(
        "--facets-off-budget",
        type=float,
        default=30.0,
        help="seconds for the pass without facets, per database (default 30)",
    )
    parser.add_argument(
        "--analysed-budget",
        type=float,
        default=60.0,
        help="seconds for the search pass after ANALYZE, per database (default 60)",
    )
    parser.add_argument("--profile", action="store_true", help="run each phase under cProfile (slower figures)")
    parser.add_argument("--output", type=Path, default=None, help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    plan = Plan(arguments.products, arguments.queries, arguments.seed, arguments.profile, not arguments.no_baseline,
                arguments.search_budget, arguments.facets_off_budget, arguments.analysed_budget)  # fmt: skip
    output = arguments.output or RESULTS / ("catalog-profile.json" if plan.profile else "catalog.json")
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=170)
    run_id = uuid.uuid4().hex[:8]
    kinds = ("sqlite", "postgres") if arguments.database == "both" else (arguments.database,)
    RESULTS.mkdir(parents=True, exist_ok=True)
    generator = CatalogGenerator(plan.seed)
    console.print(
        f"[bold]Afinidad catalog benchmark[/] run {run_id}: {plan.products:,} products (seed {plan.seed}, "
        f"{len(generator.brands)} brands, {len(generator.leaves)} category leaves), batches of {BATCH_SIZE:,}, "
        f"{plan.queries} searches; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    code, load_before = announce_run(console)
    console.print(
        f"Time budgets per database: {plan.search_budget_seconds:.0f} s for search + LIKE, "
        f"{plan.facets_off_budget_seconds:.0f} s without facets, {plan.analysed_budget_seconds:.0f} s after ANALYZE; "
        "a pass that runs out measures the first queries of the mix (every kind and filter in turn) and says so."
    )
    if plan.profile:
        console.print("[yellow]Profiling with cProfile: every figure of this run is slower than normal.[/]")
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        started = time.perf_counter()
        try:
            with fresh_database(kind) as database:
                results[kind] = run_database(database, plan, run_id, console)
        except DatabaseUnavailable as reason:
            console.print(f"[yellow]Skipping PostgreSQL: {reason}[/]")
            results[kind] = {"database": kind, "skipped": str(reason)}
            continue
        results[kind]["wall_seconds"] = round(time.perf_counter() - started, 1)
        console.print(database_table(database.label, results[kind]))
        if results[kind]["settings"]["database_settings"].get("autovacuum") == "off":
            console.print(
                "[yellow]Note: autovacuum is off on this PostgreSQL server: the new tables are never analysed "
                "during the run, so the planner keeps its empty-table estimates.[/]"
            )
        print_findings(console, database.label, results[kind])
        for path in results[kind]["profiles"]:
            print_profile(console, Path(path))
    console.print(summary_table(results))
    write_figures(
        console,
        output,
        benchmark="catalog",
        run_id=run_id,
        load_before=load_before,
        plan=asdict(plan)
        | {
            "batch_size": BATCH_SIZE,
            "price_change_share": PRICE_CHANGE_SHARE,
            "warm_up_queries": WARM_UP_QUERIES,
        },  # fmt: skip
        aims={"search_p99_ms": AIM_SEARCH_P99_MS},
        databases=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
