"""Training on a workspace's own events: who viewed, added or bought which product becomes the interaction
matrix; the personal model is measured on a time split of those same events, then refitted on all of them
and stored as a new active model version (the previous one stays, for roll back)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from afinidad.errors import Conflict, NotFound
from afinidad.recommend import context
from afinidad.recommend.artifacts import ItemModel, sparse_weights
from afinidad.recommend.baskets import basket_matrix, lift_matrix
from afinidad.recommend.content import ContentIndex, ProductText, blend_neighbours
from afinidad.recommend.evaluation import Candidate, evaluate
from afinidad.recommend.interactions import Interactions, from_columns
from afinidad.recommend.models import Ease, Popularity, Rp3Beta
from afinidad.recommend.models.ease import MAX_ITEMS
from afinidad.store.engine import Store
from afinidad.store.models import Event, ModelVersion, Product

PRODUCT_EVENTS = ("Product Viewed", "Product Clicked", "Product Added", "Product Added to Wishlist", "Order Completed")
MIN_INTERACTIONS = 20


def products_of(event: str | None, properties: dict[str, Any] | None) -> list[str]:
    """The product ids an event names: one for a view or an add, every line of an order."""
    properties = properties or {}
    lines = properties.get("products") if event == "Order Completed" else [properties]
    found = []
    for line in lines or []:
        if isinstance(line, dict):
            product = line.get("product_id") or line.get("sku")
            if product is not None and str(product).strip():
                found.append(str(product).strip())
    return found


class ContextRows:
    """The context values of each interaction, column-wise and with repeated strings shared, so that a
    million interactions stay a few hundred megabytes at most."""

    def __init__(self) -> None:
        self.columns: dict[str, list[str | None]] = {name: [] for name in context.SINGLE}

    def add(self, values: dict[str, str], times: int) -> None:
        for name, column in self.columns.items():
            value = values.get(name)
            column.extend([sys.intern(value) if value is not None else None] * times)


def workspace_interactions(
    session: Session,
    workspace_id: str,
    baskets: list[list[str]] | None = None,
    contexts: ContextRows | None = None,
) -> tuple[Interactions, datetime | None]:
    """The workspace's product interactions (per unified profile), and the time of the latest. When
    `baskets` is given, each order's products are appended to it; when `contexts` is, each interaction's
    context values (in the order of the interactions read)."""
    users, items, times = [], [], []
    latest = None
    columns = [Event.profile_id, Event.event, Event.properties, Event.timestamp]
    if contexts is not None:
        columns.append(Event.enrichment)
    rows = session.execute(
        select(*columns)
        .where(Event.workspace_id == workspace_id, Event.event.in_(PRODUCT_EVENTS), Event.profile_id.is_not(None))
        .execution_options(yield_per=5000)
    )
    for row in rows:
        profile_id, event, properties, at = row[:4]
        products = products_of(event, properties)
        if baskets is not None and event == "Order Completed" and products:
            baskets.append(products)
        if contexts is not None and products:
            contexts.add(context.of_event(row[4]), len(products))
        for product in products:
            users.append(profile_id)
            items.append(product)
            times.append(at.replace(tzinfo=UTC).timestamp())
        latest = at if latest is None or at > latest else latest
    return from_columns(users, items, times), latest


@dataclass(frozen=True)
class Trained:
    version: str
    algorithm: str
    metrics: dict[str, Any]
    users: int
    items: int
    active: bool = True
    held_back: str | None = None  # why a guarded retraining left the new version inactive


GUARD = 0.8  # a guarded retraining below this share of the active version's NDCG@10 is held back


def _held_back(metrics: dict[str, Any], active: dict[str, Any] | None) -> str | None:
    """Why a retrained model must not replace the active one, if it must not: it loses to popularity, or
    it scores far below the model serving now (a broken feed or a tracking change, more likely than taste
    changing overnight)."""
    if metrics["ndcg10"] <= metrics["popularity_ndcg10"]:
        return f"NDCG@10 {metrics['ndcg10']} is not above popularity's {metrics['popularity_ndcg10']}"
    if active and active.get("ndcg10") and metrics["ndcg10"] < GUARD * active["ndcg10"]:
        return f"NDCG@10 {metrics['ndcg10']} is below {GUARD:.0%} of the active version's {active['ndcg10']}"
    return None


def _algorithm(n_items: int) -> Candidate:
    """EASE where its dense matrix fits (it won on every data set measured), RP3beta above that."""
    if n_items <= MAX_ITEMS:
        return Candidate("EASE", Ease, [{"regularization": r} for r in (50, 100, 250, 500)])
    return Candidate("RP3beta", Rp3Beta, [{"alpha": 0.8, "beta": b, "neighbours": 200} for b in (0.35, 0.5)])


def train_personal(
    store: Store, workspace_id: str, on_step: Callable[[str], None] | None = None, *, guarded: bool = False
) -> Trained:
    """Train, measure and store a new personal model version, and make it the active one; `guarded` (the
    scheduled retraining) stores it inactive instead when it measures much worse (see `_held_back`)."""
    step = on_step or (lambda _: None)
    step("reading events")
    orders: list[list[str]] = []
    contexts = ContextRows()
    with store.reader() as session:
        data, latest = workspace_interactions(session, workspace_id, orders, contexts)
        catalog = [ProductText(pid, title, description, brand, category or "", language) for
                   pid, title, description, brand, category, language in session.execute(
                       select(Product.id, Product.title, Product.description, Product.brand, Product.category,
                              Product.language).where(Product.workspace_id == workspace_id,
                                                      Product.active.is_(True)))]  # fmt: skip
    category_of = {product.product_id: product.category for product in catalog}
    if len(data) < MIN_INTERACTIONS:
        raise Conflict(f"Only {len(data)} product interactions: a model needs at least {MIN_INTERACTIONS}.")
    chosen = _algorithm(data.shape[1])
    step(f"measuring {chosen.label} against popularity on a time split")
    results = {r.label: r for r in evaluate(data, [Candidate("popularity", Popularity, baseline=True), chosen])}
    measured = results[chosen.label]
    step(f"fitting {chosen.label} on every interaction")
    model = chosen.build(**measured.params).fit(data.matrix())
    weights = model.weights if isinstance(model, Ease) else model.similarity
    popularity = np.asarray((data.matrix() > 0).sum(axis=0)).ravel().astype(np.float32)
    step("finding what is bought together")
    index = {str(item): code for code, item in enumerate(data.item_ids)}
    together = lift_matrix(basket_matrix(([index[p] for p in order if p in index] for order in orders), len(index)))
    step("learning which context matters")
    item_category, categories, affinity = learn_context(data, contexts, category_of)
    step(f"finding products that read alike ({len(catalog):,} in the catalog)")
    links = sparse_weights(weights)
    content = ContentIndex().fit(catalog)
    similar_ids, similar = blend_neighbours(links, data.item_ids, content.neighbours_, content.product_ids_)
    artifact = ItemModel(data.item_ids, links, popularity, together, item_category, categories, affinity,
                         similar_ids, similar, content).to_bytes()  # fmt: skip
    metrics = {"ndcg10": round(measured.ndcg10, 4), "recall20": round(measured.recall20, 4),
               "map10": round(measured.map10, 4), "coverage": round(measured.coverage, 4),
               "popularity_ndcg10": round(results["popularity"].ndcg10, 4),
               "context": affinity.summary(), **affinity.hit10_}  # fmt: skip
    version = "mv_" + uuid.uuid4().hex[:20]
    step("storing the model version")
    with store.session() as session:
        serving = session.execute(
            select(ModelVersion.metrics).where(ModelVersion.workspace_id == workspace_id,
                                               ModelVersion.kind == "personal", ModelVersion.active.is_(True))
        ).scalar()  # fmt: skip
        held_back = _held_back(metrics, serving) if guarded else None
        if held_back is None:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.workspace_id == workspace_id, ModelVersion.kind == "personal")
                .values(active=False)
            )
        else:
            metrics["held_back"] = held_back
        now = datetime.now(UTC).replace(tzinfo=None)
        session.add(ModelVersion(id=version, workspace_id=workspace_id, kind="personal", algorithm=chosen.label,
                                 params=measured.params, metrics=metrics, trained_at=now,
                                 events_until=latest, users=data.shape[0], items=data.shape[1],
                                 active=held_back is None, artifact=artifact))  # fmt: skip
    if store.engine.dialect.name == "postgresql":  # serving's lookups are planned from these statistics; with
        store.analyze("product_search", "products", "events")  # stale ones the catalog lookup took 3.7 ms, not 0.3
    return Trained(version, chosen.label, metrics, data.shape[0], data.shape[1], held_back is None, held_back)


def learn_context(
    data: Interactions, contexts: ContextRows, category_of: dict[str, str]
) -> tuple[np.ndarray, tuple[str, ...], context.ContextAffinity]:
    """Each item's category (at the level context is learned at), and the context lifts per category."""
    level = context.rollup(sorted({c for c in category_of.values() if c}))
    categories = tuple(sorted(set(level.values())))
    code = {name: position for position, name in enumerate(categories)}
    item_category = np.fromiter((code.get(level.get(category_of.get(str(item), ""), ""), -1)
                                 for item in data.item_ids), np.int32, len(data.item_ids))  # fmt: skip
    affinity = context.ContextAffinity().fit(item_category[data.items], data.times, contexts.columns, len(categories))
    affinity.hit10_ = _context_hit_rates(data, contexts, item_category, len(categories))
    return item_category, categories, affinity


def _context_hit_rates(
    data: Interactions, contexts: ContextRows, item_category: np.ndarray, n_categories: int
) -> dict[str, float]:
    """Learned on the earlier 80% of interactions, tried on the later 20%: how well the popular items,
    plain and tilted by the context, foresee what people turned to (for the model's metrics)."""
    if len(data) < 100:
        return {}
    early = data.times < np.quantile(data.times, 0.8)
    late = np.flatnonzero(~early)
    columns = {name: [column[i] for i in np.flatnonzero(early)] for name, column in contexts.columns.items()}
    learned = context.ContextAffinity().fit(item_category[data.items[early]], data.times[early], columns,
                                            n_categories)  # fmt: skip
    popularity = np.bincount(data.items[early], minlength=len(data.item_ids)).astype(np.float64)
    seen = [{name: column[i] for name, column in contexts.columns.items() if column[i] is not None} for i in late]
    return context.popular_ranking_quality(learned, item_category, popularity, data.items[late], seen)


def versions(session: Session, workspace_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ModelVersion.id, ModelVersion.algorithm, ModelVersion.params, ModelVersion.metrics,
               ModelVersion.trained_at, ModelVersion.users, ModelVersion.items, ModelVersion.active)
        .where(ModelVersion.workspace_id == workspace_id)
        .order_by(ModelVersion.trained_at.desc())
    ).all()  # fmt: skip
    return [{"id": r.id, "algorithm": r.algorithm, "params": r.params, "metrics": r.metrics,
             "trained_at": r.trained_at.isoformat(timespec="seconds") + "Z", "users": r.users, "items": r.items,
             "active": r.active} for r in rows]  # fmt: skip


def activate(session: Session, workspace_id: str, version: str) -> None:
    """Make `version` the active personal model (roll back or forward)."""
    found = session.get(ModelVersion, version)
    if found is None or found.workspace_id != workspace_id:
        raise NotFound("No model version has this id in this workspace.")
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.workspace_id == workspace_id, ModelVersion.kind == found.kind)
        .values(active=ModelVersion.id == version)
    )
