"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and can be
run again without harm."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from afinidad.store.engine import Store
from afinidad.store.migrate import upgrade
from afinidad.store.models import Base, include_in_schema_checks


def test_migrated_schema_matches_the_models(store: Store) -> None:
    upgrade(store.engine)  # a second run is a no-op
    with store.engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"include_object": include_in_schema_checks}), Base.metadata
        )
    assert differences == []
    tables = set(inspect(store.engine).get_table_names())
    assert {"events", "profiles", "identities", "profile_merges", "workspaces", "api_keys"} <= tables


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store.from_url(f"sqlite:///{tmp_path / 'wal.db'}")
    upgrade(store.engine)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
