"""Many rows in one statement, for SQLite and PostgreSQL, with optional `ON CONFLICT` handling.

Ingestion writes events, identities and profiles for every batch. Row-by-row statements (what an
executemany becomes on PostgreSQL) cost a server round of work per row, and SQLAlchemy's per-row bind
processing cost more than SQLite itself. So each table gets one statement per batch, with values encoded
here once:
- PostgreSQL: `INSERT ... SELECT ... FROM jsonb_to_recordset($1)`: the rows travel as one JSON document
  encoded by orjson, so the statement text never changes (parsed and planned once) and the driver does no
  per-value work (its text-array quoting was a third of the writer's time);
- SQLite: one `INSERT ... VALUES (?, ...)` run over all rows by the driver's executemany (a C loop)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Connection, DateTime, Integer, Table


def encode_json(value: Any) -> str:
    """JSON text as every JSON column stores it (rows may arrive with their JSON columns pre-encoded)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_time(value: datetime) -> str:
    # The exact text SQLAlchemy's SQLite DateTime type writes and reads back.
    return value.isoformat(sep=" ", timespec="microseconds")


def _kind(table: Table, column: str) -> str:
    column_type = table.c[column].type
    if isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
        return "json"
    if isinstance(column_type, DateTime):
        return "time"
    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, BigInteger | Integer):
        return "int"
    return "text"


_PG_TYPE = {"json": "jsonb", "time": "timestamp", "bool": "boolean", "int": "bigint", "text": "text"}


@lru_cache(maxsize=64)
def _plan(table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] | None, update: tuple[str, ...]):  # type: ignore[no-untyped-def]
    kinds = tuple(_kind(table, c) for c in columns)
    quoted = ", ".join(f'"{c}"' for c in columns)
    suffix = ""
    if conflict is not None:
        target = ", ".join(f'"{c}"' for c in conflict)
        if update:
            suffix = f" ON CONFLICT ({target}) DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in update)
        else:
            suffix = f" ON CONFLICT ({target}) DO NOTHING"
    record = ", ".join(f'"{c}" {_PG_TYPE[k]}' for c, k in zip(columns, kinds, strict=True))
    postgres_sql = (
        f"INSERT INTO {table.name} ({quoted}) SELECT {quoted} FROM jsonb_to_recordset(%s::jsonb) AS r({record}){suffix}"
    )
    return kinds, quoted, suffix, postgres_sql


def write_many(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
    *,
    conflict: Sequence[str] | None = None,
    update: Sequence[str] = (),
    json_encoded: bool = False,
) -> None:
    """Insert `rows` (dicts keyed by column); on a `conflict` key, update the `update` columns from the new
    row, or keep the existing row when `update` is empty. `json_encoded`: JSON columns already hold JSON
    text (`encode_json`)."""
    rows = list(rows)
    if not rows:
        return
    kinds, quoted, suffix, postgres_sql = _plan(
        table, tuple(columns), tuple(conflict) if conflict is not None else None, tuple(update)
    )
    if connection.dialect.name == "postgresql":
        if json_encoded:
            json_columns = {c for c, k in zip(columns, kinds, strict=True) if k == "json"}
            records = [
                {c: orjson.Fragment(row[c]) if c in json_columns and row.get(c) is not None else row.get(c)
                 for c in columns}
                for row in rows
            ]  # fmt: skip
        else:
            records = [{c: row.get(c) for c in columns} for row in rows]
        document = orjson.dumps(records, option=orjson.OPT_NON_STR_KEYS)
        connection.exec_driver_sql(postgres_sql, (document.decode(),))
        return
    # SQLite: one prepared statement run over all rows by the driver's C loop; datetimes become SQLAlchemy's
    # text form through the adapter registered below, so only JSON may need encoding here.
    sql = f"INSERT INTO {table.name} ({quoted}) VALUES (" + ", ".join("?" for _ in columns) + ")" + suffix
    json_positions = [] if json_encoded else [i for i, k in enumerate(kinds) if k == "json"]
    if json_positions:
        values = []
        for row in rows:
            record = [row.get(c) for c in columns]
            for position in json_positions:
                if record[position] is not None:
                    record[position] = encode_json(record[position])
            values.append(tuple(record))
    else:
        values = [tuple(row.get(c) for c in columns) for row in rows]
    connection.exec_driver_sql(sql, values)


# The text SQLAlchemy's SQLite DateTime type writes and reads back, for datetimes bound by driver-level SQL.
sqlite3.register_adapter(datetime, _sqlite_time)
