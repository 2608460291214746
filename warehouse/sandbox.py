"""What makes `repec-harvest sql` read-only for real: one SELECT, run in a DuckDB instance that
reads the warehouse's own files and nothing else, with its configuration locked."""

from __future__ import annotations

import duckdb

from schemas.errors import QueryError, ReadOnlyViolation
from warehouse.catalog import ALIAS, quote
from warehouse.statements import first_line

#: The only statements ``query`` runs.
_READ_STATEMENTS = {duckdb.StatementType.SELECT}  # type: ignore[attr-defined]


def check_read_only(sql: str) -> None:
    """Refuse anything but one SELECT (COPY, EXPORT, ATTACH, SET, LOAD, ... and several
    statements), with a one-line error."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {first_line(exc)}") from None
    if len(statements) != 1:
        raise ReadOnlyViolation(
            f"`sql` runs one SELECT statement at a time; this has {len(statements)}"
        )
    if statements[0].type not in _READ_STATEMENTS:
        keyword = (sql.split() or ["this"])[0].upper().strip(";")
        raise ReadOnlyViolation(
            f"`sql` is read-only: {keyword} statements are refused; only SELECT runs"
        )


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """From now on this instance reads the warehouse's files and nothing else."""
    con.execute("SET autoload_known_extensions = false")
    con.execute(f"SET allowed_directories = [{quote(data_path(con))}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def data_path(con: duckdb.DuckDBPyConnection) -> str:
    """Where the attached warehouse keeps its data files."""
    row = con.execute(
        f"SELECT value FROM {ALIAS}.options() WHERE option_name = 'data_path'"
    ).fetchone()
    return str(row[0]) if row else ""
