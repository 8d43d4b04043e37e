"""Recommendations for one person, now: the active model scores what they did (including what they did
since it was trained, so this session's views count at once), the live catalog filters (active, in stock,
not already bought), and each item says why. Every answer is logged as a decision with its id.

Without `personalization` consent, or for someone unknown, the answer is the popular items, and says so.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import ValidationError
from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.orm import Session

from afinidad.consent.service import member_allows
from afinidad.errors import FieldProblem, InvalidInput, NotFound
from afinidad.profiles.service import find_profile_id
from afinidad.recommend import context as contexts
from afinidad.recommend import reasons
from afinidad.recommend.artifacts import ItemModel
from afinidad.recommend.content import ProductText
from afinidad.recommend.slots import SlotRules, boost_of, boosts_anything, rules_for
from afinidad.recommend.training import PRODUCT_EVENTS, products_of
from afinidad.store.models import Decision, Event, ModelVersion, Product, Profile
from afinidad.workspaces.settings import read_settings

SESSION = timedelta(hours=2)  # what someone did this recently weighs double: the session shapes the answer
HISTORY = 500  # the latest product events read per person
_ACTIONS = {"Product Viewed": "viewed", "Product Clicked": "clicked", "Product Added": "added to cart",
            "Product Added to Wishlist": "wished", "Order Completed": "bought"}  # fmt: skip


@dataclass(frozen=True)
class Request:
    """What a caller asked for. Rules left as None come from the slot (see `slots.rules_for`)."""

    identifier: str
    n: int | None = None
    slot: str = "home"
    language: str | None = None
    category: str | None = None
    in_stock: bool | None = None
    exclude_bought: bool | None = None  # except products marked `attributes.repeat_purchase` (coffee, pet food)
    max_per_category: int | None = None  # diversity: at most this many from one category
    brands: list[str] | None = None
    min_price: float | None = None
    max_price: float | None = None
    source: str | None = None  # personal | cart
    context: dict[str, Any] = field(default_factory=dict)  # as given: local_time, daypart, device, weather...

    def given(self) -> SlotRules:
        try:
            return SlotRules.model_validate({name: getattr(self, name) for name in _REQUEST_RULES
                                             if getattr(self, name) is not None})  # fmt: skip
        except ValidationError as error:
            problems = [FieldProblem(".".join(str(part) for part in item["loc"]), item["msg"])
                        for item in error.errors(include_url=False)]  # fmt: skip
            raise InvalidInput("Invalid recommendation request.", problems) from error


_REQUEST_RULES = ("n", "category", "in_stock", "exclude_bought", "max_per_category", "brands", "min_price",
                  "max_price", "source")  # fmt: skip


class _Models:
    """The active model per workspace, loaded once per version (a check of which version is active costs one
    indexed query; loading happens only when it changed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[str, ItemModel, dict[str, int]]] = {}

    def active(self, session: Session, workspace_id: str) -> tuple[str, ItemModel, dict[str, int]] | None:
        version = session.execute(
            select(ModelVersion.id).where(ModelVersion.workspace_id == workspace_id, ModelVersion.kind == "personal",
                                          ModelVersion.active.is_(True))
        ).scalar()  # fmt: skip
        if version is None:
            return None
        cached = self._loaded.get(workspace_id)
        if cached and cached[0] == version:
            return cached
        with self._lock:  # one loader: fifty requests arriving together must not unpack fifty copies
            cached = self._loaded.get(workspace_id)
            if cached and cached[0] == version:
                return cached
            blob = session.execute(select(ModelVersion.artifact).where(ModelVersion.id == version)).scalar_one()
            model = ItemModel.from_bytes(blob)
            loaded = (version, model, model.index)
            self._loaded[workspace_id] = loaded
        return loaded


MODELS = _Models()


def _check(request: Request) -> SlotRules:
    """The request's own rules, checked (every problem at once; nothing is logged for a bad request)."""
    problems = []
    if request.n is not None and not 1 <= request.n <= 100:
        problems.append(FieldProblem("n", "must be between 1 and 100"))
    if not request.slot or len(request.slot) > 40:
        problems.append(FieldProblem("slot", "must be 1 to 40 characters"))
    if request.source is not None and request.source not in ("personal", "cart"):
        problems.append(FieldProblem("source", "must be personal or cart"))
    if request.max_per_category is not None and not 1 <= request.max_per_category <= 100:
        problems.append(FieldProblem("max_per_category", "must be between 1 and 100"))
    if request.min_price is not None and request.max_price is not None and request.min_price > request.max_price:
        problems.append(FieldProblem("min_price", "must not be above max_price"))
    for name in ("min_price", "max_price"):
        if (getattr(request, name) or 0) < 0:
            problems.append(FieldProblem(name, "must not be negative"))
    if problems:
        raise InvalidInput("Invalid recommendation request.", problems)
    return request.given()


def _history(session: Session, workspace_id: str, members: list[str]) -> list[tuple[str, str, datetime]]:
    """(product, action, time) of the person's latest product events (over their merged profiles), newest
    first."""
    rows = session.execute(
        select(Event.event, Event.properties, Event.timestamp)
        .where(Event.workspace_id == workspace_id, Event.profile_id.in_(members), Event.event.in_(PRODUCT_EVENTS))
        .order_by(Event.timestamp.desc(), Event.seq.desc())
        .limit(HISTORY)
    ).all()
    return [
        (product, _ACTIONS[event], at) for event, properties, at in rows for product in products_of(event, properties)
    ]


@dataclass(frozen=True)
class Shown:
    """A product the live catalog allows, with what the rules need to know about it."""

    title: str
    category: str | None
    brand: str | None
    on_sale: bool


def _catalog(
    session: Session, workspace_id: str, rules: SlotRules, *, only: list[str] | None = None, limit: int | None = None
) -> dict[str, Shown]:
    """The products that may be shown: active (indexed), in stock if asked, in the category, brands and price
    range if asked; among `only` when given, at most `limit` when given."""
    clauses = ["s.workspace_id = :ws"]
    params: dict[str, Any] = {"ws": workspace_id}
    if rules.in_stock is not False:
        clauses.append("s.in_stock")
    if rules.category:
        clauses.append("(s.category = :category OR s.category LIKE :under)")
        params["category"], params["under"] = rules.category, rules.category + " > %"
    if rules.brands:
        names = {f"brand_{i}": brand for i, brand in enumerate(rules.brands)}
        params.update(names)
        clauses.append(f"s.brand IN ({', '.join(':' + name for name in names)})")
    if rules.min_price is not None:
        clauses.append("s.price >= :min_price")
        params["min_price"] = rules.min_price
    if rules.max_price is not None:
        clauses.append("s.price <= :max_price")
        params["max_price"] = rules.max_price
    if only is not None:
        if not only:
            return {}
        names = {f"id_{i}": pid for i, pid in enumerate(only)}
        params.update(names)
        clauses.append(f"s.product_id IN ({', '.join(':' + name for name in names)})")
    tail = f" ORDER BY s.product_id LIMIT {int(limit)}" if limit is not None else ""
    rows = session.execute(
        text("SELECT s.product_id, s.title, s.category, s.brand, p.sale_price IS NOT NULL AND p.sale_price < p.price "
             "FROM product_search s JOIN products p ON p.workspace_id = s.workspace_id AND p.id = s.product_id "
             f"WHERE {' AND '.join(clauses)}{tail}"),
        params,
    )  # fmt: skip
    return {pid: Shown(title, category, brand, bool(on_sale)) for pid, title, category, brand, on_sale in rows}


def _rules(session: Session, workspace_id: str, request: Request) -> SlotRules:
    given = _check(request)
    stored = read_settings(session, workspace_id).recommendation_slots
    return rules_for(request.slot, stored, given)


def recommend(session: Session, workspace_id: str, request: Request) -> dict:
    """The recommendation and its `decision_id`; the decision is added to `session` (the caller commits)."""
    rules = _rules(session, workspace_id, request)
    given = contexts.of_request(request.context)
    n = rules.n or 10
    try:
        profile_id: str | None = find_profile_id(session, workspace_id, request.identifier)
    except NotFound:
        profile_id = None  # someone new: a cold start, not an error
    tag = request.language
    members: list[str] = []
    if profile_id:  # the profile and those merged into it, with the traits of the profile itself
        rows = session.execute(
            select(Profile.id, Profile.traits).where(Profile.workspace_id == workspace_id,
                                                     or_(Profile.id == profile_id, Profile.merged_into == profile_id))
        ).all()  # fmt: skip
        members = [profile_id, *(pid for pid, _ in rows if pid != profile_id)]
        traits = next((t for pid, t in rows if pid == profile_id), None) or {}
        tag = tag or traits.get("language") or traits.get("locale")
    loaded = MODELS.active(session, workspace_id)
    personal = bool(members) and member_allows(session, workspace_id, members, "personalization")
    history = _history(session, workspace_id, members) if personal else []
    bought = {product for product, action, _ in history if action == "bought"} if rules.exclude_bought else set()
    bought -= _repeat_purchase(session, workspace_id, bought)
    cart = _cart(history) if rules.source == "cart" else []
    items: list[dict[str, Any]] = []
    policy, version = "popular", None
    applied = contexts.Used(np.ones(1, dtype=np.float32), ignored=dict.fromkeys(given, "no trained model yet"))
    if loaded is not None:
        version, model, index = loaded
        weights = _history_weights(index, history)
        scores, matrix, sources = None, model.weights, weights
        cart_weights = {index[p]: 1.0 for p in cart if p in index}
        if cart_weights and model.together is not None and model.together.nnz:
            together = model.together[list(cart_weights)].sum(axis=0).A1
            if together.max(initial=0) > 0:
                scores, matrix, sources, policy = together, model.together, cart_weights, "cart"
        if scores is None and weights:
            scores = model.weights[list(weights)].T @ np.fromiter(weights.values(), dtype=np.float32)
            policy = "personal" if scores.max(initial=0) > 0 else policy
        lift = None
        if given and model.context is not None and model.item_category is not None:
            applied = model.context.apply(given)
            lift = applied.factor[model.item_category] if applied.used else None  # -1 (no category) reads 1
        elif given:
            applied.ignored = dict.fromkeys(given, "the active model was trained without context")
        chosen = _choose(session, workspace_id, model, scores, bought | set(cart), rules, n, lift)
        titles = _titles(session, workspace_id, list({product for product, _, _ in history}))
        lifted_by = _strongest(matrix, [c.code for c in chosen], sources, history, index)
        for choice in chosen:
            code = choice.code
            score = float(scores[code]) if scores is not None else 0.0
            if score > 0 and code in lifted_by:
                source, action = lifted_by[code]
                title = titles.get(source, source)
                cart_reason = policy == "cart"
                reason = reasons.about("together", title, tag) if cart_reason else reasons.because(action, title, tag)
            elif lift is not None and lift[code] >= LIFTED:
                reason = reasons.popular_when(_lifting(applied, int(model.item_category[code])), tag)
            else:
                reason = reasons.popular(tag)
            item = {"product_id": str(model.item_ids[code]), "title": choice.shown.title, "score": round(score, 6),
                    "reason": reason}  # fmt: skip
            if lift is not None:
                item["context_lift"] = round(float(lift[code]), 3)
            if choice.boost != 1.0:
                item["boost"] = round(choice.boost, 3)
            items.append(item)
    else:
        allowed = _catalog(session, workspace_id, rules, limit=n + len(bought))
        for pid in [pid for pid in allowed if pid not in bought][:n]:
            items.append({"product_id": pid, "title": allowed[pid].title, "score": 0.0,
                          "reason": reasons.popular(tag)})  # fmt: skip
    decision = "dec_" + uuid.uuid4().hex[:20]
    used = {"used": applied.used, "ignored": applied.ignored}
    logged = {"given": given, **used, "lang": request.language, "rules": rules.model_dump(exclude_none=True)}
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=profile_id, slot=request.slot,
                         policy=policy, model_version=version, items=items, context=logged,
                         at=datetime.now(UTC).replace(tzinfo=None)))  # fmt: skip
    return {"decision_id": decision, "profile_id": profile_id, "slot": request.slot, "policy": policy,
            "model_version": version, "items": items, "personalized": policy in ("personal", "cart"),
            "context": used}  # fmt: skip


LIFTED = 1.1  # an item whose category the context lifts this much says so in its reason


def _lifting(applied: contexts.Used, category: int) -> dict[str, str]:
    """The context values that lifted this category (for its reason)."""
    return {name: applied.used[name] for name, row in applied.lifts.items() if row[category] >= 1.05}


def _cart(history: list[tuple[str, str, datetime]]) -> list[str]:
    """What is in the cart now: products added in this session and not bought since (newest first)."""
    if not history:
        return []
    newest, bought, cart = history[0][2], set(), []
    for product, action, at in history:  # newest first: an order seen first empties the cart before it
        if newest - at > SESSION:
            break
        if action == "bought":
            bought.add(product)
        elif action == "added to cart" and product not in bought and product not in cart:
            cart.append(product)
    return cart


def _repeat_purchase(session: Session, workspace_id: str, product_ids: set[str]) -> set[str]:
    """Of these products, those people buy again and again (`attributes.repeat_purchase` is true)."""
    if not product_ids:
        return set()
    rows = session.execute(
        select(Product.id, Product.attributes).where(Product.workspace_id == workspace_id,
                                                     Product.id.in_(sorted(product_ids)))
    )  # fmt: skip
    return {pid for pid, attributes in rows if (attributes or {}).get("repeat_purchase") is True}


def _history_weights(index: dict[str, int], history: list[tuple[str, str, datetime]]) -> dict[int, float]:
    """Model item code -> weight of the person's history: 2 for this session's items, 1 for older ones."""
    if not history:
        return {}
    newest = history[0][2]
    weights: dict[int, float] = {}
    for product, _, at in history:
        code = index.get(product)
        if code is not None:
            weights[code] = max(weights.get(code, 0.0), 2.0 if newest - at <= SESSION else 1.0)
    return weights


CHUNK = 64  # candidates checked against the live catalog per query
POOL = 3  # with boosts, this many times n candidates are reordered


@dataclass(frozen=True)
class Choice:
    code: int
    shown: Shown
    boost: float = 1.0


def _choose(
    session: Session,
    workspace_id: str,
    model: ItemModel,
    scores: np.ndarray | None,
    excluded: set[str],
    rules: SlotRules,
    n: int,
    lift: np.ndarray | None = None,
) -> list[Choice]:
    """Walk the model's items best first (personal score, then popularity, both tilted by the context) and
    keep those the live catalog allows and that are not excluded; then apply the boosts among the first
    candidates and the diversity cap. Only the walked items are looked up, a chunk at a time, so the cost
    does not grow with the catalog."""
    popularity = model.popularity.astype(np.float64)
    if lift is not None:  # the context tilts both the personal scores and popularity
        popularity = popularity * lift
    if scores is not None and scores.max(initial=0) > 0:  # personal score first, popularity breaks ties
        personal = np.asarray(scores, dtype=np.float64) * (lift if lift is not None else 1.0)
        order = np.lexsort((-popularity, -personal))
    else:
        order = np.argsort(-popularity, kind="stable")
    boosting = boosts_anything(rules)
    pool: list[Choice] = []
    picked: list[Choice] = []
    for start in range(0, len(order), CHUNK):
        codes = order[start : start + CHUNK]
        ids = [str(model.item_ids[code]) for code in codes]
        allowed = _catalog(session, workspace_id, rules, only=ids)
        for code, pid in zip(codes.tolist(), ids, strict=True):
            if pid in allowed and pid not in excluded:
                shown = allowed[pid]
                boost = boost_of(rules, pid, shown.brand, shown.category, shown.on_sale) if boosting else 1.0
                pool.append(Choice(code, shown, boost))
        if len(pool) < (n * POOL if boosting else n):
            continue
        picked = _pick(pool, n, rules.max_per_category)
        if len(picked) == n:
            return picked
    return _pick(pool, n, rules.max_per_category)


def _pick(pool: list[Choice], n: int, cap: int | None) -> list[Choice]:
    """The first n by boosted rank (a candidate at rank r with boost b counts as rank r / b), at most `cap`
    per category."""
    ranked = sorted(range(len(pool)), key=lambda r: (r + 1) / pool[r].boost)
    picked: list[Choice] = []
    per_category: dict[str | None, int] = {}
    for position in ranked:
        choice = pool[position]
        if cap is not None:
            if per_category.get(choice.shown.category, 0) >= cap:
                continue
            per_category[choice.shown.category] = per_category.get(choice.shown.category, 0) + 1
        picked.append(choice)
        if len(picked) == n:
            break
    return picked


def _strongest(
    matrix: sp.csr_matrix,
    codes: list[int],
    weights: dict[int, float],
    history: list[tuple[str, str, datetime]],
    index: dict[str, int],
) -> dict[int, tuple[str, str]]:
    """For each chosen item, the history (or cart) entry that lifted it most (the reason's subject): one
    sparse slice (sources x chosen items) and an argmax per column."""
    if not weights or not codes:
        return {}
    sources = list(weights)
    lifts = matrix[sources][:, codes].toarray() * np.fromiter(weights.values(), dtype=np.float64)[:, None]
    first_seen: dict[int, tuple[str, str]] = {}
    for product, action, _ in history:
        code = index.get(product)
        if code is not None:
            first_seen.setdefault(code, (product, action))  # the newest event of that product
    found = {}
    for column, code in enumerate(codes):
        if lifts[:, column].max(initial=0) > 0:
            found[code] = first_seen[sources[int(np.argmax(lifts[:, column]))]]
    return found


_TITLES = text(
    "SELECT product_id, title FROM product_search WHERE workspace_id = :ws AND product_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _titles(session: Session, workspace_id: str, product_ids: list[str]) -> dict[str, str]:
    if not product_ids:
        return {}
    rows = session.execute(
        _TITLES,
        {"ws": workspace_id, "ids": sorted(set(product_ids))},
    )
    return dict(rows.all())


def for_product(
    session: Session,
    workspace_id: str,
    product_id: str,
    kind: str,
    *,
    n: int = 10,
    in_stock: bool = True,
    language: str | None = None,
    slot: str = "product",
) -> dict:
    """Products to show beside `product_id`: bought with it (lift over baskets), or similar to it (liked by
    the same shoppers first, then reading alike: title, brand, category, description). A product added after
    training gets its similar ones from its text, live. An unknown product is a 404; one nothing is known
    about yet gets an empty list, not an error."""
    _check(Request(identifier=product_id, n=n, slot=slot))
    product = session.execute(
        select(Product.title, Product.description, Product.brand, Product.category, Product.language).where(
            Product.workspace_id == workspace_id, Product.id == product_id)
    ).first()  # fmt: skip
    if product is None:
        raise NotFound("No product has this id in this workspace.")
    loaded = MODELS.active(session, workspace_id)
    items: list[dict[str, Any]] = []
    version = None
    if loaded is not None:
        version, model, _ = loaded
        ranked = _beside(model, product_id, kind, product, n)
        allowed = _catalog(session, workspace_id, SlotRules(in_stock=in_stock), only=[pid for pid, _ in ranked])
        for candidate, score in ranked:
            if candidate == product_id or candidate not in allowed:
                continue
            reason = "together" if kind == "bought-together" else "similar" if score > 1 else "alike"
            items.append({"product_id": candidate, "title": allowed[candidate].title, "score": round(score, 6),
                          "reason": reasons.about(reason, product.title, language)})  # fmt: skip
            if len(items) == n:
                break
    decision = "dec_" + uuid.uuid4().hex[:20]
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=None, slot=slot, policy=kind,
                         model_version=version, items=items, context={"product_id": product_id},
                         at=datetime.now(UTC).replace(tzinfo=None)))  # fmt: skip
    return {"decision_id": decision, "product_id": product_id, "kind": kind, "model_version": version,
            "items": items}  # fmt: skip


def _beside(model: ItemModel, product_id: str, kind: str, product: Any, n: int) -> list[tuple[str, float]]:
    """(product, score) best first, a few more than `n` where the live catalog may filter some out."""
    if kind == "bought-together":
        code = model.index.get(product_id)
        return _row(model.together, code, model.item_ids) if code is not None and model.together is not None else []
    code = model.similar_index.get(product_id)
    if code is not None and model.similar is not None:
        return _row(model.similar, code, model.similar_ids)
    code = model.index.get(product_id)
    if model.similar is None and code is not None:  # a version trained before content similarity
        return _row(model.weights, code, model.item_ids)
    if model.content is None:
        return []
    text = ProductText(product_id, product.title, product.description, product.brand, product.category or "",
                       product.language)  # fmt: skip
    return [(found.product_id, found.similarity) for found in model.content.query(text, k=3 * n + 10)]


def _row(matrix: sp.csr_matrix, code: int, ids: np.ndarray) -> list[tuple[str, float]]:
    row = matrix[code]
    order = np.argsort(-row.data, kind="stable")
    return [(str(ids[column]), float(score)) for column, score in zip(row.indices[order], row.data[order], strict=True)]
