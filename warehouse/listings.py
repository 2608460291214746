"""A source's listing (ListIdentifiers, staged as Parquet) against what the warehouse holds
of that source: which items it no longer lists, and which it lists that the warehouse lacks.

An item is held of a source when its newest version of that endpoint and metadata prefix is
live and, for a set, in that set (by its header's setSpecs or the harvest that brought it).
Only versions harvested before the listing began are judged: one harvested since may be
newer than the listing. A held item that the listing has not as live is vanished; where the
listing has it as deleted, its deletion's datestamp comes along. A listed item the warehouse
has no live version of (from any endpoint: the same items may come from several) is not
loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.statements import run_script

_HELD = """
CREATE OR REPLACE TEMP TABLE held AS
SELECT oai_identifier, handle, datestamp, set_specs FROM article_versions
WHERE endpoint = $endpoint AND metadata_prefix = $prefix AND NOT deleted
  AND harvested_at < $listed_at AND oai_identifier IS NOT NULL
  AND ($set_spec IS NULL OR harvest_id = $harvest_id
       OR len(list_filter(set_specs, s -> s = $set_spec OR starts_with(s, $set_spec || ':'))) > 0);
CREATE OR REPLACE TEMP TABLE listed AS
SELECT oai_identifier, bool_or(NOT deleted) AS live, max(datestamp) FILTER (deleted) AS deleted_at
FROM read_parquet($listing, hive_partitioning = false) GROUP BY oai_identifier;
"""

_VANISHED = """
COPY (SELECT h.oai_identifier, h.handle, greatest(h.datestamp, l.deleted_at) AS datestamp,
             h.set_specs, l.deleted_at IS NOT NULL AS listed_deleted
      FROM held h LEFT JOIN listed l USING (oai_identifier)
      WHERE l.live IS NOT TRUE ORDER BY h.oai_identifier)
TO $out (FORMAT parquet, COMPRESSION zstd)
"""

_MISSING = """
COPY (SELECT l.oai_identifier FROM listed l
      WHERE l.live
        AND NOT EXISTS (SELECT 1 FROM article_versions v
            WHERE v.oai_identifier = l.oai_identifier AND v.metadata_prefix = $prefix
              AND NOT v.deleted)
        AND NOT EXISTS (SELECT 1 FROM quarantine q
            WHERE q.oai_identifier = l.oai_identifier AND q.endpoint = $endpoint
              AND q.metadata_prefix = $prefix)
      ORDER BY l.oai_identifier)
TO $missing (FORMAT parquet, COMPRESSION zstd)
"""

_COUNTS = """
SELECT (SELECT count(*) FROM held), (SELECT count(*) FROM listed WHERE live),
       (SELECT count(*) FROM read_parquet($out)), (SELECT count(*) FROM read_parquet($missing))
"""


@dataclass(frozen=True)
class Comparison:
    """``held``: live items of the source the listing can judge; ``listed``: items it lists
    as live; ``vanished``: held items it does not; ``not_loaded``: listed items of which the
    warehouse has no live version in this format (from any endpoint) and no quarantined
    record of this source."""

    held: int
    listed: int
    vanished: int
    not_loaded: int


def compare(
    con: duckdb.DuckDBPyConnection,
    listing: Path,
    out: Path,
    missing: Path,
    *,
    endpoint: str,
    prefix: str,
    set_spec: str | None,
    harvest_id: str,
    listed_at: object,
) -> Comparison:
    """Compare ``listing`` (``schemas.tables.LISTED`` rows) with the warehouse. The vanished
    items (oai_identifier, handle, datestamp, set_specs, listed_deleted: whether the listing
    has the item as deleted) go to ``out``, the identifiers not loaded to ``missing``, both
    Parquet files."""
    params = {"endpoint": endpoint, "prefix": prefix, "set_spec": set_spec,
              "harvest_id": harvest_id, "listed_at": listed_at, "listing": str(listing),
              "out": str(out), "missing": str(missing)}  # fmt: skip
    run_script(con, ";".join((_HELD, _VANISHED, _MISSING)), params)
    counts = con.execute(_COUNTS, {"out": str(out), "missing": str(missing)}).fetchone()
    con.execute("DROP TABLE held; DROP TABLE listed")
    assert counts is not None
    return Comparison(*(int(c) for c in counts))
