"""Content-block decisions benchmark: how fast a real `afinidad serve` answers `POST /v1/decide` under 50
concurrent clients, beside the same endpoint returning a constant and `/healthz`, all in the same run.

    .venv/bin/python benchmarks/decide.py [--database sqlite|postgres|both] [--quick] [--seconds N] [--profile]

In one run, per database, on a fresh migrated database and one workspace:

1) The audience: 10,000 known people (`--profiles`), each created by one `identify` message with traits
   (an e-mail, a country, a plan: about 20% `gold`), stored IN BULK through `tracking.bulk.import_messages`
   (the validation and identity resolution of the tracking API, 1,000 messages per transaction, without
   HTTP). Then, over HTTP on the server: the rule segment `gold-members` (`trait.plan = "gold"`), and two
   content blocks with `PUT /v1/blocks/{slot}`:
   - `hero`, the block measured: policy `experiment` (sticky per person), four variants with content and
     weights: `spring-sale` 55% and `new-arrivals` 45% for everyone else, `rainy-day` when the weather is
     rain or snow, `gold-perks` for the segment `gold-members` (these two split the requests both fit);
   - `constant`, the baseline: one untargeted variant, asked for without a `user`, so the endpoint does the
     least it can (no person, no segments, one variant) and still logs its decision.
2) Serving, rate limiter off. Each request names a random known person and a context (local time, device,
   country, weather: rain 20%, snow 5%, sunny 45%, cloudy 30%; a temperature). For each of `/healthz`
   (the HTTP floor), the baseline and `hero`: one keep-alive client, then 50 closed-loop clients (each sends
   as soon as it has its answer) for 20 s. Then 50 clients on a fixed schedule at half the throughput
   `hero` reached in the closed loop, for each of the three at that same offered rate; latency counts from
   the scheduled send time, so a server that falls behind is not flattered. The issue's aim, p99 under
   15 ms, is marked PASS/MISS for information.
3) Every answer is checked: a `decision_id` and a variant; the variant is one the request may see
   (`rainy-day` for rain without gold, `gold-perks` for gold in dry weather, one of the two for both, one
   of the untargeted two otherwise) with the propensity its weights give; the same person in the same
   situation always gets the same variant (sticky); over distinct people, the untargeted variants' shares
   and the two targeted ones' shares match their weights within 4 standard errors; the decision log holds
   exactly one row per answer, with the variant answered.
4) Where a decision's time goes: `decide()` in this process as the router calls it (one committed session
   per call), timed one call after another, with the INSERT rolled back instead of committed (what the
   COMMIT costs), from 1 and from 40 threads at once, then under cProfile with every SQL statement timed.
5) With `--profile` (and py-spy, found as `benchmarks/common.find_py_spy` says): one more 50-client `hero`
   phase with the server sampled by py-spy, so the figures above are not touched; what the thread pool's
   workers did while busy with a request (waiting for a pooled connection, the INSERT, the COMMIT, the
   reads...) and the event loop's innermost frames. Its answers are checked with the others.

Figures go to the terminal and to `benchmarks/results/decide.json` (`decide-quick.json` with --quick);
the profile to `benchmarks/results/decide-<database>.prof`, the server's log and py-spy's samples
(`decide-<database>-server.collapsed`) beside it. Client and server
share the machine's two cores, as they would in CI.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import platform
import pstats
import random
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.decide import service
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import Decision
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from benchmarks.common import (
    MIB,
    RESULTS,
    Call,
    Database,
    DatabaseUnavailable,
    LoadPhase,
    MemorySampler,
    ServerProcess,
    ServerProfile,
    announce_run,
    code_state,
    database_settings,
    find_py_spy,
    fresh_database,
    new_workspace,
    progress_bar,
    run_load_phase,
    spread,
    verdict,
    write_figures,
)
from benchmarks.recommend import SERVER_THREADS, StatementTimes, _threaded

AIM_P99_MS = 15.0
SEED = 20_250_808
BENCHMARK_ENV = {"AFINIDAD_RATE_LIMIT_PER_SECOND": "0"}
REQUESTS = 100_000  # the shared sequence of requests the phases take in turn (from different starts)
GOLD_SHARE = 0.20
PLANS = (("gold", GOLD_SHARE), ("silver", 0.30), ("free", 0.50))
COUNTRIES = (("ES", 40), ("FR", 20), ("DE", 15), ("IT", 15), ("PT", 10))
WEATHER = (("rain", 20), ("snow", 5), ("sunny", 45), ("cloudy", 30))
DEVICES = (("mobile", 60), ("desktop", 35), ("tablet", 5))
WET = ("rain", "snow")
SEGMENT = "gold-members"
SLOT, CONSTANT_SLOT = "hero", "constant"
HERO_BLOCK: dict[str, Any] = {
    "description": "Home page hero: two general offers, one for bad weather, one for gold members",
    "policy": "experiment",
    "variants": [
        {"id": "spring-sale", "weight": 55,
         "content": {"title": "Spring sale: up to 40% off", "image": "https://cdn.example.com/hero/spring.jpg",
                     "link": "/sale"}},
        {"id": "new-arrivals", "weight": 45,
         "content": {"title": "New arrivals every week", "image": "https://cdn.example.com/hero/new.jpg",
                     "link": "/new"}},
        {"id": "rainy-day", "weight": 10, "when": {"weather": list(WET)},
         "content": {"title": "Rainy day? Free delivery today", "image": "https://cdn.example.com/hero/rain.jpg",
                     "link": "/delivery", "offer": "FREESHIP"}},
        {"id": "gold-perks", "weight": 10, "segment": SEGMENT,
         "content": {"title": "Gold members: early access", "image": "https://cdn.example.com/hero/gold.jpg",
                     "link": "/gold"}},
    ],
}  # fmt: skip
CONSTANT_BLOCK: dict[str, Any] = {
    "description": "Baseline: one variant for everyone",
    "policy": "fixed",
    "variants": [{"id": "constant", "weight": 100, "content": {"title": "Welcome"}}],
}
GENERAL = tuple(v["id"] for v in HERO_BLOCK["variants"] if not v.get("when") and not v.get("segment"))
WEIGHT = {v["id"]: float(v["weight"]) for v in HERO_BLOCK["variants"]}
ENDPOINTS = {  # name: (method, route as /metrics labels it, title)
    "decide": ("POST", "/v1/decide", "POST /v1/decide, slot hero (4 variants, targeting, a known person)"),
    "baseline": ("POST", "/v1/decide", "baseline: POST /v1/decide, slot constant (one variant, no user)"),
    "healthz": ("GET", "/healthz", "floor: GET /healthz"),
}


# -- the plan -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    quick: bool
    profiles: int
    clients: int
    seconds: float  # each phase of `clients` concurrent clients
    single_seconds: float  # each phase of one client
    profile_calls: int
    seed: int

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Plan:
        quick = arguments.quick
        return cls(
            quick=quick,
            profiles=arguments.profiles or 10_000,
            clients=arguments.clients,
            seconds=arguments.seconds or (6.0 if quick else 20.0),
            single_seconds=3.0 if quick else 6.0,
            profile_calls=300 if quick else 1_000,
            seed=arguments.seed,
        )


# -- the audience and the requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    user_id: str
    plan: str
    country: str


@dataclass(frozen=True)
class DecideRequest:
    user: str
    gold: bool
    weather: str
    context: dict[str, Any]
    body: bytes

    @property
    def situation(self) -> str:
        """Which variants the request may see, in words: the class the checks count by."""
        wet = self.weather in WET
        return "wet and gold" if wet and self.gold else "wet" if wet else "gold" if self.gold else "neither"

    def expected(self) -> dict[str, float]:
        """The variants this request may get, with the propensity each has (weights renormalised)."""
        targeted = (["rainy-day"] if self.weather in WET else []) + (["gold-perks"] if self.gold else [])
        options = targeted or list(GENERAL)
        total = sum(WEIGHT[name] for name in options)
        return {name: WEIGHT[name] / total for name in options}


def _choice(rng: random.Random, table: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in table], weights=[weight for _, weight in table])[0]


class Audience:
    """The seeded people and the seeded requests about them."""

    def __init__(self, plan: Plan) -> None:
        rng = random.Random(plan.seed)
        self.people = [Person(f"user-{index:06d}", _choice(rng, PLANS), _choice(rng, COUNTRIES))
                       for index in range(plan.profiles)]  # fmt: skip
        self.gold = {person.user_id for person in self.people if person.plan == "gold"}
        rng = random.Random(plan.seed + 1)
        self.requests = [self._request(rng) for _ in range(REQUESTS)]

    def _request(self, rng: random.Random) -> DecideRequest:
        person = rng.choice(self.people)
        weather = _choice(rng, WEATHER)
        hour, minute = rng.randrange(24), rng.randrange(60)
        context = {
            "local_time": f"2026-05-{rng.randint(1, 28):02d}T{hour:02d}:{minute:02d}:00+02:00",
            "device": _choice(rng, DEVICES),
            "country": person.country,
            "weather": weather,
            "temperature_c": round(rng.uniform(-5, 32), 1),
        }
        body = orjson.dumps({"slot": SLOT, "user": person.user_id, "context": context})
        return DecideRequest(person.user_id, person.user_id in self.gold, weather, context, body)

    def identify_messages(self, run_id: str) -> Iterator[ImportedMessage]:
        for serial, person in enumerate(self.people, start=1):
            yield ImportedMessage(serial, {
                "type": "identify", "userId": person.user_id, "messageId": f"dec-{run_id}-{serial:07d}",
                "traits": {"email": f"{person.user_id}@example.com", "plan": person.plan, "country": person.country},
            })  # fmt: skip


def load_audience(store: Store, workspace_id: str, audience: Audience, settings: Settings, run_id: str,
                  label: str) -> dict[str, Any]:  # fmt: skip
    with progress_bar() as progress:
        task = progress.add_task(f"{label}: {len(audience.people):,} people (identify, bulk)",
                                 total=len(audience.people))  # fmt: skip
        started = time.perf_counter()
        report = import_messages(store, workspace_id, audience.identify_messages(run_id), settings,
                                 on_progress=lambda done: progress.update(task, completed=done.messages))  # fmt: skip
        seconds = time.perf_counter() - started
    return {"people": len(audience.people), "gold": len(audience.gold), "stored": report.stored,
            "rejected": len(report.rejected), "seconds": round(seconds, 2),
            "per_second": round(report.messages / seconds, 1) if seconds else None}  # fmt: skip


def define_blocks(server: ServerProcess, secret_key: str) -> dict[str, Any]:
    """The segment and the two blocks, through the API as a marketer's tool would create them."""
    headers = {"Authorization": f"Bearer {secret_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=300) as client:
        segment = client.post("/v1/segments", json={"name": SEGMENT, "text": 'trait.plan = "gold"',
                                                    "description": "Gold plan members"})  # fmt: skip
        segment.raise_for_status()
        blocks = {}
        for slot, block in ((SLOT, HERO_BLOCK), (CONSTANT_SLOT, CONSTANT_BLOCK)):
            answer = client.put(f"/v1/blocks/{slot}", json=block)
            answer.raise_for_status()
            blocks[slot] = answer.json()["id"]
    return {"segment_size": segment.json().get("size"), "blocks": blocks}


# -- serving under load ---------------------------------------------------------------------------------------


def run_phase(server: ServerProcess, secret_key: str, endpoint: str, calls: Sequence[Call], clients: int,
              seconds: float, label: str, keep_bodies: bool = False, start: int = 0,
              offered_per_second: float | None = None) -> LoadPhase:  # fmt: skip
    headers = {"Authorization": f"Bearer {secret_key}", "Accept": "application/json",
               "Content-Type": "application/json"}  # fmt: skip
    method, route, _ = ENDPOINTS[endpoint]
    return run_load_phase(server, headers, endpoint, calls, clients, seconds, label, (method, route), keep_bodies,
                          start, offered_per_second)  # fmt: skip


def serve_and_measure(database: Database, created: Any, audience: Audience, plan: Plan, label: str,
                      console: Console, py_spy: str | None) -> dict[str, Any]:  # fmt: skip
    calls: dict[str, list[Call]] = {
        "healthz": [("GET", "/healthz", None)],
        "baseline": [("POST", "/v1/decide", orjson.dumps({"slot": CONSTANT_SLOT}))],
        "decide": [("POST", "/v1/decide", request.body) for request in audience.requests],
    }
    log_path = RESULTS / f"decide-{database.kind}-server.log"
    server = ServerProcess(database.url, log_path, **BENCHMARK_ENV)
    phases: dict[str, dict[str, Any]] = {name: {} for name in ENDPOINTS}
    answered: dict[str, list[LoadPhase]] = {"decide": [], "baseline": []}
    with server:
        sampler = MemorySampler(server.pid).start()
        started_rss = sampler.start_bytes
        setup = define_blocks(server, created.secret_key)

        def phase(endpoint: str, clients: int, seconds: float, tag: str, start: int = 0,
                  offered: float | None = None) -> LoadPhase:  # fmt: skip
            keep = endpoint in answered
            ran = run_phase(server, created.secret_key, endpoint, calls[endpoint], clients, seconds, label, keep,
                            start=start, offered_per_second=offered)  # fmt: skip
            if keep:
                answered[endpoint].append(ran)
            if tag:
                figures = ran.summary()
                answers = len(ran.latencies_ms)
                figures["server_cpu_ms_per_answer"] = (
                    round(1000 * ran.server_cpu_seconds / answers, 2) if answers else None
                )
                phases[endpoint][tag] = figures
            if ran.failures:
                console.print(f"[red]{label}, {endpoint}, {clients} client(s): {ran.failures:,} failures, e.g. "
                              f"{ran.failure_examples[0]}[/]")  # fmt: skip
            return ran

        # Warm-up: connections, the block cache, the database's page cache.
        phase("decide", plan.clients, 3.0, "", start=95_000)
        phase("baseline", plan.clients, 1.0, "")
        for endpoint in ("healthz", "baseline", "decide"):
            phase(endpoint, 1, plan.single_seconds, "one_client")
            many = phase(endpoint, plan.clients, plan.seconds, "many_clients", start=10_000)
        offered = len(many.latencies_ms) / many.seconds / 2 if many.seconds and many.latencies_ms else None
        if offered:  # the three at the same offered rate: half what hero reached in the closed loop
            for endpoint in ("decide", "baseline", "healthz"):
                phase(endpoint, plan.clients, plan.seconds, "half_load", start=50_000, offered=offered)
        recorded = None
        if py_spy:  # a phase of its own, so the sampler never touches the figures above
            recorded = RESULTS / f"decide-{database.kind}-server.collapsed"
            recorder = ServerProfile(py_spy, server.pid, recorded)
            time.sleep(1.0)  # py-spy attaches
            try:
                phase("decide", plan.clients, max(5.0, plan.seconds / 2), "", start=70_000)
            finally:
                recorder.stop()
        sampler.stop()
    decide_many = phases["decide"]["many_clients"]
    throughput = decide_many["requests_per_second"]
    return {
        "setup": setup,
        "phases": phases,
        "aim_p99_ms": AIM_P99_MS,
        "aim_met": decide_many["p99_ms"] is not None
        and decide_many["p99_ms"] < AIM_P99_MS
        and not decide_many["failures"],
        "closed_loop_floor_ms": round(1000 * plan.clients / throughput, 1) if throughput else None,
        "throughput_needed_for_aim": round(plan.clients / (AIM_P99_MS / 1000)),
        "server_peak_mib": round(sampler.peak_bytes / MIB, 1),
        "server_rss_at_start_mib": round(started_rss / MIB, 1),
        "server_log": str(log_path),
        "server_profile": summarise_server_profile(recorded) if recorded else None,
        "_answered": answered,  # for the checks; removed before the JSON is written
    }


# -- where the server's time goes (py-spy, optional) ----------------------------------------------------------

# What a thread-pool worker busy with a request was doing, first match wins: (what, frames that say so).
WORKER_ACTIVITIES = (
    ("waiting for a pooled database connection", ("QueuePool._do_get ",)),
    ("the decision's INSERT (on SQLite: waiting for the write lock included)", ("Session._flush ", "Session.flush ")),
    ("COMMIT", ("do_commit ",)),
    ("finding the person (find_profile_id)", ("find_profile_id ",)),
    ("reading their segments (_segments_of)", ("_segments_of ",)),
    ("the rest of decide()", ("decide (afinidad/decide/service.py",)),
    ("the key and the platform (dependencies)", ("secret_caller ", "platform (afinidad/api/dependencies.py")),
)
_LINE = re.compile(r":\d+\)$")


def _function(frame: str) -> str:
    """`name (path:line)` without the line and without the site-packages prefix."""
    name = _LINE.sub(")", frame.strip())
    return re.sub(r"\(.*?site-packages/", "(", name)


def summarise_server_profile(path: Path, top: int = 8) -> dict[str, Any]:
    """py-spy's samples of the server during a 50-client hero phase (idle included): how busy the event loop
    was and in which innermost frames, and what the thread pool's workers did while busy with a request."""
    loop_total = loop_busy = workers_total = workers_busy = 0
    loop_frames: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    worker_leaves: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, (thread, *frames) = int(count_text), stack.split(";")
        if "MainThread" in thread:
            loop_total += count
            if frames and not frames[-1].startswith("Runner.run ("):  # else: in uvloop's C code (waiting or not)
                loop_busy += count
                loop_frames[_function(frames[-1])] += count
        elif "AnyIO worker" in thread:
            workers_total += count
            if not any("(afinidad/" in frame or "fastapi/" in frame for frame in frames):
                continue  # waiting for work
            workers_busy += count
            joined = ";".join(frames)
            activity = next((name for name, marks in WORKER_ACTIVITIES if any(mark in joined for mark in marks)),
                            "FastAPI, the router and the rest")  # fmt: skip
            activities[activity] += count
            worker_leaves[_function(frames[-1])] += count
    return {
        "file": str(path),
        "loop_samples": loop_total,
        "loop_busy_share": round(loop_busy / loop_total, 3) if loop_total else None,
        "loop_busy_in": [
            {"function": name, "share_of_busy": round(count / loop_busy, 3)}
            for name, count in loop_frames.most_common(top)
        ]
        if loop_busy
        else [],  # fmt: skip
        "worker_samples": workers_total,
        "worker_busy_samples": workers_busy,
        "worker_activities": [
            {"activity": name, "share": round(count / workers_busy, 3)} for name, count in activities.most_common()
        ]
        if workers_busy
        else [],  # fmt: skip
        "worker_leaves": [
            {"function": name, "share": round(count / workers_busy, 3)}
            for name, count in worker_leaves.most_common(top)
        ]
        if workers_busy
        else [],  # fmt: skip
    }


# -- checking every answer --------------------------------------------------------------------------------


def _share_check(counts: Counter[str], expected: dict[str, float]) -> dict[str, Any]:
    """Shares over distinct people against the weights, each within 4 standard errors of a binomial."""
    units = sum(counts.values())
    rows = []
    for name, share in expected.items():
        observed = counts.get(name, 0) / units if units else float("nan")
        tolerance = 4 * math.sqrt(share * (1 - share) / units) if units else float("nan")
        rows.append({"variant": name, "expected": round(share, 4), "observed": round(observed, 4),
                     "tolerance": round(tolerance, 4), "ok": abs(observed - share) <= tolerance})  # fmt: skip
    return {"people": units, "variants": rows, "ok": bool(units) and all(row["ok"] for row in rows)}


def check_answers(answered: dict[str, list[LoadPhase]], audience: Audience, store: Store,
                  workspace_id: str) -> dict[str, Any]:  # fmt: skip
    """Every answer against what the request may see, and the decision log against the answers."""
    answers = incomplete = not_eligible = propensity_off = unknown_person = 0
    by_situation: Counter[str] = Counter()
    as_targeted: Counter[str] = Counter()  # answers in a targeted situation that got a targeted variant
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)  # (profile, situation): variants answered
    first: dict[tuple[str, str], str] = {}
    answered_variant: dict[str, str] = {}
    duplicates = 0
    for phase in answered["decide"]:
        for index, body in phase.bodies:
            request = audience.requests[index]
            answer = orjson.loads(body)
            answers += 1
            decision_id, variant = answer.get("decision_id"), answer.get("variant")
            if not decision_id or not variant:
                incomplete += 1
                continue
            duplicates += decision_id in answered_variant
            answered_variant[decision_id] = variant
            expected = request.expected()
            situation = request.situation
            by_situation[situation] += 1
            if variant not in expected:
                not_eligible += 1
            elif abs(float(answer.get("propensity") or 0) - expected[variant]) > 1e-5:
                propensity_off += 1
            if situation != "neither" and variant in ("rainy-day", "gold-perks"):
                as_targeted[situation] += 1
            if answer.get("profile_id") is None:
                unknown_person += 1
            key = (answer.get("profile_id") or request.user, situation)
            seen[key].add(variant)
            first.setdefault(key, variant)
    general = Counter(variant for (_, situation), variant in first.items() if situation == "neither")
    both = Counter(variant for (_, situation), variant in first.items() if situation == "wet and gold")
    baseline_answers = baseline_wrong = 0
    for phase in answered["baseline"]:
        for _, body in phase.bodies:
            answer = orjson.loads(body)
            baseline_answers += 1
            ok = answer.get("decision_id") and answer.get("variant") == "constant" and answer.get("propensity") == 1
            baseline_wrong += not ok
            if answer.get("decision_id"):
                duplicates += answer["decision_id"] in answered_variant
                answered_variant[answer["decision_id"]] = str(answer.get("variant"))
    with store.reader() as session:
        logged = session.execute(select(Decision.id, Decision.slot, Decision.items)
                                 .where(Decision.workspace_id == workspace_id)).all()  # fmt: skip
    logged_variant = {row.id: (row.items[0]["variant"] if row.items else None) for row in logged}
    missing = sum(decision_id not in logged_variant for decision_id in answered_variant)
    extra = sum(decision_id not in answered_variant for decision_id in logged_variant)
    differing = sum(logged_variant.get(decision_id, variant) != variant
                    for decision_id, variant in answered_variant.items())  # fmt: skip
    targeted_total = sum(count for situation, count in by_situation.items() if situation != "neither")
    return {
        "answers": answers,
        "incomplete": incomplete,
        "not_eligible": not_eligible,
        "propensity_off": propensity_off,
        "unknown_person": unknown_person,
        "by_situation": dict(by_situation),
        "targeted_answers": targeted_total,
        "targeted_got_targeted": sum(as_targeted.values()),
        "people_situations": len(seen),
        "not_sticky": sum(len(variants) > 1 for variants in seen.values()),
        "general_shares": _share_check(
            general, {name: WEIGHT[name] / sum(WEIGHT[n] for n in GENERAL) for name in GENERAL}
        ),  # fmt: skip
        "wet_and_gold_shares": _share_check(both, {"rainy-day": 0.5, "gold-perks": 0.5}),
        "baseline_answers": baseline_answers,
        "baseline_wrong": baseline_wrong,
        "decision_ids_repeated": duplicates,
        "decisions_logged": len(logged_variant),
        "decisions_logged_by_slot": dict(Counter(row.slot for row in logged)),
        "answers_without_log_row": missing,
        "log_rows_without_answer": extra,
        "log_variant_differs": differing,
        "one_row_per_answer": missing == 0 and extra == 0 and differing == 0 and duplicates == 0,
    }


# -- where a decision's time goes -------------------------------------------------------------------------------


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    for marker in ("site-packages/", "afinidad/", "benchmarks/", "lib/python3"):
        if marker in filename:
            filename = filename[filename.index(marker) :]
            break
    return f"{name} ({filename}:{line})" if line else name


# (step, file the function is in, function name): the steps of one decision, read from the profile.
STEPS = (
    ("the context checked", "afinidad/recommend/context.py", "of_request"),
    ("the block, from the cache", "afinidad/decide/service.py", "get"),
    ("the person found by identifier", "afinidad/profiles/service.py", "find_profile_id"),
    ("their segments read", "afinidad/decide/service.py", "_segments_of"),
    ("eligible variants", "afinidad/decide/blocks.py", "eligible"),
    ("the variant chosen (hash, weights)", "afinidad/decide/service.py", "_by_weight"),
    ("decide() in all", "afinidad/decide/service.py", "decide"),
    ("flush: the decision's INSERT", "sqlalchemy/orm/session.py", "flush"),
    ("COMMIT", "sqlalchemy/engine/default.py", "do_commit"),
)


def profile_decide(database: Database, workspace_id: str, audience: Audience, plan: Plan,
                   label: str) -> dict[str, Any]:  # fmt: skip
    """`decide()` in this process, as the router calls it (one committed session per call), on a store opened
    as the server opens it: one call after another; the same with the INSERT flushed and rolled back (the
    difference is the COMMIT); the baseline's call; from 1 and from SERVER_THREADS threads at once (the
    server's thread pool without HTTP); then under cProfile with its statements timed."""
    settings = Settings(database_url=database.url)
    store = Store.from_url(database.url, sqlite_synchronous=settings.sqlite_synchronous)
    rng = random.Random(plan.seed + 7)
    requests = [rng.choice(audience.requests) for _ in range(plan.profile_calls * 4 + 20)]
    by_user = {request.user: request for request in requests}
    path = RESULTS / f"decide-{database.kind}.prof"

    def one(request: DecideRequest) -> None:
        with store.session() as session:
            service.decide(session, workspace_id, SLOT, request.user, request.context)

    def rolled_back(request: DecideRequest) -> None:
        with store.reader() as session:  # closed without a commit: rolled back
            service.decide(session, workspace_id, SLOT, request.user, request.context)
            session.flush()

    def constant(_: DecideRequest) -> None:
        with store.session() as session:
            service.decide(session, workspace_id, CONSTANT_SLOT, None, {})

    def timed(call: Callable[[DecideRequest], None], chosen: Sequence[DecideRequest]) -> list[float]:
        found = []
        for request in chosen:
            began = time.perf_counter()
            call(request)
            found.append((time.perf_counter() - began) * 1000)
        return found

    calls = plan.profile_calls
    try:
        with progress_bar() as progress:
            task = progress.add_task(f"{label}: decide() in-process", total=5)
            timed(one, requests[:20])  # warm: the block cache, the page cache
            sequential = timed(one, requests[20 : 20 + calls])
            progress.advance(task)
            without_commit = timed(rolled_back, requests[20 + calls : 20 + 2 * calls])
            progress.advance(task)
            baseline = timed(constant, requests[:calls])
            progress.advance(task)
            users = list(by_user)
            threaded = [_threaded(lambda user: one(by_user[user]), users, count, plan.single_seconds)
                        for count in (1, SERVER_THREADS)]  # fmt: skip
            progress.advance(task)
            profile = cProfile.Profile()
            with StatementTimes(store.engine) as statements:
                profile.enable()
                for request in requests[20 + 2 * calls : 20 + 3 * calls]:
                    one(request)
                profile.disable()
            progress.advance(task)
    finally:
        store.dispose()
    profile.dump_stats(str(path))
    entries = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(value[2] for value in entries.values())
    steps = []
    for step, filename, name in STEPS:
        matching = [(key, value) for key, value in entries.items() if key[0].endswith(filename) and key[2] == name]
        if matching:
            key, value = max(matching, key=lambda item: item[1][3])
            steps.append({"step": step, "function": _where(key), "ms_per_call": round(value[3] / calls * 1000, 3),
                          "share": round(value[3] / total, 3),
                          "calls_per_call": round(value[1] / calls, 2)})  # fmt: skip
    own = sorted(entries.items(), key=lambda item: -item[1][2])[:12]
    return {
        "calls": calls,
        "sequential": spread(sequential, 3),
        "without_commit": spread(without_commit, 3),
        "baseline": spread(baseline, 3),
        "threaded": threaded,
        "profiled_ms_per_call": round(total / calls * 1000, 3),
        "profile_file": str(path),
        "steps": steps,
        "own_time": [
            {
                "function": _where(key),
                "ms_per_call": round(value[2] / calls * 1000, 3),
                "share": round(value[2] / total, 3),
                "calls_per_call": round(value[1] / calls, 1),
            }
            for key, value in own
        ],  # fmt: skip
        **statements.summary(calls),
    }


# -- one database --------------------------------------------------------------------------------------------


def run_database(database: Database, plan: Plan, audience: Audience, run_id: str, console: Console,
                 py_spy: str | None) -> dict:  # fmt: skip
    label = database.label
    settings = Settings(database_url=database.url)
    code_at_start = code_state()
    created = new_workspace(database.url, "decide-bench")
    store = Store.from_url(database.url, sqlite_synchronous=settings.sqlite_synchronous, sqlite_immediate=True)
    try:
        loaded = load_audience(store, created.id, audience, settings, run_id, label)
    finally:
        store.dispose()
    serving = serve_and_measure(database, created, audience, plan, label, console, py_spy)
    store = Store.from_url(database.url)
    try:
        checks = check_answers(serving.pop("_answered"), audience, store, created.id)
    finally:
        store.dispose()
    hotspots = profile_decide(database, created.id, audience, plan, label)
    code_at_end = code_state()
    if code_at_end["source_sha256"] != code_at_start["source_sha256"]:
        console.print(f"[yellow]The afinidad source changed on disk during the {label} run: the server may have "
                      "run other code than the in-process profile.[/]")  # fmt: skip
    return {
        "database": database.kind,
        "plan_clients": plan.clients,
        "code": code_at_start,
        "code_changed_during_run": code_at_end["source_sha256"] != code_at_start["source_sha256"],
        "database_settings": database_settings(database.url),
        "sqlite_synchronous": settings.sqlite_synchronous if database.kind == "sqlite" else None,
        "audience": loaded,
        "serving": serving,
        "checks": checks,
        "profile": hotspots,
    }


# -- reporting ----------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return f"{value:,.1f}" if value is not None else "n/a"


def _three(figures: dict[str, Any] | None) -> str:
    if not figures:
        return "n/a"
    return f"{_ms(figures['p50_ms'])} / {_ms(figures['p95_ms'])} / {_ms(figures['p99_ms'])} ms"


def _rate(figures: dict[str, Any] | None) -> str:
    if not figures or figures.get("requests_per_second") is None:
        return "n/a"
    failed = f", [red]{figures['failures']:,} failed[/]" if figures["failures"] else ""
    return f"{figures['requests_per_second']:,.0f}/s{failed}"


def _flag(ok: bool) -> str:
    return "[green]as expected[/]" if ok else "[bold red]differs[/]"


def serving_table(result: dict[str, Any], plan: Plan) -> Table:
    label = DATABASE_NAMES[result["database"]]
    serving = result["serving"]
    phases = serving["phases"]
    audience = result["audience"]
    table = Table(title=f"POST /v1/decide on {label}: hero beside the baseline and the floor, same run",
                  title_justify="left")  # fmt: skip
    table.add_column("Phase")
    for name in ("decide", "baseline", "healthz"):
        table.add_column(ENDPOINTS[name][2], justify="right")
    table.add_column(f"aim p99 < {AIM_P99_MS:.0f} ms", justify="center")

    def row(title: str, tag: str, show: Callable[[dict[str, Any] | None], str], aim: bool) -> None:
        decide = phases["decide"].get(tag)
        mark = verdict(decide["p99_ms"] is not None and decide["p99_ms"] < AIM_P99_MS) if aim and decide else ""
        table.add_row(title, *(show(phases[name].get(tag)) for name in ("decide", "baseline", "healthz")), mark)

    row("1 client: p50 / p95 / p99", "one_client", _three, True)
    row("  answers/s", "one_client", _rate, False)
    row(f"{plan.clients} closed-loop clients: p50 / p95 / p99", "many_clients", _three, True)
    row("  answers/s", "many_clients", _rate, False)
    row("  server mean (its own histogram)", "many_clients",
        lambda f: f"{_ms(f['server_mean_ms'])} ms" if f else "n/a", False)  # fmt: skip
    row(
        "  server / client CPU (server CPU per answer)",
        "many_clients",
        lambda f: (
            f"{f['server_cpu_percent']:.0f}% / {f['client_cpu_percent']:.0f}% ({_ms(f['server_cpu_ms_per_answer'])} ms)"
            if f
            else "n/a"
        ),
        False,
    )
    half = phases["decide"].get("half_load")
    offered = f"{half['offered_per_second']:,.0f}/s" if half else "n/a"
    row(f"{plan.clients} clients, open loop at {offered} (half hero's): p50 / p95 / p99", "half_load", _three, True)
    row("  answers/s done", "half_load", _rate, False)
    floor, reached = serving["closed_loop_floor_ms"], phases["decide"]["many_clients"]["requests_per_second"]
    table.add_row(f"Closed loop: {plan.clients} clients / {reached:,.0f} "
                  f"answers/s = mean latency {_ms(floor)} ms at least", "", "", "",
                  f"p99 < {AIM_P99_MS:.0f} ms needs > {serving['throughput_needed_for_aim']:,}/s")  # fmt: skip
    table.caption = (
        f"{audience['stored']:,} of {audience['people']:,} people ({audience['gold']:,} gold) stored in bulk "
        f"through tracking.bulk.import_messages in {audience['seconds']:.1f} s ({audience['rejected']} rejected); "
        f"segment {SEGMENT}: {serving['setup']['segment_size']:,} members (expected {audience['gold']:,}). "
        "Server peak memory (VmHWM, with the writer): "
        f"{serving['server_peak_mib']:,.0f} MiB (at start {serving['server_rss_at_start_mib']:,.0f})."
        + (f" SQLite synchronous={result['sqlite_synchronous']}." if result["sqlite_synchronous"] else "")
    )
    return table


def checks_table(result: dict[str, Any]) -> Table:
    checks = result["checks"]
    table = Table(title=f"Answers checked on {DATABASE_NAMES[result['database']]}", title_justify="left")
    table.add_column("Check")
    table.add_column("Found", justify="right")
    table.add_column("Expected", justify="right")
    table.add_column("", justify="center")
    table.add_row("hero answers without a decision_id or a variant", f"{checks['incomplete']:,}",
                  f"0 of {checks['answers']:,}", _flag(checks["incomplete"] == 0))  # fmt: skip
    table.add_row("  a variant the request may not see | a propensity off its weights",
                  f"{checks['not_eligible']:,} | {checks['propensity_off']:,}", "0 | 0",
                  _flag(checks["not_eligible"] == 0 and checks["propensity_off"] == 0))  # fmt: skip
    situations = ", ".join(f"{name} {count:,}" for name, count in sorted(checks["by_situation"].items()))
    table.add_row(f"  targeted requests that got a targeted variant ({situations})",
                  f"{checks['targeted_got_targeted']:,}", f"{checks['targeted_answers']:,}",
                  _flag(checks["targeted_got_targeted"] == checks["targeted_answers"]))  # fmt: skip
    table.add_row("  a known person answered as unknown", f"{checks['unknown_person']:,}", "0",
                  _flag(checks["unknown_person"] == 0))  # fmt: skip
    table.add_row("  (person, situation) pairs that got two variants (not sticky)", f"{checks['not_sticky']:,}",
                  f"0 of {checks['people_situations']:,}", _flag(checks["not_sticky"] == 0))  # fmt: skip
    for title, key in (("untargeted variants' shares over people in neither situation", "general_shares"),
                       ("rainy-day / gold-perks over people both wet and gold", "wet_and_gold_shares")):  # fmt: skip
        shares = checks[key]
        observed = " / ".join(f"{row['observed']:.1%}" for row in shares["variants"])
        expected = " / ".join(f"{row['expected']:.1%} ±{row['tolerance']:.1%}" for row in shares["variants"])
        table.add_row(f"  {title} ({shares['people']:,})", observed, expected, _flag(shares["ok"]))
    table.add_row("baseline answers not `constant` with propensity 1", f"{checks['baseline_wrong']:,}",
                  f"0 of {checks['baseline_answers']:,}", _flag(checks["baseline_wrong"] == 0))  # fmt: skip
    by_slot = ", ".join(f"{slot} {count:,}" for slot, count in sorted(checks["decisions_logged_by_slot"].items()))
    table.add_row(f"Decision log rows ({by_slot})", f"{checks['decisions_logged']:,}",
                  f"{checks['answers'] - checks['incomplete'] + checks['baseline_answers']:,} answers",
                  _flag(checks["one_row_per_answer"]))  # fmt: skip
    table.add_row("  answers without a row | rows without an answer | variant differs | repeated ids",
                  f"{checks['answers_without_log_row']} | {checks['log_rows_without_answer']} | "
                  f"{checks['log_variant_differs']} | {checks['decision_ids_repeated']}", "0 | 0 | 0 | 0",
                  _flag(checks["one_row_per_answer"]))  # fmt: skip
    return table


def profile_tables(result: dict[str, Any]) -> list[Table]:
    profile = result["profile"]
    label = DATABASE_NAMES[result["database"]]
    timings = Table(title=f"{label}: decide() in-process, one call after another ({profile['calls']:,} calls)",
                    title_justify="left")  # fmt: skip
    timings.add_column("Call")
    timings.add_column("p50 / p95 / p99", justify="right")
    timings.add_column("mean", justify="right")
    for title, key in (("hero, committed (as the router)", "sequential"),
                       ("hero, INSERT flushed then rolled back (no COMMIT)", "without_commit"),
                       ("baseline: constant, no user, committed", "baseline")):  # fmt: skip
        timings.add_row(title, _three(profile[key]), f"{_ms(profile[key]['mean_ms'])} ms")
    for figures in profile["threaded"]:
        timings.add_row(f"hero from {figures['threads']} thread{'s' if figures['threads'] > 1 else ''} at once, "
                        f"{figures['per_second']:,.0f}/s", f"{_ms(figures['p50_ms'])} / {_ms(figures['p95_ms'])} / "
                        f"{_ms(figures['p99_ms'])} ms", f"[red]{figures['errors']} errors[/]" if figures["errors"]
                        else "")  # fmt: skip
    steps = Table(title=f"{label}: one decide() under cProfile, {profile['profiled_ms_per_call']:.2f} ms/call "
                  "(inclusive times)", title_justify="left")  # fmt: skip
    for name, justify in (("step", "left"), ("ms/call", "right"), ("share", "right"), ("function", "left")):
        steps.add_column(name, justify=justify)  # type: ignore[arg-type]
    for step in profile["steps"]:
        steps.add_row(step["step"], f"{step['ms_per_call']:.3f}", f"{step['share']:.0%}", step["function"])
    statements = Table(title=f"{label}: SQL of one decide() ({profile['statements_ms_per_call']:.2f} ms/call in "
                       "the driver's execute)", title_justify="left")  # fmt: skip
    for name, justify in (("ms/call", "right"), ("calls/call", "right"), ("mean ms", "right"), ("statement", "left")):
        statements.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in profile["statements"]:
        statements.add_row(f"{row['ms_per_call']:.3f}", f"{row['calls_per_call']:g}", f"{row['mean_ms']:.3f}",
                           row["statement"])  # fmt: skip
    own = Table(title=f"{label}: own time, top functions", title_justify="left")
    for name, justify in (("ms/call", "right"), ("share", "right"), ("calls/call", "right"), ("function", "left")):
        own.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in profile["own_time"]:
        own.add_row(f"{row['ms_per_call']:.3f}", f"{row['share']:.0%}", f"{row['calls_per_call']:g}", row["function"])
    return [timings, steps, statements, own]


def server_profile_table(result: dict[str, Any]) -> Table:
    found = result["serving"]["server_profile"]
    label = DATABASE_NAMES[result["database"]]
    table = Table(title=f"{label}: the server under {result['plan_clients']} hero clients, sampled by py-spy "
                  f"({found['file']})", title_justify="left")  # fmt: skip
    table.add_column("thread-pool workers busy with a request", justify="left")
    table.add_column("share", justify="right")
    table.add_column("innermost frame of those workers", justify="left")
    table.add_column("share", justify="right")
    left, right = found["worker_activities"], found["worker_leaves"]
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else None
        b = right[index] if index < len(right) else None
        table.add_row(a["activity"] if a else "", f"{a['share']:.0%}" if a else "", b["function"] if b else "",
                      f"{b['share']:.0%}" if b else "")  # fmt: skip
    busy_in = ", ".join(f"{row['function']} {row['share_of_busy']:.0%}" for row in found["loop_busy_in"][:5])
    share = found["loop_busy_share"]
    loop = (f"Event loop thread in Python code {share:.0%} of its samples (the rest in uvloop's C: waiting or "
            "parsing)" if share is not None else "Event loop: no samples")  # fmt: skip
    table.caption = loop + (f"; innermost frames when busy: {busy_in}" if busy_in else "")
    return table


def summary_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Summary: POST /v1/decide (hero) beside the baseline", title_justify="left")
    for heading in ("Database", "1 client p50 / p99", "50 clients p50 / p99", "Decisions/s", "Baseline p50 / p99",
                    "Baseline/s", "Half load p99 (baseline)", "Checks", f"Aim p99 < {AIM_P99_MS:.0f} ms"):  # fmt: skip
        table.add_column(heading, justify="left" if heading == "Database" else "right")
    for kind, result in results.items():
        if "serving" not in result:
            table.add_row(DATABASE_NAMES[kind], "[yellow]skipped or failed (see above)[/]", *[""] * 7)
            continue
        phases = result["serving"]["phases"]
        one, many, base = (phases["decide"]["one_client"], phases["decide"]["many_clients"],
                           phases["baseline"]["many_clients"])  # fmt: skip
        half, base_half = phases["decide"].get("half_load") or {}, phases["baseline"].get("half_load") or {}
        checks = result["checks"]
        ok = (checks["one_row_per_answer"] and not checks["incomplete"] and not checks["not_eligible"]
              and not checks["propensity_off"] and not checks["not_sticky"] and checks["general_shares"]["ok"]
              and checks["targeted_got_targeted"] == checks["targeted_answers"])  # fmt: skip
        table.add_row(DATABASE_NAMES[kind], f"{_ms(one['p50_ms'])} / {_ms(one['p99_ms'])} ms",
                      f"{_ms(many['p50_ms'])} / {_ms(many['p99_ms'])} ms", f"{many['requests_per_second']:,.0f}",
                      f"{_ms(base['p50_ms'])} / {_ms(base['p99_ms'])} ms", f"{base['requests_per_second']:,.0f}",
                      f"{_ms(half.get('p99_ms'))} ({_ms(base_half.get('p99_ms'))}) ms", _flag(ok),
                      verdict(result["serving"]["aim_met"]))  # fmt: skip
    return table


DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# -- entry point --------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="6 s phases, 3 s for one client (about 1.5 minutes)")
    parser.add_argument("--seconds", type=float, default=None, help="each 50-client phase (default 20, quick 6)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--profiles", type=int, default=None, help="known people (default 10,000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--profile", action="store_true",
                        help="record the server with py-spy during an extra 50-client hero phase")  # fmt: skip
    parser.add_argument("--output", type=Path, default=None, help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    plan = Plan.from_arguments(arguments)
    output = arguments.output or RESULTS / ("decide-quick.json" if plan.quick else "decide.json")
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=190)
    run_id = uuid.uuid4().hex[:8]
    kinds = ("sqlite", "postgres") if arguments.database == "both" else (arguments.database,)
    RESULTS.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]Afinidad decisions benchmark[/] run {run_id}: {plan.profiles:,} people, {plan.clients} clients for "
        f"{plan.seconds:.0f} s per phase (seed {plan.seed}); {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
    )
    code, load_before = announce_run(console)
    console.print("Rate limiter disabled for the benchmark (AFINIDAD_RATE_LIMIT_PER_SECOND=0).")
    py_spy = find_py_spy() if arguments.profile else None
    if arguments.profile and py_spy is None:
        console.print("[yellow]--profile: py-spy not found (set AFINIDAD_BENCH_PY_SPY or put it on PATH).[/]")
    audience = Audience(plan)
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        started = time.perf_counter()
        try:
            with fresh_database(kind) as database:
                results[kind] = run_database(database, plan, audience, run_id, console, py_spy)
        except DatabaseUnavailable as reason:
            console.print(f"[yellow]Skipping PostgreSQL: {reason}[/]")
            results[kind] = {"database": kind, "skipped": str(reason)}
            continue
        results[kind]["wall_seconds"] = round(time.perf_counter() - started, 1)
        console.print(serving_table(results[kind], plan))
        console.print(checks_table(results[kind]))
        for table in profile_tables(results[kind]):
            console.print(table)
        if results[kind]["serving"].get("server_profile"):
            console.print(server_profile_table(results[kind]))
    console.print(summary_table(results))
    write_figures(
        console,
        output,
        benchmark="decide",
        run_id=run_id,
        load_before=load_before,
        code=code,
        plan=asdict(plan),
        aims={"decide_p99_ms": AIM_P99_MS},
        blocks={SLOT: HERO_BLOCK, CONSTANT_SLOT: CONSTANT_BLOCK, "segment": {SEGMENT: 'trait.plan = "gold"'}},
        databases=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
