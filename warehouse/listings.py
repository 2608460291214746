"""A source's listing (ListIdentifiers, staged as Parquet) against what the warehouse holds
of that source: which items it no longer lists, and which it lists that the warehouse lacks.

An item is held of a source when its newest version of that endpoint and metadata prefix is
live and, for a set, in that set (by its header's setSpecs or the harvest that brought it).
Only versions harvested by the time the listing began are judged: one harvested since may be
newer than the listing. A held item that the listing has not as live is vanished; where the
listing has it as deleted, its deletion's datestamp comes along.
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
  AND harvested_at <= $listed_at AND oai_identifier IS NOT NULL
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

_COUNTS = """
SELECT (SELECT count(*) FROM held),
       (SELECT count(*) FROM listed WHERE live),
       (SELECT count(*) FROM listed l WHERE live AND NOT EXISTS (
            SELECT 1 FROM article_versions v
            WHERE v.oai_identifier = l.oai_identifier AND v.endpoint = $endpoint
              AND v.metadata_prefix = $prefix AND NOT v.deleted))
"""


@dataclass(frozen=True)
class Comparison:
    """``held``: live items of the source the listing can judge; ``listed``: items it lists
    as live; ``vanished``: held items it does not (written to the comparison's file);
    ``not_loaded``: listed items the warehouse has no live version of."""

    held: int
    listed: int
    vanished: int
    not_loaded: int


def compare(
    con: duckdb.DuckDBPyConnection,
    listing: Path,
    out: Path,
    *,
    endpoint: str,
    prefix: str,
    set_spec: str | None,
    harvest_id: str,
    listed_at: object,
) -> Comparison:
    """Compare ``listing`` (``schemas.tables.LISTED`` rows) with the warehouse; the vanished
    items (oai_identifier, handle, datestamp, set_specs, listed_deleted: whether the listing
    has the item as deleted) go to ``out``, a Parquet file."""
    params = {"endpoint": endpoint, "prefix": prefix, "set_spec": set_spec,
              "harvest_id": harvest_id, "listed_at": listed_at, "listing": str(listing),
              "out": str(out)}  # fmt: skip
    run_script(con, _HELD + ";" + _VANISHED, params)
    counts = con.execute(_COUNTS, {"endpoint": endpoint, "prefix": prefix}).fetchone()
    vanished = con.execute("SELECT count(*) FROM read_parquet($out)", {"out": str(out)}).fetchone()
    con.execute("DROP TABLE held; DROP TABLE listed")
    assert counts is not None and vanished is not None
    return Comparison(held=int(counts[0]), listed=int(counts[1]), vanished=int(vanished[0]),
                      not_loaded=int(counts[2]))  # fmt: skip
