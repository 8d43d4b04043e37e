"""Content blocks as a workspace keeps them, and `decide`: which variant this person sees in this slot now,
logged as a decision with the probability it had of being chosen (what experiments, bandits and
off-policy evaluation read). Fast enough to sit in a page render: one indexed read of the block (cached
for a few seconds), one of the person's segments, one decision written."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from afinidad.decide import experiment_service as experiments
from afinidad.decide.assignment import at_point, bucket
from afinidad.decide.bandits import LinUCB, ThompsonBernoulli
from afinidad.decide.blocks import CONTEXT_FEATURES, check_block, context_features, eligible
from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound
from afinidad.profiles.service import find_profile_id
from afinidad.recommend import context as contexts
from afinidad.store.models import ContentBlock, Decision, Event, Segment, SegmentMember

CACHE_SECONDS = 5.0  # a changed block reaches every server within this


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def describe(row: ContentBlock) -> dict[str, Any]:
    return {"id": row.id, "slot": row.slot, "description": row.description, "policy": row.policy,
            "experiment": row.experiment, "variants": row.variants, "active": row.active,
            "updated_at": row.updated_at.isoformat(timespec="seconds") + "Z"}  # fmt: skip


def _linked(session: Session, workspace_id: str, key: str, variants: list[dict[str, Any]]) -> None:
    """A block run by an experiment needs the experiment, and a block variant for each of its variants."""
    try:
        found = experiments.get_row(session, workspace_id, key)
    except NotFound as error:
        raise InvalidInput("Unknown experiment; nothing was changed.",
                           [FieldProblem("experiment", f"no experiment {key!r} here")]) from error  # fmt: skip
    missing = sorted({v["id"] for v in found.definition["variants"]} - {v["id"] for v in variants})
    if missing:
        raise InvalidInput("The block lacks some of the experiment's variants; nothing was changed.",
                           [FieldProblem("variants", f"no block variant for {', '.join(missing)}")])  # fmt: skip


def save_block(session: Session, workspace_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Create the block of a slot, or replace its definition (variants keep their ids' history)."""
    block = check_block(raw)
    row = session.execute(select(ContentBlock).where(ContentBlock.workspace_id == workspace_id,
                                                     ContentBlock.slot == block.slot)).scalar()  # fmt: skip
    now = _now()
    variants = [variant.model_dump(exclude_none=True) for variant in block.variants]
    if block.experiment is not None:
        _linked(session, workspace_id, block.experiment, variants)
    if row is None:
        row = ContentBlock(id="blk_" + uuid.uuid4().hex[:20], workspace_id=workspace_id, slot=block.slot,
                           description=block.description, policy=block.policy, variants=variants, active=True,
                           experiment=block.experiment, created_at=now, updated_at=now)  # fmt: skip
        session.add(row)
        try:
            session.flush()
        except IntegrityError as error:  # another request created it meanwhile
            raise Conflict(f"The slot {block.slot!r} was created at the same time; send it again.") from error
    else:
        row.description, row.policy, row.variants, row.updated_at = block.description, block.policy, variants, now
        row.experiment = block.experiment
    BLOCKS.forget(workspace_id, block.slot)
    return describe(row)


def get_block(session: Session, workspace_id: str, slot: str) -> ContentBlock:
    row = session.execute(select(ContentBlock).where(ContentBlock.workspace_id == workspace_id,
                                                     ContentBlock.slot == slot)).scalar()  # fmt: skip
    if row is None:
        raise NotFound("No content block has this slot in this workspace.")
    return row


def list_blocks(session: Session, workspace_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(ContentBlock).where(ContentBlock.workspace_id == workspace_id)
                           .order_by(ContentBlock.slot)).scalars()  # fmt: skip
    return [describe(row) for row in rows]


class _Blocks:
    """Blocks by (workspace, slot), kept a few seconds: a page render should not wait on a read each time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def get(self, session: Session, workspace_id: str, slot: str) -> dict[str, Any]:
        key = (workspace_id, slot)
        found = self._cached.get(key)
        if found and time.monotonic() - found[0] < CACHE_SECONDS:
            return found[1]
        block = describe(get_block(session, workspace_id, slot))
        with self._lock:
            self._cached[key] = (time.monotonic(), block)
        return block

    def forget(self, workspace_id: str, slot: str) -> None:
        with self._lock:
            self._cached.pop((workspace_id, slot), None)


BLOCKS = _Blocks()


def _segments_of(session: Session, workspace_id: str, profile_id: str) -> set[str]:
    rows = session.execute(select(Segment.name, Segment.id).join(SegmentMember, SegmentMember.segment_id == Segment.id)
                           .where(SegmentMember.workspace_id == workspace_id,
                                  SegmentMember.profile_id == profile_id))  # fmt: skip
    return {key for name, segment_id in rows for key in (name, segment_id)}


def _by_weight(variants: list[dict[str, Any]], point: float) -> tuple[dict[str, Any], float]:
    """The variant at `point` along the variants' weights (renormalised over those eligible; targeted
    variants without weights share equally), and the probability a random unit had of getting it."""
    index, share = at_point([float(v.get("weight", 0)) for v in variants], point)
    return variants[index], share


BANDIT_OUTCOMES = ("Promotion Clicked", "Order Completed")  # a decision rewarded: clicked, or bought after
BANDIT_WINDOW = timedelta(days=7)
BANDIT_REFRESH_SECONDS = 10.0


@dataclass(frozen=True)
class Outcome:
    """One logged decision of a block and whether an outcome event carrying its id rewarded it."""

    decision_id: str
    variant: str
    propensity: float
    eligible: tuple[str, ...]
    context: dict[str, Any]
    rewarded: bool


def logged_outcomes(session: Session, workspace_id: str, slot: str, since: datetime, policy: str | None = None
                    ) -> list[Outcome]:  # fmt: skip
    """The block's decisions since `since` (of one policy, or all), each with its reward: a `Promotion
    Clicked` or `Order Completed` event that carries its `decision_id`."""
    mine = [Decision.workspace_id == workspace_id, Decision.slot == slot, Decision.at >= since]
    if policy is not None:
        mine.append(Decision.policy == policy)
    shown = {}
    for decision_id, items, context in session.execute(select(Decision.id, Decision.items, Decision.context)
                                                       .where(*mine)):  # fmt: skip
        if items and items[0].get("variant") is not None:
            shown[decision_id] = (items[0], context or {})
    rewarded = set()
    outcomes = (Event.workspace_id == workspace_id, Event.event.in_(BANDIT_OUTCOMES), Event.timestamp >= since)
    for (properties,) in session.execute(select(Event.properties).where(*outcomes)):
        decision_id = (properties or {}).get("decision_id")
        if isinstance(decision_id, str) and decision_id in shown:
            rewarded.add(decision_id)
    return [Outcome(decision_id, item["variant"], float(item.get("propensity") or 0.0),
                    tuple(item.get("eligible") or ()), context, decision_id in rewarded)
            for decision_id, (item, context) in shown.items()]  # fmt: skip


class _Rewards:
    """Per bandit block, what each of its decisions in the window showed, in what context, and whether an
    outcome event carrying its `decision_id` rewarded it; recomputed at most every `BANDIT_REFRESH_SECONDS`,
    so the policy learns within seconds without a read per request. Thompson sampling reads the counts per
    variant; the contextual policy a LinUCB fitted on the rows, kept with them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[tuple[Any, ...], tuple[float, dict[str, tuple[int, int]], Any]] = {}

    def get(self, session: Session, workspace_id: str, slot: str, policy: str = "bandit",
            arms: tuple[str, ...] = ()) -> tuple[dict[str, tuple[int, int]], Any]:  # fmt: skip
        """Counts (shown, rewarded) per variant, and for the contextual policy its LinUCB over `arms`."""
        key = (workspace_id, slot, policy, arms)  # a block whose policy or variants changed starts afresh
        found = self._cached.get(key)
        if found and time.monotonic() - found[0] < BANDIT_REFRESH_SECONDS:
            return found[1], found[2]
        log = [
            (row.variant, row.rewarded, row.context)
            for row in logged_outcomes(session, workspace_id, slot, _now() - BANDIT_WINDOW, policy)
        ]
        counts: dict[str, tuple[int, int]] = {}
        for variant, won, _ in log:
            seen, wins = counts.get(variant, (0, 0))
            counts[variant] = (seen + 1, wins + won)
        model = None
        if policy == "contextual":
            model = LinUCB(n_arms=len(arms), n_features=CONTEXT_FEATURES, alpha=1.0, floor=min(0.01, 1 / len(arms)))
            known = [(arms.index(v), won, c) for v, won, c in log if v in arms]
            if known:
                X = np.array([context_features(c.get("given", {}), c.get("segments", [])) for _, _, c in known])
                model.fit(X, [arm for arm, _, _ in known], [float(won) for _, won, _ in known])
        with self._lock:
            self._cached[key] = (time.monotonic(), counts, model)
        return counts, model

    def forget(self) -> None:
        with self._lock:
            self._cached.clear()


REWARDS = _Rewards()


def _bandit(options: list[dict[str, Any]], counts: dict[str, tuple[int, int]], rng: random.Random | None
            ) -> tuple[dict[str, Any], float]:  # fmt: skip
    """Thompson sampling over the eligible variants, with a 1% floor each: the propensity logged is the
    exact probability the variant had (see `bandits.ThompsonBernoulli`)."""
    shown = [counts.get(v["id"], (0, 0)) for v in options]
    policy = ThompsonBernoulli.from_dict({"policy": "thompson_bernoulli", "n_arms": len(options),
                                          "floor": min(0.01, 1 / len(options)), "prior_alpha": 1.0,
                                          "prior_beta": 1.0, "successes": [won for _, won in shown],
                                          "failures": [n - won for n, won in shown]})  # fmt: skip
    seed = (rng or random).getrandbits(32)
    arm, propensity = policy.choose(np.random.default_rng(seed))
    return options[arm], propensity


def _contextual(options: list[dict[str, Any]], arms: tuple[str, ...], model: LinUCB, given: dict[str, str],
                segments: set[str], rng: random.Random | None) -> tuple[dict[str, Any], float]:  # fmt: skip
    """LinUCB over the request's context and the person's segments, restricted to the eligible variants:
    the propensity logged is LinUCB's (with its floor) renormalised over them, exactly the chance the
    variant had."""
    x = context_features(given, sorted(s for s in segments if not s.startswith("seg_")))
    index, share = at_point(model.propensities(x)[[arms.index(v["id"]) for v in options]].tolist(),
                            (rng or random).random())  # fmt: skip
    return options[index], share


def _by_experiment(session: Session, workspace_id: str, block: dict[str, Any], identifier: str | None,
                   raw_context: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """A block run by an experiment: the experiment assigns (sticky, targeted, its traffic) and logs the
    exposure; the block supplies the content. Without someone to be sticky for, the control is shown and
    nothing is logged."""
    if identifier:
        answer = experiments.assign(session, workspace_id, block["experiment"], identifier, raw_context)
    else:
        _, definition = experiments.EXPERIMENTS.get(session, workspace_id, block["experiment"])
        answer = {"variant": definition.control, "decision_id": None, "propensity": None, "profile_id": None}
    chosen = next((v for v in block["variants"] if v["id"] == answer["variant"]), None)
    return {"decision_id": answer["decision_id"], "slot": block["slot"], "policy": "experiment",
            "experiment": block["experiment"], "profile_id": answer["profile_id"],
            "variant": answer["variant"], "content": chosen["content"] if chosen else None,
            "propensity": answer["propensity"]}  # fmt: skip


def decide(session: Session, workspace_id: str, slot: str, identifier: str | None, raw_context: dict[str, Any],
           rng: random.Random | None = None) -> dict[str, Any]:  # fmt: skip
    """The variant to show and its `decision_id`; the decision is added to `session` (the caller commits)."""
    given = contexts.of_request(raw_context)
    block = BLOCKS.get(session, workspace_id, slot)
    profile_id = None
    if identifier:
        try:
            profile_id = find_profile_id(session, workspace_id, identifier)
        except NotFound:
            profile_id = None  # someone new: untargeted variants, a unit of their own
    segments = _segments_of(session, workspace_id, profile_id) if profile_id else set()
    options = eligible(block["variants"], given, segments) if block["active"] else []
    if block["experiment"] and block["active"]:
        return _by_experiment(session, workspace_id, block, identifier, raw_context)
    decision = "dec_" + uuid.uuid4().hex[:20]
    chosen, propensity = None, None
    if options:
        if block["policy"] == "bandit":
            chosen, propensity = _bandit(options, REWARDS.get(session, workspace_id, slot)[0], rng)
        elif block["policy"] == "contextual":
            arms = tuple(v["id"] for v in block["variants"])
            model = REWARDS.get(session, workspace_id, slot, "contextual", arms)[1]
            chosen, propensity = _contextual(options, arms, model, given, segments, rng)
        elif block["policy"] == "experiment" and (profile_id or identifier):
            chosen, propensity = _by_weight(options, bucket(block["id"], profile_id or str(identifier)))
        else:
            chosen, propensity = _by_weight(options, (rng or random).random())
    items = [{"variant": chosen["id"], "propensity": round(propensity, 6),
              "eligible": [v["id"] for v in options]}] if chosen else []  # fmt: skip
    session.add(Decision(id=decision, workspace_id=workspace_id, profile_id=profile_id, slot=slot,
                         policy=block["policy"], model_version=block["id"], items=items,
                         context={"given": given, "segments": sorted(s for s in segments if not s.startswith("seg_"))},
                         at=_now()))  # fmt: skip
    return {"decision_id": decision, "slot": slot, "policy": block["policy"], "profile_id": profile_id,
            "variant": chosen["id"] if chosen else None, "content": chosen["content"] if chosen else None,
            "propensity": round(propensity, 6) if propensity is not None else None}  # fmt: skip
