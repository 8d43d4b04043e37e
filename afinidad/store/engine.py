"""Engines and sessions for SQLite (embedded) and PostgreSQL (production) from one URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(
    url: str,
    *,
    sqlite_synchronous: str = "FULL",
    sqlite_autocheckpoint: bool = True,
    sqlite_immediate: bool = False,
    pool_size: int = 10,
) -> Engine:
    """`sqlite_autocheckpoint=False`: commits never checkpoint the WAL themselves; the caller runs
    `BackgroundCheckpoints` instead (the event writer does, to keep checkpoints off its commit path).

    `sqlite_immediate=True`: transactions take the write lock when they begin (`BEGIN IMMEDIATE`). Writers
    read the identity graph and then write it; begun lazily, two writing processes (a server and an
    import) could both read before either wrote. For engines that write: the writer process, the CLI."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets readers run beside the single writer; synchronous decides what a commit survives.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            if not sqlite_autocheckpoint:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()
            if sqlite_immediate:
                dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below

        if sqlite_immediate:

            @event.listens_for(engine, "begin")
            def _begin_immediate(connection) -> None:  # type: ignore[no-untyped-def]
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        # No server-side prepared statements: a generic plan made while a table was young (or never
        # analysed) kept scanning it whole as it grew; planning each execution costs far less than that.
        # No JIT either: it pays off for long analytical scans, and it cost a broad catalog search 830 ms of
        # compiling to save a few (measured at 100k products); the API's statements are short.
        connect_args={"prepare_threshold": None, "options": "-c jit=off"},
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


class BackgroundCheckpoints:
    """Checkpoints a SQLite WAL from a thread of its own, every `interval` seconds.

    By default SQLite checkpoints inside whichever commit crosses 1,000 WAL pages, so one commit in many
    pays for copying pages into the database file: measured on the ingestion benchmark, 10% of the
    throughput and the worst latencies. PASSIVE checkpoints never block the writer; the WAL restarts from
    its beginning once a checkpoint has caught up."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self._engine = engine
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="afinidad-wal-checkpoints", daemon=True)

    def start(self) -> BackgroundCheckpoints:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                with self._engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # a busy database is retried at the next tick
                continue


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class Store:
    """An engine and its session factory: the one handle capabilities receive."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> Store:
        return cls(make_engine(url, **kwargs))  # type: ignore[arg-type]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def analyze(self, *tables: str) -> None:
        """Refresh the planner's statistics of these tables after a bulk load. PostgreSQL's autovacuum would
        do it in time, but the first searches after a large import (or on a server where it is off) would
        otherwise be planned blind: at 100k products that made a search 7x slower."""
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
            else:
                for table in tables:
                    connection.exec_driver_sql(f"ANALYZE {table}")

    def dispose(self) -> None:
        self.engine.dispose()
