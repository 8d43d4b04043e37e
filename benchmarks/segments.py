"""Rule segments benchmark: what building and rebuilding segments costs over 100,000 profiles, beside a
hand-written SQL query for the same members, and how fast following new events moves people in.

    .venv/bin/python benchmarks/segments.py [--database sqlite|postgres|both] [--quick] [--profiles N] [--events N]

In one run, per database, on a fresh migrated database and one workspace:

1) The workload, seeded. 100,000 profiles (`--profiles`) with traits (email, a country from a skewed list,
   a plan, an age), about 2% of them merged into others (`profiles.merged_into`, their events still
   attributed to them, as ingestion leaves them); about 400,000 events (`--events`) over 400 days: Product
   Viewed (with `properties.category`) and Order Completed (with `properties.revenue`), spread by a
   heavy-tailed activity per person; a stored `churn` score for every profile (`profile_scores`); e-mail
   consent granted by about 40% of profiles, a tenth of whom withdrew it later (`consent_changes`, some on
   merged-away profiles, which count for the profile they were merged into). These rows are inserted in
   bulk with SQLAlchemy Core straight into the tables: this BYPASSES INGESTION, which has its own benchmark
   (`benchmarks/ingest.py`). Revenues are whole quarters of a euro, exact in binary floating point, so a
   sum compares the same whatever order it is added in. The tables are then analysed, as autovacuum would
   have done on a server where it is on.
2) `service.create_segment` (which builds the segment at once) for six rules, each timed, with its size:
   (a) a trait rule, (b) an event window count, (c) a count of events filtered on a property, (d) a sum of a
   property, (e) consent and a stored score, (f) a rule reading segment (b). Then `service.rebuild` of all
   six together (time per segment, and the process's peak memory: VmHWM, reset just before), and one more
   rebuild of all six under cProfile with every SQL statement timed, to show where the time goes.
3) The baseline, in the same run: for (b), (c) and (d), one SQL query, `GROUP BY COALESCE(merged_into,
   profile_id) HAVING ...`, that finds the same members (merged profiles' events joined to the profile they
   were merged into). Ours is the rebuild of that one segment alone (the median of 3, nothing changing);
   the ratio is printed, and the member sets must be equal.
4) Following: 100 new Order Completed events for 100 random profiles (merged-away ones included) are
   inserted in bulk (their `seq` past the follower's cursor), then one `service.follow(store)` step is timed;
   5 times, the median shown, with a step that finds no new event as its floor. After each step, the people
   concerned must be members of (b), (d) and (f) exactly as the SQL baseline and the generated traits and
   scores say, nobody else may have moved, and (a), (c) and (e), which read no order, must not move at all.

Figures go to the terminal and to `benchmarks/results/segments.json` (`segments-quick.json` with --quick:
10,000 profiles, 40,000 events); the profile of the rebuild to `benchmarks/results/segments-<database>.prof`
(`-quick.prof`).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
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
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.segments import service
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import ConsentChange, Event, Profile, ProfileScore, SegmentMember
from benchmarks.catalog import reset_peak_memory
from benchmarks.common import (
    MIB,
    RESULTS,
    Database,
    DatabaseUnavailable,
    announce_run,
    code_state,
    database_settings,
    fresh_database,
    new_workspace,
    progress_bar,
    write_figures,
)
from benchmarks.recommend import StatementTimes

SEED = 20_250_707
HISTORY_DAYS = 400
ROWS_PER_INSERT = 5_000  # rows per executemany, one transaction each
MERGED_SHARE = 0.02
EMAIL_GRANTED_SHARE = 0.40
EMAIL_WITHDRAWN_SHARE = 0.10  # of those who granted it
SINGLE_REBUILDS = 3
COUNTRIES = (("ES", 30), ("FR", 14), ("DE", 12), ("IT", 10), ("GB", 8), ("PT", 6), ("MX", 6), ("US", 5), ("NL", 4),
             ("BE", 3), ("IE", 2))  # fmt: skip
PLANS = (("free", 45), ("bronze", 25), ("silver", 20), ("gold", 10))
CATEGORIES = (("Shoes", 18), ("Dresses", 15), ("Shirts", 14), ("Trousers", 12), ("Bags", 10), ("Accessories", 10),
              ("Jackets", 9), ("Sportswear", 7), ("Beauty", 5))  # fmt: skip
VIEWED, ORDERED = "Product Viewed", "Order Completed"


@dataclass(frozen=True)
class RuleCase:
    key: str  # (a) .. (f)
    name: str  # the segment's name
    text: str
    what: str


RULES = (
    RuleCase("a", "es-gold-silver", 'trait.country = "ES" and trait.plan in ["gold", "silver"]', "traits"),
    RuleCase("b", "repeat-buyers-90d", 'count("Order Completed" in 90d) >= 2', "event count in a window"),
    RuleCase("c", "shoe-browsers-30d", 'count("Product Viewed" where category = "Shoes" in 30d) >= 3',
             "filtered event count"),
    RuleCase("d", "spent-200-365d", 'sum("Order Completed".revenue in 365d) > 200', "sum of a property"),
    RuleCase("e", "mailable-churn-risk", "consent.email and score.churn > 0.7", "consent and a stored score"),
    RuleCase("f", "repeat-buyers-safe", 'segment "repeat-buyers-90d" and trait.age >= 30 and not score.churn > 0.7',
             "reads segment (b)"),
)  # fmt: skip
BY_KEY = {case.key: case for case in RULES}
FOLLOWED = ("b", "d", "f")  # the segments a new order can move someone into
UNMOVED = ("a", "c", "e")  # those an order cannot change


@dataclass(frozen=True)
class Plan:
    quick: bool
    profiles: int
    events: int
    follow_events: int
    follow_steps: int
    seed: int

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Plan:
        quick = arguments.quick
        return cls(
            quick=quick,
            profiles=arguments.profiles or (10_000 if quick else 100_000),
            events=arguments.events or (40_000 if quick else 400_000),
            follow_events=arguments.follow_events,
            follow_steps=arguments.follow_steps,
            seed=arguments.seed,
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    return rng.choices([name for name, _ in choices], weights=[weight for _, weight in choices])[0]


def _revenue(rng: random.Random) -> float:
    """An order's revenue, log-normal around 55 EUR, in whole quarters (exact in binary floating point)."""
    return max(5.0, round(rng.lognormvariate(math.log(55), 0.7) * 4) / 4)


# -- 1. the workload ----------------------------------------------------------------------------------------


class Population:
    """The seeded profiles and the plan of their events; what the checks need is kept (traits, scores, who
    was merged into whom, e-mail consent), the events themselves are made chunk by chunk as they are stored.

    Activity is heavy-tailed (log-normal weights), each person orders a share of their events of their own,
    and half of their views are in a favourite category, so window counts have people above the thresholds."""

    def __init__(self, plan: Plan, anchor: datetime) -> None:
        self.plan = plan
        self.anchor = anchor  # "now" when the data was made; events lie before it
        rng = random.Random(plan.seed)
        count = plan.profiles
        self.ids = [f"prof_{rng.getrandbits(96):024x}" for _ in range(count)]
        self.traits = [{"email": f"person{index:06d}@example.com", "country": _weighted(rng, COUNTRIES),
                        "plan": _weighted(rng, PLANS), "age": rng.randint(18, 80)}
                       for index in range(count)]  # fmt: skip
        self.churn = [round(rng.betavariate(2, 3), 4) for _ in range(count)]
        self.owner = list(range(count))  # index of the profile each one now belongs to
        merged_away = set(rng.sample(range(count), round(count * MERGED_SHARE)))
        for index in sorted(merged_away):
            while (survivor := rng.randrange(count)) in merged_away:
                pass
            self.owner[index] = survivor
        self.index_of = {pid: index for index, pid in enumerate(self.ids)}
        self.created_ago = [rng.uniform(HISTORY_DAYS * 86_400 * 0.5, HISTORY_DAYS * 86_400 * 1.2) for _ in range(count)]
        # The events' plan: whose, which, how long ago (the details are drawn when they are stored).
        activity = [rng.lognormvariate(0, 1.1) for _ in range(count)]
        self.order_share = [min(0.6, rng.betavariate(1.5, 8)) for _ in range(count)]
        self.favourite = [_weighted(rng, CATEGORIES) for _ in range(count)]
        cumulative, total = [], 0.0
        for weight in activity:
            total += weight
            cumulative.append(total)
        self.event_owner = array("i", rng.choices(range(count), cum_weights=cumulative, k=plan.events))
        self.event_is_order = bytearray(rng.random() < self.order_share[i] for i in self.event_owner)
        self.event_seconds_ago = array("d", (rng.uniform(60, HISTORY_DAYS * 86_400) for _ in range(plan.events)))
        self.email_allowed = self._consent_plan(rng)

    @property
    def survivors(self) -> list[int]:
        return [index for index, owner in enumerate(self.owner) if owner == index]

    @property
    def merged_away(self) -> int:
        return sum(owner != index for index, owner in enumerate(self.owner))

    def _consent_plan(self, rng: random.Random) -> dict[int, bool]:
        """Each profile's e-mail choices (seconds ago, granted), and, per surviving profile, whether the latest
        choice over it and the profiles merged into it allows e-mail (no choice: the default, not allowed)."""
        self.consent_choices: list[list[tuple[float, bool]]] = [[] for _ in self.ids]
        for index in range(len(self.ids)):
            if rng.random() >= EMAIL_GRANTED_SHARE:
                continue
            granted_ago = rng.uniform(2 * 86_400, HISTORY_DAYS * 86_400)
            self.consent_choices[index].append((granted_ago, True))
            if rng.random() < EMAIL_WITHDRAWN_SHARE:
                self.consent_choices[index].append((rng.uniform(60, granted_ago - 86_400), False))
        latest: dict[int, tuple[float, bool]] = {}
        for index, choices in enumerate(self.consent_choices):
            survivor = self.owner[index]
            for ago, granted in choices:
                if survivor not in latest or ago < latest[survivor][0]:
                    latest[survivor] = (ago, granted)
        return {survivor: latest.get(survivor, (0.0, False))[1] for survivor in self.survivors}

    def _at(self, seconds_ago: float) -> datetime:
        return (self.anchor - timedelta(seconds=seconds_ago)).replace(microsecond=0)

    def profile_rows(self, workspace_id: str) -> Iterator[dict[str, Any]]:
        counts: list[Counter[str]] = [Counter() for _ in self.ids]
        first = list(self.created_ago)
        last = [ago - 60 for ago in self.created_ago]
        for owner, is_order, ago in zip(self.event_owner, self.event_is_order, self.event_seconds_ago, strict=True):
            counts[self.owner[owner]][ORDERED if is_order else VIEWED] += 1  # a merge adds the counts up
            for index in {owner, self.owner[owner]}:
                first[index], last[index] = max(first[index], ago), min(last[index], ago)
        for index, pid in enumerate(self.ids):
            merged = self.owner[index] != index
            yield {"id": pid, "workspace_id": workspace_id, "merged_into": self.ids[self.owner[index]] if merged
                   else None, "shared": False, "traits": self.traits[index],
                   "event_counts": {} if merged else dict(counts[index]), "first_seen": self._at(first[index]),
                   "last_seen": self._at(max(0.0, last[index])), "created_at": self._at(first[index])}  # fmt: skip

    def event_rows(self, workspace_id: str, run_id: str) -> Iterator[dict[str, Any]]:
        rng = random.Random(self.plan.seed + 1)
        for serial, (owner, is_order, ago) in enumerate(
            zip(self.event_owner, self.event_is_order, self.event_seconds_ago, strict=True)
        ):
            if is_order:
                properties: dict[str, Any] = {"order_id": f"ord-{serial:07d}", "revenue": _revenue(rng),
                                              "currency": "EUR"}  # fmt: skip
            else:
                category = self.favourite[owner] if rng.random() < 0.5 else _weighted(rng, CATEGORIES)
                properties = {"product_id": f"sku-{rng.randrange(20_000):05d}", "category": category,
                              "price": round(rng.uniform(5, 200), 2)}  # fmt: skip
            yield self._event(workspace_id, f"seg-{run_id}-{serial:07d}", owner, ORDERED if is_order else VIEWED,
                              properties, self._at(ago))  # fmt: skip

    def new_orders(self, workspace_id: str, run_id: str, step: int, people: Sequence[int], at: datetime,
                   rng: random.Random) -> list[dict[str, Any]]:  # fmt: skip
        return [self._event(workspace_id, f"seg-{run_id}-follow-{step}-{number}", index, ORDERED,
                            {"order_id": f"ord-follow-{step}-{number}", "revenue": _revenue(rng), "currency": "EUR"},
                            at) for number, index in enumerate(people)]  # fmt: skip

    def _event(self, workspace_id: str, message_id: str, index: int, name: str, properties: dict[str, Any],
               at: datetime) -> dict[str, Any]:  # fmt: skip
        return {"workspace_id": workspace_id, "message_id": message_id, "type": "track", "event": name,
                "user_id": f"user-{index:06d}", "anonymous_id": None, "group_id": None, "previous_id": None,
                "profile_id": self.ids[index], "timestamp": at, "original_timestamp": at, "sent_at": at,
                "received_at": at, "context": {"library": {"name": "afinidad-benchmark"}}, "properties": properties,
                "traits": {}, "extra": {}, "enrichment": {}}  # fmt: skip

    def score_rows(self, workspace_id: str) -> Iterator[dict[str, Any]]:
        for index, pid in enumerate(self.ids):
            yield {"workspace_id": workspace_id, "profile_id": pid, "name": "churn", "value": self.churn[index],
                   "model_version": "benchmark", "scored_at": self.anchor, "updated_at": None}  # fmt: skip

    def consent_rows(self, workspace_id: str) -> Iterator[dict[str, Any]]:
        for index, choices in enumerate(self.consent_choices):
            for ago, granted in choices:
                at = self._at(ago)
                yield {"workspace_id": workspace_id, "profile_id": self.ids[index], "purpose": "email",
                       "granted": granted, "source": "benchmark", "text_version": None, "message_id": None, "at": at,
                       "recorded_at": at}  # fmt: skip

    # What the rules must find, from what was generated (for (a), (e) and (f); (b), (c), (d) come from SQL).

    def expected_trait_rule(self) -> set[str]:
        return {self.ids[i] for i in self.survivors
                if self.traits[i]["country"] == "ES" and self.traits[i]["plan"] in ("gold", "silver")}  # fmt: skip

    def expected_consent_score_rule(self) -> set[str]:
        return {self.ids[i] for i in self.survivors if self.email_allowed[i] and self.churn[i] > 0.7}

    def expected_combined_rule(self, repeat_buyers: set[str]) -> set[str]:
        chosen = [self.index_of[pid] for pid in repeat_buyers]
        return {self.ids[i] for i in chosen if self.traits[i]["age"] >= 30 and not self.churn[i] > 0.7}


def _chunks(rows: Iterator[dict[str, Any]], size: int = ROWS_PER_INSERT) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(store: Store, workspace_id: str, population: Population, run_id: str, label: str) -> dict[str, Any]:
    """Every table in chunks of ROWS_PER_INSERT rows, one Core executemany and one transaction per chunk."""
    plan = population.plan
    tables = (
        ("profiles", Profile, population.profile_rows(workspace_id), plan.profiles),
        ("events", Event, population.event_rows(workspace_id, run_id), plan.events),
        ("profile_scores", ProfileScore, population.score_rows(workspace_id), plan.profiles),
        ("consent_changes", ConsentChange, population.consent_rows(workspace_id),
         sum(map(len, population.consent_choices))),
    )  # fmt: skip
    figures: dict[str, Any] = {}
    with progress_bar() as progress:
        for name, model, rows, total in tables:
            task = progress.add_task(f"{label}: inserting {name}", total=total)
            started, stored = time.perf_counter(), 0
            for chunk in _chunks(rows):
                with store.engine.begin() as connection:
                    connection.execute(insert(model.__table__), chunk)
                stored += len(chunk)
                progress.advance(task, len(chunk))
            seconds = time.perf_counter() - started
            figures[name] = {"rows": stored, "seconds": round(seconds, 2), "rows_per_second": round(stored / seconds)}
    started = time.perf_counter()
    store.analyze(*(name for name, *_ in tables))
    figures["analyze_seconds"] = round(time.perf_counter() - started, 2)
    figures["merged_away_profiles"] = population.merged_away
    figures["events_by_name"] = {VIEWED: len(population.event_is_order) - sum(population.event_is_order),
                                 ORDERED: sum(population.event_is_order)}  # fmt: skip
    return figures


# -- 3. the baseline: one GROUP BY ... HAVING query per rule ------------------------------------------------


def baseline_query(workspace_id: str, key: str, now: datetime) -> Select:
    """The members of rule (b), (c) or (d) in one query: events joined to their profile, grouped by the profile
    they now belong to (the one they were merged into, else their own)."""
    owner = func.coalesce(Profile.merged_into, Event.profile_id).label("owner")
    days = {"b": 90, "c": 30, "d": 365}[key]
    query = (
        select(owner)
        .select_from(Event)
        .join(Profile, Profile.id == Event.profile_id)
        .where(Event.workspace_id == workspace_id, Profile.workspace_id == workspace_id,
               Event.event == (VIEWED if key == "c" else ORDERED), Event.timestamp >= now - timedelta(days=days),
               Event.timestamp <= now)
        .group_by(owner)
    )  # fmt: skip
    if key == "b":
        return query.having(func.count() >= 2)
    if key == "c":
        return query.where(Event.properties["category"].as_string() == "Shoes").having(func.count() >= 3)
    return query.having(func.sum(Event.properties["revenue"].as_float()) > 200)


def baseline_members(store: Store, workspace_id: str, key: str, now: datetime) -> tuple[set[str], float]:
    started = time.perf_counter()
    with store.reader() as session:
        found = set(session.execute(baseline_query(workspace_id, key, now)).scalars())
    return found, time.perf_counter() - started


def members_of(session: Session, workspace_id: str) -> dict[str, set[str]]:
    """Segment id -> its members, as stored."""
    found: dict[str, set[str]] = {}
    rows = session.execute(select(SegmentMember.segment_id, SegmentMember.profile_id)
                           .where(SegmentMember.workspace_id == workspace_id))  # fmt: skip
    for segment_id, profile_id in rows:
        found.setdefault(segment_id, set()).add(profile_id)
    return found


def _status_mib(field_name: str) -> float:
    found = re.search(rf"^{field_name}:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return round(int(found.group(1)) / 1024, 1) if found else 0.0


def _compare(ours: set[str], expected: set[str]) -> dict[str, Any]:
    return {"ours": len(ours), "expected": len(expected), "only_ours": len(ours - expected),
            "only_expected": len(expected - ours), "equal": ours == expected,
            "examples": sorted(ours ^ expected)[:3]}  # fmt: skip


# -- 2. building and rebuilding -----------------------------------------------------------------------------


def create_all(store: Store, workspace_id: str, label: str) -> dict[str, dict[str, Any]]:
    created: dict[str, dict[str, Any]] = {}
    with progress_bar() as progress:
        task = progress.add_task(f"{label}: create_segment", total=len(RULES))
        for case in RULES:
            progress.update(task, description=f"{label}: create_segment ({case.key}) {case.name}")
            started = time.perf_counter()
            described = service.create_segment(store, workspace_id, case.name, text=case.text)
            created[case.key] = {"id": described["id"], "seconds": round(time.perf_counter() - started, 3),
                                 "size": described["size"]}  # fmt: skip
            progress.advance(task)
    return created


def rebuild_all(store: Store, workspace_id: str, now: datetime, label: str) -> dict[str, Any]:
    """All six together, timed per segment (from `on_segment`), with the process's peak memory."""
    marks: list[tuple[str, float]] = []
    gc.collect()
    rss_before = _status_mib("VmRSS")
    reset_peak_memory()
    with progress_bar() as progress:
        task = progress.add_task(f"{label}: rebuild of all segments", total=len(RULES))

        def on_segment(name: str) -> None:
            if marks:
                progress.advance(task)
            marks.append((name, time.perf_counter()))

        started = time.perf_counter()
        rebuilt = service.rebuild(store, workspace_id, now=now, on_segment=on_segment)
        finished = time.perf_counter()
        progress.update(task, completed=len(RULES))
    peak = _status_mib("VmHWM")
    ends = [at for _, at in marks[1:]] + [finished]
    seconds = {name: end - at for (name, at), end in zip(marks, ends, strict=True)}
    return {
        "seconds": round(finished - started, 3),
        "rss_before_mib": rss_before,
        "peak_mib": peak,
        "added_mib": round(peak - rss_before, 1),
        "rss_after_mib": round(psutil.Process().memory_info().rss / MIB, 1),
        "segments": [
            {
                "name": row.name,
                "size": row.size,
                "entered": row.entered,
                "left": row.left,
                "seconds": round(seconds[row.name], 3),
            }
            for row in rebuilt
        ],  # fmt: skip
    }


def rebuild_alone(store: Store, workspace_id: str, segment_id: str, now: datetime) -> list[float]:
    times = []
    for _ in range(SINGLE_REBUILDS):
        started = time.perf_counter()
        service.rebuild(store, workspace_id, [segment_id], now=now)
        times.append(time.perf_counter() - started)
    return times


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    for marker in ("site-packages/", "afinidad/", "benchmarks/", "lib/python3"):
        if marker in filename:
            filename = filename[filename.index(marker) :]
            break
    return f"{name} ({filename}:{line})" if line else name


def profile_rebuild(store: Store, workspace_id: str, now: datetime, kind: str, quick: bool) -> dict[str, Any]:
    """One more rebuild of all segments under cProfile, each SQL statement timed: where the time goes."""
    path = RESULTS / f"segments-{kind}{'-quick' if quick else ''}.prof"
    profile = cProfile.Profile()
    with StatementTimes(store.engine) as statements:
        started = time.perf_counter()
        profile.enable()
        service.rebuild(store, workspace_id, now=now)
        profile.disable()
        seconds = time.perf_counter() - started
    profile.dump_stats(str(path))
    entries = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    own = sorted(entries.items(), key=lambda item: -item[1][2])[:15]
    ours = sorted(((key, value) for key, value in entries.items() if "/afinidad/" in key[0]),
                  key=lambda item: -item[1][3])[:15]  # fmt: skip
    return {
        "profiled_seconds": round(seconds, 3),
        "profile_file": str(path),
        "own_time": [
            {
                "function": _where(key),
                "seconds": round(value[2], 3),
                "share": round(value[2] / seconds, 3),
                "calls": value[1],
            }
            for key, value in own
        ],  # fmt: skip
        "afinidad_inclusive": [
            {"function": _where(key), "seconds": round(value[3], 3), "share": round(value[3] / seconds, 3)}
            for key, value in ours
        ],  # fmt: skip
        "statements_seconds": round(sum(statements.seconds.values()), 3),
        "statements": [
            {"statement": shape, "calls": statements.calls[shape], "seconds": round(spent, 3)}
            for shape, spent in statements.seconds.most_common(10)
        ],  # fmt: skip
    }


# -- 4. following new events --------------------------------------------------------------------------------


def follow_steps(store: Store, workspace_id: str, population: Population, created: dict[str, dict[str, Any]],
                 plan: Plan, run_id: str, label: str) -> dict[str, Any]:  # fmt: skip
    """Each step: a batch of new orders for random people, one timed `follow`, then the checks."""
    rng = random.Random(plan.seed + 3)
    ids = {key: created[key]["id"] for key in created}
    started = time.perf_counter()
    idle_read = service.follow(store)
    idle_seconds = time.perf_counter() - started
    steps = []
    with progress_bar() as progress:
        task = progress.add_task(f"{label}: following", total=plan.follow_steps)
        for step in range(plan.follow_steps):
            people = rng.sample(range(plan.profiles), plan.follow_events)
            owners = {population.ids[population.owner[index]] for index in people}
            with store.reader() as session:
                before = members_of(session, workspace_id)
            at = _now() - timedelta(seconds=1)
            with store.engine.begin() as connection:
                connection.execute(insert(Event.__table__),
                                   population.new_orders(workspace_id, run_id, step, people, at, rng))  # fmt: skip
            now = _now()
            started = time.perf_counter()
            read = service.follow(store, now=now)
            seconds = time.perf_counter() - started
            with store.reader() as session:
                after = members_of(session, workspace_id)
            expected = {key: baseline_members(store, workspace_id, key, now)[0] & owners for key in ("b", "d")}
            expected["f"] = population.expected_combined_rule(expected["b"])
            moved: dict[str, Any] = {}
            for case in RULES:
                was, now_in = before.get(ids[case.key], set()), after.get(ids[case.key], set())
                entered, left = now_in - was, was - now_in
                figures: dict[str, Any] = {"entered": len(entered), "left": len(left),
                                           "moved_outside_the_people": len((entered | left) - owners)}  # fmt: skip
                if case.key in FOLLOWED:
                    figures["expected_entered"] = len(expected[case.key] - was)
                    figures["right"] = (now_in & owners) == expected[case.key] and not (entered | left) - owners
                else:
                    figures["right"] = not entered and not left
                moved[case.key] = figures
            steps.append({"events": plan.follow_events, "events_read": read, "people": len(owners),
                          "seconds": round(seconds, 4), "ms_per_event": round(seconds * 1000 / max(1, read), 3),
                          "segments": moved, "right": all(figures["right"] for figures in moved.values())})  # fmt: skip
            progress.advance(task)
    times = [step["seconds"] for step in steps]
    return {
        "idle_step_seconds": round(idle_seconds, 4),
        "idle_step_events_read": idle_read,
        "steps": steps,
        "median_seconds": round(statistics.median(times), 4),
        "median_ms_per_event": round(statistics.median(times) * 1000 / plan.follow_events, 3),
        "max_seconds": round(max(times), 4),
        "entered": {key: sum(step["segments"][key]["entered"] for step in steps) for key in BY_KEY},
        "expected_entered": {
            key: sum(step["segments"][key]["expected_entered"] for step in steps) for key in FOLLOWED
        },  # fmt: skip
        "right": all(step["right"] for step in steps),
    }


# -- one database --------------------------------------------------------------------------------------------


def run_database(database: Database, plan: Plan, population: Population, run_id: str) -> dict[str, Any]:
    label = database.label
    settings = Settings(database_url=database.url)
    code_at_start = code_state()
    workspace = new_workspace(database.url, "segments-bench")
    # As `afinidad segments build` and the worker open it.
    store = Store.from_url(database.url, sqlite_synchronous=settings.sqlite_synchronous, sqlite_immediate=True)
    try:
        loaded = load(store, workspace.id, population, run_id, label)
        created = create_all(store, workspace.id, label)
        now = _now()
        rebuilt = rebuild_all(store, workspace.id, now, label)
        with store.reader() as session:
            stored = members_of(session, workspace.id)
        ours = {key: stored.get(created[key]["id"], set()) for key in BY_KEY}
        baselines: dict[str, Any] = {}
        for key in ("b", "c", "d"):
            found, times = set(), []
            for _ in range(SINGLE_REBUILDS):
                found, seconds = baseline_members(store, workspace.id, key, now)
                times.append(seconds)
            alone = rebuild_alone(store, workspace.id, created[key]["id"], now)
            baselines[key] = {
                "sql": str(baseline_query(workspace.id, key, now).compile(store.engine)),
                "baseline_seconds": round(statistics.median(times), 3),
                "rebuild_alone_seconds": round(statistics.median(alone), 3),
                "create_seconds": created[key]["seconds"],
                "ratio_rebuild": round(statistics.median(alone) / statistics.median(times), 2),
                "ratio_create": round(created[key]["seconds"] / statistics.median(times), 2),
                "members": _compare(ours[key], found),
            }
        checks = {
            "a": _compare(ours["a"], population.expected_trait_rule()),
            "e": _compare(ours["e"], population.expected_consent_score_rule()),
            "f": _compare(ours["f"], population.expected_combined_rule(ours["b"])),
        }
        hotspots = profile_rebuild(store, workspace.id, now, database.kind, plan.quick)
        following = follow_steps(store, workspace.id, population, created, plan, run_id, label)
    finally:
        store.dispose()
    code_at_end = code_state()
    return {
        "database": database.kind,
        "code": code_at_start,
        "code_changed_during_run": code_at_end["source_sha256"] != code_at_start["source_sha256"],
        "database_settings": database_settings(database.url),
        "sqlite_synchronous": settings.sqlite_synchronous if database.kind == "sqlite" else None,
        "load": loaded,
        "create": created,
        "rebuild_all": rebuilt,
        "baselines": baselines,
        "checks": checks,
        "profile": hotspots,
        "follow": following,
    }


# -- reporting ----------------------------------------------------------------------------------------------


def _flag(ok: bool) -> str:
    return "[green]as expected[/]" if ok else "[bold red]WRONG[/]"


def _seconds(value: float) -> str:
    return f"{value:,.2f} s" if value >= 1 else f"{value * 1000:,.0f} ms"


def database_table(result: dict[str, Any], plan: Plan) -> Table:
    loaded, created, rebuilt = result["load"], result["create"], result["rebuild_all"]
    table = Table(title=f"Rule segments on {DATABASE_NAMES[result['database']]}", title_justify="left",
                  caption="Rows inserted with SQLAlchemy Core straight into the tables: ingestion is bypassed "
                  "(it has its own benchmark).")  # fmt: skip
    for column, justify in (("Measure", "left"), ("Value", "right"), ("Baseline / expected", "right"),
                            ("", "center")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name in ("profiles", "events", "profile_scores", "consent_changes"):
        figures = loaded[name]
        table.add_row(f"Inserted {name}" + (f" ({loaded['merged_away_profiles']:,} merged into others)"
                                             if name == "profiles" else ""),
                      f"{figures['rows']:,} in {figures['seconds']:.1f} s", f"{figures['rows_per_second']:,}/s",
                      "")  # fmt: skip
    by_segment = {row["name"]: row for row in rebuilt["segments"]}
    for case in RULES:
        row = by_segment[case.name]
        table.add_row(f"({case.key}) {case.text}", f"{created[case.key]['size']:,} members",
                      f"create {_seconds(created[case.key]['seconds'])}; in the rebuild {_seconds(row['seconds'])}",
                      "")  # fmt: skip
    table.add_row(f"rebuild of all {len(RULES)} segments ({plan.profiles:,} profiles, {plan.events:,} events)",
                  f"[bold]{_seconds(rebuilt['seconds'])}[/]", f"peak {rebuilt['peak_mib']:,.0f} MiB (+"
                  f"{rebuilt['added_mib']:,.0f} over {rebuilt['rss_before_mib']:,.0f})", "")  # fmt: skip
    for key, figures in result["baselines"].items():
        members = figures["members"]
        table.add_row(f"({key}) rebuilt alone, median of {SINGLE_REBUILDS} / SQL GROUP BY ... HAVING",
                      f"{_seconds(figures['rebuild_alone_seconds'])} / {_seconds(figures['baseline_seconds'])}",
                      f"{figures['ratio_rebuild']}x the SQL (create: {figures['ratio_create']}x)", "")  # fmt: skip
        table.add_row(f"  ({key}) members equal the SQL's", f"{members['ours']:,}",
                      f"{members['expected']:,}" + (f" ({members['only_ours']} only ours, {members['only_expected']} "
                      "only the SQL's)" if not members["equal"] else ""), _flag(members["equal"]))  # fmt: skip
    for key, members in result["checks"].items():
        table.add_row(f"  ({key}) members equal what was generated", f"{members['ours']:,}",
                      f"{members['expected']:,}", _flag(members["equal"]))  # fmt: skip
    follow = result["follow"]
    table.add_row(f"follow: one step after {plan.follow_events} new orders, median of {plan.follow_steps}",
                  f"[bold]{_seconds(follow['median_seconds'])}[/]", f"{follow['median_ms_per_event']:.2f} ms/event; "
                  f"max {_seconds(follow['max_seconds'])}; no new event {_seconds(follow['idle_step_seconds'])}",
                  "")  # fmt: skip
    entered, expected = follow["entered"], follow["expected_entered"]
    table.add_row(
        "  follow moved the expected people in (b), (d), (f) and nobody else",
        " / ".join(f"{entered[key]}" for key in FOLLOWED),
        " / ".join(f"{expected[key]}" for key in FOLLOWED) + " expected entries",
        _flag(follow["right"]),
    )
    table.add_row("  (a), (c), (e) did not move", " / ".join(f"{entered[key]}" for key in UNMOVED), "0 / 0 / 0",
                  _flag(all(entered[key] == 0 for key in UNMOVED)))  # fmt: skip
    return table


def profile_tables(result: dict[str, Any]) -> list[Table]:
    profile = result["profile"]
    label = DATABASE_NAMES[result["database"]]
    statements = Table(title=f"{label}: SQL of one rebuild of all segments ({profile['statements_seconds']:.2f} s "
                       f"in execute, of {profile['profiled_seconds']:.2f} s profiled)", title_justify="left",
                       caption="Time in the driver's execute. Rows read with yield_per (and on SQLite every row after "
                       "the first) are fetched later, in the Python table.")  # fmt: skip
    for name, justify in (("seconds", "right"), ("calls", "right"), ("statement", "left")):
        statements.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in profile["statements"]:
        statements.add_row(f"{row['seconds']:.3f}", f"{row['calls']:,}", row["statement"])
    functions = Table(title=f"{label}: Python of one rebuild under cProfile", title_justify="left")
    for name in ("own s", "own %", "function, own time", "incl. s", "incl. %", "afinidad, inclusive"):
        functions.add_column(name, justify="left" if "function" in name or "afinidad" in name else "right")
    for index in range(max(len(profile["own_time"]), len(profile["afinidad_inclusive"]))):
        left = profile["own_time"][index] if index < len(profile["own_time"]) else None
        right = profile["afinidad_inclusive"][index] if index < len(profile["afinidad_inclusive"]) else None
        functions.add_row(f"{left['seconds']:.3f}" if left else "", f"{left['share']:.0%}" if left else "",
                          left["function"] if left else "", f"{right['seconds']:.3f}" if right else "",
                          f"{right['share']:.0%}" if right else "", right["function"] if right else "")  # fmt: skip
    return [statements, functions]


def summary_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Summary", title_justify="left")
    for heading in ("Database", "rebuild, all 6", "peak memory", "(b) / SQL", "(d) / SQL", "follow step, median",
                    "per event", "checks"):  # fmt: skip
        table.add_column(heading, justify="left" if heading == "Database" else "right")
    for kind, result in results.items():
        if "rebuild_all" not in result:
            table.add_row(DATABASE_NAMES[kind], "[yellow]skipped (see above)[/]", *[""] * 6)
            continue
        baselines, follow = result["baselines"], result["follow"]
        right = (all(figures["members"]["equal"] for figures in baselines.values())
                 and all(check["equal"] for check in result["checks"].values()) and follow["right"])  # fmt: skip
        table.add_row(DATABASE_NAMES[kind], _seconds(result["rebuild_all"]["seconds"]),
                      f"{result['rebuild_all']['peak_mib']:,.0f} MiB", f"{baselines['b']['ratio_rebuild']}x",
                      f"{baselines['d']['ratio_rebuild']}x", _seconds(follow["median_seconds"]),
                      f"{follow['median_ms_per_event']:.2f} ms", _flag(right))  # fmt: skip
    return table


DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# -- entry point --------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="10,000 profiles and 40,000 events")
    parser.add_argument("--profiles", type=int, default=None, help="profiles (default 100,000)")
    parser.add_argument("--events", type=int, default=None, help="events (default 400,000)")
    parser.add_argument("--follow-events", type=int, default=100, help="new orders per follow step (default 100)")
    parser.add_argument("--follow-steps", type=int, default=5, help="follow steps (default 5)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, default=None, help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    plan = Plan.from_arguments(arguments)
    output = arguments.output or RESULTS / ("segments-quick.json" if plan.quick else "segments.json")
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=170)
    run_id = uuid.uuid4().hex[:8]
    kinds = ("sqlite", "postgres") if arguments.database == "both" else (arguments.database,)
    RESULTS.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]Afinidad rule segments benchmark[/] run {run_id}: {plan.profiles:,} profiles, {plan.events:,} "
        f"events over {HISTORY_DAYS} days (seed {plan.seed}); follow: {plan.follow_steps} steps of "
        f"{plan.follow_events} new orders; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    console.print("[yellow]The data is inserted in bulk straight into the tables: this bypasses ingestion, which has "
                  "its own benchmark (benchmarks/ingest.py).[/]")  # fmt: skip
    code, load_before = announce_run(console)
    started = time.perf_counter()
    population = Population(plan, _now())
    console.print(f"Population made in {time.perf_counter() - started:.1f} s: {len(population.survivors):,} "
                  f"profiles after {population.merged_away:,} merges.")  # fmt: skip
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        started = time.perf_counter()
        try:
            with fresh_database(kind) as database:
                results[kind] = run_database(database, plan, population, run_id)
        except DatabaseUnavailable as reason:
            console.print(f"[yellow]Skipping PostgreSQL: {reason}[/]")
            results[kind] = {"database": kind, "skipped": str(reason)}
            continue
        results[kind]["wall_seconds"] = round(time.perf_counter() - started, 1)
        if results[kind]["code_changed_during_run"]:
            console.print(f"[yellow]The afinidad source changed on disk during the {DATABASE_NAMES[kind]} run: the "
                          "figures may come from two versions of the code.[/]")  # fmt: skip
        console.print(database_table(results[kind], plan))
        for table in profile_tables(results[kind]):
            console.print(table)
    console.print(summary_table(results))
    write_figures(console, output, benchmark="segments", run_id=run_id, load_before=load_before, code=code,
                  plan=asdict(plan), rules={case.key: {"name": case.name, "text": case.text, "what": case.what}
                                            for case in RULES}, databases=results)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
