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


def _catalog(session: Session, workspace_id: str, request: Request) -> dict[str, tuple[str, str | None]]:
    """The products that may be shown: id -> (title, category), active (indexed), in stock if asked."""
    clauses = ["workspace_id = :ws"]
    params: dict[str, Any] = {"ws": workspace_id}
    if request.in_stock:
        clauses.append("in_stock")
    if request.category:
        clauses.append("(category = :category OR category LIKE :under)")
        params["category"], params["under"] = request.category, request.category + " > %"
    rows = session.execute(
        text(f"SELECT product_id, title, category FROM product_search WHERE {' AND '.join(clauses)}"), params
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
    allowed = _catalog(session, workspace_id, request)
    loaded = MODELS.active(session, workspace_id)
    personal = profile_id is not None and may_use(session, workspace_id, profile_id, "personalization")
    history = _history(session, workspace_id, profile_id) if personal and profile_id else []
    bought = {product for product, action, _ in history if action == "bought"} if request.exclude_bought else set()
    bought -= _repeat_purchase(session, workspace_id, bought)
    candidates = [pid for pid in allowed if pid not in bought]
    items: list[dict[str, Any]] = []
    policy = "popular"
    if loaded is not None:
        version, model, index = loaded
        scores, why = _personal_scores(model, index, history) if history else (None, None)
        if scores is not None:
            policy = "personal"
        base = model.popularity.astype(np.float64)
        ranked = []
        for pid in candidates:
            code = index.get(pid)
            personal_score = scores[code] if scores is not None and code is not None else 0.0
            ranked.append((personal_score, base[code] if code is not None else 0.0, pid))
        ranked.sort(key=lambda entry: (-entry[0], -entry[1], entry[2]))
        titles = {pid: allowed.get(pid, (pid, None))[0] for pid, _, _ in history}
        titles.update(_titles(session, workspace_id, [p for p, _, _ in history if p not in allowed]))
        for personal_score, _, pid in _diverse(ranked, allowed, request):
            if personal_score > 0 and why is not None:
                source, action = why[index[pid]]
                reason = reasons.because(action, titles.get(source, source), tag)
            else:
                reason = reasons.popular(tag)
            items.append({"product_id": pid, "title": allowed[pid][0], "score": round(float(personal_score or 0), 6),
                          "reason": reason})  # fmt: skip
    else:
        version = None
        for pid in sorted(candidates)[: request.n]:
            items.append({"product_id": pid, "title": allowed[pid][0], "score": 0.0, "reason": reasons.popular(tag)})
    decision = "dec_" + uuid.uuid4().hex[:20]
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=profile_id, slot=request.slot,
                         policy=policy, model_version=version, items=items, context=context or {},
                         at=datetime.now(UTC).replace(tzinfo=None)))  # fmt: skip
    return {"decision_id": decision, "profile_id": profile_id, "slot": request.slot, "policy": policy,
            "model_version": version, "items": items,
            "personalized": policy == "personal"}  # fmt: skip


def _diverse(
    ranked: list[tuple[float, float, str]], allowed: dict[str, tuple[str, str | None]], request: Request
) -> list[tuple[float, float, str]]:
    """The first `n` of the ranking, at most `max_per_category` from any one category."""
    if request.max_per_category is None:
        return ranked[: request.n]
    taken: dict[str | None, int] = {}
    chosen = []
    for entry in ranked:
        category = allowed[entry[2]][1]
        if taken.get(category, 0) >= request.max_per_category:
            continue
        taken[category] = taken.get(category, 0) + 1
        chosen.append(entry)
        if len(chosen) == request.n:
            break
    return chosen


def _repeat_purchase(session: Session, workspace_id: str, product_ids: set[str]) -> set[str]:
    """Of these products, those people buy again and again (`attributes.repeat_purchase` is true)."""
    if not product_ids:
        return set()
    rows = session.execute(
        select(Product.id, Product.attributes).where(Product.workspace_id == workspace_id,
                                                     Product.id.in_(sorted(product_ids)))
    )  # fmt: skip
    return {pid for pid, attributes in rows if (attributes or {}).get("repeat_purchase") is True}


def _personal_scores(
    model: ItemModel, index: dict[str, int], history: list[tuple[str, str, datetime]]
) -> tuple[np.ndarray | None, dict[int, tuple[str, str]] | None]:
    """Scores over the model's items from the person's history (recent events weigh double), and for each
    item the history entry that lifted it most (its reason)."""
    if not history:
        return None, None
    newest = history[0][2]
    weight: dict[int, float] = {}
    action_of: dict[int, tuple[str, str]] = {}
    for product, action, at in history:
        code = index.get(product)
        if code is None:
            continue
        weight[code] = max(weight.get(code, 0.0), 2.0 if newest - at <= SESSION else 1.0)
        action_of.setdefault(code, (product, action))
    if not weight:
        return None, None
    codes = np.fromiter(weight, dtype=np.int64)
    values = np.fromiter(weight.values(), dtype=np.float64)
    contributions = model.weights[codes].multiply(values[:, None]).tocsc()  # rows: history items
    scores = np.asarray(contributions.sum(axis=0)).ravel()
    why: dict[int, tuple[str, str]] = {}
    for column in np.flatnonzero(scores > 0):
        start, end = contributions.indptr[column], contributions.indptr[column + 1]
        strongest = contributions.indices[start:end][np.argmax(contributions.data[start:end])]
        why[int(column)] = action_of[int(codes[strongest])]
    return scores, why


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
    allowed = _catalog(session, workspace_id, Request(identifier=product_id, in_stock=in_stock))
    loaded = MODELS.active(session, workspace_id)
    items: list[dict[str, Any]] = []
    version = None
    if loaded is not None:
        version, model, index = loaded
        code = index.get(product_id)
        matrix = model.together if kind == "bought-together" else model.weights
        if code is not None and matrix is not None:
            row = matrix[code]
            for column in row.indices[np.argsort(-row.data, kind="stable")]:
                candidate = str(model.item_ids[column])
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
