"""Experiment results benchmark: how long `experiment_service.results` takes to analyse an experiment of
100,000 exposed units from the store, beside one hand-written SQL query for its primary figure.

    .venv/bin/python benchmarks/experiments.py [--units N] [--events-per-unit N] [--database-url URL]

Why: results are read from the decision log and the events after every page view of a dashboard, and they
are computed in Python (CUPED, sequential intervals, several metrics), so their cost grows with the units.
This measures that cost, and how far it is from the floor the database alone sets for the simplest figure.

1) Setup (not timed): a fresh migrated SQLite file (or `--database-url`, migrated, in a new workspace), an
   experiment "bench" (a/b 50/50; conversion and revenue on Order Completed; a count of Order Refunded as a
   guardrail), started. Then, inserted in bulk with SQLAlchemy Core (bypassing ingestion and assignment):
   one profile and one exposure per unit (its variant from `assignment.bucket`, as `assign` would give it),
   and about 4 events per unit: orders before the exposure (the CUPED pre-period) and after it (variant b
   converts slightly more often), product views and a few refunds.
2) Timed, best and median of 3: `results()` in a reader session, and its parts (reading exposures,
   reading events, per-unit metric values, the pure analysis `results.experiment_results`).
3) Baseline, timed the same way: the conversion rate per variant in one SQL query (decisions LEFT JOIN
   events after the exposure, GROUP BY variant). The rates must equal those of `results()`, or it raises.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy import Select, distinct, func, insert, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.decide import experiment_service as service
from afinidad.decide.assignment import bucket
from afinidad.decide.outcomes import first_exposures, metric_values
from afinidad.decide.results import experiment_results
from afinidad.store.engine import Store
from afinidad.store.migrate import upgrade
from afinidad.store.models import Decision, Event, Profile
from benchmarks.catalog import reset_peak_memory
from benchmarks.common import MIB, MemorySampler, announce_run, fresh_database, new_workspace, progress_bar

T = TypeVar("T")
SEED, REPEATS, CHUNK_UNITS = 20_250_801, 3, 5_000
ORDERED, VIEWED, REFUNDED = "Order Completed", "Product Viewed", "Order Refunded"
DEFINITION = {
    "key": "bench",
    "variants": [{"id": "a", "weight": 50}, {"id": "b", "weight": 50}],
    "metrics": [{"name": "purchase", "event": ORDERED}, {"name": "revenue", "kind": "revenue", "event": ORDERED}],
    "guardrails": [{"name": "refunds", "kind": "count", "event": REFUNDED, "higher_is_better": False}],
}
ORDER_CHANCE = {"a": 0.060, "b": 0.072}  # per event after exposure, times the unit's own propensity to buy


def unit_rows(rng: random.Random, workspace_id: str, experiment_id: str, start: int, stop: int, now: datetime,
              per_unit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Profiles, exposures and events of units [start, stop): half the events in the 14 days before the unit's
    exposure, half between it and now; a unit's propensity to buy is the same before and after (CUPED)."""
    profiles, decisions, events = [], [], []
    for index in range(start, stop):
        profile_id = f"prof_{index:08d}"
        exposed = now - timedelta(seconds=rng.random() * 7 * 86_400)
        variant = "a" if bucket(experiment_id, profile_id) < 0.5 else "b"
        profiles.append({"id": profile_id, "workspace_id": workspace_id, "merged_into": None, "shared": False,
                         "traits": {}, "event_counts": {}, "first_seen": exposed - timedelta(days=14),
                         "last_seen": now, "created_at": exposed - timedelta(days=14)})  # fmt: skip
        decisions.append({"id": f"dec_{index:08d}", "workspace_id": workspace_id, "profile_id": profile_id,
                          "slot": "bench", "policy": "experiment", "model_version": experiment_id, "context": {},
                          "items": [{"variant": variant, "propensity": 0.5}], "at": exposed})  # fmt: skip
        buyer = rng.random() * 2
        for number in range(rng.randint(1, max(1, 2 * per_unit - 1))):
            after = rng.random() < 0.5
            at = exposed + (now - exposed) * rng.random() if after else exposed - timedelta(days=14 * rng.random())
            draw = rng.random()
            if draw < buyer * (ORDER_CHANCE[variant] if after else 0.065):
                name, properties = ORDERED, {"revenue": max(5.0, round(rng.lognormvariate(math.log(55), 0.7), 2))}
            elif after and draw > 0.99:
                name, properties = REFUNDED, {}
            else:
                name, properties = VIEWED, {"product_id": f"sku-{rng.randrange(5_000)}"}
            events.append({"workspace_id": workspace_id, "message_id": f"bench-{index}-{number}", "type": "track",
                           "event": name, "profile_id": profile_id, "timestamp": at, "received_at": at,
                           "context": {}, "properties": properties, "traits": {}, "extra": {},
                           "enrichment": {}})  # fmt: skip
    return profiles, decisions, events


def load(store: Store, workspace_id: str, experiment_id: str, units: int, per_unit: int, now: datetime) -> int:
    rng, stored = random.Random(SEED), 0
    with progress_bar() as progress:
        task = progress.add_task("inserting units", total=units)
        for start in range(0, units, CHUNK_UNITS):
            stop = min(units, start + CHUNK_UNITS)
            profiles, decisions, events = unit_rows(rng, workspace_id, experiment_id, start, stop, now, per_unit)
            with store.engine.begin() as connection:
                for model, rows in ((Profile, profiles), (Decision, decisions), (Event, events)):
                    connection.execute(insert(model.__table__), rows)
            stored += len(events)
            progress.advance(task, stop - start)
    store.analyze("profiles", "decisions", "events")
    return stored


def timed(function: Callable[[], T], repeats: int = REPEATS) -> tuple[T, float, float]:
    """The last answer, and the best and median wall time of `repeats` calls."""
    times, answer = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        answer = function()
        times.append(time.perf_counter() - started)
    return answer, min(times), statistics.median(times)  # type: ignore[return-value]


def baseline_query(workspace_id: str, experiment_id: str, until: datetime) -> Select:
    """Exposed units and converted units per variant: an order at or after the exposure, before `until`."""
    variant = Decision.items[(0, "variant")].as_string()
    after = ((Event.workspace_id == Decision.workspace_id) & (Event.profile_id == Decision.profile_id)
             & (Event.event == ORDERED) & (Event.timestamp >= Decision.at) & (Event.timestamp < until))  # fmt: skip
    return (select(variant, func.count(distinct(Decision.profile_id)), func.count(distinct(Event.profile_id)))
            .select_from(Decision).outerjoin(Event, after)
            .where(Decision.workspace_id == workspace_id, Decision.model_version == experiment_id)
            .group_by(variant))  # fmt: skip


def parts(session: Session, workspace_id: str, until: datetime) -> dict[str, tuple[float, float]]:
    """`results()` step by step, as `experiment_service.unit_values` does it (private readers included)."""
    row = service.get_row(session, workspace_id, "bench")
    experiment = service.parsed(row)
    metrics = [*experiment.metrics, *experiment.guardrails]
    merged = service._merged(session, workspace_id)
    (units, switched), *exposures = timed(lambda: first_exposures(service._exposures(session, workspace_id, row.id,
                                                                                      merged)))  # fmt: skip
    since = min(exposure.at for exposure in units.values()) - timedelta(days=experiment.cuped_days)
    names = {metric.event for metric in metrics}
    happened, *events = timed(lambda: service._events(session, workspace_id, names, since, until, set(units),
                                                      merged))  # fmt: skip
    values, *per_unit = timed(lambda: {m.name: metric_values(m, units, happened, until, experiment.cuped_days)
                                       for m in metrics})  # fmt: skip
    planned = {variant.id: variant.weight for variant in experiment.variants}
    _, *analysis = timed(lambda: experiment_results(experiment, units, planned, values, switched))
    return {"reading exposures": tuple(exposures), f"reading events ({len(happened):,} rows)": tuple(events),
            "per-unit metric values": tuple(per_unit), "analysis (experiment_results)": tuple(analysis)}  # fmt: skip


def run(store: Store, url: str, arguments: argparse.Namespace, console: Console) -> Table:
    workspace = new_workspace(url, "experiments-bench")
    with store.session() as session:
        experiment_id = service.create_experiment(session, workspace.id, DEFINITION)["id"]
        service.start_experiment(session, workspace.id, "bench")
    now = datetime.now(UTC).replace(tzinfo=None)
    until = now + timedelta(minutes=1)  # every generated event is before it: both sides read the same events
    started = time.perf_counter()
    events = load(store, workspace.id, experiment_id, arguments.units, arguments.events_per_unit, now)
    console.print(f"Inserted {arguments.units:,} profiles and exposures, {events:,} events in "
                  f"{time.perf_counter() - started:.1f} s.")  # fmt: skip
    reset_peak_memory()
    sampler = MemorySampler(os.getpid()).start()
    with store.reader() as session:
        report, best, median = timed(lambda: service.results(session, workspace.id, "bench", now=until))
        steps = parts(session, workspace.id, until)
        query = baseline_query(workspace.id, experiment_id, until)
        rows, sql_best, sql_median = timed(lambda: session.execute(query).all())
    sampler.stop()
    ours = {arm["variant"]: arm for arm in report["metrics"][0]["arms"]}
    sql = {variant: (units, converted) for variant, units, converted in rows}
    for variant, arm in ours.items():
        units, converted = sql.get(variant, (0, 0))
        if arm["units"] != units or not math.isclose(arm["value"], round(converted / units, 6), abs_tol=1e-9):
            raise RuntimeError(f"variant {variant}: results() says {arm['units']} units converting at {arm['value']}"
                               f", the SQL {units} units of whom {converted} converted")  # fmt: skip
    table = Table(title=f"Experiment results over {arguments.units:,} units, {events:,} events "
                  f"({store.engine.dialect.name})", title_justify="left")  # fmt: skip
    for column in ("Measure", f"best of {REPEATS}", "median", "units/s (best)"):
        table.add_column(column, justify="left" if column == "Measure" else "right")
    table.add_row("[bold]results()[/]", f"[bold]{best:.3f} s[/]", f"{median:.3f} s", f"{arguments.units / best:,.0f}")
    for name, (part_best, part_median) in steps.items():
        table.add_row(f"  {name}", f"{part_best:.3f} s", f"{part_median:.3f} s", "")
    table.add_row("baseline: one SQL GROUP BY", f"{sql_best:.3f} s", f"{sql_median:.3f} s",
                  f"{arguments.units / sql_best:,.0f}")  # fmt: skip
    table.add_row("results() / baseline", f"{best / sql_best:.1f}x", f"{median / sql_median:.1f}x", "")
    for variant, arm in ours.items():
        table.add_row(f"conversion of {variant} (results() = SQL)", f"{arm['value']:.4%}", f"{arm['units']:,} units",
                      "[green]equal[/]")  # fmt: skip
    table.add_row("peak memory while timed (VmHWM)", f"{sampler.peak_bytes / MIB:,.0f} MiB", "", "")
    console.print(f"Summary: {report['summary']}")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=100_000, help="exposed units (default 100,000)")
    parser.add_argument("--events-per-unit", type=int, default=4, help="events per unit on average (default 4)")
    parser.add_argument("--database-url", default=None, help="a database to use (migrated; a new workspace in it) "
                        "instead of a temporary SQLite file")  # fmt: skip
    arguments = parser.parse_args(argv)
    console = Console() if Console().is_terminal else Console(width=150)
    console.print(f"[bold]Afinidad experiment results benchmark[/]: {arguments.units:,} units, about "
                  f"{arguments.events_per_unit} events each; {os.cpu_count()} CPUs")  # fmt: skip
    announce_run(console)
    with contextlib.ExitStack() as stack:
        url = arguments.database_url or stack.enter_context(fresh_database("sqlite")).url
        store = Store.from_url(url)
        stack.callback(store.dispose)
        if arguments.database_url:
            upgrade(store.engine)  # a fresh temporary file is migrated by fresh_database
        console.print(run(store, url, arguments, console))
    return 0


if __name__ == "__main__":
    sys.exit(main())
