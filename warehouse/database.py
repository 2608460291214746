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

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from schemas.errors import QueryError, ReadOnlyViolation, WarehouseError, WriteConflict
from warehouse.catalog import ALIAS, Catalog, load_extensions, quote
from warehouse.generations import (
    FIRST_GENERATION,
    PUBLIC,
    current_generation,
    drop_generation,
    ensure_schema,
    generations,
    next_generation,
    publish_views,
)
from warehouse.listings import Comparison, compare
from warehouse.locks import write_lock
from warehouse.merge import (
    INSERT_AUTHOR_VERSIONS,
    MERGE,
    UPSERT_QUARANTINE,
    UPSERT_VERSIONS,
    upsert_entities,
)
from warehouse.sandbox import check_read_only, lock_down
from warehouse.statements import (
    T,
    first_line,
    in_transaction,
    insert_arrow,
    is_transient,
    run_script,
)

log = logging.getLogger(__name__)


#: DuckDB's memory per instance; larger operations spill to the scratch folder. With the
#: writer's threads below, it keeps a one-million-record harvest near 400 MB of RSS, the
#: signed extensions (about 70 MB of code) included (BENCHMARKS.md).
MEMORY_LIMIT = "176MB"
#: A writer's DuckDB threads: each thread buffers a row group of every file it writes, so one
#: thread halves a load's memory; the harvest (parsing, fetching) has the other core.
WRITER_THREADS = 1
#: Attempts of a write transaction that loses a race, and the first pause between them
#: (doubled each time, jittered).
COMMIT_ATTEMPTS = 8
COMMIT_BACKOFF = 0.2
#: Every connection: extensions only from the signed wheels (or an explicit INSTALL).
_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "allow_unsigned_extensions": False,
}
#: What DuckDB says of a catalog file that is not a catalog.
_DAMAGED = ("file is not a database", "database disk image is malformed", "not a valid")


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
        self._reader_lock = threading.RLock()

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
        # one thread at a time on the shared reader: DuckLake's reads of a SQLite catalog
        # from several threads of one instance, while another process commits, fail
        # ("database disk image is malformed") or crash the process (SIGBUS)
        serial = self._reader_lock if read_only and not past else nullcontext()
        with serial:
            yield from self._connected(read_only, past, snapshot, before)

    def _connected(
        self,
        read_only: bool,
        past: bool,
        snapshot: int | str | None,
        before: int | str | None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
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
                            lambda: ensure_schema(con, self.generation)
                        )
                con.execute(f"USE {ALIAS}.{self._generation_ready}")
            yield con
        except duckdb.Error as exc:  # a failed load (out of memory, a full disk): one line
            raise WarehouseError(f"the warehouse {self.label} failed: {first_line(exc)}") from exc
        finally:
            con.close()
            if past:
                database.close()

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection whose queries all see one snapshot: one transaction, so a
        page never mixes two states of a warehouse being loaded, and the catalog's list of
        files is read once for all of them (each query alone reads it again: 5-15 ms)."""
        with self.connect(read_only=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            finally:
                with suppress(duckdb.Error):
                    con.execute("ROLLBACK")

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
            spill = self.spill_folder()
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
                lock_down(con)
            return con
        except BaseException:
            con.close()
            raise

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spill_folder(self) -> Path | None:
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
            return self.retrying(lambda: in_transaction(con, body))

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
                run_script(con, upsert_entities(table), {"path": str(path)})
            if windows:
                for script in (UPSERT_VERSIONS, INSERT_AUTHOR_VERSIONS, MERGE,
                               UPSERT_QUARANTINE):  # fmt: skip
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
        """Upsert a ListSets listing into ``series`` (what only templates give is kept)."""
        script = upsert_entities("series", listing=True)
        self.write(lambda con: run_script(con, script, {"path": str(path)}))

    def load_entities(self, table: str, path: Path) -> None:
        """Upsert series, archives, persons or institutions by handle (newest listing wins)."""
        self.load_windows([], entities={table: path})

    def replace_harvest_log(
        self, mirrored: dict[str, pa.Table], series: Sequence[Path] = ()
    ) -> None:
        """Mirror the harvest log, checkpoints and reconciliations (table name -> rows:
        ``harvest_runs``, ``harvest_state``, ``reconciliations``), and upsert the staged
        ``series`` listings, in one commit."""

        def replace(con: duckdb.DuckDBPyConnection) -> None:
            for path in series:
                run_script(con, upsert_entities("series", listing=True), {"path": str(path)})
            for name, table in mirrored.items():
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
            self.retrying(lambda: in_transaction(con, copy))

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

    def compare_listing(self, listing: Path, out: Path, missing: Path, **source: Any) -> Comparison:
        """A source's listing against the warehouse (``warehouse.listings.compare``)."""
        with self.connect() as con:
            return compare(con, listing, out, missing, **source)

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
        with self.stream(sql, snapshot) as (columns, batches):
            return columns, [row for batch in batches for row in batch]

    @contextmanager
    def stream(
        self, sql: str, snapshot: int | str | None = None, batch_rows: int = 10_000
    ) -> Iterator[tuple[list[str], Iterator[list[tuple[Any, ...]]]]]:
        """``query``, its rows in batches as DuckDB produces them: the first rows of a huge
        result come at once, and memory holds one batch."""
        check_read_only(sql)
        with self.connect(read_only=True, snapshot=snapshot) as con:
            try:
                cursor = con.execute(sql)
            except duckdb.PermissionException as exc:
                raise ReadOnlyViolation(
                    f"`sql` reads the warehouse and nothing else: {first_line(exc)}"
                ) from None
            except duckdb.Error as exc:
                raise QueryError(f"SQL error: {first_line(exc)}") from None
            if cursor.description is None:
                yield [], iter(())
                return

            def batches() -> Iterator[list[tuple[Any, ...]]]:
                try:
                    while batch := cursor.fetchmany(batch_rows):
                        yield batch
                except duckdb.Error as exc:
                    raise QueryError(f"SQL error: {first_line(exc)}") from None

            yield [d[0] for d in cursor.description], batches()

    # -- generations (``rebuild``) -------------------------------------------------------

    def beside(self) -> Warehouse:
        """A new, empty generation of this warehouse: written to like any other, invisible to
        readers until ``publish``."""
        if not self.catalog.exists():
            return Warehouse(self.catalog, self.scratch, FIRST_GENERATION)
        with self.connect(read_only=True) as con:
            generation = next_generation(con)
        return Warehouse(self.catalog, self.scratch, generation)

    def publish(self) -> None:
        """Make this generation the one readers see, in one commit, and drop every other one
        (their files stay until ``maintain`` expires their snapshots: time travel still
        works). Rebuilds run alone, so no other generation is being built."""

        def switch(con: duckdb.DuckDBPyConnection) -> None:
            publish_views(con, str(self.generation))
            # the previous one, and any a killed rebuild left half built
            for generation in generations(con):
                if generation != self.generation:
                    drop_generation(con, generation)

        self.write(switch)

    def discard(self) -> None:
        """Drop this generation (a rebuild that failed): readers never saw it."""
        generation = self.generation
        if generation is None:
            raise ValueError("only a generation made by beside() can be discarded")

        def drop(con: duckdb.DuckDBPyConnection) -> None:
            if generation != current_generation(con):
                drop_generation(con, generation)

        self.write(drop)

    def count(self, table: str) -> int:
        with self.connect(read_only=True) as con:
            row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            return int(row[0]) if row else 0
