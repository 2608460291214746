"""The citation graph in the warehouse: ``citations``, ``citation_counts`` and the load log.

A load streams its edges to a staging Parquet file, then replaces the whole graph in one
transaction: edges that disappeared from the source are gone, and a load that fails at any
point leaves the previous graph as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.citations import EDGES, CitationStats
from schemas.errors import WarehouseError
from schemas.exports import export
from warehouse.catalog import quote
from warehouse.database import WRITER_THREADS, Warehouse
from warehouse.generations import create_table
from warehouse.statements import dict_rows, insert_arrow, run_script

#: Deduplication first, into a staged file of the rows to drop: each edge whose (citing,
#: cited) pair, ignoring case, came earlier in the file. The pairs seen more than once are
#: found by a 64-bit hash of the pair (one number per edge in the hash table, where the two
#: handles took 80 bytes and spilled gigabytes; the aggregation of ``any_value(citing)`` by
#: the pair ran out of 600 MB, since DuckDB 1.4 cannot spill an aggregate's string states),
#: then the edges of those hashes, a hundred thousand in ten million, compared exactly.
_DEDUPLICATE = """
COPY (SELECT file_row_number AS row
      FROM read_parquet({staging}, file_row_number = true)
      WHERE hash(lower(citing), lower(cited)) IN (
          SELECT hash(lower(citing), lower(cited)) AS pair FROM read_parquet({staging})
          GROUP BY pair HAVING count(*) > 1)
      QUALIFY row_number() OVER (PARTITION BY lower(citing), lower(cited)
                                 ORDER BY file_row_number) > 1)
TO {repeats} (FORMAT parquet)
"""
#: Then the graph replaced in one transaction, by the staged edges less those rows, each
#: edge with its own spelling of the two handles. The table is dropped and made again rather
#: than emptied: DuckLake's DELETE reads every row id of the old graph and holds them until
#: the commit (3 to 5 s and 300 MB more at ten million edges, enough to run out of 600 MB).
_REPLACE_GRAPH = """
INSERT INTO citations BY NAME
SELECT citing AS citing_handle, cited AS cited_handle, lower(citing) AS citing_key,
       lower(cited) AS cited_key, $source AS source, $loaded_at::TIMESTAMP AS loaded_at
FROM read_parquet($staging, file_row_number = true)
WHERE file_row_number NOT IN (SELECT row FROM read_parquet($repeats));
"""
#: And its counts, in the same transaction, from the new graph.
_REPLACE_COUNTS = """
DELETE FROM citation_counts;
INSERT INTO citation_counts BY NAME
WITH cited AS (
    SELECT cited_key AS handle_key, any_value(cited_handle) AS handle, count(*) AS n
    FROM citations GROUP BY cited_key),
citing AS (
    SELECT citing_key AS handle_key, any_value(citing_handle) AS handle, count(*) AS n
    FROM citations GROUP BY citing_key)
SELECT coalesce(cited.handle, citing.handle) AS handle, handle_key,
       coalesce(cited.n, 0) AS cited_by, coalesce(citing.n, 0) AS cites
FROM cited FULL OUTER JOIN citing USING (handle_key);
"""
#: DuckDB's threads for writing the graph: the edges are parsed by then, so the harvest's
#: second core is free, and the Parquet writer (zstd, most of the load's time in DuckDB) runs
#: on both. The aggregations keep one thread: with two, DuckDB 1.4's hash aggregation
#: overflowed 600 MB now and then (two tables of about two million handles each).
LOAD_THREADS = 2


def load_citation_graph(
    warehouse: Warehouse,
    batches: Iterable[pa.RecordBatch],
    staging: Path,
    source: str,
    loaded_at: datetime,
    stats: CitationStats | None = None,
    memory_limit: str = "600MB",
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Replace the graph with the edges of ``batches``; return the load's log row. A source
    that ``CitationStats.check`` refuses leaves the previous graph as it was."""
    staging.parent.mkdir(parents=True, exist_ok=True)
    repeats = staging.with_name(staging.stem + "-repeats.parquet")
    try:
        with pq.ParquetWriter(staging, EDGES, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
        if stats is not None:
            stats.check(source, allow_empty)

        def replace(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
            con.execute(f"SET memory_limit = '{memory_limit}'")  # spills to disk beyond
            con.execute(f"SET temp_directory = {quote(str(staging.parent / 'duckdb-spill'))}")
            con.execute("SET preserve_insertion_order = false")
            con.execute(
                _DEDUPLICATE.format(staging=quote(str(staging)), repeats=quote(str(repeats)))
            )
            con.execute("DROP TABLE citations")
            create_table(con, "citations")
            params = {"staging": str(staging), "repeats": str(repeats), "source": source,
                      "loaded_at": loaded_at}  # fmt: skip
            con.execute(f"SET threads = {LOAD_THREADS}")
            run_script(con, _REPLACE_GRAPH, params)
            con.execute(f"SET threads = {WRITER_THREADS}")
            run_script(con, _REPLACE_COUNTS, {})
            edges = _scalar(con, "SELECT count(*) FROM citations")
            counts = (stats or CitationStats(edges_read=edges)).as_dict()
            log = {
                "source": source,
                "loaded_at": loaded_at,
                **counts,
                "duplicates": counts["edges_read"] - edges,
                "edges": edges,
            }
            insert_arrow(con, "citation_loads", pa.Table.from_pylist([log]))
            return log

        return warehouse.write(replace)
    except WarehouseError as exc:  # the warehouse's errors are one line already
        raise WarehouseError(f"loading citations failed, previous graph kept: {exc}") from None
    finally:
        for path in (staging, repeats):
            if path.exists():
                os.unlink(path)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()
    return int(rows[0][0]) if rows else 0


def replace_references(warehouse: Warehouse, handle_key: str, rows: pa.Table) -> None:
    """The references of one item, replaced in one transaction."""

    def replace(con: duckdb.DuckDBPyConnection) -> None:
        con.execute('DELETE FROM "references" WHERE handle_key = ?', [handle_key])
        insert_arrow(con, "references", rows)

    warehouse.write(replace)


_ITEMS = """
SELECT l.*, coalesce((
    SELECT list((au.role, au.name, au.given_name, au.family_name) ORDER BY au.role, au.position)
    FROM authors au WHERE au.handle_key = l.handle_key), []) AS people
FROM live_articles l WHERE l.handle_key IN (SELECT unnest($keys))
"""


def items_for_export(warehouse: Warehouse, handles: list[str]) -> list[dict[str, Any]]:
    """Live items with their people, in the order asked; unknown handles are left out."""
    keys = [h.strip().lower() for h in handles]
    with warehouse.connect(read_only=True) as con:
        rows = dict_rows(con, _ITEMS, {"keys": keys})
    for row in rows:
        row["people"] = [
            tuple(p.values()) if isinstance(p, dict) else tuple(p) for p in row["people"]
        ]
    by_key = {row["handle_key"]: row for row in rows}
    return [by_key[k] for k in dict.fromkeys(keys) if k in by_key]


def export_text(warehouse: Warehouse, handles: list[str], fmt: str) -> tuple[str, list[str]]:
    """The export text (``schemas.exports``) of the handles found, and those not found."""
    items = items_for_export(warehouse, handles)
    found = {i["handle_key"] for i in items}
    missing = [h for h in handles if h.strip().lower() not in found]
    return export(items, fmt), missing
