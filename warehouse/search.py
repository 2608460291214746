"""Full-text search over the warehouse's live items: ranked, filtered, paged.

The index is a DuckDB file built from one snapshot of the warehouse (``warehouse.search_index``
says how). An item matches when it has every stem of the query's words (stop words aside);
it ranks by the sum of their BM25F scores, ties by handle, or by date.

At one million items (``python -m benchmarks.search``): a search takes 16 ms (median; 28 ms
at the 95th percentile), the build of its tables 104 s with 804 MB of peak RSS, 482 MB (the
page copy beside them adds about 30 s and 400 MB). The ``fts``
extension's own index answered the same queries with ``match_bm25`` in a second: it scans
every posting of every item, where ``postings`` here is read only at the query's stems.

A refresh builds the next file under a temporary name beside the current one, renames it into
place and swaps it in; searches under way finish on the old file, deleted when the last one is
done. Builds hold a lock on the folder, so processes sharing it build each snapshot once, and
the leftovers of a killed build go before the next build.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from schemas.errors import BadParameter, QueryError, WarehouseError
from warehouse.catalog import ALIAS, Catalog
from warehouse.changes import snapshot_time, tables_changed
from warehouse.database import Warehouse
from warehouse.items import ItemPage, read_item_page
from warehouse.search_index import (
    BUILDS,
    FILE_NAME,
    FORMAT,
    SOURCE_TABLES,
    STEMMER,
    Snapshot,
    connect,
    remove,
)
from warehouse.statements import first_line

SORTS = ("relevance", "date")
#: Relevance scores closer than this rank as equal (then by handle): 2^-16, so that the sum of
#: the scores of a query's words (each under 20), shifted past a docid's 32 bits, fits a BIGINT.
SCORE_STEP = 2.0**-16
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""  # words; empty = browse by the filters only
    year_from: int | None = None
    year_to: int | None = None
    series: str | None = None  # a series handle, any case
    item_type: str | None = None  # 'article', 'paper', ...
    jel: str | None = None  # a JEL code or its start: 'F', 'F5', 'F51'
    sort: str = "relevance"  # or "date": newest first (year, date, then handle)
    page: int = 1  # 1-based
    per_page: int = 20

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise BadParameter(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")
        if self.page < 1:
            raise BadParameter(f"page must be 1 or more, not {self.page}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise BadParameter(f"per_page must be from 1 to {MAX_PER_PAGE}, not {self.per_page}")


@dataclass(frozen=True)
class SearchHit:
    handle: str
    title: str | None
    year: int | None
    item_type: str | None
    series_handle: str | None
    series_name: str | None
    authors: str | None  # names in order, "; " between them
    score: float | None  # None when browsing without words


@dataclass(frozen=True)
class SearchResults:
    hits: list[SearchHit]
    total: int  # every match of the words and filters
    snapshot: int  # the warehouse snapshot the index was built from
    built_at: datetime


# -- searching ------------------------------------------------------------------------------

_QUERY_TERMS = """
SELECT count(*), list(t.termid ORDER BY t.df, t.termid) FILTER (WHERE t.termid IS NOT NULL)
FROM (SELECT DISTINCT stem(word, $stemmer) AS term
      FROM (SELECT unnest(search_words($text)) AS word)
      WHERE word NOT IN (SELECT word FROM stopwords)) q
LEFT JOIN terms t USING (term)
"""


def _matches(terms: list[int]) -> tuple[str, str, str]:
    """FROM, condition and score of the items that have every stem of ``terms`` (rarest
    first): a chain of joins on the item, which the filters on ``docs d`` join into, not an
    aggregation of every posting of every stem (three stems in most of a million items:
    60 ms, against 200 ms grouped)."""
    joins = "".join(f" JOIN postings p{n} ON p{n}.docid = p0.docid AND p{n}.termid = {int(t)}"
                    for n, t in enumerate(terms) if n)  # fmt: skip
    score = " + ".join(f"p{n}.score" for n in range(len(terms)))
    return f"postings p0{joins}", f"p0.termid = {int(terms[0])}", score


#: SearchQuery field -> its condition on ``docs d``.
_FILTERS = {
    "year_from": "d.year >= $year_from",
    "year_to": "d.year <= $year_to",
    "series": "d.series_key = lower(trim($series))",
    "item_type": "d.item_type = lower(trim($item_type))",
    "jel": "contains(d.jel, ' ' || upper(trim($jel)))",
}
#: The hits' cards, by docid (listed in the SQL as numbers: a lookup in ``docs``' index, 1.5 ms
#: against 4 ms for a list parameter).
_CARDS = """
SELECT docid, handle, title, year, item_type, series_handle, series_name, authors
FROM docs WHERE docid IN ({ids})
"""


def _page_query(query: SearchQuery, terms: list[int] | None) -> tuple[str, dict[str, Any]]:
    """SQL giving the count of matches, and the docids and scores of the first ``page *
    per_page`` of them in order (``terms``: the query's stems; None to browse)."""
    params: dict[str, Any] = {name: getattr(query, name) for name in _FILTERS
                              if getattr(query, name) not in (None, "")}  # fmt: skip
    conditions = [_FILTERS[name] for name in params]
    params["depth"] = query.page * query.per_page
    if terms is None:
        source, docid, score = "docs d", "d.docid", None
    else:
        source, matched, score = _matches(terms)
        docid = "p0.docid"
        if conditions or query.sort == "date":
            source += " JOIN docs d ON d.docid = p0.docid"
        conditions.insert(0, matched)
    if score is not None and query.sort == "relevance":
        # one BIGINT orders by score, then by handle as docids do (a STRUCT key took twice as
        # long over a million matches); scores are compared to SCORE_STEP
        order = f"(round(({score}) / {SCORE_STEP})::BIGINT << 32) - {docid}"
        ranked = [f"arg_max({column}, {order}, $depth)" for column in (docid, score)]
    else:
        scores = "NULL" if score is None else f"arg_min({score}, d.date_rank, $depth)"
        ranked = [f"arg_min({docid}, d.date_rank, $depth)", scores]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT count(*), {', '.join(ranked)} FROM {source}{where}", params


class IndexFile:
    """One index file, open read-only; each search runs on a cursor of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: searches running on it (``SearchIndex`` counts them)
        self.users = 0
        try:
            self._db = connect(path, read_only=True)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open the index {path}: {first_line(exc)}") from None
        try:
            row = self._db.execute(
                "SELECT snapshot, built_at, format, snapshot_time FROM meta"
            ).fetchone()
        except duckdb.Error as exc:
            self._db.close()
            raise WarehouseError(f"{path} is not a search index: {first_line(exc)}") from None
        if row is None or row[2] != FORMAT:
            self._db.close()
            raise WarehouseError(f"{path} is a search index of another format")
        self.snapshot: int = row[0]
        self.built_at: datetime = row[1].astimezone(UTC)
        self.snapshot_time: datetime = row[3].astimezone(UTC)

    def search(self, query: SearchQuery) -> SearchResults:
        con = self._db.cursor()
        try:
            total, hits = self._find(con, query)
        except duckdb.Error as exc:
            raise QueryError(f"the search failed: {first_line(exc)}") from None
        finally:
            con.close()
        return SearchResults(hits, total, self.snapshot, self.built_at)

    def item_page(self, key: str) -> ItemPage | None:
        """The record page of the item keyed ``key`` as it was at the index's snapshot, from
        the copy of the page tables beside the index."""
        con = self._db.cursor()
        try:
            return read_item_page(con, key, outgoing="citations_out")
        except duckdb.Error as exc:
            raise QueryError(f"reading the page copy failed: {first_line(exc)}") from None
        finally:
            con.close()

    @staticmethod
    def _find(con: duckdb.DuckDBPyConnection, query: SearchQuery) -> tuple[int, list[SearchHit]]:
        terms = None
        if query.text.strip():
            row = con.execute(_QUERY_TERMS, {"text": query.text, "stemmer": STEMMER}).fetchone()
            words, terms = (row[0], row[1]) if row else (0, None)
            if len(terms or []) < words:
                return 0, []  # a word that no item has
            if not words and not any(getattr(query, name) for name in _FILTERS):
                return 0, []  # stop words or punctuation only, and no filter to browse by
            terms = terms or None
        sql, params = _page_query(query, terms)
        row = con.execute(sql, params).fetchone()
        if row is None or not row[0]:
            return 0, []
        start = (query.page - 1) * query.per_page
        ids, scores = row[1][start:], (row[2] or [None] * len(row[1]))[start:]
        if not ids:
            return row[0], []
        cursor = con.execute(_CARDS.format(ids=", ".join(str(int(i)) for i in ids)))
        columns = [d[0] for d in cursor.description or ()][1:]
        cards = {r[0]: dict(zip(columns, r[1:], strict=True)) for r in cursor.fetchall()}
        return row[0], [SearchHit(**cards[i], score=s) for i, s in zip(ids, scores, strict=True)]

    def close(self) -> None:
        self._db.close()


# -- the index in use -----------------------------------------------------------------------


class SearchIndex:
    """The search index of ``warehouse``, its files in ``folder``."""

    def __init__(self, warehouse: Warehouse, folder: Path) -> None:
        self.warehouse = warehouse
        self.folder = folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot make the search index's folder {folder}: {exc}") from None
        self._current: IndexFile | None = None
        self._open: list[IndexFile] = []  # the current one, and old ones still searched
        self._lock = threading.Lock()  # guards the three above and each file's users
        self._refreshing = threading.Lock()
        self._closed = False
        #: runs a read of the warehouse (``latest``): in the calling thread, unless a process
        #: that reads the warehouse on one thread of its own sets it to run there
        self.read_warehouse: Callable[[Callable[[], Any]], Any] = lambda read: read()
        with suppress(BlockingIOError), self._folder_lock(wait=False):
            remove(folder, BUILDS)  # a killed build's leftovers

    @property
    def ready(self) -> bool:
        """Whether an index is open to search (else the next search builds one first)."""
        return self._current is not None

    def refresh(self) -> bool:
        """Build the index of the warehouse's latest snapshot if the one in use is older (or
        there is none) and swap it in; whether the index changed. Searches go on meanwhile."""
        with self._refreshing:
            snapshot = self.latest()
            current = self._current
            if current is not None and self._path(snapshot) == current.path:
                return False
            if current is not None and not self.read_warehouse(lambda: self._changed(current)):
                return False  # the commits since wrote none of its tables (a harvest's log)
            index = self._open_or_build(snapshot)
            with self._lock:
                if self._closed:
                    index.close()
                    return False
                self._current = index
                self._open.append(index)
            self._close_unused()
            self._delete_older(snapshot)
            return True

    def search(self, query: SearchQuery) -> SearchResults:
        """The hits of ``query`` (the first search builds the index if there is none yet)."""
        if self._current is None:
            self.refresh()
        with self.using() as index:
            if index is None:
                raise WarehouseError("the search index is closed")
            return index.search(query)

    @contextmanager
    def using(self) -> Iterator[IndexFile | None]:
        """The index file in use, kept open until the block ends (None while there is none:
        this builds none)."""
        with self._lock:
            index = self._current
            if index is not None:
                index.users += 1
        try:
            yield index
        finally:
            if index is not None:
                with self._lock:
                    index.users -= 1
                self._close_unused()

    def close(self) -> None:
        """Close the index files (the current one stays for the next process to use)."""
        with self._lock:
            self._closed = True
            indexes, self._open, self._current = self._open, [], None
        for index in indexes:
            index.close()

    # -- files ----------------------------------------------------------------------------

    def _path(self, snapshot: Snapshot) -> Path:
        return self.folder / snapshot.file_name

    def latest(self) -> Snapshot:
        """The warehouse's latest snapshot, read through ``read_warehouse``."""
        snapshot: Snapshot = self.read_warehouse(self._latest)
        return snapshot

    def _changed(self, index: IndexFile) -> bool:
        """Whether the warehouse changed what ``index`` holds since its snapshot (or is not
        the history it was built from)."""
        with self.warehouse.connect(read_only=True) as con:
            if snapshot_time(con, index.snapshot) != index.snapshot_time:
                return True
            return tables_changed(con, index.snapshot, SOURCE_TABLES)

    def _latest(self) -> Snapshot:
        with self.warehouse.connect(read_only=True) as con:
            row = con.execute(
                f"SELECT snapshot_id, snapshot_time FROM {ALIAS}.snapshots()"
                " ORDER BY snapshot_id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            raise WarehouseError(f"the warehouse {self.warehouse.label} has no snapshot")
        return Snapshot(int(row[0]), row[1])

    def _open_or_build(self, snapshot: Snapshot) -> IndexFile:
        """The index file of ``snapshot``, built unless another process built it already."""
        path = self._path(snapshot)
        with self._folder_lock(wait=True):
            if path.exists():
                with suppress(WarehouseError):  # deleted meanwhile, or damaged: built again
                    return IndexFile(path)
            remove(self.folder, BUILDS)  # no build runs while we hold the lock
            _build_apart(self.warehouse.catalog, snapshot, path)
            return IndexFile(path)

    def _close_unused(self) -> None:
        """Close and delete the old files no search uses any more."""
        with self._lock:
            unused = [i for i in self._open if i is not self._current and i.users == 0]
            self._open = [i for i in self._open if i not in unused]
        for index in unused:
            index.close()
            index.path.unlink(missing_ok=True)

    def _delete_older(self, snapshot: Snapshot) -> None:
        """Delete the files of older snapshots (another process may still read one: it keeps
        it open, deleted) but those still searched here."""
        with self._lock:
            ours = {i.path for i in self._open}
        for path in self.folder.glob("search-*.duckdb"):
            found = FILE_NAME.fullmatch(path.name)
            older = found is not None and (int(found[1]) < snapshot.id or (
                int(found[1]) == snapshot.id and path.name != snapshot.file_name))  # fmt: skip
            if older and path not in ours:
                path.unlink(missing_ok=True)

    @contextmanager
    def _folder_lock(self, wait: bool) -> Iterator[None]:
        """Hold the folder alone (one build at a time, across processes); without ``wait``,
        raise BlockingIOError if another holds it."""
        with open(self.folder / ".search.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            yield


def _build_apart(catalog: Catalog, snapshot: Snapshot, path: Path) -> None:
    """``build`` in a process of its own (``python -m warehouse.search_index``): its
    gigabyte of memory at a million items is given back when it ends, and its reads of a
    SQLite catalog share no process with the warehouse's shared reader (DuckDB's SQLite
    readers in two threads of one process fail while another process commits: "database disk
    image is malformed", or SIGBUS)."""
    job = {"metadata": catalog.metadata, "data_path": catalog.data_path, "snapshot": snapshot.id,
           "snapshot_time": snapshot.time.isoformat(), "target": str(path)}  # fmt: skip
    done = subprocess.run(  # the job on stdin: a catalog URL may hold a password
        [sys.executable, "-m", "warehouse.search_index"],
        input=json.dumps(job), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        raise WarehouseError(lines[-1] if lines else f"the index build exited {done.returncode}")
