"""Import benchmark: `afinidad import events` on the UCI Online Retail file, run as a user runs it, on SQLite
and PostgreSQL.

    .venv/bin/python benchmarks/import_retail.py [--database sqlite|postgres|both]

For each database, in one run, on a fresh database:

a) `python -m afinidad workspaces create NAME`, then `python -m afinidad import events
   ../shared/data/uci-online-retail/online_retail.csv.gz -w NAME -m online-retail`, each a subprocess with
   AFINIDAD_DATABASE_URL pointing at the database: 541,909 invoice lines become 25,900 `Order Completed` /
   `Order Refunded` messages. Wall time from launch to exit (interpreter start-up included: that is what a
   user waits for), rows/s, messages/s, CPU time, and peak memory of the process and its children (RSS and
   the kernel's VmHWM, read from /proc every 50 ms while it runs);
b) what is stored afterwards, counted with SQLAlchemy, beside what the file implies (one event per invoice;
   one profile per customer and one per guest invoice);
c) the same import again: nothing may be stored twice; how long finding that out takes;
d) the reference for (a): the same file read with Python's csv module through gzip, and its 541,909 raw rows
   inserted with a bare DBAPI `executemany` into a plain table (text columns, no key, no index), one
   transaction per 10,000 rows, in the same database with the same durability settings. The import's time
   is given as a multiple of it.

Figures go to the terminal and to `benchmarks/results/import_retail.json`; each CLI run's output is kept in
`benchmarks/results/import_retail-<database>-<step>.log`. The aims (an import under 2 minutes, peak memory
under 1 GiB) are marked PASS/MISS for information only: the benchmark never fails on them.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import os
import platform
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.settings import Settings
from afinidad.store.engine import Store
from benchmarks.common import (
    MIB,
    RESULTS,
    ROOT,
    CommandRun,
    Database,
    DatabaseUnavailable,
    announce_run,
    code_state,
    database_settings,
    fresh_database,
    identity_counts,
    progress_bar,
    run_measured,
    verdict,
    write_figures,
)

DATA_FILE = (Path(__file__).resolve().parents[1] / "../shared/data/uci-online-retail/online_retail.csv.gz").resolve()
MAPPING = "online-retail"
AIM_SECONDS = 120.0
AIM_PEAK_BYTES = 1024 * MIB
BASELINE_ROWS_PER_TRANSACTION = 10_000
BASELINE_TABLE = "bench_online_retail_raw"
REPORT_LINE = re.compile(
    r"Read (?P<rows>[\d,]+) rows into (?P<messages>[\d,]+) messages: (?P<stored>[\d,]+) stored, "
    r"(?P<duplicates>[\d,]+) already stored, (?P<refused>[\d,]+) rows refused"
)
WORKSPACE_LINE = re.compile(r"Workspace: (?P<id>\S+) \(")


# -- the file --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileFacts:
    """What the file implies the import should store, read with the csv module (the mapping makes one message
    per invoice, keyed to the customer, or to a guest of its own when the invoice's first line has none)."""

    size_bytes: int
    rows: int
    invoices: int
    refund_invoices: int
    customers: int
    guest_invoices: int

    @property
    def expected_profiles(self) -> int:
        return self.customers + self.guest_invoices


def read_file_facts(path: Path) -> FileFacts:
    customer_of_invoice: dict[str, str] = {}
    customers: set[str] = set()
    rows = 0
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        invoice_at, customer_at = header.index("InvoiceNo"), header.index("CustomerID")
        for row in reader:
            rows += 1
            customer_of_invoice.setdefault(row[invoice_at], row[customer_at])
            if row[customer_at]:
                customers.add(row[customer_at])
    return FileFacts(
        size_bytes=path.stat().st_size,
        rows=rows,
        invoices=len(customer_of_invoice),
        refund_invoices=sum(1 for invoice in customer_of_invoice if invoice.startswith("C")),
        customers=len(customers),
        guest_invoices=sum(1 for customer in customer_of_invoice.values() if not customer),
    )


# -- the CLI, as a user runs it --------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportFigures:
    """One `afinidad import events` run: what it cost, and what it said it did."""

    returncode: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    vm_hwm_mib: float | None
    peak_mib: float
    memory_samples: int
    rows: int | None
    messages: int | None
    stored: int | None
    duplicates: int | None
    refused: int | None
    log: str

    @classmethod
    def from_run(cls, run: CommandRun) -> ImportFigures:
        found = REPORT_LINE.search(run.output())
        counts = {name: int(value.replace(",", "")) for name, value in found.groupdict().items()} if found else {}
        return cls(
            returncode=run.returncode,
            seconds=round(run.seconds, 3),
            cpu_seconds=round(run.cpu_seconds, 2),
            peak_rss_mib=round(run.peak_rss_bytes / MIB, 1),
            vm_hwm_mib=round(run.high_water_bytes / MIB, 1) if run.high_water_bytes else None,
            peak_mib=round(run.peak_bytes / MIB, 1),
            memory_samples=run.samples,
            rows=counts.get("rows"),
            messages=counts.get("messages"),
            stored=counts.get("stored"),
            duplicates=counts.get("duplicates"),
            refused=counts.get("refused"),
            log=str(run.log_path),
        )


def cli_environment(database_url: str) -> dict[str, str]:
    # Wide enough that rich never wraps the CLI's summary line, which is parsed from the log.
    return {**os.environ, "AFINIDAD_DATABASE_URL": database_url, "COLUMNS": "200"}


def run_cli(arguments: Sequence[str], database_url: str, log_path: Path, on_sample: Any = None) -> CommandRun:
    return run_measured(
        [sys.executable, "-m", "afinidad", *arguments],
        env=cli_environment(database_url),
        log_path=log_path,
        cwd=ROOT,
        on_sample=on_sample,
    )


def create_workspace_with_cli(database_url: str, name: str, log_path: Path) -> tuple[str, CommandRun]:
    run = run_cli(["workspaces", "create", name], database_url, log_path)
    found = WORKSPACE_LINE.search(run.output())
    if run.returncode != 0 or not found:
        raise RuntimeError(f"`afinidad workspaces create` failed ({run.returncode}):\n{_tail(run.output())}")
    return found.group("id"), run


def file_position(process: psutil.Process, path: Path) -> int | None:
    """How far a process has read into `path` (the offset of its open file), for a progress bar."""
    for opened in process.open_files():
        if opened.path == str(path):
            return opened.position
    return None


def import_with_cli(
    database_url: str, workspace: str, data_file: Path, log_path: Path, progress: Progress, description: str
) -> ImportFigures:
    shown_path = os.path.relpath(data_file, ROOT)  # `../shared/data/...`, as a user types it in the project
    task = progress.add_task(description, total=data_file.stat().st_size)

    def advance(process: psutil.Process) -> None:
        position = file_position(process, data_file)
        if position is not None:
            progress.update(task, completed=position)

    run = run_cli(
        ["import", "events", shown_path, "-w", workspace, "-m", MAPPING], database_url, log_path, on_sample=advance
    )
    progress.update(task, completed=data_file.stat().st_size)
    return ImportFigures.from_run(run)


def import_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


# -- what was stored ---------------------------------------------------------------------------------------


def stored_counts(database_url: str, workspace_id: str) -> dict[str, int]:
    store = Store.from_url(database_url)
    try:
        return identity_counts(store, workspace_id)
    finally:
        store.dispose()


# -- the reference ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineFigures:
    rows: int
    rows_in_table: int
    rows_per_transaction: int
    seconds: float
    insert_seconds: float
    read_seconds: float
    rows_per_second: float


def baseline_load(
    database_url: str, data_file: Path, sqlite_synchronous: str, advance: Callable[[int], None]
) -> BaselineFigures:
    """The file's raw rows, read with csv through gzip and inserted with a bare DBAPI executemany, one
    transaction per BASELINE_ROWS_PER_TRANSACTION rows: what reading this file and writing its lines into this
    database costs with no mapping, validation, identity resolution or deduplication at all."""
    store = Store.from_url(database_url, sqlite_synchronous=sqlite_synchronous)
    try:
        with gzip.open(data_file, "rt", newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        columns = [re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower() for name in header]  # InvoiceNo -> invoice_no
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE {BASELINE_TABLE} ({', '.join(f'{column} TEXT' for column in columns)})"
            )
        placeholder = "?" if store.engine.dialect.paramstyle == "qmark" else "%s"
        statement = f"INSERT INTO {BASELINE_TABLE} VALUES ({', '.join([placeholder] * len(columns))})"
        rows, insert_seconds = 0, 0.0
        started = time.perf_counter()
        with gzip.open(data_file, "rt", newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            while chunk := list(itertools.islice(reader, BASELINE_ROWS_PER_TRANSACTION)):
                inserting = time.perf_counter()
                with store.engine.begin() as connection:
                    cursor = connection.connection.cursor()  # the driver's own cursor
                    cursor.executemany(statement, chunk)
                    cursor.close()
                insert_seconds += time.perf_counter() - inserting
                rows += len(chunk)
                advance(len(chunk))
        seconds = time.perf_counter() - started
        with store.engine.connect() as connection:
            rows_in_table = connection.exec_driver_sql(f"SELECT count(*) FROM {BASELINE_TABLE}").scalar_one()
    finally:
        store.dispose()
    return BaselineFigures(
        rows=rows,
        rows_in_table=rows_in_table,
        rows_per_transaction=BASELINE_ROWS_PER_TRANSACTION,
        seconds=round(seconds, 3),
        insert_seconds=round(insert_seconds, 3),
        read_seconds=round(seconds - insert_seconds, 3),
        rows_per_second=round(rows / seconds, 1) if seconds else 0.0,
    )


# -- one database ----------------------------------------------------------------------------------------


def run_database(database: Database, facts: FileFacts, run_id: str, console: Console) -> dict[str, Any]:
    settings = Settings(database_url=database.url)
    code_at_start = code_state()
    name = f"online-retail-{run_id}"
    logs = RESULTS / f"import_retail-{database.kind}"
    workspace_id, created = create_workspace_with_cli(database.url, name, Path(f"{logs}-workspace.log"))

    with import_progress() as progress:
        first = import_with_cli(database.url, name, DATA_FILE, Path(f"{logs}-import.log"), progress,
                                f"{database.label}: import")  # fmt: skip
    after_first = stored_counts(database.url, workspace_id)
    with import_progress() as progress:
        second = import_with_cli(database.url, name, DATA_FILE, Path(f"{logs}-reimport.log"), progress,
                                 f"{database.label}: same file again")  # fmt: skip
    after_second = stored_counts(database.url, workspace_id)
    for step, figures in (("import", first), ("second import", second)):
        if figures.returncode != 0 or figures.stored is None:
            console.print(
                f"[red]{database.label}: the {step} exited with {figures.returncode}; its output ({figures.log}):[/]\n"
                f"{_tail(Path(figures.log).read_text(errors='replace'))}"
            )

    with progress_bar() as progress:
        task = progress.add_task(f"{database.label}: baseline csv + executemany", total=facts.rows)
        baseline = baseline_load(database.url, DATA_FILE, settings.sqlite_synchronous,
                                 lambda n: progress.advance(task, n))  # fmt: skip

    code_at_end = code_state()
    if code_at_end["source_sha256"] != code_at_start["source_sha256"]:
        console.print(
            "[yellow]The afinidad source changed while this database was measured: the two imports may have run "
            f"different code (source {code_at_start['source_sha256']} at start, {code_at_end['source_sha256']} "
            "at end).[/]"
        )
    rows = first.rows or facts.rows
    messages = first.messages or facts.invoices
    return {
        "database": database.kind,
        "code": code_at_start,
        "settings": {
            "sqlite_synchronous": settings.sqlite_synchronous if database.kind == "sqlite" else None,
            "database_settings": database_settings(database.url),
        },
        "command": [
            "python",
            "-m",
            "afinidad",
            "import",
            "events",
            os.path.relpath(DATA_FILE, ROOT),
            "-w",
            name,
            "-m",
            MAPPING,
        ],  # fmt: skip
        "workspace": {"name": name, "id": workspace_id, "create_seconds": round(created.seconds, 3)},
        "import": {
            **asdict(first),
            "rows_per_second": round(rows / first.seconds, 1),
            "messages_per_second": round(messages / first.seconds, 1),
            "cpu_percent_of_one_core": round(first.cpu_seconds / first.seconds * 100, 1),
            "aim_seconds": AIM_SECONDS,
            "aim_seconds_met": first.seconds < AIM_SECONDS,
            "aim_peak_mib": AIM_PEAK_BYTES / MIB,
            "aim_peak_met": first.peak_mib * MIB < AIM_PEAK_BYTES,
        },
        "stored": after_first,
        "expected": {"events": facts.invoices, "profiles": facts.expected_profiles},
        "second_import": {
            **asdict(second),
            "stored_after": after_second,
            "nothing_stored_twice": second.stored == 0 and after_second == after_first,
        },
        "baseline": {
            **asdict(baseline),
            "import_time_ratio": round(first.seconds / baseline.seconds, 2) if baseline.seconds else None,
        },
    }


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


# -- reporting -------------------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if value is not None else "n/a"


def _mib(value: float | None) -> str:
    return f"{value:,.0f} MiB" if value is not None else "n/a"


def _check(ok: bool, text: str = "as expected") -> str:
    return f"[green]{text}[/]" if ok else "[bold red]differs[/]"


def database_table(label: str, result: dict[str, Any]) -> Table:
    first, second, baseline = result["import"], result["second_import"], result["baseline"]
    stored, expected = result["stored"], result["expected"]
    found = result["settings"]
    if found["sqlite_synchronous"]:
        durability = f"WAL, synchronous={found['sqlite_synchronous']}"
    else:
        server = found["database_settings"]
        durability = ", ".join(f"{name}={server[name]}" for name in ("server_version", "fsync", "synchronous_commit"))
    table = Table(title=f"`afinidad import events` on {label} ({durability})", title_justify="left")
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    table.add_column("Aim", justify="right")
    table.add_column("", justify="center")
    table.add_row(
        f"Import, {_number(first['rows'])} rows -> {_number(first['messages'])} messages (launch to exit)",
        f"{first['seconds']:.1f} s",
        f"< {AIM_SECONDS / 60:.0f} minutes",
        verdict(first["aim_seconds_met"]),
    )
    table.add_row(
        "  rows/s | messages/s",
        f"{_number(first['rows_per_second'])} | {_number(first['messages_per_second'])}",
        "",
        "",
    )
    table.add_row(
        "  CPU time of the import (share of one core)",
        f"{first['cpu_seconds']:.1f} s ({first['cpu_percent_of_one_core']:.0f}%)",
        "",
        "",
    )
    table.add_row(
        "  stored | already there | refused (as the CLI reports)",
        f"{_number(first['stored'])} | {_number(first['duplicates'])} | {_number(first['refused'])}",
        "",
        "",
    )
    table.add_row(
        "Peak memory of the import (process and children)",
        _mib(first["peak_mib"]),
        "< 1 GiB",
        verdict(first["aim_peak_met"]),
    )
    table.add_row(
        "  sampled RSS | VmHWM (kernel high-water mark)",
        f"{_mib(first['peak_rss_mib'])} | {_mib(first['vm_hwm_mib'])}",
        f"{first['memory_samples']} samples",
        "",
    )
    table.add_row(
        "Stored afterwards: events | profiles",
        f"{_number(stored['events'])} | {_number(stored['profiles'])}",
        f"{_number(expected['events'])} | {_number(expected['profiles'])}",
        _check(stored["events"] == expected["events"] and stored["profiles"] == expected["profiles"]),
    )
    table.add_row(
        "  identities | profiles merged away",
        f"{_number(stored['identities'])} | {_number(stored['profiles_merged_away'])}",
        "",
        "",
    )
    table.add_row(
        "Same file again: stored | already there, time",
        f"{_number(second['stored'])} | {_number(second['duplicates'])} in {second['seconds']:.1f} s",
        "0 stored",
        _check(second["nothing_stored_twice"], "nothing twice"),
    )
    table.add_row("  its peak memory", _mib(second["peak_mib"]), "", "")
    table.add_row("CLI start-up: `workspaces create`", f"{result['workspace']['create_seconds']:.1f} s", "", "")
    table.add_row(
        f"Baseline: csv through gzip + bare executemany, {_number(baseline['rows_per_transaction'])} rows/transaction",
        f"{baseline['seconds']:.1f} s",
        f"{_number(baseline['rows_per_second'])} rows/s",
        "",
    )
    table.add_row(
        "  of which reading | inserting",
        f"{baseline['read_seconds']:.1f} s | {baseline['insert_seconds']:.1f} s",
        f"{_number(baseline['rows_in_table'])} rows in table",
        "",
    )
    ratio = baseline["import_time_ratio"]
    table.add_row("Import time as a multiple of the baseline", f"{ratio:.1f}x" if ratio is not None else "n/a", "", "")
    return table


def summary_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Summary", title_justify="left")
    headings = ("Database", "Import", "rows/s", "messages/s", "Peak memory", "Again (0 stored)", "Baseline", "Ratio")
    for heading in headings:
        table.add_column(heading, justify="left" if heading == "Database" else "right")
    for kind, result in results.items():
        label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[kind]
        if "skipped" in result:
            table.add_row(label, "[yellow]skipped (see above)[/]", *[""] * (len(headings) - 2))
            continue
        first, second, baseline = result["import"], result["second_import"], result["baseline"]
        ratio = baseline["import_time_ratio"]
        table.add_row(
            label,
            f"{first['seconds']:.1f} s {verdict(first['aim_seconds_met'])}",
            _number(first["rows_per_second"]),
            _number(first["messages_per_second"]),
            f"{_mib(first['peak_mib'])} {verdict(first['aim_peak_met'])}",
            f"{second['seconds']:.1f} s, {_number(second['stored'])} stored",
            f"{baseline['seconds']:.1f} s",
            f"{ratio:.1f}x" if ratio is not None else "n/a",
        )
    return table


# -- entry point -----------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--output", type=Path, default=RESULTS / "import_retail.json", help="where the JSON goes")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=150)
    if not DATA_FILE.is_file():
        console.print(
            f"[yellow]Skipping: the data file {DATA_FILE.resolve()} is absent "
            "(the UCI Online Retail data set belongs in ../shared/data/uci-online-retail/).[/]"
        )
        return 0
    run_id = uuid.uuid4().hex[:8]
    kinds = ("sqlite", "postgres") if arguments.database == "both" else (arguments.database,)
    RESULTS.mkdir(parents=True, exist_ok=True)
    facts = read_file_facts(DATA_FILE)
    console.print(
        f"[bold]Afinidad import benchmark[/] run {run_id}: {os.path.relpath(DATA_FILE, ROOT)} "
        f"({facts.size_bytes / MIB:.1f} MiB gzip, {facts.rows:,} rows, {facts.invoices:,} invoices of which "
        f"{facts.refund_invoices:,} refunds, {facts.customers:,} customers, {facts.guest_invoices:,} guest invoices), "
        f"mapping {MAPPING}; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    code, load_before = announce_run(console)
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        try:
            with fresh_database(kind) as database:
                results[kind] = run_database(database, facts, run_id, console)
        except DatabaseUnavailable as reason:
            console.print(f"[yellow]Skipping PostgreSQL: {reason}[/]")
            results[kind] = {"database": kind, "skipped": str(reason)}
            continue
        console.print(database_table(database.label, results[kind]))
    console.print(summary_table(results))
    write_figures(
        console,
        arguments.output,
        benchmark="import_retail",
        run_id=run_id,
        load_before=load_before,
        file={"path": os.path.relpath(DATA_FILE, ROOT), "mapping": MAPPING, **asdict(facts)},
        aims={"import_seconds": AIM_SECONDS, "peak_memory_mib": AIM_PEAK_BYTES / MIB},
        databases=results,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
