"""Running SQL on a DuckDB connection: scripts of several statements with named parameters,
transactions, Arrow tables in, DuckDB's errors as one line, and which errors a retry can win.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

T = TypeVar("T")

#: What DuckDB says when a commit lost a race that a retry can win.
_TRANSIENT = (
    "database is locked",
    "Failed to commit DuckLake transaction",
    "Transaction conflict",
    "conflict",
    "could not serialize access",
)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed DuckDB write lost a race that retrying can win."""
    text = str(exc)
    return isinstance(exc, duckdb.Error) and any(t in text for t in _TRANSIENT)


def in_transaction(
    con: duckdb.DuckDBPyConnection, body: Callable[[duckdb.DuckDBPyConnection], T]
) -> T:
    con.execute("BEGIN TRANSACTION")
    try:
        result = body(con)
        con.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
            con.execute("ROLLBACK")
        raise
    return result


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    con.register("incoming_arrow", rows)
    try:
        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming_arrow')
    finally:
        con.unregister("incoming_arrow")


def run_script(con: duckdb.DuckDBPyConnection, script: str, params: dict[str, Any]) -> None:
    """Run each ``;``-separated statement of ``script`` with the ``$name`` parameters it uses."""
    for statement in (s.strip() for s in script.split(";")):
        if statement:
            con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def dict_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of one query, each a dict by column name."""
    cursor = con.execute(sql, params or {})
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
