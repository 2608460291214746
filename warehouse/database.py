"""The DuckDB warehouse, loaded from the Parquet lake.

Item versions are upserted per source and merged into ``articles`` and ``authors`` (see
``warehouse.merge``): one row per ``handle_key`` (the lower-cased handle), the newest
datestamp of a source winning, deletions kept as tombstones (``deleted = true``) that views
hide. Loading the same files twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from schemas.errors import QueryError, WarehouseError
from schemas.tables import ALL_TABLES
from warehouse.merge import INSERT_AUTHOR_VERSIONS, MERGE, UPSERT_VERSIONS

_UPSERT_QUARANTINE = """
DELETE FROM quarantine WHERE record_id IN (
    SELECT record_id FROM read_parquet($quarantine, hive_partitioning = false));
INSERT INTO quarantine BY NAME SELECT * FROM read_parquet($quarantine, hive_partitioning = false);
"""

_UPSERT_ENTITIES = """
CREATE OR REPLACE TEMP TABLE incoming_entities AS
SELECT * FROM read_parquet($path, hive_partitioning = false)
QUALIFY row_number() OVER (PARTITION BY handle_key ORDER BY listed_at DESC) = 1;
DELETE FROM {table} WHERE handle_key IN (
    SELECT i.handle_key FROM incoming_entities i JOIN {table} s USING (handle_key)
    WHERE i.listed_at >= s.listed_at);
INSERT INTO {table} BY NAME
SELECT * FROM incoming_entities i
WHERE NOT EXISTS (SELECT 1 FROM {table} s WHERE s.handle_key = i.handle_key);
"""
#: Tables of named things (one row per handle, the newest listing wins).
ENTITY_TABLES = ("series", "archives", "persons", "institutions")


class Warehouse:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the schema in place; DuckDB errors become WarehouseError."""
        if read_only and not self.path.exists():
            raise WarehouseError(
                f"no warehouse at {self.path}: run `repec-harvest run` or `repec-harvest demo`"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            hint = ""
            if "not a valid DuckDB database" in str(exc):
                hint = "; `repec-harvest rebuild` recreates it from the raw archive"
            raise WarehouseError(
                f"cannot open the warehouse {self.path}: {_first_line(exc)}{hint}"
            ) from None
        except OSError as exc:
            raise WarehouseError(f"cannot open the warehouse {self.path}: {exc}") from None
        try:
            con.execute("SET enable_progress_bar = false")
            # bounded memory whatever the warehouse's size; DuckDB spills beyond it
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            if not read_only and _identity(self.path) not in _SCHEMA_READY:
                _ensure_schema(con)
                _SCHEMA_READY.add(_identity(self.path))
            yield con
        except duckdb.Error as exc:  # a failed load (out of memory, a full disk): one line
            raise WarehouseError(f"the warehouse {self.path} failed: {_first_line(exc)}") from exc
        finally:
            con.close()

    def load_window(self, files: dict[str, Path]) -> None:
        """Upsert one sealed window (articles, authors, quarantine) in one transaction."""
        self.load_windows([files])

    def load_windows(
        self, windows: Sequence[dict[str, Path]], loads: pa.Table | None = None
    ) -> None:
        """Upsert several sealed windows in one transaction, with the same result as loading
        them one by one in this order; ``loads`` (``window_loads`` rows) is recorded in it."""
        windows = [w for w in windows if w]
        if not windows:
            return
        params = {t: [str(w[t]) for w in windows] for t in ("articles", "authors", "quarantine")}
        with self.connect() as con, transaction(con):
            for script in (UPSERT_VERSIONS, INSERT_AUTHOR_VERSIONS, MERGE, _UPSERT_QUARANTINE):
                run_script(con, script, params)
            if loads is not None and loads.num_rows:
                con.register("incoming_loads", loads)
                con.execute("INSERT INTO window_loads BY NAME SELECT * FROM incoming_loads")
                con.unregister("incoming_loads")

    def loaded_windows(self, harvest_id: str, run_id: str) -> dict[int, int]:
        """Window -> pages loaded, for one run (the most pages if loaded more than once)."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT window_index, max(pages) FROM window_loads"
                " WHERE harvest_id = ? AND run_id = ? GROUP BY window_index",
                [harvest_id, run_id],
            ).fetchall()
        return {int(w): int(p) for w, p in rows}

    def load_series(self, path: Path) -> None:
        self.load_entities("series", path)

    def load_entities(self, table: str, path: Path) -> None:
        """Upsert series, archives, persons or institutions by handle (newest listing wins)."""
        if table not in ENTITY_TABLES:
            raise ValueError(table)
        with self.connect() as con, transaction(con):
            run_script(con, _UPSERT_ENTITIES.format(table=table), {"path": str(path)})

    def replace_harvest_log(self, runs: pa.Table, state: pa.Table) -> None:
        """Mirror the harvest log and checkpoints into ``harvest_runs``/``harvest_state``."""
        with self.connect() as con, transaction(con):
            for name, table in (("harvest_runs", runs), ("harvest_state", state)):
                con.register("incoming_log", table)
                con.execute(f"DELETE FROM {name}")
                con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM incoming_log")
                con.unregister("incoming_log")

    def copy_tables_from(self, other: Path, tables: tuple[str, ...]) -> bool:
        """Copy whole tables from another warehouse file; False if it cannot be read."""
        if not other.exists():
            return False
        try:
            with self.connect() as con, transaction(con):
                con.execute("ATTACH ? AS previous (READ_ONLY)", [str(other)])
                for table in tables:
                    con.execute(f'DELETE FROM "{table}"')
                    con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM previous."{table}"')
            return True
        except WarehouseError:  # connect() maps DuckDB's errors
            return False

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one query read-only; return column names and rows."""
        with self.connect(read_only=True) as con:
            try:
                cursor = con.execute(sql)
            except duckdb.Error as exc:
                raise QueryError(f"SQL error: {_first_line(exc)}") from None
            if cursor.description is None:
                return [], []
            return [d[0] for d in cursor.description], cursor.fetchall()

    def count(self, table: str) -> int:
        with self.connect(read_only=True) as con:
            row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            return int(row[0]) if row else 0


#: DuckDB's memory per connection; larger operations spill to a temporary directory. 176MB
#: keeps a one-million-record harvest under 400 MB of RSS (386 MB; 256MB gave 460 MB) at no
#: measurable cost at that size (BENCHMARKS.md), its batches of up to 400 pages included.
MEMORY_LIMIT = "176MB"

#: Warehouse files (path and inode) whose schema this process has already put in place.
_SCHEMA_READY: set[tuple[Path, int]] = set()


def _identity(path: Path) -> tuple[Path, int]:
    return path, path.stat().st_ino


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for name, schema in ALL_TABLES.items():
        con.register("empty_table", schema.empty_table())
        con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" AS SELECT * FROM empty_table')
        con.unregister("empty_table")
        present = {r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()}
        if missing := [c for c in schema.names if c not in present]:
            raise WarehouseError(
                f"the warehouse was made by an older repec-harvest (table {name} lacks "
                f"{', '.join(missing)}); `repec-harvest rebuild` recreates it"
            )
    con.execute(resources.files("warehouse").joinpath("views.sql").read_text("utf-8"))


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def run_script(con: duckdb.DuckDBPyConnection, script: str, params: dict[str, Any]) -> None:
    """Run each ``;``-separated statement of ``script`` with the ``$name`` parameters it uses."""
    for statement in (s.strip() for s in script.split(";")):
        if statement:
            con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
