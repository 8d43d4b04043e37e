"""Recommendation benchmark: what training costs, on public data sets and on a synthetic shop, and how fast a
real `afinidad serve` answers `GET /v1/recommendations/{identifier}` under 50 concurrent clients.

    .venv/bin/python benchmarks/recommend.py [--database sqlite|postgres|both] [--quick] [--seconds N]

In one run:

1) Training on data sets: the personal model (EASE) and the baselines (popularity, item-kNN with k=100,
   implicit's ALS with its defaults, RP3beta) are fitted on the interaction matrix of MovieLens 100k, of UCI
   Online Retail and of the synthetic shop below. Each fit runs in a fresh process of its own (the matrix
   already loaded), so its peak memory (the kernel's VmHWM) is its own; a fit shorter than 10 s is repeated up
   to three times and the median is shown. EASE and RP3beta use the settings `afinidad recommend evaluate`
   chose on validation (docs/recommendations.md); on the shop, the setting `train_personal` chose.
2) The synthetic shop, per database, on a fresh database: the seeded catalog of `benchmarks/catalog.py` cut to
   10,000 products (about 9% out of stock), and 5,000 seeded shoppers' product events (about 200,000 views,
   adds to cart and orders over 60 days). Each shopper keeps to one or two departments and a few category
   leaves in them, and a session browses neighbouring products, so the events have structure a model can
   find. Events are stored with `tracking.bulk.import_messages` (identity resolution included), then
   `train_personal` runs end to end in a process of its own, as `afinidad recommend train` does: reading
   the events, measuring the model on a time split, fitting, storing the version. Beside it: the bare read of
   the same events, and the single fits of part 1.
3) Serving: a real `afinidad serve` on that database (rate limiter off). For each endpoint, one client, then
   50 concurrent keep-alive clients for a fixed time: `GET /healthz` (the HTTP floor), the baseline
   `GET /v1/catalog/search?limit=10&in_stock=true&facets=false` (an authenticated, non-personal catalog read
   of the same size), and `GET /v1/recommendations/{user id}?n=10&in_stock=true` for random shoppers. The
   aim of the issue, p99 under 25 ms on the embedded default with 50 clients, is marked PASS/MISS for
   information only. Every answer is checked: ten items, personal, in stock, not already bought, no
   repeats, and how many come from the shopper's own departments (against their share of the catalog);
   the decision log must hold one row per answer.
4) Where a recommendation's time goes: `recommend()` in this process, one call after another, as the
   router calls it (a session each, committed): timed, then under cProfile with every SQL statement timed,
   so the hotspots come with file:line.

Figures go to the terminal and to `benchmarks/results/recommend.json` (`recommend-quick.json` with --quick);
the profile to `benchmarks/results/recommend-<database>-serving.prof`, the server's log beside it. Client
and server share the machine's two cores, as they would in CI.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import json
import math
import os
import platform
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.catalog.products import CATEGORY_SEPARATOR, ProductIn
from afinidad.catalog.service import upsert_products
from afinidad.recommend.interactions import Interactions, movielens_100k, online_retail
from afinidad.recommend.models import Ease, ImplicitAls, ItemKnn, Popularity, Rp3Beta
from afinidad.recommend.models.ease import MAX_ITEMS as EASE_MAX_ITEMS
from afinidad.recommend.serving import Request, recommend
from afinidad.recommend.training import train_personal, versions, workspace_interactions
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import Decision
from afinidad.tracking.bulk import import_messages
from afinidad.tracking.importer import ImportedMessage
from benchmarks.catalog import CatalogGenerator, GeneratedProduct, reset_peak_memory
from benchmarks.common import (
    MIB,
    RESULTS,
    ROOT,
    Database,
    DatabaseUnavailable,
    LoadPhase,
    MemorySampler,
    ServerProcess,
    announce_run,
    code_state,
    database_settings,
    fresh_database,
    new_workspace,
    progress_bar,
    run_load_phase,
    run_measured,
    spread,
    verdict,
    write_figures,
)

AIM_P99_MS = 25.0
SEED = 20_250_505
BATCH_SIZE = 1_000
RECOMMENDED = 10  # n of every request, and the page size of the catalog baseline
BENCHMARK_ENV = {"AFINIDAD_RATE_LIMIT_PER_SECOND": "0"}
DATA = (ROOT / Settings().data_dir).resolve()
HISTORY_DAYS = 60
MAX_FIT_REPEATS = 3
REPEAT_BUDGET_SECONDS = 10.0
ADD_SHARE = 0.15  # of views followed by an add to cart
ORDER_SHARE = 0.5  # of sessions with an add that end in an order
FAVOURITE_SESSION_SHARE = 0.85  # of sessions in one of the shopper's own departments
SAME_LEAF_SHARE = 0.5  # of views after the first that stay in the previous product's leaf
SERVER_ROUTES = {
    "healthz": "/healthz",
    "catalog search": "/v1/catalog/search",
    "recommendations": "/v1/recommendations/{identifier}",
}

# -- the plan -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    quick: bool
    products: int
    shoppers: int
    events: int
    clients: int
    seconds: float  # each phase of `clients` concurrent clients
    single_seconds: float  # each phase of one client
    profile_calls: int
    datasets: bool
    seed: int

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Plan:
        quick = arguments.quick
        return cls(
            quick=quick,
            products=arguments.products or (2_000 if quick else 10_000),
            shoppers=arguments.shoppers or (1_000 if quick else 5_000),
            events=arguments.events or (30_000 if quick else 200_000),
            clients=arguments.clients,
            seconds=arguments.seconds or (6.0 if quick else 20.0),
            single_seconds=3.0 if quick else 6.0,
            profile_calls=100 if quick else 300,
            datasets=not arguments.no_datasets,
            seed=arguments.seed,
        )


# -- 1. fitting the models, each in a process of its own ----------------------------------------------------

MODEL_BUILDERS: dict[str, Callable[..., Any]] = {
    "EASE": Ease,
    "popularity": Popularity,
    "item-kNN": ItemKnn,
    "ALS": ImplicitAls,
    "RP3beta": Rp3Beta,
}


@dataclass(frozen=True)
class FitSpec:
    model: str  # a key of MODEL_BUILDERS
    params: dict[str, Any]
    personal: bool  # the model train_personal would choose for this matrix


def fit_specs(items: int, ease_params: dict[str, Any], rp3_params: dict[str, Any]) -> list[FitSpec]:
    """The personal model and the baselines. Above EASE's item limit train_personal picks RP3beta; EASE is then
    still fitted, with the limit lifted, to show what it would cost."""
    ease_fits = items <= EASE_MAX_ITEMS
    return [
        FitSpec("EASE", ease_params | ({} if ease_fits else {"max_items": items}), ease_fits),
        FitSpec("popularity", {}, False),
        FitSpec("item-kNN", {"neighbours": 100}, False),
        FitSpec("ALS", {}, False),
        FitSpec("RP3beta", rp3_params, not ease_fits),
    ]


# (name, loader, EASE setting, RP3beta setting): the settings docs/recommendations.md reports as chosen.
PUBLIC_DATASETS: tuple[tuple[str, Callable[[], Interactions], dict[str, Any], dict[str, Any]], ...] = (
    ("MovieLens 100k", lambda: movielens_100k(DATA / "movielens-100k"), {"regularization": 250.0},
     {"alpha": 0.8, "beta": 0.5, "neighbours": 100}),
    ("Online Retail", lambda: online_retail(DATA / "uci-online-retail" / "online_retail.csv.gz"),
     {"regularization": 100.0}, {"alpha": 0.8, "beta": 0.5, "neighbours": 300}),
)  # fmt: skip


def _status_kib(field_name: str) -> int:
    found = re.search(rf"^{field_name}:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


def fit_worker(matrix_path: str, model: str, params_json: str) -> int:
    """Run in a fresh process: load the matrix, then fit; prints the fit times and the peak memory as JSON.
    The import of `implicit` comes before the memory mark, so only the fit itself is counted as added."""
    if model == "ALS":
        import implicit.cpu.als  # noqa: F401

    matrix = sp.load_npz(matrix_path).tocsr()
    build, params = MODEL_BUILDERS[model], json.loads(params_json)
    gc.collect()
    before_kib = _status_kib("VmRSS")
    reset_peak_memory()
    seconds: list[float] = []
    while len(seconds) < MAX_FIT_REPEATS and sum(seconds) < REPEAT_BUDGET_SECONDS:
        started = time.perf_counter()
        build(**params).fit(matrix)
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"seconds": seconds, "rss_before_mib": round(before_kib / 1024, 1),
                      "peak_mib": round(_status_kib("VmHWM") / 1024, 1)}))  # fmt: skip
    return 0


def run_fit(matrix_path: Path, spec: FitSpec) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--fit-worker", str(matrix_path), spec.model,
               json.dumps(spec.params)]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=1_800)
    result: dict[str, Any] = {"model": spec.model, "params": spec.params, "personal": spec.personal}
    if completed.returncode != 0:
        return result | {"error": (completed.stderr or completed.stdout).strip().splitlines()[-5:]}
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return result | {
        "fit_seconds": round(statistics.median(figures["seconds"]), 4),
        "fit_seconds_each": [round(value, 4) for value in figures["seconds"]],
        "peak_mib": figures["peak_mib"],
        "rss_before_mib": figures["rss_before_mib"],
        "added_mib": round(figures["peak_mib"] - figures["rss_before_mib"], 1),
    }


def fit_all(name: str, data: Interactions, specs: Sequence[FitSpec], folder: Path, console: Console) -> dict:
    matrix = data.matrix()
    path = folder / f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}.npz"
    sp.save_npz(path, matrix)
    fits = []
    with progress_bar() as progress:
        task = progress.add_task(f"{name}: fitting", total=len(specs))
        for spec in specs:
            progress.update(task, description=f"{name}: fitting {spec.model}")
            fits.append(run_fit(path, spec))
            progress.advance(task)
    for fit in fits:
        if "error" in fit:
            console.print(f"[red]{name}, {fit['model']}: the fit failed: {' | '.join(fit['error'])}[/]")
    users, items = data.shape
    return {"name": name, "users": users, "items": items, "interactions": len(data), "matrix_nonzeros": matrix.nnz,
            "fits": fits}  # fmt: skip


def train_on_datasets(folder: Path, console: Console) -> list[dict[str, Any]]:
    results = []
    for name, load, ease_params, rp3_params in PUBLIC_DATASETS:
        started = time.perf_counter()
        data = load()
        console.print(f"{name}: {len(data):,} interactions, {data.shape[0]:,} users x {data.shape[1]:,} items "
                      f"(read in {time.perf_counter() - started:.1f} s).")  # fmt: skip
        results.append(fit_all(name, data, fit_specs(data.shape[1], ease_params, rp3_params), folder, console))
    return results


# -- 2. the synthetic shop ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shopper:
    user_id: str
    departments: tuple[str, ...]  # where most of their sessions happen
    leaves: tuple[str, ...]  # favourite category leaves in those departments


@dataclass
class ShopFacts:
    """What the generator knows, to check the answers against."""

    events: Counter[str] = field(default_factory=Counter)
    bought: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    product_lines: int = 0  # products named by all events (an order names several)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Shop:
    """The catalog of `benchmarks/catalog.py` cut to `plan.products`, and shoppers whose sessions stay in one
    department (mostly one of their own one or two) and drift between neighbouring products of a leaf.
    Popularity has a long tail: each product's weight is 1/rank^0.9 over a seeded order."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        rng = random.Random(plan.seed)
        generator = CatalogGenerator(plan.seed)
        self.products: list[GeneratedProduct] = [generator.product(index) for index in range(plan.products)]
        self.department_of: dict[str, str] = {}
        self.leaf_of: dict[str, str] = {}
        self.price_of: dict[str, float] = {}
        self.in_stock: set[str] = set()
        order = list(range(len(self.products)))
        rng.shuffle(order)
        weight = {self.products[index].product_id: 1 / (rank + 1) ** 0.9 for rank, index in enumerate(order)}
        by_department: dict[str, list[str]] = defaultdict(list)
        by_leaf: dict[str, list[str]] = defaultdict(list)
        for product in self.products:
            body = product.body
            department, leaf = body["category"][0], CATEGORY_SEPARATOR.join(body["category"])
            self.department_of[product.product_id] = department
            self.leaf_of[product.product_id] = leaf
            self.price_of[product.product_id] = float(body["sale_price"] or body["price"])
            if not body["stock"] or sum(body["stock"].values()) > 0:  # untracked stock counts as in stock
                self.in_stock.add(product.product_id)
            by_department[department].append(product.product_id)
            by_leaf[leaf].append(product.product_id)

        def picker(ids: list[str]) -> tuple[list[str], list[float]]:
            return ids, list(itertools.accumulate(weight[pid] for pid in ids))

        self._department_pick = {name: picker(ids) for name, ids in by_department.items()}
        self._leaf_pick = {name: picker(ids) for name, ids in by_leaf.items()}
        self.departments = sorted(by_department)
        leaves_in: dict[str, list[str]] = defaultdict(list)
        for leaf in sorted(by_leaf):
            leaves_in[leaf.split(CATEGORY_SEPARATOR)[0]].append(leaf)
        self.shoppers = []
        for index in range(plan.shoppers):
            own = tuple(rng.sample(self.departments, rng.choice((1, 1, 2))))
            leaves = tuple(dict.fromkeys(rng.choice(leaves_in[name]) for name in own for _ in range(2)))
            self.shoppers.append(Shopper(f"shopper-{index:05d}", own, leaves))
        self.facts = ShopFacts()

    def catalog_batches(self) -> Iterator[list[tuple[str, ProductIn]]]:
        for start in range(0, len(self.products), BATCH_SIZE):
            yield [(p.product_id, ProductIn(**p.body)) for p in self.products[start : start + BATCH_SIZE]]

    def _events_of(self, index: int) -> int:
        """A heavy tail (log-normal) around the planned mean, at least 3 and at most 400 (under the 500
        latest events serving reads, so every purchase is seen when excluding what was bought)."""
        mean = self.plan.events / self.plan.shoppers
        rng = random.Random(self.plan.seed * 1_000_003 + index)
        drawn = rng.lognormvariate(math.log(mean) - 0.32, 0.8)
        return max(3, min(400, int(8 * mean), round(drawn)))

    def _pick(self, shopper: Shopper, department: str, previous: str | None, rng: random.Random) -> str:
        if previous is not None and rng.random() < SAME_LEAF_SHARE:
            ids, weights = self._leaf_pick[self.leaf_of[previous]]
        else:
            own_leaves = [leaf for leaf in shopper.leaves if leaf.startswith(department + CATEGORY_SEPARATOR)]
            if own_leaves and rng.random() < 0.5:
                ids, weights = self._leaf_pick[rng.choice(own_leaves)]
            else:
                ids, weights = self._department_pick[department]
        return rng.choices(ids, cum_weights=weights)[0]

    def _session(self, shopper: Shopper, rng: random.Random, room: int) -> list[tuple[int, str, list[str]]]:
        """(seconds into the session, event, products) of one visit: views, some adds, perhaps an order."""
        if rng.random() < FAVOURITE_SESSION_SHARE:
            department = shopper.departments[0] if rng.random() < 0.65 else rng.choice(shopper.departments)
        else:
            department = rng.choice(self.departments)
        found: list[tuple[int, str, list[str]]] = []
        offset, previous, added = 0, None, []
        for _ in range(rng.randint(2, 8)):
            if len(found) >= room:
                break
            product = self._pick(shopper, department, previous, rng)
            offset += rng.randint(15, 120)
            found.append((offset, "Product Viewed", [product]))
            previous = product
            if rng.random() < ADD_SHARE and len(found) < room:
                offset += rng.randint(5, 60)
                found.append((offset, "Product Added", [product]))
                added.append(product)
        if added and rng.random() < ORDER_SHARE and len(found) < room:
            found.append((offset + rng.randint(60, 300), "Order Completed", sorted(set(added))))
        return found

    def messages(self, run_id: str) -> Iterator[ImportedMessage]:
        """Every shopper's events as Segment track messages, sessions spread over the last HISTORY_DAYS."""
        now = datetime.now(UTC).replace(microsecond=0)
        serial = 0
        for index, shopper in enumerate(self.shoppers):
            rng = random.Random(self.plan.seed * 7_919 + index)
            wanted, sessions = self._events_of(index), []
            while (made := sum(len(session) for session in sessions)) < wanted:
                sessions.append(self._session(shopper, rng, wanted - made))
            ago = sorted((rng.uniform(3_600, HISTORY_DAYS * 86_400) for _ in sessions), reverse=True)
            for seconds_ago, session in zip(ago, sessions, strict=True):
                began = now - timedelta(seconds=seconds_ago)
                for offset, name, products in session:
                    serial += 1
                    yield ImportedMessage(serial, self._message(run_id, serial, shopper, name, products,
                                                                began + timedelta(seconds=offset)))  # fmt: skip

    def _message(self, run_id: str, serial: int, shopper: Shopper, name: str, products: list[str],
                 at: datetime) -> dict[str, Any]:  # fmt: skip
        self.facts.events[name] += 1
        self.facts.product_lines += len(products)
        message: dict[str, Any] = {"type": "track", "event": name, "userId": shopper.user_id,
                                   "messageId": f"rec-{run_id}-{serial:07d}", "timestamp": _iso(at)}  # fmt: skip
        if name == "Order Completed":
            self.facts.bought[shopper.user_id].update(products)
            lines = [{"product_id": pid, "price": self.price_of[pid], "quantity": 1} for pid in products]
            message["properties"] = {"order_id": f"ord-{run_id}-{serial}", "currency": "EUR", "products": lines,
                                     "revenue": round(sum(line["price"] for line in lines), 2)}  # fmt: skip
        else:
            (pid,) = products
            message["properties"] = {"product_id": pid, "price": self.price_of[pid], "currency": "EUR",
                                     "category": self.leaf_of[pid]}  # fmt: skip
        return message


def load_shop(store: Store, workspace_id: str, shop: Shop, settings: Settings, run_id: str, label: str) -> dict:
    """The catalog in batches of BATCH_SIZE (one transaction each, as the bulk endpoint does), then the
    events through `import_messages` (validation, identity resolution, 1,000 per transaction)."""
    with progress_bar() as progress:
        task = progress.add_task(f"{label}: catalog", total=len(shop.products))
        started = time.perf_counter()
        for batch in shop.catalog_batches():
            with store.session() as session:
                upsert_products(session, workspace_id, batch)
            progress.advance(task, len(batch))
        catalog_seconds = time.perf_counter() - started
        task = progress.add_task(f"{label}: events", total=shop.plan.events)
        started = time.perf_counter()
        report = import_messages(store, workspace_id, shop.messages(run_id), settings,
                                 on_progress=lambda done: progress.update(task, completed=done.messages))  # fmt: skip
        events_seconds = time.perf_counter() - started
        progress.update(task, total=report.messages, completed=report.messages)
    return {
        "products": len(shop.products),
        "products_in_stock": len(shop.in_stock),
        "catalog_seconds": round(catalog_seconds, 2),
        "shoppers": len(shop.shoppers),
        "events_generated": sum(shop.facts.events.values()),
        "events_by_name": dict(shop.facts.events),
        "product_lines": shop.facts.product_lines,
        "events_stored": report.stored,
        "events_rejected": len(report.rejected),
        "rejected_examples": [asdict(row) for row in report.rejected[:3]],
        "events_seconds": round(events_seconds, 2),
        "events_per_second": round(report.messages / events_seconds, 1) if events_seconds else None,
    }


# -- 2b. train_personal end to end, in a process of its own ---------------------------------------------------


def train_worker(url: str, workspace_id: str) -> int:
    """Run in a fresh process: `train_personal` as `afinidad recommend train` runs it (a store that takes the
    write lock at BEGIN), each step's name printed as it starts, the timings as JSON at the end."""
    settings = Settings(database_url=url)
    store = Store.from_url(url, sqlite_synchronous=settings.sqlite_synchronous, sqlite_immediate=True)
    marks: list[tuple[str, float]] = []

    def on_step(name: str) -> None:
        marks.append((name, time.perf_counter()))
        print(f"step: {name}", flush=True)

    started = time.perf_counter()
    trained = train_personal(store, workspace_id, on_step=on_step)
    finished = time.perf_counter()
    store.dispose()
    ends = [at for _, at in marks[1:]] + [finished]
    steps = [{"step": name, "seconds": round(end - at, 3)} for (name, at), end in zip(marks, ends, strict=True)]
    print(json.dumps({"seconds": round(finished - started, 3), "steps": steps, "trained": asdict(trained)}))
    return 0


def train_end_to_end(database: Database, workspace_id: str, label: str) -> dict[str, Any]:
    log_path = RESULTS / f"recommend-{database.kind}-train.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--train-worker", database.url, workspace_id]
    with progress_bar() as progress:
        task = progress.add_task(f"{label}: train_personal", total=None)

        def on_sample(_: Any) -> None:
            lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("step: ")]
            if lines:
                progress.update(task, description=f"{label}: train_personal, {lines[-1][6:]}")

        run = run_measured(command, env=dict(os.environ), log_path=log_path, interval=0.1, on_sample=on_sample)
    if run.returncode != 0:
        return {"error": run.output().strip().splitlines()[-8:], "log": str(log_path)}
    figures = json.loads(run.output().strip().splitlines()[-1])
    return figures | {"wall_seconds": round(run.seconds, 2), "cpu_seconds": round(run.cpu_seconds, 2),
                      "peak_mib": round(run.peak_bytes / MIB, 1), "log": str(log_path)}  # fmt: skip


def read_events_alone(store: Store, workspace_id: str) -> tuple[Interactions, float]:
    """The baseline of the first step: the same events read into the same interactions, nothing else."""
    started = time.perf_counter()
    with store.reader() as session:
        data, _ = workspace_interactions(session, workspace_id)
    return data, time.perf_counter() - started


# -- 3. serving under load ----------------------------------------------------------------------------------


def run_phase(server: ServerProcess, secret_key: str, endpoint: str, paths: Sequence[str], clients: int,
              seconds: float, label: str, keep_bodies: bool = False, start: int = 0,
              offered_per_second: float | None = None) -> LoadPhase:  # fmt: skip
    headers = {"Authorization": f"Bearer {secret_key}", "Accept": "application/json"}
    calls = [("GET", path, None) for path in paths]
    return run_load_phase(server, headers, endpoint, calls, clients, seconds, label, ("GET", SERVER_ROUTES[endpoint]),
                          keep_bodies, start, offered_per_second)  # fmt: skip


def check_answers(phases: Sequence[LoadPhase], identifiers: Sequence[str], shop: Shop) -> dict[str, Any]:
    """Every recommendation answer against what the generator knows."""
    answers = empty = short = repeats = out_of_stock = already_bought = unknown = 0
    items_seen = own_department_items = 0
    policies: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    distinct: set[str] = set()
    decision_ids: set[str] = set()
    chance: list[float] = []  # the share of the in-stock catalog in each answered shopper's own departments
    in_stock_by_department = Counter(shop.department_of[pid] for pid in shop.in_stock)
    shopper_of = {shopper.user_id: shopper for shopper in shop.shoppers}
    examples: list[dict[str, Any]] = []
    for phase in phases:
        for index, body in phase.bodies:
            answer = orjson.loads(body)
            shopper = shopper_of[identifiers[index]]
            items = answer.get("items") or []
            answers += 1
            decision_ids.add(answer.get("decision_id"))
            policies[str(answer.get("policy"))] += 1
            ids = [item["product_id"] for item in items]
            empty += not ids
            short += 0 < len(ids) < RECOMMENDED
            repeats += len(ids) != len(set(ids))
            out_of_stock += sum(pid not in shop.in_stock for pid in ids)
            unknown += sum(pid not in shop.department_of for pid in ids)
            already_bought += sum(pid in shop.facts.bought.get(shopper.user_id, ()) for pid in ids)
            own_department_items += sum(shop.department_of.get(pid) in shopper.departments for pid in ids)
            items_seen += len(ids)
            distinct.update(ids)
            for item in items:
                reasons[re.sub(r"[\"“«].*", "…", str(item.get("reason")))[:60]] += 1
            chance.append(sum(in_stock_by_department[name] for name in shopper.departments) / len(shop.in_stock))
            if len(examples) < 2:
                examples.append({"identifier": shopper.user_id, "departments": shopper.departments,
                                 "policy": answer.get("policy"), "items": items[:3]})  # fmt: skip
    return {
        "answers": answers,
        "empty": empty,
        "fewer_than_n": short,
        "with_repeated_items": repeats,
        "items": items_seen,
        "items_out_of_stock": out_of_stock,
        "items_already_bought": already_bought,
        "items_not_in_catalog": unknown,
        "distinct_items": len(distinct),
        "policies": dict(policies),
        "decision_ids_unique": len(decision_ids) == answers,
        "share_in_own_departments": round(own_department_items / items_seen, 4) if items_seen else None,
        "chance_share_in_own_departments": round(statistics.fmean(chance), 4) if chance else None,
        "most_common_reasons": reasons.most_common(5),
        "examples": examples,
    }


def serve_and_measure(database: Database, secret_key: str, shop: Shop, plan: Plan, label: str,
                      console: Console) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(plan.seed + 5)
    identifiers = [rng.choice(shop.shoppers).user_id for _ in range(100_000)]
    paths = {
        "healthz": ["/healthz"],
        "catalog search": [f"/v1/catalog/search?limit={RECOMMENDED}&in_stock=true&facets=false"],
        "recommendations": [f"/v1/recommendations/{user}?n={RECOMMENDED}&in_stock=true" for user in identifiers],
    }
    log_path = RESULTS / f"recommend-{database.kind}-server.log"
    server = ServerProcess(database.url, log_path, **BENCHMARK_ENV)
    phases: dict[str, dict[str, Any]] = {}
    answered: list[LoadPhase] = []
    with server:
        sampler = MemorySampler(server.pid).start()
        started_rss = sampler.start_bytes
        # Warm-up: the first request loads the model; the rest fills the database's page cache.
        answered.append(run_phase(server, secret_key, "recommendations", paths["recommendations"], plan.clients,
                                  3.0, f"{label} warm-up", keep_bodies=True, start=90_000))  # fmt: skip
        run_phase(server, secret_key, "catalog search", paths["catalog search"], plan.clients, 1.0,
                  f"{label} warm-up")  # fmt: skip
        for endpoint in ("healthz", "catalog search", "recommendations"):
            keep = endpoint == "recommendations"
            single = run_phase(server, secret_key, endpoint, paths[endpoint], 1, plan.single_seconds, label, keep)
            many = run_phase(
                server, secret_key, endpoint, paths[endpoint], plan.clients, plan.seconds, label, keep, start=10_000
            )  # other shoppers than the one-client phase asked for
            phases[endpoint] = {"one_client": single.summary(), "many_clients": many.summary()}
            measured = [single, many]
            if keep and many.seconds and many.latencies_ms:  # the same clients at half the throughput they reached
                half = run_phase(
                    server,
                    secret_key,
                    endpoint,
                    paths[endpoint],
                    plan.clients,
                    plan.seconds,
                    label,
                    keep,
                    start=50_000,
                    offered_per_second=len(many.latencies_ms) / many.seconds / 2,
                )
                phases[endpoint]["half_load"] = half.summary()
                measured.append(half)
            if keep:
                answered += measured
            for phase in measured:
                if phase.failures:
                    console.print(f"[red]{label}, {endpoint}, {phase.clients} client(s): {phase.failures:,} "
                                  f"failures, e.g. {phase.failure_examples[0]}[/]")  # fmt: skip
        sampler.stop()
    ok_answers = sum(phase.statuses.get(200, 0) for phase in answered)
    store = Store.from_url(database.url)
    try:
        with store.reader() as session:
            logged = session.execute(select(func.count()).select_from(Decision)).scalar_one()
    finally:
        store.dispose()
    recs, search, health = (phases[name]["many_clients"] for name in ("recommendations", "catalog search",
                                                                       "healthz"))  # fmt: skip

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    return {
        "phases": phases,
        "aim_p99_ms": AIM_P99_MS,
        "aim_met": recs["p99_ms"] is not None and recs["p99_ms"] < AIM_P99_MS and not recs["failures"],
        "recommendations_over_search": {
            "p50": ratio(recs["p50_ms"], search["p50_ms"]),
            "p99": ratio(recs["p99_ms"], search["p99_ms"]),
            "throughput": ratio(recs["requests_per_second"], search["requests_per_second"]),
            "server_mean": ratio(recs["server_mean_ms"], search["server_mean_ms"]),
        },
        "recommendations_over_healthz_p99": ratio(recs["p99_ms"], health["p99_ms"]),
        "closed_loop_floor_ms": round(1000 * plan.clients / recs["requests_per_second"], 1)
        if recs["requests_per_second"]
        else None,
        "throughput_needed_for_aim": round(plan.clients / (AIM_P99_MS / 1000)),
        "checks": check_answers(answered, identifiers, shop)
        | {"decisions_logged": logged, "answers_ok": ok_answers, "one_decision_per_answer": logged == ok_answers},
        "server_peak_mib": round(sampler.peak_bytes / MIB, 1),
        "server_rss_at_start_mib": round(started_rss / MIB, 1),
        "server_log": str(log_path),
    }


# -- 4. where a recommendation's time goes ----------------------------------------------------------------


class StatementTimes:
    """Time per SQL statement, told apart by its text up to WHERE (parameters differ, the shape does not)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._started: list[float] = []

    def _before(self, *_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        shape = " ".join(statement.split())
        shape = re.sub(r"\(__\[POSTCOMPILE_\w+\]\)|\((?:\?|%\(\w+\)s)(?:, (?:\?|%\(\w+\)s))+\)", "(...)", shape)
        self.seconds[shape[:160]] += time.perf_counter() - self._started.pop()
        self.calls[shape[:160]] += 1

    def __enter__(self) -> StatementTimes:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)

    def summary(self, calls: int, top: int = 8) -> dict[str, Any]:
        """Per profiled call: all statements' time, and the `top` statement shapes by time."""
        return {
            "statements_ms_per_call": round(sum(self.seconds.values()) / calls * 1000, 3),
            "statements": [
                {
                    "statement": shape,
                    "calls_per_call": round(self.calls[shape] / calls, 2),
                    "ms_per_call": round(seconds / calls * 1000, 3),
                    "mean_ms": round(seconds / self.calls[shape] * 1000, 3),
                }
                for shape, seconds in self.seconds.most_common(top)
            ],
        }


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    for marker in ("site-packages/", "afinidad/", "benchmarks/", "lib/python3"):
        if marker in filename:
            filename = filename[filename.index(marker) :]
            break
    return f"{name} ({filename}:{line})" if line else name


SERVER_THREADS = 40  # anyio's default limit: how many calls of sync endpoints the server runs at once


def _threaded(call: Callable[[str], None], identifiers: Sequence[str], threads: int, seconds: float) -> dict:
    """`call` from `threads` threads at once for `seconds`, with the server's GIL switch interval: what the
    server's thread pool does, without HTTP."""
    latencies: list[float] = []
    errors: list[str] = []
    turn = itertools.count()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            identifier = identifiers[next(turn) % len(identifiers)]
            began = time.perf_counter()
            try:
                call(identifier)
            except Exception as error:  # noqa: BLE001 - counted and shown, the run goes on
                errors.append(f"{type(error).__name__}: {error}"[:300])
                continue
            latencies.append((time.perf_counter() - began) * 1000)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(Settings().gil_switch_interval_seconds)
    started = time.perf_counter()
    try:
        workers = [threading.Thread(target=worker, name=f"recommend-{index}") for index in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    elapsed = time.perf_counter() - started
    return {"threads": threads, "calls": len(latencies), "per_second": round(len(latencies) / elapsed, 1),
            **spread(latencies), "errors": len(errors), "error_examples": errors[:3]}  # fmt: skip


def profile_recommend(database: Database, workspace_id: str, shop: Shop, plan: Plan, label: str) -> dict[str, Any]:
    """`recommend()` in this process, as the router calls it (one committed session per call), on a store
    opened as the server opens it: timed one call after another, then from 1 and from SERVER_THREADS threads
    at once (what the server's thread pool sees, without HTTP), then under cProfile with its statements timed."""
    settings = Settings(database_url=database.url)
    store = Store.from_url(database.url, sqlite_synchronous=settings.sqlite_synchronous)
    rng = random.Random(plan.seed + 7)
    identifiers = [rng.choice(shop.shoppers).user_id for _ in range(plan.profile_calls * 2 + 20)]
    path = RESULTS / f"recommend-{database.kind}-serving.prof"

    def one(identifier: str) -> None:
        with store.session() as session:
            recommend(session, workspace_id, Request(identifier=identifier, n=RECOMMENDED, in_stock=True))

    try:
        with progress_bar() as progress:
            task = progress.add_task(f"{label}: recommend() in-process", total=len(identifiers))
            for identifier in identifiers[:20]:  # the model is loaded, the page cache warm
                one(identifier)
                progress.advance(task)
            timed = []
            for identifier in identifiers[20 : 20 + plan.profile_calls]:
                began = time.perf_counter()
                one(identifier)
                timed.append((time.perf_counter() - began) * 1000)
                progress.advance(task)
            progress.update(task, description=f"{label}: recommend() in-process, 1 and {SERVER_THREADS} threads")
            threaded = [_threaded(one, identifiers, count, plan.single_seconds) for count in (1, SERVER_THREADS)]
            progress.update(task, description=f"{label}: recommend() in-process under cProfile")
            profile = cProfile.Profile()
            with StatementTimes(store.engine) as statements:
                profile.enable()
                for identifier in identifiers[20 + plan.profile_calls :]:
                    one(identifier)
                    progress.advance(task)
                profile.disable()
    finally:
        store.dispose()
    profile.dump_stats(str(path))
    calls = plan.profile_calls
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(value[2] for value in entries.values())
    own = sorted(entries.items(), key=lambda item: -item[1][2])[:15]
    ours = sorted(((key, value) for key, value in entries.items() if "/afinidad/" in key[0]),
                  key=lambda item: -item[1][3])[:15]  # fmt: skip
    return {
        "calls": calls,
        "unprofiled": spread(timed),
        "threaded": threaded,
        "profiled_ms_per_call": round(total / calls * 1000, 2),
        "profile_file": str(path),
        "own_time": [
            {
                "function": _where(key),
                "ms_per_call": round(value[2] / calls * 1000, 3),
                "share": round(value[2] / total, 3),
                "calls_per_call": round(value[1] / calls, 1),
            }
            for key, value in own
        ],  # fmt: skip
        "afinidad_inclusive": [
            {
                "function": _where(key),
                "ms_per_call": round(value[3] / calls * 1000, 3),
                "share": round(value[3] / total, 3),
            }
            for key, value in ours
        ],  # fmt: skip
        **statements.summary(calls),
    }


# -- one database --------------------------------------------------------------------------------------------


def run_database(database: Database, plan: Plan, shop: Shop, run_id: str, console: Console) -> dict[str, Any]:
    label = database.label
    settings = Settings(database_url=database.url)
    code_at_start = code_state()
    created = new_workspace(database.url, "recommend-bench")
    store = Store.from_url(database.url, sqlite_synchronous=settings.sqlite_synchronous, sqlite_immediate=True)
    shop.facts = ShopFacts()
    try:
        loaded = load_shop(store, created.id, shop, settings, run_id, label)
        training = train_end_to_end(database, created.id, label)
        data, read_seconds = read_events_alone(store, created.id)
        with store.reader() as session:
            active = next((row for row in versions(session, created.id) if row["active"]), None)
    finally:
        store.dispose()
    if "error" in training:
        console.print(f"[red]{label}: train_personal failed:\n" + "\n".join(training["error"]) + "[/]")
        return {"database": database.kind, "shop": loaded, "train_personal": training}
    training["events_read_alone_seconds"] = round(read_seconds, 2)
    training["model"] = active
    serving = serve_and_measure(database, created.secret_key, shop, plan, label, console)
    hotspots = profile_recommend(database, created.id, shop, plan, label)
    code_at_end = code_state()
    if code_at_end["source_sha256"] != code_at_start["source_sha256"]:
        console.print(f"[yellow]The afinidad source changed on disk during the {label} run (source "
                      f"{code_at_start['source_sha256']} at start, {code_at_end['source_sha256']} at end): the server "
                      "and the training process may have run different code.[/]")  # fmt: skip
    return {
        "database": database.kind,
        "code": code_at_start,
        "code_changed_during_run": code_at_end["source_sha256"] != code_at_start["source_sha256"],
        "database_settings": database_settings(database.url),
        "sqlite_synchronous": settings.sqlite_synchronous if database.kind == "sqlite" else None,
        "shop": loaded,
        "interactions": {"users": data.shape[0], "items": data.shape[1], "interactions": len(data)},
        "train_personal": training,
        "serving": serving,
        "profile": hotspots,
        "_interactions": data,  # for the single fits; removed before the JSON is written
    }


# -- reporting ----------------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return f"{value:,.1f}" if value is not None else "n/a"


def _three(figures: dict[str, Any]) -> str:
    return f"{_ms(figures['p50_ms'])} / {_ms(figures['p95_ms'])} / {_ms(figures['p99_ms'])} ms"


MODEL_NAMES = {"EASE": "EASE", "popularity": "popularity (baseline)", "item-kNN": "item-kNN, cosine, k=100 (baseline)",
               "ALS": "ALS, implicit's defaults (baseline)", "RP3beta": "RP3beta"}  # fmt: skip


def training_table(datasets: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="Training: one fit on the whole matrix, each in a fresh process (median of up to 3 fits)",
                  title_justify="left")  # fmt: skip
    table.add_column("Model")
    for data in datasets:
        table.add_column(f"{data['name']}\n{data['users']:,} x {data['items']:,}, {data['matrix_nonzeros']:,} nnz",
                         justify="right")  # fmt: skip
    for model, name in MODEL_NAMES.items():
        cells = []
        for data in datasets:
            fit = next((f for f in data["fits"] if f["model"] == model), None)
            if fit is None or "error" in fit:
                cells.append("[red]failed[/]" if fit else "")
                continue
            ease = next(f for f in data["fits"] if f["model"] == "EASE")
            relative = "" if model == "EASE" or "error" in ease or not fit["fit_seconds"] else \
                f" (EASE {ease['fit_seconds'] / fit['fit_seconds']:,.1f}x)"  # fmt: skip
            setting = ", ".join(f"{key} {value:g}" for key, value in fit["params"].items()) if model in (
                "EASE", "RP3beta") else ""  # fmt: skip
            if model == "EASE" and not fit["personal"]:
                setting += "\n(above the item limit: not used)"
            cells.append(("[bold]the personal model[/]\n" if fit["personal"] else "")
                         + f"{fit['fit_seconds']:,.3f} s{relative}\npeak {fit['peak_mib']:,.0f} MiB "
                         f"(+{fit['added_mib']:,.0f})" + (f"\n{setting}" if setting else ""))  # fmt: skip
        table.add_row(name, *cells, end_section=True)
    table.caption = ("(EASE Nx): EASE's fit time as a multiple of this model's. peak: VmHWM of the fitting process; "
                     "(+N): what the fit added over the loaded matrix and libraries.")  # fmt: skip
    return table


def database_table(result: dict[str, Any], plan: Plan) -> Table:
    label = DATABASE_NAMES[result["database"]]
    shop, training = result["shop"], result["train_personal"]
    serving, checks = result["serving"], result["serving"]["checks"]
    table = Table(title=f"Recommendations on {label}", title_justify="left")
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    table.add_column("Baseline / aim / expected", justify="right")
    table.add_column("", justify="center")
    table.add_row(f"Catalog: {shop['products']:,} products ({shop['products_in_stock']:,} in stock), upserted",
                  f"{shop['catalog_seconds']:.1f} s", "", "")  # fmt: skip
    by_name = ", ".join(f"{count:,} {name.split()[-1].lower()}" for name, count in shop["events_by_name"].items())
    table.add_row(f"Events: {shop['events_stored']:,} stored of {shop['events_generated']:,} "
                  f"({by_name}), {shop['shoppers']:,} shoppers", f"{shop['events_seconds']:.1f} s",
                  f"{shop['events_per_second']:,.0f} events/s", _flag(shop["events_rejected"] == 0
                  and shop["events_stored"] == shop["events_generated"]))  # fmt: skip
    model = training.get("model") or {}
    interactions = result["interactions"]
    table.add_row(f"train_personal end to end ({model.get('algorithm')}, {interactions['users']:,} people x "
                  f"{interactions['items']:,} products, {interactions['interactions']:,} interactions)",
                  f"{training['wall_seconds']:.1f} s", f"peak {training['peak_mib']:,.0f} MiB", "")  # fmt: skip
    for step in training["steps"]:
        baseline = f"read alone: {training['events_read_alone_seconds']:.1f} s" if step["step"].startswith("reading") \
            else ""  # fmt: skip
        table.add_row(f"  {step['step']}", f"{step['seconds']:.1f} s", baseline, "")
    metrics = model.get("metrics") or {}
    if metrics:
        table.add_row("  the model on a time split: NDCG@10", f"{metrics.get('ndcg10', 0):.4f}",
                      f"popularity {metrics.get('popularity_ndcg10', 0):.4f}",
                      _flag(metrics.get("ndcg10", 0) > metrics.get("popularity_ndcg10", 0)))  # fmt: skip
    phases = serving["phases"]
    for endpoint, title in (("recommendations", "GET /v1/recommendations/{id}?n=10&in_stock=true"),
                            ("catalog search", "baseline: GET /v1/catalog/search?limit=10&in_stock=true&facets=false"),
                            ("healthz", "floor: GET /healthz")):  # fmt: skip
        one, many = phases[endpoint]["one_client"], phases[endpoint]["many_clients"]
        is_recs = endpoint == "recommendations"
        table.add_row(
            f"{title}, {many['clients']} clients: p50 / p95 / p99",
            _three(many),
            f"p99 < {AIM_P99_MS:.0f} ms" if is_recs else "",
            verdict(serving["aim_met"]) if is_recs else "",
        )
        table.add_row(f"  {many['requests']:,} requests in {many['seconds']:.0f} s; server mean; server / client CPU",
                      f"{many['requests_per_second']:,.0f}/s", f"{_ms(many['server_mean_ms'])} ms; "
                      f"{many['server_cpu_percent']:.0f}% / {many['client_cpu_percent']:.0f}%",
                      f"[red]{many['failures']:,} failed[/]" if many["failures"] else "")  # fmt: skip
        table.add_row("  one client: p50 / p95 / p99", _three(one), f"{one['requests_per_second']:,.0f}/s", "")
        half = phases[endpoint].get("half_load")
        if half:
            table.add_row(f"  {half['clients']} clients at half that throughput ({half['offered_per_second']:,.0f}/s "
                          "offered, from the scheduled time): p50 / p95 / p99", _three(half),
                          f"{half['requests_per_second']:,.0f}/s done", "")  # fmt: skip
    ratios = serving["recommendations_over_search"]
    table.add_row("Recommendations / catalog search, 50 clients: p50 | p99 | server mean",
                  f"{ratios['p50']}x | {ratios['p99']}x | {ratios['server_mean']}x",
                  f"throughput {ratios['throughput']}x search's", "")  # fmt: skip
    table.add_row(f"  closed loop: {plan.clients} clients / throughput (mean latency floor)",
                  f"{_ms(serving['closed_loop_floor_ms'])} ms",
                  f"p99 < {AIM_P99_MS:.0f} ms needs > {serving['throughput_needed_for_aim']:,}/s", "")  # fmt: skip
    expected_ok = (checks["empty"] == 0 and checks["fewer_than_n"] == 0 and checks["with_repeated_items"] == 0
                   and checks["items_out_of_stock"] == 0 and checks["items_already_bought"] == 0
                   and checks["items_not_in_catalog"] == 0)  # fmt: skip
    table.add_row(f"Answers checked: empty | < {RECOMMENDED} items | repeats | out of stock | bought | unknown",
                  f"{checks['empty']} | {checks['fewer_than_n']} | {checks['with_repeated_items']} | "
                  f"{checks['items_out_of_stock']} | {checks['items_already_bought']} | "
                  f"{checks['items_not_in_catalog']}", f"all 0, of {checks['answers']:,} answers",
                  _flag(expected_ok))  # fmt: skip
    personal = checks["policies"].get("personal", 0)
    table.add_row("  personal answers (every shopper has a history)", f"{personal:,} of {checks['answers']:,}",
                  ", ".join(f"{k} {v:,}" for k, v in checks["policies"].items()),
                  _flag(personal == checks["answers"]))  # fmt: skip
    share, chance = checks["share_in_own_departments"], checks["chance_share_in_own_departments"]
    table.add_row("  items from the shopper's own departments", f"{share:.0%}" if share is not None else "n/a",
                  f"their share of the catalog: {chance:.0%}" if chance is not None else "",
                  _flag(share is not None and chance is not None and share > 2 * chance))  # fmt: skip
    table.add_row("  distinct products recommended; decisions logged", f"{checks['distinct_items']:,}",
                  f"{checks['decisions_logged']:,} logged for {checks['answers_ok']:,} answers",
                  _flag(checks["one_decision_per_answer"] and checks["decision_ids_unique"]))  # fmt: skip
    table.add_row("Server peak memory (VmHWM, with the writer process)", f"{serving['server_peak_mib']:,.0f} MiB",
                  f"at start {serving['server_rss_at_start_mib']:,.0f} MiB", "")  # fmt: skip
    profile = result["profile"]
    table.add_row(f"recommend() in-process, one call after another ({profile['calls']} calls): p50 / p95 / p99",
                  _three(profile["unprofiled"]), f"SQL execute {profile['statements_ms_per_call']:.1f} ms of "
                  f"{profile['profiled_ms_per_call']:.1f} ms profiled", "")  # fmt: skip
    for figures in profile["threaded"]:
        table.add_row(f"  from {figures['threads']} thread{'s' if figures['threads'] > 1 else ''} at once: p50 / p99, "
                      "calls/s", f"{_ms(figures['p50_ms'])} / {_ms(figures['p99_ms'])} ms",
                      f"{figures['per_second']:,.0f}/s", f"[red]{figures['errors']} errors[/]" if figures["errors"]
                      else "")  # fmt: skip
    return table


def profile_tables(result: dict[str, Any]) -> list[Table]:
    profile = result["profile"]
    label = DATABASE_NAMES[result["database"]]
    statements = Table(title=f"{label}: SQL of one recommend() (mean over {profile['calls']} calls, profiled)",
                       title_justify="left", caption="Time in the driver's execute: on SQLite up to the first row "
                       "only; fetching the other rows is counted in the Python table (fetchone).")  # fmt: skip
    for name, justify in (("ms/call", "right"), ("calls/call", "right"), ("mean ms", "right"), ("statement", "left")):
        statements.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in profile["statements"]:
        statements.add_row(f"{row['ms_per_call']:.2f}", f"{row['calls_per_call']:g}", f"{row['mean_ms']:.2f}",
                           row["statement"])  # fmt: skip
    functions = Table(title=f"{label}: Python of one recommend() ({profile['profiled_ms_per_call']:.1f} ms/call "
                      "under cProfile)", title_justify="left")  # fmt: skip
    for name in ("own ms/call", "own %", "function, own time", "incl. ms/call", "incl. %", "afinidad, inclusive"):
        functions.add_column(name, justify="left" if "function" in name or "afinidad" in name else "right")
    for index in range(max(len(profile["own_time"]), len(profile["afinidad_inclusive"]))):
        left = profile["own_time"][index] if index < len(profile["own_time"]) else None
        right = profile["afinidad_inclusive"][index] if index < len(profile["afinidad_inclusive"]) else None
        functions.add_row(f"{left['ms_per_call']:.2f}" if left else "", f"{left['share']:.0%}" if left else "",
                          left["function"] if left else "", f"{right['ms_per_call']:.2f}" if right else "",
                          f"{right['share']:.0%}" if right else "", right["function"] if right else "")  # fmt: skip
    return [statements, functions]


def summary_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Summary", title_justify="left")
    for heading in ("Database", "train_personal", "Recs p50 / p99, 50 clients", "Recs/s", "Search p50 / p99",
                    "Search/s", "Recs p99, 1 client", "Recs p99, half load", "Aim p99 < 25 ms"):  # fmt: skip
        table.add_column(heading, justify="left" if heading == "Database" else "right")
    for kind, result in results.items():
        if "serving" not in result:
            table.add_row(DATABASE_NAMES[kind], "[yellow]skipped or failed (see above)[/]", *[""] * 7)
            continue
        phases = result["serving"]["phases"]
        recs, search = phases["recommendations"]["many_clients"], phases["catalog search"]["many_clients"]
        table.add_row(DATABASE_NAMES[kind], f"{result['train_personal']['wall_seconds']:.0f} s",
                      f"{_ms(recs['p50_ms'])} / {_ms(recs['p99_ms'])} ms", f"{recs['requests_per_second']:,.0f}",
                      f"{_ms(search['p50_ms'])} / {_ms(search['p99_ms'])} ms", f"{search['requests_per_second']:,.0f}",
                      f"{_ms(phases['recommendations']['one_client']['p99_ms'])} ms",
                      f"{_ms((phases['recommendations'].get('half_load') or {}).get('p99_ms'))} ms",
                      verdict(result["serving"]["aim_met"]))  # fmt: skip
    return table


DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _flag(ok: bool) -> str:
    return "[green]as expected[/]" if ok else "[bold red]differs[/]"


# -- entry point --------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2,000 products, 1,000 shoppers, 30,000 events, 6 s phases (about 2 minutes)",
    )
    parser.add_argument("--seconds", type=float, default=None, help="each 50-client phase (default 20, quick 6)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--products", type=int, default=None, help="catalog size (default 10,000)")
    parser.add_argument("--shoppers", type=int, default=None, help="shoppers (default 5,000)")
    parser.add_argument("--events", type=int, default=None, help="product events, about (default 200,000)")
    parser.add_argument("--no-datasets", action="store_true", help="skip the fits on MovieLens and Online Retail")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, default=None, help="where the JSON goes")
    parser.add_argument("--fit-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--train-worker", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.fit_worker:
        return fit_worker(*arguments.fit_worker)
    if arguments.train_worker:
        return train_worker(*arguments.train_worker)
    plan = Plan.from_arguments(arguments)
    output = arguments.output or RESULTS / ("recommend-quick.json" if plan.quick else "recommend.json")
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=190)
    run_id = uuid.uuid4().hex[:8]
    kinds = ("sqlite", "postgres") if arguments.database == "both" else (arguments.database,)
    RESULTS.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]Afinidad recommendation benchmark[/] run {run_id}: {plan.products:,} products, {plan.shoppers:,} "
        f"shoppers, about {plan.events:,} events (seed {plan.seed}); {plan.clients} clients for {plan.seconds:.0f} s "
        f"per endpoint; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    code, load_before = announce_run(console)
    console.print("Rate limiter disabled for the benchmark (AFINIDAD_RATE_LIMIT_PER_SECOND=0).")
    shop = Shop(plan)
    datasets: list[dict[str, Any]] = []
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="afinidad-recommend-") as folder:
        if plan.datasets:
            datasets = train_on_datasets(Path(folder), console)
        for kind in kinds:
            started = time.perf_counter()
            try:
                with fresh_database(kind) as database:
                    results[kind] = run_database(database, plan, shop, run_id, console)
            except DatabaseUnavailable as reason:
                console.print(f"[yellow]Skipping PostgreSQL: {reason}[/]")
                results[kind] = {"database": kind, "skipped": str(reason)}
                continue
            results[kind]["wall_seconds"] = round(time.perf_counter() - started, 1)
            data = results[kind].pop("_interactions", None)
            if data is not None and not any(entry["name"] == "Synthetic shop" for entry in datasets):
                model = results[kind]["train_personal"].get("model") or {}
                chosen = model.get("params") or {}
                ease = {"regularization": chosen["regularization"]} if "regularization" in chosen else \
                    {"regularization": 250.0}  # fmt: skip
                rp3 = chosen if model.get("algorithm") == "RP3beta" else {"alpha": 0.8, "beta": 0.5, "neighbours": 200}
                specs = fit_specs(data.shape[1], ease, rp3)
                datasets.append(fit_all("Synthetic shop", data, specs, Path(folder), console))
            if "serving" in results[kind]:
                console.print(database_table(results[kind], plan))
                for table in profile_tables(results[kind]):
                    console.print(table)
    if datasets:
        console.print(training_table(datasets))
    console.print(summary_table(results))
    write_figures(
        console,
        output,
        benchmark="recommend",
        run_id=run_id,
        load_before=load_before,
        code=code,
        plan=asdict(plan),
        aims={"recommendations_p99_ms": AIM_P99_MS},
        training=datasets,
        databases=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
