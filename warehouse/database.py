"""The warehouse: a DuckLake (``warehouse.catalog``) holding every table users query.

Item versions are upserted per source and merged into ``articles`` and ``authors`` (see
``warehouse.merge``): one row per ``handle_key`` (the lower-cased handle), the newest
datestamp of a source winning, deletions kept as tombstones (``deleted = true``) that views
hide. Loading the same files twice changes nothing.

Readers never wait: each query sees the last committed snapshot. Writers (any number of
processes, or machines sharing a PostgreSQL catalog) commit one at a time under the
catalog's write lock (``warehouse.locks``), and a commit that still loses a race (a writer
that does not take the lock, a busy catalog) is retried with backoff, then reported.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from schemas.errors import QueryError, ReadOnlyViolation, WarehouseError, WriteConflict
from schemas.tables import ALL_TABLES
from warehouse.catalog import ALIAS, Catalog, load_extensions, quote
from warehouse.locks import write_lock
from warehouse.merge import INSERT_AUTHOR_VERSIONS, MERGE, UPSERT_VERSIONS

T = TypeVar("T")
log = logging.getLogger(__name__)

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

#: DuckDB's memory per instance; larger operations spill to the scratch folder. With the
#: writer's threads below, it keeps a one-million-record harvest near 400 MB of RSS, the
#: signed extensions (about 70 MB of code) included (BENCHMARKS.md).
MEMORY_LIMIT = "176MB"
#: A writer's DuckDB threads: each thread buffers a row group of every file it writes, so one
#: thread halves a load's memory; the harvest (parsing, fetching) has the other core.
WRITER_THREADS = 1
#: How the warehouse writes its Parquet files: row groups of 16,384 rows keep a writer's
#: buffers at a few tens of MB whatever the load (DuckDB's default of 122,880 rows of
#: RePEc records, abstracts included, overflowed the memory limit), zstd keeps them small.
DATA_FILE_OPTIONS = {"parquet_row_group_size": "16384", "parquet_compression": "zstd"}
#: Attempts of a write transaction that loses a race, and the first pause between them
#: (doubled each time, jittered).
COMMIT_ATTEMPTS = 8
COMMIT_BACKOFF = 0.2
#: What DuckDB says when a commit lost a race that a retry can win.
_TRANSIENT = (
    "database is locked",
    "Failed to commit DuckLake transaction",
    "Transaction conflict",
    "conflict",
    "could not serialize access",
)
#: Every connection: extensions only from the signed wheels (or an explicit INSTALL).
_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "allow_unsigned_extensions": False,
}
#: What DuckDB says of a catalog file that is not a catalog.
_DAMAGED = ("file is not a database", "database disk image is malformed", "not a valid")
#: The only statements ``query`` runs.
_READ_STATEMENTS = {duckdb.StatementType.SELECT}  # type: ignore[attr-defined]


def is_transient(exc: BaseException) -> bool:
    """Whether a failed DuckDB write lost a race that retrying can win."""
    text = str(exc)
    return isinstance(exc, duckdb.Error) and any(t in text for t in _TRANSIENT)


class Warehouse:
    def __init__(
        self, catalog: Catalog, scratch: Path | None = None, generation: str | None = None
    ) -> None:
        self.catalog = catalog
        #: where DuckDB spills what does not fit its memory limit
        self.scratch = scratch
        #: the schema this object writes to (None: the current one; ``rebuild`` builds a new
        #: one beside it and then publishes it)
        self.generation = generation
        #: commits retried after losing a race, since this object was made
        self.commit_retries = 0
        self._instances: dict[bool, duckdb.DuckDBPyConnection] = {}
        self._instances_lock = threading.Lock()
        self._generation_ready: str | None = None
        self._warming: threading.Thread | None = None
        self._schema_lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.catalog.label

    #: the name the warehouse is attached under in this object's connections
    catalog_alias = ALIAS

    # -- connections ----------------------------------------------------------------------

    @contextmanager
    def connect(
        self,
        read_only: bool = False,
        snapshot: int | str | None = None,
        before: int | str | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the warehouse attached as the default database (and, for a
        writer, its tables and views in place); DuckDB's errors become WarehouseError.
        ``before``: the warehouse as it was at that snapshot is attached too, as ``before``.

        Connections share one DuckDB instance per kind (loading the signed extensions costs a
        quarter of a second): writers one, readers another, read-only and locked down to the
        warehouse's files (``query``). A snapshot in the past gets an instance of its own."""
        if (read_only or snapshot is not None) and not self.catalog.exists():
            raise WarehouseError(
                f"no warehouse at {self.label}: run `repec-harvest run` or `repec-harvest demo`"
            )
        past = snapshot is not None or before is not None
        try:
            if past:
                database = self._open(read_only=True, snapshot=snapshot, before=before)
            else:
                database = self._instance(read_only)
            con = database.cursor()
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open the warehouse {self.label}: {first_line(exc)}"
            ) from None
        try:
            con.execute(f"USE {ALIAS}.{PUBLIC}")
            if not read_only and not past:
                with self._schema_lock:  # one thread of this process puts it in place
                    if self._generation_ready is None:
                        self._generation_ready = self.retrying(
                            lambda: _ensure_schema(con, self.generation)
                        )
                con.execute(f"USE {ALIAS}.{self._generation_ready}")
            yield con
        except duckdb.Error as exc:  # a failed load (out of memory, a full disk): one line
            raise WarehouseError(f"the warehouse {self.label} failed: {first_line(exc)}") from exc
        finally:
            con.close()
            if past:
                database.close()

    def warm(self) -> threading.Thread:
        """Open the writer's DuckDB instance on a thread of its own (loading the extensions
        and reading the catalog take a few tenths of a second, in DuckDB, without the GIL),
        so that the first load does not wait for it. An error is raised by the next
        ``connect``, which tries again."""

        def open_writer() -> None:
            try:
                with self.connect():
                    pass
            except Exception as exc:  # said again by the next connect
                log.debug("warming the warehouse failed: %s", exc)

        thread = threading.Thread(target=open_writer, name="warehouse-warm", daemon=True)
        thread.start()
        self._warming = thread
        return thread

    def _instance(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        with self._instances_lock:
            if read_only not in self._instances:
                self._instances[read_only] = self._open(read_only)
            return self._instances[read_only]

    def _open(
        self,
        read_only: bool,
        snapshot: int | str | None = None,
        before: int | str | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """A DuckDB instance with the warehouse attached (a reader's locked down)."""
        new = not self.catalog.exists()
        if not read_only:
            self.catalog.prepare()
        try:
            con = duckdb.connect(config=_CONFIG)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot start DuckDB: {first_line(exc)}") from None
        try:
            con.execute("SET enable_progress_bar = false")
            # bounded memory whatever the warehouse's size; DuckDB spills beyond it
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            # rows are keyed, never read in insertion order: DuckDB may stream them
            con.execute("SET preserve_insertion_order = false")
            if not read_only:
                con.execute(f"SET threads = {WRITER_THREADS}")
            spill = self._spill_folder()
            if spill is not None:
                con.execute(f"SET temp_directory = {quote(str(spill))}")
            load_extensions(con, self.catalog.extensions)
            try:
                con.execute(self.catalog.attach_statement(read_only, snapshot, data_path=new))
                if before is not None:
                    con.execute(self.catalog.attach_statement(True, before, alias="before"))
            except duckdb.Error as exc:
                hint = ""
                if any(t in str(exc) for t in _DAMAGED):
                    hint = "; `repec-harvest rebuild` recreates it from the raw archive"
                raise WarehouseError(
                    f"cannot open the warehouse {self.label}: {first_line(exc)}{hint}"
                ) from None
            if read_only:
                _lock_down(con)
            return con
        except BaseException:
            con.close()
            raise

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spill_folder(self) -> Path | None:
        """Where DuckDB spills what exceeds its memory (made here: DuckDB makes only the last
        folder of the path); None where it cannot be made (a reader of a read-only data dir)."""
        if self.scratch is None:
            return None
        folder = self.scratch / "duckdb-spill"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return folder

    def close(self) -> None:
        """Close this object's DuckDB instances (they close with the process otherwise)."""
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        with self._instances_lock:
            for instance in self._instances.values():
                instance.close()
            self._instances.clear()
            self._generation_ready = None

    def write(self, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``body`` in one write transaction under the catalog's write lock; a commit that
        loses a race is retried (``body`` runs again) with backoff, at most COMMIT_ATTEMPTS
        times."""
        with write_lock(self.catalog), self.connect() as con:
            return self.retrying(lambda: _in_transaction(con, body))

    def retrying(self, attempt: Callable[[], T]) -> T:
        for number in range(1, COMMIT_ATTEMPTS + 1):
            try:
                return attempt()
            except duckdb.Error as exc:
                if not is_transient(exc):
                    raise
                if number == COMMIT_ATTEMPTS:
                    raise WriteConflict(
                        f"the warehouse {self.label} stayed busy after {number} attempts: "
                        f"{first_line(exc)}"
                    ) from None
                self.commit_retries += 1
                pause = COMMIT_BACKOFF * 2 ** (number - 1) * random.uniform(0.5, 1.5)
                log.info("warehouse commit lost a race (%s); retrying in %.1fs",
                         first_line(exc), pause)  # fmt: skip
                time.sleep(pause)
        raise AssertionError("unreachable")

    # -- loads ----------------------------------------------------------------------------

    def load_window(self, files: dict[str, Path]) -> None:
        """Upsert one sealed window (articles, authors, quarantine) in one transaction."""
        self.load_windows([files])

    def load_windows(
        self,
        windows: Sequence[dict[str, Path]],
        loads: pa.Table | None = None,
        entities: dict[str, Path] | None = None,
    ) -> None:
        """Upsert several sealed windows in one transaction, with the same result as loading
        them one by one in this order; ``loads`` (``window_loads`` rows) is recorded in it, and
        ``entities`` (table -> staged file of series, archives, ...) loaded with it."""
        windows = [w for w in windows if w]
        if not windows and not entities:
            return
        params = {t: [str(w[t]) for w in windows] for t in ("articles", "authors", "quarantine")}

        def load(con: duckdb.DuckDBPyConnection) -> None:
            for table, path in (entities or {}).items():
                if table not in ENTITY_TABLES:
                    raise ValueError(table)
                run_script(con, _UPSERT_ENTITIES.format(table=table), {"path": str(path)})
            if windows:
                for script in (UPSERT_VERSIONS, INSERT_AUTHOR_VERSIONS, MERGE,
                               _UPSERT_QUARANTINE):  # fmt: skip
                    run_script(con, script, params)
            if loads is not None and loads.num_rows:
                insert_arrow(con, "window_loads", loads)

        self.write(load)

    def loaded_windows(self, harvest_id: str, run_id: str) -> dict[int, int]:
        """Window -> pages loaded, for one run (the most pages if loaded more than once)."""
        if not self.catalog.exists():
            return {}
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
        self.load_windows([], entities={table: path})

    def replace_harvest_log(self, runs: pa.Table, state: pa.Table) -> None:
        """Mirror the harvest log and checkpoints into ``harvest_runs``/``harvest_state``."""

        def replace(con: duckdb.DuckDBPyConnection) -> None:
            for name, table in (("harvest_runs", runs), ("harvest_state", state)):
                con.execute(f"DELETE FROM {name}")
                insert_arrow(con, name, table)

        self.write(replace)

    def copy_tables(
        self, tables: Sequence[str], source: str, where: str = "", attach: Path | None = None
    ) -> None:
        """Copy rows of ``tables`` from ``source`` (a qualified schema, or the alias of the
        DuckDB file ``attach``, attached read-only), replacing the rows ``where`` selects."""

        def copy(con: duckdb.DuckDBPyConnection) -> None:
            for table in tables:
                con.execute(f'DELETE FROM "{table}" {where}')
                con.execute(
                    f'INSERT INTO "{table}" BY NAME SELECT * FROM {source}."{table}" {where}'
                )

        with write_lock(self.catalog), self.connect() as con:
            if attach is not None:
                try:
                    con.execute(f"ATTACH {quote(str(attach))} AS {source} (READ_ONLY)")
                except duckdb.Error as exc:
                    raise WarehouseError(f"cannot read {attach}: {first_line(exc)}") from None
            self.retrying(lambda: _in_transaction(con, copy))

    def merge_all(self, metadata_prefix: str) -> int:
        """Merge every item that has a version of ``metadata_prefix`` (versions copied in
        whole); return how many."""

        def merge(con: duckdb.DuckDBPyConnection) -> int:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE winners AS SELECT DISTINCT handle_key"
                " FROM article_versions WHERE metadata_prefix = ?",
                [metadata_prefix],
            )
            run_script(con, MERGE, {})
            row = con.execute("SELECT count(*) FROM winners").fetchone()
            return int(row[0]) if row else 0

        return self.write(merge)

    def current_generation(self) -> str:
        """The schema of the tables readers see."""
        with self.connect(read_only=True) as con:
            return current_generation(con) or FIRST_GENERATION

    # -- reading --------------------------------------------------------------------------

    def query(
        self, sql: str, snapshot: int | str | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one SELECT, read-only for real: no file outside the warehouse is read, none
        written, no database attached, no extension loaded, no setting changed. ``snapshot``
        (an id or a timestamp) queries the warehouse as it was then."""
        check_read_only(sql)
        with self.connect(read_only=True, snapshot=snapshot) as con:
            try:
                cursor = con.execute(sql)
                if cursor.description is None:
                    return [], []
                return [d[0] for d in cursor.description], cursor.fetchall()
            except duckdb.PermissionException as exc:
                raise ReadOnlyViolation(
                    f"`sql` reads the warehouse and nothing else: {first_line(exc)}"
                ) from None
            except duckdb.Error as exc:
                raise QueryError(f"SQL error: {first_line(exc)}") from None

    # -- generations (``rebuild``) -------------------------------------------------------

    def beside(self) -> Warehouse:
        """A new, empty generation of this warehouse: written to like any other, invisible to
        readers until ``publish``."""
        if not self.catalog.exists():
            return Warehouse(self.catalog, self.scratch, FIRST_GENERATION)
        with self.connect(read_only=True) as con:
            names = [
                r[0]
                for r in con.execute(
                    "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?"
                    " AND regexp_full_match(schema_name, 'g[0-9]+')",
                    [ALIAS],
                ).fetchall()
            ]
        number = max((int(n[1:]) for n in names), default=0) + 1
        return Warehouse(self.catalog, self.scratch, f"g{number:04d}")

    def publish(self) -> None:
        """Make this generation the one readers see, in one commit, and drop the previous one
        (its files stay until ``maintain`` expires its snapshots: time travel still works)."""

        def switch(con: duckdb.DuckDBPyConnection) -> None:
            previous = current_generation(con)
            _publish_views(con, str(self.generation))
            if previous and previous != self.generation:
                _drop_generation(con, previous)

        self.write(switch)

    def discard(self) -> None:
        """Drop this generation (a rebuild that failed): readers never saw it."""
        generation = self.generation
        if generation is None:
            raise ValueError("only a generation made by beside() can be discarded")

        def drop(con: duckdb.DuckDBPyConnection) -> None:
            if generation != current_generation(con):
                _drop_generation(con, generation)

        self.write(drop)

    def count(self, table: str) -> int:
        with self.connect(read_only=True) as con:
            row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            return int(row[0]) if row else 0


def _lock_down(con: duckdb.DuckDBPyConnection) -> None:
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


def _drop_generation(con: duckdb.DuckDBPyConnection, generation: str) -> None:
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
        [ALIAS, generation],
    ).fetchall()
    for (table,) in tables:
        con.execute(f'DROP TABLE {generation}."{table}"')
    con.execute(f"DROP SCHEMA IF EXISTS {generation}")


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


def _in_transaction(
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


_VIEWS = resources.files("warehouse").joinpath("views.sql").read_text("utf-8")
#: Marks the views' version (a comment on ``live_articles``): changed views are made again.
_VIEWS_VERSION = "repec-harvest views " + hashlib.sha256(_VIEWS.encode()).hexdigest()[:16]
#: Where users look: a view per table over the current generation, and the views of
#: views.sql.
PUBLIC = "main"
FIRST_GENERATION = "g0001"


def current_generation(con: duckdb.DuckDBPyConnection) -> str | None:
    """The schema holding the tables ``main``'s views show (None in a new warehouse)."""
    return _view_comment(con, "articles")


def _set_options(con: duckdb.DuckDBPyConnection) -> None:
    """The warehouse's Parquet settings (kept in its catalog), where they differ."""
    present = dict(
        con.execute(f"SELECT option_name, value FROM {ALIAS}.options()").fetchall()
    )
    for name, value in DATA_FILE_OPTIONS.items():
        if present.get(name) != value:
            con.execute(f"CALL {ALIAS}.set_option('{name}', {quote(value)})")


def _view_comment(con: duckdb.DuckDBPyConnection, view: str) -> str | None:
    """The comment on a public view (where the generation and the views' version are kept)."""
    rows = con.execute(
        "SELECT comment FROM duckdb_views() WHERE database_name = ? AND schema_name = ?"
        " AND view_name = ?",
        [ALIAS, PUBLIC, view],
    ).fetchall()
    return str(rows[0][0]) if rows and rows[0][0] else None


def _ensure_schema(con: duckdb.DuckDBPyConnection, wanted: str | None) -> str:
    """Create what is missing (one transaction): the generation's tables and, for the current
    generation, the public views; refuse an older layout. Return the generation."""
    current = current_generation(con)
    generation = wanted or current or FIRST_GENERATION
    present: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns()"
        " WHERE database_name = ? AND schema_name = ?",
        [ALIAS, generation],
    ).fetchall():
        present.setdefault(table, set()).add(column)
    for name, schema in ALL_TABLES.items():
        if name in present and (missing := [c for c in schema.names if c not in present[name]]):
            raise WarehouseError(
                f"the warehouse was made by an older repec-harvest (table {name} lacks "
                f"{', '.join(missing)}); `repec-harvest rebuild` recreates it"
            )
    _set_options(con)
    missing_tables = [n for n in ALL_TABLES if n not in present]
    public = generation == (current or generation)
    if not missing_tables and (not public or _view_comment(con, "live_articles") == _VIEWS_VERSION):
        return generation

    def create(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {generation}")
        for name in missing_tables:
            con.register("empty_table", ALL_TABLES[name].empty_table())
            con.execute(
                f'CREATE TABLE IF NOT EXISTS {generation}."{name}" AS SELECT * FROM empty_table'
            )
            con.unregister("empty_table")
        if public:
            _publish_views(con, generation)

    _in_transaction(con, create)
    return generation


def _publish_views(con: duckdb.DuckDBPyConnection, generation: str) -> None:
    """Point every public name at ``generation``'s tables (inside the caller's transaction)."""
    con.execute(f"USE {ALIAS}.{PUBLIC}")
    for name in ALL_TABLES:
        con.execute(
            f'CREATE OR REPLACE VIEW {PUBLIC}."{name}" AS SELECT * FROM {generation}."{name}"'
        )
    con.execute(f"COMMENT ON VIEW {PUBLIC}.articles IS {quote(generation)}")
    con.execute(_VIEWS)
    con.execute(f"COMMENT ON VIEW {PUBLIC}.live_articles IS {quote(_VIEWS_VERSION)}")
    con.execute(f"USE {ALIAS}.{generation}")


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
