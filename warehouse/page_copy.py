"""Item pages from the page copy where it is current, from the warehouse where it is not.

At a million items an item page read from the DuckLake takes about 125 ms, more while a
harvest adds files: each statement reads which files hold what, their Parquet footers and a
row group of each column read. Read from the copy of the page tables kept beside the search
index (``items.ITEM_PAGE_TABLES``: a native DuckDB file of the index's snapshot) it takes about
30 ms.

The copy is of the snapshot the index was built from, so the items whose own rows changed
since (in ``articles``, ``authors``, ``references``, ``citations`` or ``citation_counts``, or
their series in ``series``) are read from the warehouse; the others from the copy. What an
unchanged item's page shows of other items (the titles of the items it cites and that cite
it, its series' other items) is as of the copy's snapshot: at most one index build behind.

Which items changed is read from DuckLake's change functions for the snapshots committed
since the last look (a few ms per table, only when the warehouse moved), into Bloom filters
of a fixed size: an item the filter holds by mistake (one in a hundred) is only read from the
warehouse. Past MAX_CHANGED keys, after a change of the catalog itself (a rebuild's new
generation, new views), and whenever the changes cannot be read, every page is read from the
warehouse until the next copy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import duckdb
from rbloom import Bloom

from schemas.handles import handle_key
from warehouse.catalog import ALIAS, quote
from warehouse.changes import snapshot_changes, snapshot_time
from warehouse.database import Warehouse
from warehouse.generations import current_generation
from warehouse.items import ItemPage, read_item_page
from warehouse.search import IndexFile, SearchIndex
from warehouse.statements import first_line

log = logging.getLogger(__name__)

#: Table -> its columns holding the keys of the items whose pages show its rows.
ITEM_TABLES = {
    "articles": ("handle_key",),
    "authors": ("handle_key",),
    "references": ("handle_key",),
    "citations": ("cited_key", "citing_key"),
    "citation_counts": ("handle_key",),
}
#: Table -> its columns holding the keys of the series whose items' pages show its rows.
SERIES_TABLES: dict[str, tuple[str, ...]] = {"series": ("handle_key",)}
#: The changed keys the filters are made for (about 6 MB each: a re-harvest of all of RePEc
#: fits); past them, every page is read from the warehouse until the next copy.
MAX_CHANGED = 5_000_000
#: The share of unchanged items that the filters hold by mistake.
FALSE_POSITIVES = 0.01
#: Changed keys read from DuckDB at a time.
_BATCH = 10_000
_FUNCTIONS = ("ducklake_table_insertions", "ducklake_table_deletions")


@dataclass
class Changes:
    """The items and series whose rows changed after the copy's snapshot ``since``, up to
    the warehouse's snapshot ``upto``, as Bloom filters of their keys; None when unknown
    (more than ``capacity``, a change of the catalog, unreadable): then no page comes from
    the copy."""

    since: int
    since_time: datetime
    upto: int
    #: the time of snapshot ``upto`` (a catalog made again has other times at the same ids)
    upto_time: datetime
    capacity: int = MAX_CHANGED
    items: Bloom | None = None
    series: Bloom | None = None
    #: keys put in the filters so far (a key changed twice counts twice)
    added: int = 0

    def __post_init__(self) -> None:
        self.items = Bloom(max(self.capacity, 1), FALSE_POSITIVES)
        self.series = Bloom(max(self.capacity, 1), FALSE_POSITIVES)

    @property
    def known(self) -> bool:
        return self.items is not None and self.series is not None

    def forget(self) -> None:
        self.items = self.series = None


def changed_keys(
    con: duckdb.DuckDBPyConnection, tables: dict[str, tuple[str, ...]], first: int, last: int
) -> Iterator[list[str]]:
    """The keys in ``tables``' key columns of the rows inserted or deleted in the warehouse's
    snapshots ``first``..``last``, _BATCH at a time."""
    generation = current_generation(con)
    if generation is None:
        return
    parts = [
        f"SELECT {column} AS k FROM {function}('{ALIAS}', {quote(generation)}, '{table}', "
        f"{int(first)}, {int(last)})"
        for table, columns in tables.items()
        for column in columns
        for function in _FUNCTIONS
    ]
    cursor = con.execute(
        f"SELECT DISTINCT k FROM ({' UNION ALL '.join(parts)}) WHERE k IS NOT NULL"
    )
    while rows := cursor.fetchmany(_BATCH):
        yield [row[0] for row in rows]


class ItemPages:
    """Item pages of ``warehouse``, from the copy beside ``index`` where it is current.
    Its methods read the warehouse: call them from the thread that reads it."""

    def __init__(
        self, warehouse: Warehouse, index: SearchIndex, max_changed: int = MAX_CHANGED
    ) -> None:
        self.warehouse = warehouse
        self.index = index
        self.max_changed = max_changed
        self._changes: Changes | None = None
        self._lock = threading.Lock()
        #: pages served from the copy and from the warehouse (for tests and benchmarks)
        self.served = {"copy": 0, "warehouse": 0}

    def page(self, handle: str) -> ItemPage | None:
        """The record page of ``handle``; None when the warehouse never had it."""
        key = handle_key(handle)
        with self.index.using() as copy, self.warehouse.reading() as con:
            if copy is not None:
                changes = self._changes_since(con, copy)
                if changes is not None and changes.items is not None and key not in changes.items:
                    page = copy.item_page(key)
                    series = page and handle_key(page.item["series_handle"] or "")
                    if page is None or series not in (changes.series or ()):
                        self.served["copy"] += 1
                        return page
            self.served["warehouse"] += 1
            return read_item_page(con, key)

    def _changes_since(self, con: duckdb.DuckDBPyConnection, copy: IndexFile) -> Changes | None:
        """What changed between ``copy``'s snapshot and the one ``con`` reads; None when the
        copy is not of this warehouse's history or the changes are unknown."""
        with self._lock:
            changes = self._changes
            if changes is None or (changes.since, changes.since_time) != (
                copy.snapshot,
                copy.snapshot_time,
            ):
                changes = self._changes = self._start(con, copy)
            row = con.execute(f"SELECT id FROM ducklake_current_snapshot('{ALIAS}')").fetchone()
            current = int(row[0]) if row else changes.upto
            if current < changes.upto:  # read before the copy was made: not comparable
                return None
            if changes.known and current > changes.upto:
                try:
                    if snapshot_time(con, changes.upto) != changes.upto_time:
                        changes.forget()  # not the history the copy was made of
                    else:
                        self._add(con, changes, current)
                except duckdb.Error as exc:
                    log.warning("item pages from the warehouse until the next copy: %s",
                                first_line(exc))  # fmt: skip
                    changes.forget()
                changes.upto = current
                changes.upto_time = snapshot_time(con, current) or changes.upto_time
            return changes if changes.known else None

    def _start(self, con: duckdb.DuckDBPyConnection, copy: IndexFile) -> Changes:
        """The changes since ``copy``: none yet, if its snapshot is in this warehouse's
        history with the same time (a catalog made again starts its ids again)."""
        changes = Changes(copy.snapshot, copy.snapshot_time, copy.snapshot, copy.snapshot_time,
                          self.max_changed)  # fmt: skip
        if snapshot_time(con, copy.snapshot) != copy.snapshot_time:
            changes.forget()
        return changes

    def _add(self, con: duckdb.DuckDBPyConnection, changes: Changes, current: int) -> None:
        if snapshot_changes(con, changes.upto, current)[1]:
            # a table or view made again (a rebuild's new generation, new views): the rows
            # of its tables are not followed across that
            changes.forget()
            return
        for keys, tables in ((changes.items, ITEM_TABLES), (changes.series, SERIES_TABLES)):
            for batch in changed_keys(con, tables, changes.upto + 1, current):
                changes.added += len(batch)
                if keys is None or changes.added > changes.capacity:
                    changes.forget()
                    return
                keys.update(batch)
