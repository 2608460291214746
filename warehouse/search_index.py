"""The search index's file: a DuckDB file built from one snapshot of the warehouse (a
DuckLake holds no full-text index) and named after it. It holds one row per live item
(``docs``), the stems of their words (``terms``) and, for each stem, the items that have it
with the stem's score there (``postings``, sorted by stem: a query reads only its stems' row
groups). Beside them, a copy of the tables item pages read (``items.ITEM_PAGE_TABLES``), served by
``warehouse.page_copy``: a native file answers a page in a fifth of the lake's time.

Words are lower-cased, stripped of accents and split at anything that is not a letter or a
digit of any script (``Économie`` and ``Рынки`` are words); English stop words are dropped and
the rest stemmed (Porter, from DuckDB's ``fts`` extension: ``markets`` finds ``market``). Each
stem's score in an item is BM25F over title (weight 3), authors and keywords (2) and abstract
(1), each field's length normalized apart, so a word in the title outranks the same word in
the abstract.

A build writes under a temporary name in the index's folder, then renames the file into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from schemas.errors import WarehouseError
from warehouse.catalog import ALIAS, Catalog, load_extensions, quote
from warehouse.database import MEMORY_LIMIT
from warehouse.items import ITEM_PAGE_TABLES, ITEM_PAGE_TABLES_REORDERED, ITEM_PAGE_VIEWS
from warehouse.statements import first_line, run_script

#: The warehouse tables an index file is made of: those of its page copy, which hold those its
#: search tables are made of (``articles``, ``series``, ``authors``). A snapshot that wrote
#: none of them needs no new file.
SOURCE_TABLES = tuple(ITEM_PAGE_TABLES)
#: The index's layout; files of another format are never reused.
FORMAT = 2
#: DuckDB's memory for a build (it spills the rest to the folder), and both kinds' threads.
BUILD_MEMORY_LIMIT = "512MB"
THREADS = 2
STEMMER = "porter"
#: Dropped from items and queries: Lucene's English stop words, and the pronouns, auxiliaries
#: and connectives most frequent in abstracts ("us" is kept: the US).
STOPWORDS = (  # noqa: SIM905 (words, one line of each kind)
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with "
    "about also am been being both can could did do does during each from had has have he her "
    "here his how i its me my our ours she should so than them those through very we were what "
    "when where which while who whom why would you your"
).split()
#: BM25F: each field's weight; term-frequency saturation and length normalization.
FIELDS = {"title": 3.0, "authors": 2.0, "keywords": 2.0, "abstract": 1.0}
K1, B = 1.2, 0.75

_CONFIG: dict[str, Any] = {"autoinstall_known_extensions": False,
                           "allow_unsigned_extensions": False}  # fmt: skip
#: The start of the temporary names of builds under way (or killed).
BUILDS = ".build-"


@dataclass(frozen=True)
class Snapshot:
    """A warehouse snapshot: its id, and its commit time (ids start again in a new catalog)."""

    id: int
    time: datetime

    @property
    def file_name(self) -> str:
        """Its index file's name (``FILE_NAME`` reads the snapshot id back)."""
        return f"search-{self.id}-{int(self.time.timestamp() * 1e6)}-v{FORMAT}.duckdb"


#: An index file's name: (snapshot id, snapshot time in µs, format).
FILE_NAME = re.compile(r"search-(\d+)-(\d+)-v(\d+)\.duckdb")


#: The live items of the attached warehouse, copied into the database ``staging`` (a file):
#: the items, and their authors' names in order, aggregated a bucket of items at a time
#: (DuckDB cannot spill a string aggregate's states: one over a million items ran out of
#: BUILD_MEMORY_LIMIT). Then ``items`` as ``write_index`` reads it.
_STAGE = (
    f"""CREATE TABLE staging.items AS
    SELECT handle_key, handle, title, abstract, array_to_string(keywords, '; ') AS keywords,
           year, date, item_type, series_handle, series_name, jel_codes
    FROM {ALIAS}.main.live_articles""",
    f"""CREATE TABLE staging.authors AS
    SELECT handle_key, position, name FROM {ALIAS}.main.authors WHERE role = 'author'""",
    "CREATE TABLE staging.names (handle_key VARCHAR, authors VARCHAR)",
)
_NAMES = """
INSERT INTO staging.names
SELECT handle_key, string_agg(name, '; ' ORDER BY position)
FROM staging.authors WHERE hash(handle_key) % $buckets = $bucket
GROUP BY handle_key
"""
_ITEMS = """
CREATE TEMP VIEW items AS
SELECT i.*, n.authors FROM staging.items i LEFT JOIN staging.names n USING (handle_key)
"""
#: Items whose names are aggregated at once.
NAMES_BATCH = 200_000


def stage_items(con: duckdb.DuckDBPyConnection, staging: Path) -> None:
    """Copy the attached warehouse's live items into the file ``staging`` and make the view
    ``items`` of them (``write_index`` reads it)."""
    con.execute(f"ATTACH {quote(str(staging))} AS staging")
    for statement in _STAGE:  # (one by one: ``run_script`` would split at the '; ')
        con.execute(statement)
    row = con.execute("SELECT count(*) FROM staging.items").fetchone()
    buckets = max(1, -(-(row[0] if row else 0) // NAMES_BATCH))
    for bucket in range(buckets):
        con.execute(_NAMES, {"buckets": buckets, "bucket": bucket})
    con.execute(_ITEMS)


#: From ``items``, the items and their words. Intermediate tables go to the scratch database
#: ``work``: compressed and evictable, unlike temporary tables (statements end with ``;``).
_WORDS = r"""
-- items numbered in handle order (relevance ties) and in date order (newest first)
CREATE TABLE work.numbers AS
SELECT handle_key,
       row_number() OVER (ORDER BY handle, handle_key)::INTEGER AS docid,
       row_number() OVER (ORDER BY year DESC NULLS LAST, date DESC NULLS LAST, handle,
                          handle_key)::INTEGER AS date_rank
FROM items;
-- what a hit shows and the filters read (the words are in postings)
CREATE TABLE docs AS
SELECT n.docid, n.date_rank, i.handle, i.title, i.authors, i.year, i.date,
       lower(i.item_type) AS item_type, i.series_handle,
       lower(i.series_handle) AS series_key, i.series_name,
       -- ' F51 E32': a code or its start is found by contains(jel, ' F5')
       ' ' || array_to_string(list_transform(i.jel_codes, c -> upper(trim(c))), ' ') AS jel
FROM items i JOIN work.numbers n USING (handle_key);
CREATE UNIQUE INDEX docs_docid ON docs (docid);

CREATE MACRO search_words(text) AS
    list_filter(string_split_regex(lower(strip_accents(text)), '[^\p{L}\p{N}]+'), w -> w <> '');
CREATE TABLE stopwords AS SELECT unnest($stopwords::VARCHAR[]) AS word;

-- each field of each item as its words, and each field's weight and mean length
CREATE TABLE work.field_words AS
SELECT n.docid, f.field, search_words(f.text) AS words
FROM (UNPIVOT (SELECT handle_key, title, abstract, authors, keywords FROM items)
      ON title, abstract, authors, keywords INTO NAME field VALUE text) f
JOIN work.numbers n USING (handle_key);
CREATE TABLE work.fields AS
SELECT field, any_value(weight) AS weight, avg(len(words)) AS mean_length
FROM work.field_words
JOIN (SELECT unnest($fields::VARCHAR[]) AS field, unnest($weights::DOUBLE[]) AS weight)
USING (field) GROUP BY field;

-- the words and their stems, a stem's id following the stems' order
CREATE TABLE work.words AS
SELECT word, term, dense_rank() OVER (ORDER BY term)::INTEGER AS termid
FROM (SELECT word, stem(word, $stemmer) AS term
      FROM (SELECT DISTINCT unnest(words) AS word FROM work.field_words)
      WHERE word NOT IN (SELECT word FROM stopwords));
CREATE TABLE work.frequencies (termid INTEGER, docid INTEGER, tf FLOAT);
"""
#: Each stem's weighted frequency in the items ``$first``..``$last``, each field's share
#: normalized by its length (in batches: the aggregation's memory follows the batch).
_FREQUENCIES = """
INSERT INTO work.frequencies
SELECT w.termid, f.docid, sum(f.share)::FLOAT AS tf
FROM (SELECT docid, unnest(words) AS word,
             weight / (1 - $normalization + $normalization * len(words) / mean_length) AS share
      FROM work.field_words JOIN work.fields USING (field)
      WHERE docid BETWEEN $first AND $last) f
JOIN work.words w USING (word)
GROUP BY w.termid, f.docid
"""
BATCH = 200_000
_POSTINGS = """
CREATE TABLE terms AS
SELECT termid, term, df
FROM (SELECT DISTINCT termid, term FROM work.words)
JOIN (SELECT termid, count(*)::INTEGER AS df FROM work.frequencies GROUP BY termid)
USING (termid)
ORDER BY term;
CREATE TABLE postings AS
SELECT f.termid, f.docid,
       (ln(1 + ((SELECT count(*) FROM docs) - t.df + 0.5) / (t.df + 0.5))
        * f.tf / ($saturation + f.tf))::FLOAT AS score
FROM work.frequencies f JOIN terms t USING (termid)
ORDER BY f.termid, f.docid;

CREATE TABLE meta AS
SELECT $snapshot::BIGINT AS snapshot, $snapshot_time::TIMESTAMPTZ AS snapshot_time,
       $built_at::TIMESTAMPTZ AS built_at, $format::INTEGER AS format;
"""


def write_index(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, scratch: Path) -> None:
    """Write the index's tables into ``con``'s database from its relation ``items`` (one row
    per live item: handle_key, handle, title, abstract, authors, keywords, year, date,
    item_type, series_handle, series_name, jel_codes); ``scratch``: a file for the
    intermediate tables, deleted afterwards."""
    params = {"stopwords": STOPWORDS, "fields": list(FIELDS), "weights": list(FIELDS.values()),
              "stemmer": STEMMER, "normalization": B, "saturation": K1, "snapshot": snapshot.id,
              "snapshot_time": snapshot.time, "built_at": datetime.now(UTC),
              "format": FORMAT}  # fmt: skip
    con.execute(f"ATTACH {quote(str(scratch))} AS work")
    try:
        run_script(con, _WORDS, params)
        row = con.execute("SELECT count(*) FROM docs").fetchone()
        for first in range(1, (row[0] if row else 0) + 1, BATCH):
            batch = {"normalization": B, "first": first, "last": first + BATCH - 1}
            con.execute(_FREQUENCIES, batch)
        run_script(con, _POSTINGS, params)
    finally:
        with suppress(duckdb.Error):  # the error that stopped the build is the one to say
            con.execute("DETACH work")
        for path in (scratch, scratch.with_name(scratch.name + ".wal")):
            path.unlink(missing_ok=True)


#: How much less CPU priority a build process takes (``nice``): it is background work.
NICENESS = 10
#: Rows a copied table is sorted by at once: DuckDB could not sort a million items' page
#: rows (abstracts, lists of files) within BUILD_MEMORY_LIMIT at once.
COPY_BATCH = 100_000
#: The keys that start each COPY_BATCH rows of a staged table, in order.
_BOUNDS = """
SELECT k FROM (SELECT {key} AS k, row_number() OVER (ORDER BY {key}) - 1 AS n
               FROM {staged} WHERE {key} IS NOT NULL)
WHERE n % $rows = 0 ORDER BY k
"""


def copy_pages(con: duckdb.DuckDBPyConnection, source: str, scratch: str) -> None:
    """Copy what item pages read (``items.ITEM_PAGE_TABLES``) from the warehouse schema ``source``
    into ``con``'s database, each table in its key's order: staged as it comes in the
    attached database ``scratch``, then sorted COPY_BATCH rows at a time."""
    for table, (select, key) in ITEM_PAGE_TABLES.items():
        staged = f'{scratch}."pages_{table}"'
        con.execute(f"CREATE TABLE {staged} AS {select.format(source=source)}")
        _sorted_copy(con, staged, table, key)
        for again, (of, other_key) in ITEM_PAGE_TABLES_REORDERED.items():
            if of == table:
                _sorted_copy(con, staged, again, other_key)
        con.execute(f"DROP TABLE {staged}")
    for view in ITEM_PAGE_VIEWS:
        con.execute(view)


def _sorted_copy(con: duckdb.DuckDBPyConnection, staged: str, table: str, key: str) -> None:
    bounds = [r[0] for r in con.execute(_BOUNDS.format(key=key, staged=staged),
                                        {"rows": COPY_BATCH}).fetchall()]  # fmt: skip
    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM {staged} LIMIT 0')
    insert = f'INSERT INTO "{table}" SELECT * FROM {staged} WHERE '
    for low, high in zip(bounds, [*bounds[1:], None]):  # noqa: B905 (one longer: the end)
        if high is None:
            con.execute(insert + f"{key} >= $low ORDER BY {key}", {"low": low})
        else:
            con.execute(insert + f"{key} >= $low AND {key} < $high ORDER BY {key}",
                        {"low": low, "high": high})  # fmt: skip
    con.execute(insert + f"{key} IS NULL")


def connect(
    path: Path, read_only: bool, spill: Path | None = None, memory: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB instance on an index file, with bounded memory (by default the warehouse
    reader's to search, BUILD_MEMORY_LIMIT to build) and the ``fts`` extension."""
    con = duckdb.connect(str(path), read_only=read_only, config=_CONFIG)
    memory = memory or (MEMORY_LIMIT if read_only else BUILD_MEMORY_LIMIT)
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = {quote(memory)}")
        con.execute(f"SET threads = {THREADS}")
        con.execute("SET preserve_insertion_order = false")
        if spill is not None:
            con.execute(f"SET temp_directory = {quote(str(spill))}")
        load_extensions(con, ("fts",))
        return con
    except BaseException:
        con.close()
        raise


def build(catalog: Catalog, snapshot: Snapshot, target: Path) -> None:
    """Build the index of ``snapshot`` of the warehouse at ``target``: under a temporary name
    in its folder, then renamed."""
    stem = target.parent / f"{BUILDS}{uuid.uuid4().hex}"
    temporary, staging, scratch, spill = (
        stem.with_name(stem.name + end)
        for end in (".duckdb", ".staging.duckdb", ".scratch.duckdb", ".spill")
    )
    try:
        con = connect(temporary, read_only=False, spill=spill)
        try:
            load_extensions(con, catalog.extensions)
            con.execute(catalog.attach_statement(read_only=True, snapshot=snapshot.id))
            stage_items(con, staging)
            write_index(con, snapshot, scratch)
            copy_pages(con, f"{ALIAS}.main", "staging")
            con.execute("DROP VIEW items")
            con.execute("DETACH staging")
        finally:
            con.close()
        os.replace(temporary, target)
    except (duckdb.Error, OSError) as exc:
        raise WarehouseError(f"cannot build the search index: {first_line(exc)}") from None
    finally:
        remove(target.parent, stem.name)


def remove(folder: Path, prefix: str) -> None:
    """Delete the files and folders in ``folder`` whose names start with ``prefix``."""
    for path in folder.glob(f"{prefix}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def main() -> int:
    """``python -m warehouse.search_index``: one build, in a process of its own
    (``warehouse.search``), the job as JSON on stdin; an error is one line on stderr. It
    runs at a lower priority (NICENESS): the pages and searches served meanwhile come
    first."""
    with suppress(OSError, AttributeError):  # (no os.nice on Windows)
        os.nice(NICENESS)
    job = json.load(sys.stdin)
    try:
        snapshot = Snapshot(int(job["snapshot"]), datetime.fromisoformat(job["snapshot_time"]))
        build(Catalog.at(job["metadata"], job["data_path"]), snapshot, Path(job["target"]))
    except WarehouseError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
