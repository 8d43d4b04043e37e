"""Recommendations for one person, now: the active model scores what they did (including what they did
since it was trained, so this session's views count at once), the live catalog filters (active, in stock,
not already bought), and each item says why. Every answer is logged as a decision with its id.

Without `personalization` consent, or for someone unknown, the answer is the popular items, and says so.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from afinidad.consent.service import may_use
from afinidad.errors import FieldProblem, InvalidInput, NotFound
from afinidad.profiles.service import find_profile_id, member_profile_ids
from afinidad.recommend import reasons
from afinidad.recommend.artifacts import ItemModel
from afinidad.recommend.training import PRODUCT_EVENTS, products_of
from afinidad.store.models import Decision, Event, ModelVersion, Product, Profile

SESSION = timedelta(hours=2)  # what someone did this recently weighs double: the session shapes the answer
HISTORY = 500  # the latest product events read per person
_ACTIONS = {"Product Viewed": "viewed", "Product Clicked": "clicked", "Product Added": "added to cart",
            "Product Added to Wishlist": "wished", "Order Completed": "bought"}  # fmt: skip


@dataclass(frozen=True)
class Request:
    identifier: str
    n: int = 10
    slot: str = "home"
    language: str | None = None
    category: str | None = None
    in_stock: bool = True
    exclude_bought: bool = True  # except products marked `attributes.repeat_purchase` (coffee, pet food)
    max_per_category: int | None = None  # diversity: at most this many from one category


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
        blob = session.execute(select(ModelVersion.artifact).where(ModelVersion.id == version)).scalar_one()
        model = ItemModel.from_bytes(blob)
        loaded = (version, model, model.index)
        with self._lock:
            self._loaded[workspace_id] = loaded
        return loaded


MODELS = _Models()


def _check(request: Request) -> None:
    problems = []
    if not 1 <= request.n <= 100:
        problems.append(FieldProblem("n", "must be between 1 and 100"))
    if not request.slot or len(request.slot) > 40:
        problems.append(FieldProblem("slot", "must be 1 to 40 characters"))
    if problems:
        raise InvalidInput("Invalid recommendation request.", problems)


def _history(session: Session, workspace_id: str, profile_id: str) -> list[tuple[str, str, datetime]]:
    """(product, action, time) of the person's latest product events, newest first."""
    members = member_profile_ids(session, workspace_id, profile_id)
    rows = session.execute(
        select(Event.event, Event.properties, Event.timestamp)
        .where(Event.workspace_id == workspace_id, Event.profile_id.in_(members), Event.event.in_(PRODUCT_EVENTS))
        .order_by(Event.timestamp.desc(), Event.seq.desc())
        .limit(HISTORY)
    ).all()
    return [
        (product, _ACTIONS[event], at) for event, properties, at in rows for product in products_of(event, properties)
    ]


def _catalog(
    session: Session, workspace_id: str, request: Request, *, only: list[str] | None = None, limit: int | None = None
) -> dict[str, tuple[str, str | None]]:
    """The products that may be shown: id -> (title, category); active (indexed), in stock if asked, in the
    category if asked; among `only` when given, at most `limit` when given."""
    clauses = ["workspace_id = :ws"]
    params: dict[str, Any] = {"ws": workspace_id}
    if request.in_stock:
        clauses.append("in_stock")
    if request.category:
        clauses.append("(category = :category OR category LIKE :under)")
        params["category"], params["under"] = request.category, request.category + " > %"
    if only is not None:
        if not only:
            return {}
        names = {f"id_{i}": pid for i, pid in enumerate(only)}
        params.update(names)
        clauses.append(f"product_id IN ({', '.join(':' + name for name in names)})")
    tail = f" ORDER BY product_id LIMIT {int(limit)}" if limit is not None else ""
    rows = session.execute(
        text(f"SELECT product_id, title, category FROM product_search WHERE {' AND '.join(clauses)}{tail}"), params
    )
    return {pid: (title, category) for pid, title, category in rows}


def recommend(session: Session, workspace_id: str, request: Request, context: dict[str, Any] | None = None) -> dict:
    """The recommendation and its `decision_id`; the decision is added to `session` (the caller commits)."""
    _check(request)
    try:
        profile_id: str | None = find_profile_id(session, workspace_id, request.identifier)
    except NotFound:
        profile_id = None  # someone new: a cold start, not an error
    tag = request.language
    if profile_id and tag is None:
        traits = session.execute(select(Profile.traits).where(Profile.id == profile_id)).scalar() or {}
        tag = traits.get("language") or traits.get("locale")
    loaded = MODELS.active(session, workspace_id)
    personal = profile_id is not None and may_use(session, workspace_id, profile_id, "personalization")
    history = _history(session, workspace_id, profile_id) if personal and profile_id else []
    bought = {product for product, action, _ in history if action == "bought"} if request.exclude_bought else set()
    bought -= _repeat_purchase(session, workspace_id, bought)
    items: list[dict[str, Any]] = []
    policy, version = "popular", None
    if loaded is not None:
        version, model, index = loaded
        weights = _history_weights(index, history)
        scores = model.weights[list(weights)].T @ np.fromiter(weights.values(), dtype=np.float32) if weights else None
        if scores is not None and scores.max(initial=0) > 0:
            policy = "personal"
        chosen = _choose(session, workspace_id, model, scores, bought, request)
        titles = _titles(session, workspace_id, list({product for product, _, _ in history}))
        lifted_by = _strongest(model, [code for code, _ in chosen], weights, history, index)
        for code, title in chosen:
            score = float(scores[code]) if scores is not None else 0.0
            if score > 0 and code in lifted_by:
                source, action = lifted_by[code]
                reason = reasons.because(action, titles.get(source, source), tag)
            else:
                reason = reasons.popular(tag)
            items.append({"product_id": str(model.item_ids[code]), "title": title, "score": round(score, 6),
                          "reason": reason})  # fmt: skip
    else:
        allowed = _catalog(session, workspace_id, request, limit=request.n + len(bought))
        for pid in [pid for pid in allowed if pid not in bought][: request.n]:
            items.append({"product_id": pid, "title": allowed[pid][0], "score": 0.0, "reason": reasons.popular(tag)})
    decision = "dec_" + uuid.uuid4().hex[:20]
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=profile_id, slot=request.slot,
                         policy=policy, model_version=version, items=items, context=context or {},
                         at=datetime.now(UTC).replace(tzinfo=None)))  # fmt: skip
    return {"decision_id": decision, "profile_id": profile_id, "slot": request.slot, "policy": policy,
            "model_version": version, "items": items,
            "personalized": policy == "personal"}  # fmt: skip


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


def _choose(
    session: Session,
    workspace_id: str,
    model: ItemModel,
    scores: np.ndarray | None,
    bought: set[str],
    request: Request,
) -> list[tuple[int, str]]:
    """Walk the model's items best first (personal score, then popularity) and keep those the live catalog
    allows (active, in stock, in the category), that were not bought, within the diversity cap. Only the
    walked items are looked up, a chunk at a time, so the cost does not grow with the catalog."""
    popularity = model.popularity.astype(np.float64)
    if scores is not None and scores.max(initial=0) > 0:  # personal score first, popularity breaks ties
        order = np.lexsort((-popularity, -np.asarray(scores, dtype=np.float64)))
    else:
        order = np.argsort(-popularity, kind="stable")
    chosen: list[tuple[int, str]] = []
    per_category: dict[str | None, int] = {}
    for start in range(0, len(order), CHUNK):
        codes = order[start : start + CHUNK]
        ids = [str(model.item_ids[code]) for code in codes]
        allowed = _catalog(session, workspace_id, request, only=ids)
        for code, pid in zip(codes.tolist(), ids, strict=True):
            if pid not in allowed or pid in bought:
                continue
            title, category = allowed[pid]
            if request.max_per_category is not None:
                if per_category.get(category, 0) >= request.max_per_category:
                    continue
                per_category[category] = per_category.get(category, 0) + 1
            chosen.append((code, title))
            if len(chosen) == request.n:
                return chosen
    return chosen


def _strongest(
    model: ItemModel,
    codes: list[int],
    weights: dict[int, float],
    history: list[tuple[str, str, datetime]],
    index: dict[str, int],
) -> dict[int, tuple[str, str]]:
    """For each chosen item, the history entry that lifted it most (the reason's subject): one sparse slice
    (history items x chosen items) and an argmax per column."""
    if not weights or not codes:
        return {}
    sources = list(weights)
    lifts = model.weights[sources][:, codes].toarray() * np.fromiter(weights.values(), dtype=np.float64)[:, None]
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


PRODUCT_LISTS = {"bought-together": "together", "similar": "similar"}


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
    """Products to show beside `product_id`: bought with it (lift over baskets) or liked by the same people
    (the personal model's item-to-item weights). An unknown product is a 404; a known one the model has not
    seen yet gets an empty list, not an error."""
    _check(Request(identifier=product_id, n=n, slot=slot))
    title = session.execute(
        select(Product.title).where(Product.workspace_id == workspace_id, Product.id == product_id)
    ).scalar()
    if title is None:
        raise NotFound("No product has this id in this workspace.")
    loaded = MODELS.active(session, workspace_id)
    items: list[dict[str, Any]] = []
    version = None
    if loaded is not None:
        version, model, index = loaded
        code = index.get(product_id)
        matrix = model.together if kind == "bought-together" else model.weights
        if code is not None and matrix is not None:
            row = matrix[code]
            ranked = row.indices[np.argsort(-row.data, kind="stable")]  # at most the row's kept links
            names = [str(model.item_ids[column]) for column in ranked]
            allowed = _catalog(session, workspace_id, Request(identifier=product_id, in_stock=in_stock), only=names)
            for column, candidate in zip(ranked.tolist(), names, strict=True):
                if candidate == product_id or candidate not in allowed:
                    continue
                items.append({"product_id": candidate, "title": allowed[candidate][0],
                              "score": round(float(matrix[code, column]), 6),
                              "reason": reasons.about(PRODUCT_LISTS[kind], title, language)})  # fmt: skip
                if len(items) == n:
                    break
    decision = "dec_" + uuid.uuid4().hex[:20]
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=None, slot=slot, policy=kind,
                         model_version=version, items=items, context={"product_id": product_id},
                         at=datetime.now(UTC).replace(tzinfo=None)))  # fmt: skip
    return {"decision_id": decision, "product_id": product_id, "kind": kind, "model_version": version,
            "items": items}  # fmt: skip
