"""Ingestion benchmark: how fast a real `afinidad serve` takes Segment traffic, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/ingest.py [--database sqlite|postgres|both] [--events N] [--quick] [--profile]

For each database, in one run, on a fresh database and a fresh workspace:

a) batched ingestion: several client connections post `/v1/batch` bodies of 100 realistic messages (pages,
   product views, add-to-carts, orders with products, identifies with e-mail; about 2,000 shoppers, most
   of whom sign in part-way, so identity resolution links and merges profiles for real);
b) latency of single `POST /v1/track` calls under 50 concurrent clients (p50 / p99);
c) the server's peak resident memory (kernel high-water mark, VmHWM);
d) the reference for (a): the very rows the API stored, inserted again with a bare SQLAlchemy Core
   `insert(Event)` executemany, one transaction per 100 rows (no HTTP, no validation, no identity
   resolution), so (a) can be read as a fraction of what the database itself allows.

Figures go to the terminal and to `benchmarks/results/ingest.json`. The product's aims (more than 5,000
events/s batched, p99 under 50 ms for a single track) are marked PASS/MISS for information only: the
benchmark never fails on them. The server's rate limiter is switched off (AFINIDAD_RATE_LIMIT_PER_SECOND=0)
so it does not cap what is measured. Client and server share the machine's cores, as they would in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.store.models import Event
from benchmarks.common import (
    MIB,
    RESULTS,
    Database,
    DatabaseUnavailable,
    KeepAliveConnection,
    MemorySampler,
    ServerProcess,
    ServerProfile,
    ThreadProfile,
    announce_run,
    code_state,
    cpu_seconds,
    database_settings,
    find_py_spy,
    fresh_database,
    identity_counts,
    mean_server_ms,
    new_workspace,
    percentile,
    progress_bar,
    server_timings,
    summarise_profile,
    verdict,
    write_figures,
)

AIM_EVENTS_PER_SECOND = 5_000
AIM_TRACK_P99_MS = 50.0
BENCHMARK_ENV = {"AFINIDAD_RATE_LIMIT_PER_SECOND": "0"}


@dataclass(frozen=True)
class Plan:
    events: int = 50_000
    batch_size: int = 100
    clients: int = 4
    track_calls: int = 5_000
    track_concurrency: int = 50
    shoppers: int = 2_000
    baseline_batch: int = 100
    seed: int = 20240601

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Plan:
        quick = arguments.quick
        return cls(
            events=arguments.events or (10_000 if quick else 50_000),
            clients=arguments.clients,
            track_calls=arguments.track_calls or (1_000 if quick else 5_000),
            track_concurrency=arguments.concurrency,
        )


# -- the workload: realistic Segment messages ------------------------------------------------------------

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1",
)
# (locale, time zone, first octets of address blocks allocated in that region)
REGIONS = (
    ("es-ES", "Europe/Madrid", (81, 83, 88)),
    ("en-US", "America/New_York", (24, 68, 73)),
    ("en-US", "America/Los_Angeles", (67, 76, 98)),
    ("en-GB", "Europe/London", (81, 86, 90)),
    ("pt-BR", "America/Sao_Paulo", (177, 187, 189)),
    ("de-DE", "Europe/Berlin", (79, 84, 91)),
    ("fr-FR", "Europe/Paris", (82, 86, 90)),
    ("es-MX", "America/Mexico_City", (187, 189, 201)),
)
CATEGORIES = ("Coffee", "Kitchen", "Books", "Outdoors", "Pets", "Beauty", "Toys", "Home")
NOUNS = ("Mug", "Kettle", "Novel", "Tent", "Leash", "Serum", "Puzzle", "Lamp", "Grinder", "Backpack")
ADJECTIVES = ("Classic", "Compact", "Deluxe", "Eco", "Nordic", "Pro", "Travel", "Vintage")
SITE = "https://shop.afinidad.example"
REFERRERS = ("https://www.google.com/", "https://www.instagram.com/", "", "https://duckduckgo.com/", "")
CAMPAIGNS = ("spring_sale", "newsletter_w18", "retargeting")
# Share of each kind of message; identify goes to page for shoppers who never sign in.
MESSAGE_MIX = (("page", 35), ("Product Viewed", 30), ("Product Added", 15), ("Order Completed", 8), ("identify", 12))
TRACK_MIX = (("Product Viewed", 65), ("Product Added", 25), ("Order Completed", 10))


@dataclass
class Device:
    """A browser: its own anonymous id until the shopper signs in on it."""

    anonymous_id: str
    user_agent: str
    signed_in: bool = False


@dataclass
class Shopper:
    user_id: str | None  # None: never signs in
    email: str | None
    phone: str | None
    first_name: str
    region: tuple[str, str, tuple[int, ...]]
    ip: str
    devices: list[Device]


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    name: str
    category: str
    price: float


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Workload:
    """Seeded shoppers and catalog; message ids carry the run's id, so reruns never collide."""

    def __init__(self, plan: Plan, run_id: str) -> None:
        self.plan = plan
        self.run_id = run_id
        self._rng = random.Random(plan.seed)
        rng = self._rng
        self.products = [
            Product(
                product_id=f"prod-{index:05d}",
                sku=f"SKU-{index:05d}",
                name=f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {index}",
                category=rng.choice(CATEGORIES),
                price=round(rng.uniform(4, 180), 2),
            )
            for index in range(400)
        ]
        self.shoppers = [self._shopper(index) for index in range(plan.shoppers)]
        # A heavy tail: a few shoppers are very active, most come by a few times.
        self._weights = _cumulative([rng.paretovariate(1.3) for _ in self.shoppers])
        self._serial = 0

    def _shopper(self, index: int) -> Shopper:
        """Two in three shoppers sign in at some point; a third of those also shop from a second device,
        whose anonymous profile is merged into theirs when they sign in there too."""
        rng = self._rng
        region = rng.choice(REGIONS)
        signs_in = rng.random() < 0.65
        devices = [self._device() for _ in range(2 if signs_in and rng.random() < 0.35 else 1)]
        return Shopper(
            user_id=f"user-{index:05d}" if signs_in else None,
            email=f"shopper{index:05d}@mail.example" if signs_in else None,
            phone=f"+1 415 555 {index % 10000:04d}" if signs_in and rng.random() < 0.3 else None,
            first_name=rng.choice(("Ana", "Luis", "Maria", "John", "Emma", "Lucas", "Sofia", "Noah")),
            region=region,
            ip=f"{rng.choice(region[2])}.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}",
            devices=devices,
        )

    def _device(self) -> Device:
        return Device(str(uuid.UUID(int=self._rng.getrandbits(128), version=4)), self._rng.choice(USER_AGENTS))

    def _next_id(self, tag: str) -> str:
        self._serial += 1
        return f"bench-{self.run_id}-{tag}-{self._serial:07d}"

    def message(self, kind: str, shopper: Shopper, tag: str, now: datetime) -> dict[str, Any]:
        rng = self._rng
        if kind == "identify" and shopper.user_id is None:
            kind = "page"
        device = shopper.devices[0] if len(shopper.devices) == 1 or rng.random() < 0.7 else shopper.devices[1]
        product = rng.choice(self.products)
        page_path = f"/p/{product.product_id}" if kind.startswith("Product") else f"/c/{product.category.lower()}"
        campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.15 else None
        url = f"{SITE}{page_path}" + (f"?utm_source=email&utm_campaign={campaign}" if campaign else "")
        context: dict[str, Any] = {
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "userAgent": device.user_agent,
            "ip": shopper.ip,
            "locale": shopper.region[0],
            "timezone": shopper.region[1],
            "page": {"path": page_path, "url": url, "referrer": rng.choice(REFERRERS), "title": product.category},
        }
        message: dict[str, Any] = {
            "messageId": self._next_id(tag),
            "anonymousId": device.anonymous_id,
            "timestamp": _iso(now - timedelta(milliseconds=rng.randrange(0, 120_000))),
            "context": context,
            "integrations": {},
        }
        if kind == "identify":
            device.signed_in = True
            traits: dict[str, Any] = {"email": shopper.email, "firstName": shopper.first_name}
            if shopper.phone:
                traits["phone"] = shopper.phone
            message |= {"type": "identify", "userId": shopper.user_id, "traits": traits}
            return message
        if device.signed_in:
            message["userId"] = shopper.user_id
        if kind == "page":
            message |= {"type": "page", "name": product.category, "properties": {"path": page_path, "url": url}}
            return message
        message |= {"type": "track", "event": kind, "properties": self._properties(kind, product)}
        return message

    def _properties(self, event: str, product: Product) -> dict[str, Any]:
        rng = self._rng
        if event != "Order Completed":
            return {
                "product_id": product.product_id,
                "sku": product.sku,
                "name": product.name,
                "category": product.category,
                "price": product.price,
                "quantity": 1 if event == "Product Viewed" else rng.randint(1, 3),
                "currency": "EUR",
                "url": f"{SITE}/p/{product.product_id}",
            }
        basket = rng.sample(self.products, rng.randint(1, 4))
        lines = [
            {
                "product_id": item.product_id,
                "sku": item.sku,
                "name": item.name,
                "category": item.category,
                "price": item.price,
                "quantity": rng.randint(1, 3),
            }
            for item in basket
        ]
        subtotal = round(sum(line["price"] * line["quantity"] for line in lines), 2)
        return {
            "order_id": f"ord-{self.run_id}-{self._serial}",
            "total": round(subtotal * 1.21 + 4.95, 2),
            "revenue": subtotal,
            "tax": round(subtotal * 0.21, 2),
            "shipping": 4.95,
            "currency": "EUR",
            "coupon": "SPRING10" if rng.random() < 0.1 else None,
            "products": lines,
        }

    def _pick(self, mix: Sequence[tuple[str, int]]) -> str:
        return self._rng.choices([kind for kind, _ in mix], weights=[weight for _, weight in mix])[0]

    def _shopper_pick(self) -> Shopper:
        return self._rng.choices(self.shoppers, cum_weights=self._weights)[0]

    def batches(self, count: int, tag: str = "b") -> list[tuple[bytes, int]]:
        """`/v1/batch` bodies, serialised up front so the clients spend no time building them."""
        now = datetime.now(UTC)
        bodies = []
        for start in range(0, count, self.plan.batch_size):
            size = min(self.plan.batch_size, count - start)
            batch = [self.message(self._pick(MESSAGE_MIX), self._shopper_pick(), tag, now) for _ in range(size)]
            bodies.append((orjson.dumps({"batch": batch, "sentAt": _iso(now)}), size))
        return bodies

    def tracks(self, count: int, tag: str = "t") -> list[bytes]:
        now = datetime.now(UTC)
        bodies = []
        for _ in range(count):
            message = self.message(self._pick(TRACK_MIX), self._shopper_pick(), tag, now)
            message["sentAt"] = _iso(now)
            message.pop("type", None)  # the endpoint implies it, as Segment's libraries rely on
            bodies.append(orjson.dumps(message))
        return bodies


def _cumulative(weights: list[float]) -> list[float]:
    total, cumulative = 0.0, []
    for weight in weights:
        total += weight
        cumulative.append(total)
    return cumulative


# -- measuring -------------------------------------------------------------------------------------------


def _headers(write_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


@dataclass
class Outcome:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    finished: list[tuple[float, int]] = field(default_factory=list)  # (perf_counter, events) per answer
    started: float = 0.0
    seconds: float = 0.0

    def rate_by_part(self, parts: int = 5) -> list[float]:
        """Events/s within each successive part of the events sent (does throughput hold as tables grow?)."""
        if not self.finished:
            return []
        ordered = sorted(self.finished)
        total = sum(events for _, events in ordered)
        rates, done, part_started, part_events = [], 0, self.started, 0
        for moment, events in ordered:
            done += events
            part_events += events
            if done >= total * (len(rates) + 1) / parts:
                rates.append(part_events / (moment - part_started) if moment > part_started else 0.0)
                part_started, part_events = moment, 0
        return rates


def post_batches(
    base_url: str, write_key: str, bodies: list[tuple[bytes, int]], clients: int, advance: Callable[[int], None]
) -> Outcome:
    """Each client thread keeps one connection open and posts batches back to back until none are left."""
    work: queue.Queue[tuple[bytes, int]] = queue.Queue()
    for item in bodies:
        work.put(item)
    outcome = Outcome(sent=sum(size for _, size in bodies))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base_url, headers=_headers(write_key), timeout=120) as http:
            while True:
                try:
                    body, size = work.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                try:
                    response = http.post("/v1/batch", content=body)
                except httpx.HTTPError as error:
                    with lock:
                        outcome.failures.append(f"{type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - started
                with lock:
                    outcome.latencies.append(elapsed)
                    if response.status_code == 200:
                        answer = response.json()
                        outcome.finished.append((time.perf_counter(), answer["accepted"]))
                        outcome.accepted += answer["accepted"]
                        outcome.duplicates += answer["duplicates"]
                    else:
                        outcome.failures.append(f"HTTP {response.status_code}: {response.text[:300]}")
                advance(size)

    threads = [threading.Thread(target=client, name=f"batch-client-{n}") for n in range(clients)]
    outcome.started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.seconds = time.perf_counter() - outcome.started
    return outcome


async def _post_tracks(
    base_url: str, write_key: str, bodies: list[bytes], concurrency: int, advance: Callable[[int], None]
) -> Outcome:
    """`concurrency` clients, each on its own keep-alive connection, send single tracks back to back."""
    address = httpx.URL(base_url)
    outcome = Outcome(sent=len(bodies))
    pending = iter(bodies)  # shared: each body is sent once, by whichever client is free

    async def client() -> None:
        connection = KeepAliveConnection(address.host, address.port or 80, _headers(write_key))
        try:
            for body in pending:
                started = time.perf_counter()
                try:
                    status, content = await connection.post("/v1/track", body)
                except (OSError, asyncio.IncompleteReadError) as error:
                    outcome.failures.append(f"{type(error).__name__}: {error}")
                    await connection.close()
                    continue
                outcome.latencies.append(time.perf_counter() - started)
                if status == 200:
                    outcome.accepted += orjson.loads(content)["accepted"]
                else:
                    outcome.failures.append(f"HTTP {status}: {content[:300].decode(errors='replace')}")
                advance(1)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    outcome.seconds = time.perf_counter() - started
    return outcome


def post_tracks(
    base_url: str, write_key: str, bodies: list[bytes], concurrency: int, advance: Callable[[int], None]
) -> Outcome:
    return asyncio.run(_post_tracks(base_url, write_key, bodies, concurrency, advance))


_WRK_SCRIPT = """
local counter = 0
local thread_id = 0
function setup(thread) thread_id = thread_id + 1; thread:set("tid", thread_id) end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"type":"track","userId":"wrk-user-%d","event":"Product Viewed","messageId":"%s-%s-%d",'
    .. '"properties":{"product_id":"prod-%05d","price":12.5,"currency":"EUR"},'
    .. '"context":{"ip":"203.0.113.7","timezone":"Europe/Madrid","locale":"es-ES",'
    .. '"userAgent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"}}',
    counter % 2000, PREFIX, tid or 0, counter, counter % 400)
  return wrk.format("POST", "/v1/track", {["Content-Type"]="application/json", ["Authorization"]=AUTH}, body)
end
"""


def wrk_tracks(base_url: str, write_key: str, prefix: str, connections: int, seconds: int) -> dict[str, Any] | None:
    """Single tracks from wrk, a C load generator: it needs a sliver of a core where the Python client needs
    most of one, so on a 2-core machine it measures the server rather than the client. None without wrk."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    authorization = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'local AUTH = "{authorization}"\nlocal PREFIX = "{prefix}"\n{_WRK_SCRIPT}')
    try:
        result = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, base_url],
            capture_output=True, text=True, timeout=seconds + 60, check=False,
        )  # fmt: skip
    finally:
        Path(script.name).unlink(missing_ok=True)
    text = result.stdout

    def latency(label: str) -> float | None:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
        if not found:
            return None
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    requests = re.search(r"^\s*(\d+) requests in", text, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "connections": connections,
        "seconds": seconds,
        "requests": int(requests.group(1)) if requests else None,
        "requests_per_second": float(rate.group(1)) if rate else None,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "aim_p99_ms": AIM_TRACK_P99_MS,
        "aim_met": (latency("99") or float("inf")) < AIM_TRACK_P99_MS,
    }


def baseline_insert(store: Store, rows: list[dict[str, Any]], batch: int, advance: Callable[[int], None]) -> float:
    """The reference: insert `rows` with a bare executemany, one transaction per `batch` rows. Returns seconds."""
    statement = insert(Event)
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        with store.engine.begin() as connection:
            connection.execute(statement, chunk)
        advance(len(chunk))
    return time.perf_counter() - started


def stored_rows(store: Store, workspace_id: str, message_prefix: str) -> list[dict[str, Any]]:
    """The rows the API produced (everything but `seq`), read back to replay in the baseline."""
    columns = [column for column in Event.__table__.columns if column.key != "seq"]
    with store.reader() as session:
        result = session.execute(
            select(*columns)
            .where(Event.workspace_id == workspace_id, Event.message_id.like(f"{message_prefix}%"))
            .order_by(Event.seq)
        )
        return [dict(row._mapping) for row in result]


# -- one database ----------------------------------------------------------------------------------------


def run_database(
    database: Database, plan: Plan, run_id: str, console: Console, *, profile: bool, log_folder: Path
) -> dict[str, Any]:
    settings = Settings(database_url=database.url)
    workspace = new_workspace(database.url, "bench-ingest")
    workload = Workload(plan, run_id)
    warmup_batches = workload.batches(plan.batch_size * plan.clients, tag="warm")
    batch_bodies = workload.batches(plan.events, tag="b")
    warmup_tracks = workload.tracks(plan.track_concurrency, tag="warmt")
    track_bodies = workload.tracks(plan.track_calls, tag="t")
    py_spy = find_py_spy() if profile else None
    if profile and py_spy is None:
        console.print("[yellow]--profile: py-spy not found (set AFINIDAD_BENCH_PY_SPY or put it on PATH).[/]")
    profiles: dict[str, str] = {}

    code_at_start = code_state()
    server = ServerProcess(database.url, log_folder / f"ingest-{database.kind}-server.log", **BENCHMARK_ENV)
    sampler: MemorySampler | None = None
    try:
        server.start()
        sampler = MemorySampler(server.pid).start()
        with progress_bar() as progress:
            task = progress.add_task(f"{database.label}: warm-up", total=len(warmup_batches) * plan.batch_size)
            post_batches(server.base_url, workspace.write_key, warmup_batches, plan.clients,
                         lambda n: progress.advance(task, n))  # fmt: skip
            post_tracks(server.base_url, workspace.write_key, warmup_tracks, plan.track_concurrency, lambda n: None)

            task = progress.add_task(f"{database.label}: /v1/batch x{plan.clients} clients", total=plan.events)
            with _Phase(server, py_spy, database.kind, "batch") as batch_phase:
                batched = post_batches(server.base_url, workspace.write_key, batch_bodies, plan.clients,
                                       lambda n: progress.advance(task, n))  # fmt: skip

            task = progress.add_task(
                f"{database.label}: /v1/track x{plan.track_concurrency} clients", total=plan.track_calls
            )
            with _Phase(server, py_spy, database.kind, "track") as track_phase:
                tracked = post_tracks(server.base_url, workspace.write_key, track_bodies, plan.track_concurrency,
                                      lambda n: progress.advance(task, n))  # fmt: skip
            console.print(f"{database.label}: /v1/track x{plan.track_concurrency} connections from wrk, 10 s ...")
            wrk_result = wrk_tracks(server.base_url, workspace.write_key, f"wrk-{run_id}", plan.track_concurrency, 10)
            if wrk_result is None:
                console.print("[yellow]wrk not found: the C load generator phase is skipped (apt-get install wrk).[/]")
        for phase in (batch_phase, track_phase):
            if phase.profile_path:
                profiles[phase.name] = str(phase.profile_path)
    finally:
        if sampler is not None:
            sampler.stop()  # before the server stops: it reads the server's high-water mark
        server.stop()

    code_at_end = code_state()
    if code_at_end["source_sha256"] != code_at_start["source_sha256"]:
        console.print(
            "[yellow]The afinidad source changed while this database was measured; the server kept running "
            f"the code it loaded at start ({code_at_start['source_sha256']}).[/]"
        )
    for name, outcome in (("batch", batched), ("track", tracked)):
        if outcome.failures:
            console.print(f"[red]{len(outcome.failures)} failed {name} requests; first: {outcome.failures[0]}[/]")

    store = Store.from_url(database.url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        counts = identity_counts(store, workspace.id)
        rows = stored_rows(store, workspace.id, f"bench-{run_id}-b-")
        for row in rows:
            row["message_id"] = "baseline-" + row["message_id"]
        with progress_bar() as progress:
            task = progress.add_task(f"{database.label}: baseline executemany", total=len(rows))
            baseline_seconds = baseline_insert(store, rows, plan.baseline_batch, lambda n: progress.advance(task, n))
    finally:
        store.dispose()

    events_per_second = batched.accepted / batched.seconds if batched.seconds else 0.0
    baseline_per_second = len(rows) / baseline_seconds if baseline_seconds else 0.0
    p50 = percentile(tracked.latencies, 0.50) * 1000
    p99 = percentile(tracked.latencies, 0.99) * 1000
    return {
        "database": database.kind,
        "code": code_at_start,
        "server": {
            "rate_limit_per_second": 0,
            "sqlite_synchronous": settings.sqlite_synchronous if database.kind == "sqlite" else None,
            "writer_max_group": settings.writer_max_group,
            "database_settings": database_settings(database.url),
        },
        "batched": {
            "events_sent": batched.sent,
            "events_accepted": batched.accepted,
            "duplicates": batched.duplicates,
            "failed_requests": len(batched.failures),
            "seconds": round(batched.seconds, 3),
            "events_per_second": round(events_per_second, 1),
            "request_p50_ms": round(percentile(batched.latencies, 0.50) * 1000, 2),
            "request_p99_ms": round(percentile(batched.latencies, 0.99) * 1000, 2),
            "server_mean_request_ms": _rounded(
                mean_server_ms(batch_phase.timings_before, batch_phase.timings_after, "POST", "/v1/batch")
            ),
            "server_cpu_percent": round(batch_phase.server_cpu_percent, 1),
            "events_per_second_by_fifth": [round(rate, 1) for rate in batched.rate_by_part(5)],
            "aim_events_per_second": AIM_EVENTS_PER_SECOND,
            "aim_met": events_per_second > AIM_EVENTS_PER_SECOND,
        },
        "track": {
            "calls": tracked.sent,
            "accepted": tracked.accepted,
            "failed_requests": len(tracked.failures),
            "seconds": round(tracked.seconds, 3),
            "calls_per_second": round(len(tracked.latencies) / tracked.seconds, 1) if tracked.seconds else 0.0,
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(max(tracked.latencies, default=float("nan")) * 1000, 2),
            "server_mean_ms": _rounded(
                mean_server_ms(track_phase.timings_before, track_phase.timings_after, "POST", "/v1/track")
            ),
            "server_cpu_percent": round(track_phase.server_cpu_percent, 1),
            "aim_p99_ms": AIM_TRACK_P99_MS,
            "aim_met": p99 < AIM_TRACK_P99_MS,
        },
        "track_wrk": wrk_result,
        "memory": {
            "rss_at_start_mib": round(sampler.start_bytes / MIB, 1) if sampler else None,
            "peak_rss_mib": round(sampler.peak_bytes / MIB, 1) if sampler else None,
            "vm_hwm_mib": round(sampler.high_water_bytes / MIB, 1) if sampler and sampler.high_water_bytes else None,
        },
        "baseline": {
            "rows": len(rows),
            "rows_per_transaction": plan.baseline_batch,
            "seconds": round(baseline_seconds, 3),
            "rows_per_second": round(baseline_per_second, 1),
            "ratio": round(events_per_second / baseline_per_second, 3) if baseline_per_second else None,
        },
        "identity": counts,
        "profiles": profiles,
    }


class _Phase:
    """Around one measured phase: the server's CPU use and own timings (from /metrics), and optionally a
    py-spy profile of it."""

    def __init__(self, server: ServerProcess, py_spy: str | None, kind: str, name: str) -> None:
        self.name = name
        self._server = server
        self._py_spy = py_spy
        self.profile_path = RESULTS / f"ingest-{kind}-{name}.collapsed" if py_spy else None
        self._recorder: ServerProfile | None = None
        self.timings_before: dict[tuple[str, str, str], tuple[float, int]] = {}
        self.timings_after: dict[tuple[str, str, str], tuple[float, int]] = {}
        self.server_cpu_percent = 0.0

    def __enter__(self) -> _Phase:
        self.timings_before = server_timings(self._server.base_url)
        if self._py_spy and self.profile_path:
            self._recorder = ServerProfile(self._py_spy, self._server.pid, self.profile_path)
        self._cpu = cpu_seconds(self._server.pid)
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        elapsed = time.perf_counter() - self._started
        self.server_cpu_percent = (cpu_seconds(self._server.pid) - self._cpu) / elapsed * 100 if elapsed else 0.0
        if self._recorder is not None:
            self._recorder.stop()
        self.timings_after = server_timings(self._server.base_url)


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return round(value, digits) if value is not None else None


# -- reporting -------------------------------------------------------------------------------------------


def _number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    return f"{value:.1f} ms" if value is not None else "n/a"


def database_table(label: str, result: dict[str, Any], plan: Plan) -> Table:
    batched, track, memory = result["batched"], result["track"], result["memory"]
    baseline, identity = result["baseline"], result["identity"]
    server = result["server"]
    if server["sqlite_synchronous"]:
        durability = f"WAL, synchronous={server['sqlite_synchronous']}"
    else:
        found = server["database_settings"]
        durability = ", ".join(f"{name}={found[name]}" for name in ("fsync", "synchronous_commit", "autovacuum"))
    table = Table(title=f"Ingestion on {label} ({durability})", title_justify="left", show_lines=False)
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    table.add_column("Aim", justify="right")
    table.add_column("", justify="center")
    table.add_row(
        f"Batched /v1/batch ({plan.clients} clients, {plan.batch_size}/batch)",
        f"{_number(batched['events_per_second'])} events/s",
        f"> {_number(AIM_EVENTS_PER_SECOND)} events/s",
        verdict(batched["aim_met"]),
    )
    table.add_row(
        "  events accepted / sent, time",
        f"{_number(batched['events_accepted'])} / {_number(batched['events_sent'])} in {batched['seconds']:.1f} s",
        "",
        "",
    )
    table.add_row(
        "  batch request p50 / p99 (client) | mean in app (server)",
        f"{batched['request_p50_ms']:.0f} / {batched['request_p99_ms']:.0f} | {_ms(batched['server_mean_request_ms'])}",
        "",
        "",
    )
    table.add_row("  server CPU (200% = both cores)", f"{batched['server_cpu_percent']:.0f}%", "", "")
    fifths = batched["events_per_second_by_fifth"]
    if fifths:
        table.add_row("  events/s in each fifth of the run", " / ".join(f"{rate:,.0f}" for rate in fifths), "", "")
    table.add_row(
        f"Single /v1/track p50 ({plan.track_concurrency} concurrent clients)", f"{track['p50_ms']:.1f} ms", "", ""
    )
    table.add_row(
        "Single /v1/track p99",
        f"{track['p99_ms']:.1f} ms",
        f"< {AIM_TRACK_P99_MS:.0f} ms",
        verdict(track["aim_met"]),
    )
    table.add_row(
        "  track calls, throughput, max",
        f"{_number(track['calls'])}, {_number(track['calls_per_second'])}/s, max {track['max_ms']:.0f} ms",
        "",
        "",
    )
    table.add_row(
        "  track mean in app (server) | server CPU",
        f"{_ms(track['server_mean_ms'])} | {track['server_cpu_percent']:.0f}%",
        "",
        "",
    )
    wrk_result = result.get("track_wrk")
    if wrk_result:
        table.add_row(
            f"Single /v1/track from wrk ({wrk_result['connections']} connections) p50 / p99",
            f"{_ms(wrk_result['p50_ms'])} / {_ms(wrk_result['p99_ms'])}",
            f"p99 < {AIM_TRACK_P99_MS:.0f} ms",
            verdict(wrk_result["aim_met"]),
        )
        table.add_row(
            "  wrk requests, throughput, non-2xx",
            f"{_number(wrk_result['requests'] or 0)}, {_number(wrk_result['requests_per_second'] or 0)}/s, "
            f"{wrk_result['non_2xx']}",
            "",
            "",
        )
    table.add_row(
        "Server peak RSS (VmHWM)",
        f"{memory['peak_rss_mib']:.0f} MiB",
        f"(at start {memory['rss_at_start_mib']:.0f})",
        "",
    )
    table.add_row(
        f"Baseline: bare executemany, {baseline['rows_per_transaction']} rows/transaction",
        f"{_number(baseline['rows_per_second'])} rows/s",
        "",
        "",
    )
    ratio = baseline["ratio"]
    table.add_row("Batched HTTP as a share of baseline", f"{ratio:.1%}" if ratio is not None else "n/a", "", "")
    table.add_row(
        "Identity work (profiles / merged away / merges)",
        f"{_number(identity['profiles'])} / {_number(identity['profiles_merged_away'])} / "
        f"{_number(identity['merge_decisions'])}",
        "",
        "",
    )
    failures = batched["failed_requests"] + track["failed_requests"]
    if failures:
        table.add_row("[red]Failed requests[/]", f"[red]{failures}[/]", "", "")
    return table


def summary_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Summary", title_justify="left")
    for column in ("Database", "Batched events/s", "vs baseline", "track p50", "track p99", "wrk p99", "Peak RSS"):
        table.add_column(column, justify="left" if column == "Database" else "right")
    for kind, result in results.items():
        label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[kind]
        if "skipped" in result:
            table.add_row(label, "[yellow]skipped (see above)[/]", "", "", "", "", "")
            continue
        batched, track = result["batched"], result["track"]
        ratio = result["baseline"]["ratio"]
        table.add_row(
            label,
            f"{_number(batched['events_per_second'])} {verdict(batched['aim_met'])}",
            f"{ratio:.1%}" if ratio is not None else "n/a",
            f"{track['p50_ms']:.1f} ms",
            f"{track['p99_ms']:.1f} ms {verdict(track['aim_met'])}",
            f"{_ms(result['track_wrk']['p99_ms'])} {verdict(result['track_wrk']['aim_met'])}"
            if result.get("track_wrk")
            else "n/a",
            f"{result['memory']['peak_rss_mib']:.0f} MiB",
        )
    return table


def print_profile(console: Console, label: str, phase: str, path: Path, top: int = 12) -> None:
    threads = summarise_profile(path)
    if not any(thread.samples for thread in threads):
        console.print(f"[yellow]{label} {phase}: the profile has no samples ({path}).[/]")
        return
    console.print(f"\n[bold]{label}, {phase} phase: where the server's time goes[/] ({path}; waiting included)")
    for thread in threads:
        if thread.name.endswith("AnyIO worker thread") and len(thread.leaf) <= 2:
            continue  # FastAPI's thread pool, idle during ingestion
        console.print(_profile_table(thread, top))


def _profile_table(thread: ThreadProfile, top: int) -> Table:
    """Left: the project's own functions by inclusive share (what part of the product the thread was in);
    right: innermost frames of any library (what it was actually doing: waiting, driver, pydantic...)."""
    table = Table(title=f"thread {thread.name}: {thread.samples} samples", title_justify="left")
    table.add_column("incl.", justify="right")
    table.add_column("afinidad function (file), inclusive")
    table.add_column("leaf", justify="right")
    table.add_column("innermost frame")
    own = [
        (name, count)
        for name, count in thread.inclusive.most_common()
        if "(afinidad/" in name and "(afinidad/cli/" not in name and "__main__" not in name
    ][:top]
    leaves = thread.leaf.most_common(top)
    for index in range(max(len(own), len(leaves))):
        left = own[index] if index < len(own) else ("", 0)
        right = leaves[index] if index < len(leaves) else ("", 0)
        table.add_row(
            f"{left[1] / thread.samples:.0%}" if left[0] else "",
            left[0],
            f"{right[1] / thread.samples:.0%}" if right[0] else "",
            right[0],
        )
    return table


# -- entry point -----------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=0, help="events for the batched phase (default 50,000)")
    parser.add_argument("--track-calls", type=int, default=0, help="single /v1/track calls (default 5,000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections posting batches")
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent /v1/track clients")
    parser.add_argument("--quick", action="store_true", help="10,000 events and 1,000 track calls")
    parser.add_argument("--profile", action="store_true", help="record the server with py-spy while measuring")
    parser.add_argument("--output", type=Path, default=RESULTS / "ingest.json", help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    plan = Plan.from_arguments(arguments)
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=140)
    run_id = uuid.uuid4().hex[:8]
    kinds = ("sqlite", "postgres") if arguments.database == "both" else (arguments.database,)
    RESULTS.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]Afinidad ingestion benchmark[/] run {run_id}: {_number(plan.events)} batched events, "
        f"{_number(plan.track_calls)} single tracks, {plan.shoppers:,} shoppers, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    console.print(
        "Rate limiter disabled for the benchmark (AFINIDAD_RATE_LIMIT_PER_SECOND=0); "
        "client and server share this machine's cores."
    )
    code, load_before = announce_run(console)
    if arguments.profile:
        console.print("[yellow]Profiling with py-spy: the figures of this run are slightly lower than normal.[/]")
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        try:
            with fresh_database(kind) as database:
                results[kind] = run_database(
                    database, plan, run_id, console, profile=arguments.profile, log_folder=RESULTS
                )
        except DatabaseUnavailable as reason:
            console.print(f"[yellow]Skipping PostgreSQL: {reason}[/]")
            results[kind] = {"database": kind, "skipped": str(reason)}
            continue
        console.print(database_table(database.label, results[kind], plan))
        if results[kind]["server"]["database_settings"].get("autovacuum") == "off":
            console.print(
                "[yellow]Note: autovacuum is off on this PostgreSQL server, so the new tables are never analysed "
                "during the run; the planner then keeps its empty-table estimates.[/]"
            )
        for phase, path in results[kind]["profiles"].items():
            print_profile(console, database.label, phase, Path(path))
    console.print(summary_table(results))
    write_figures(
        console,
        arguments.output,
        benchmark="ingest",
        run_id=run_id,
        load_before=load_before,
        plan=asdict(plan),
        aims={"batched_events_per_second": AIM_EVENTS_PER_SECOND, "track_p99_ms": AIM_TRACK_P99_MS},
        databases=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
