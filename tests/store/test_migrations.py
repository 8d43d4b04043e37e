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


def test_search_columns_are_filled_for_a_catalog_indexed_before_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    store = Store.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(store.engine, "0004")
    with store.engine.begin() as connection:
        for pid, price, sale, stock in (("a", 10, None, [0, 3]), ("b", 20, 15, [0]), ("c", 5, None, [])):
            connection.execute(
                text("INSERT INTO products (workspace_id, id, title, category, category_path, price, currency, "
                     "sale_price, attributes, image_urls, active, created_at, updated_at) VALUES ('w', :id, :t, "
                     "'Home', '[]', :p, 'EUR', :s, '{}', '[]', 1, '2026-01-01', '2026-01-02')"),
                {"id": pid, "t": f"Product {pid}", "p": price, "s": sale},
            )  # fmt: skip
            for n, quantity in enumerate(stock):
                connection.execute(
                    text("INSERT INTO product_stock VALUES ('w', :id, :loc, :q, '2026-01-01')"),
                    {"id": pid, "loc": f"l{n}", "q": quantity},
                )
            connection.execute(text("INSERT INTO product_search (workspace_id, product_id) VALUES ('w', :id)"),
                               {"id": pid})  # fmt: skip
    upgrade(store.engine)
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT product_id, title, category, price, in_stock FROM product_search ORDER BY product_id")
        ).all()
    assert [tuple(row) for row in rows] == [("a", "Product a", "Home", 10, 1), ("b", "Product b", "Home", 15, 0),
                                            ("c", "Product c", "Home", 5, 1)]  # fmt: skip
