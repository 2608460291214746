"""Keeping the warehouse small and fast, without a reader ever seeing a table half rewritten.

Every load adds a few small Parquet files, delete files and a snapshot. ``maintain``
rewrites each fragmented table (more than one small file, or any deleted rows) whole, in one
commit, sorted by its key where it has one (a lookup by handle then reads one row group
instead of every file): a reader sees the old rows or the new, and the old files stay in the
snapshots that read them. Then it expires snapshots older than the retention period (time
travel reaches back that far) and deletes the files no snapshot needs any more, orphans left
by crashed writers included (only those older than a day: a running writer's files are
orphans until it commits).

DuckLake's own compaction (``ducklake_merge_adjacent_files``, ``ducklake_rewrite_data_files``)
is not used: it replaces files in the catalog instead of ending them at a snapshot, and a
reader whose snapshot began just before its commit read the table as empty (measured: the
dashboard of tests/test_concurrency.py saw ``article_versions`` empty at an unchanged
snapshot during ``ducklake_merge_adjacent_files``, DuckDB 1.4.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import duckdb

from schemas.errors import WarehouseError
from warehouse.catalog import ALIAS, quote
from warehouse.database import Warehouse
from warehouse.locks import write_lock
from warehouse.statements import in_transaction

DEFAULT_RETENTION = timedelta(days=30)
#: Tables kept in key order, and their key: what item pages, dashboards and merges look up.
CLUSTERED = {
    "articles": "handle_key",
    "authors": "handle_key",
    "article_versions": "handle_key",
    "author_versions": "handle_key",
}
#: Orphaned files younger than this may belong to a transaction still running elsewhere.
ORPHAN_AGE = timedelta(days=1)


@dataclass(frozen=True)
class MaintenanceReport:
    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int


def _seconds(period: timedelta) -> int:
    return int(period.total_seconds())


#: The delete files the current snapshot reads (a delete file of a data file that is no longer
#: read keeps no end snapshot of its own).
LIVE_DELETE_FILES = (
    "{meta}.ducklake_delete_file d JOIN {meta}.ducklake_data_file f USING (data_file_id)"
    " WHERE d.end_snapshot IS NULL AND f.end_snapshot IS NULL"
)


def file_count(con: duckdb.DuckDBPyConnection) -> int:
    """Data and delete files the current snapshot reads."""
    meta = f"__ducklake_metadata_{ALIAS}"
    row = con.execute(
        f"SELECT (SELECT count(*) FROM {meta}.ducklake_data_file WHERE end_snapshot IS NULL)"
        f"     + (SELECT count(*) FROM {LIVE_DELETE_FILES.format(meta=meta)})"
    ).fetchone()
    return int(row[0]) if row else 0


def snapshot_count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(f"SELECT count(*) FROM {ALIAS}.snapshots()").fetchone()
    return int(row[0]) if row else 0


def _run(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    con.execute(statement).fetchall()


def maintain(warehouse: Warehouse, retention: timedelta = DEFAULT_RETENTION) -> MaintenanceReport:
    """Compact, expire snapshots older than ``retention``, delete unneeded files."""
    steps = [
        f"CALL ducklake_expire_snapshots('{ALIAS}',"
        f" older_than => now() - INTERVAL {_seconds(retention)} SECOND)",
        f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)",
        f"CALL ducklake_delete_orphaned_files('{ALIAS}',"
        f" older_than => now() - INTERVAL {_seconds(ORPHAN_AGE)} SECOND)",
    ]
    with write_lock(warehouse.catalog), warehouse.connect() as con:
        files, snapshots = file_count(con), snapshot_count(con)
        for table in fragmented(con):
            _rewrite(warehouse, con, table, CLUSTERED.get(table))
        for step in steps:
            warehouse.retrying(partial(_run, con, step))
        return MaintenanceReport(files, file_count(con), snapshots, snapshot_count(con))


#: Rows sorted at once when a table is rewritten in key order (a slice of the key range:
#: DuckDB sorts nested rows in memory, and a million RePEc records do not fit its limit).
#: A file of fewer rows is a small file.
CLUSTER_SLICE_ROWS = 25_000


def fragmented(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The current generation's tables that hold more than one small file or any deleted
    rows (the connection's default schema is the current generation)."""
    meta = f"__ducklake_metadata_{ALIAS}"
    rows = con.execute(
        f"""
        SELECT t.table_name
        FROM {meta}.ducklake_table t JOIN {meta}.ducklake_schema s USING (schema_id)
        WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL AND s.schema_name = current_schema()
          AND ((SELECT count(*) FROM {meta}.ducklake_data_file f
                WHERE f.table_id = t.table_id AND f.end_snapshot IS NULL
                  AND f.record_count < {CLUSTER_SLICE_ROWS}) > 1
            OR EXISTS (SELECT 1 FROM {LIVE_DELETE_FILES.format(meta=meta)}
                       AND d.table_id = t.table_id))
        ORDER BY t.table_name
        """
    ).fetchall()
    return [str(r[0]) for r in rows]


def _rewrite(
    warehouse: Warehouse, con: duckdb.DuckDBPyConnection, table: str, key: str | None
) -> None:
    """Rewrite ``table`` whole, sorted by ``key`` if it has one, in one commit. Slices of the
    key range are sorted one at a time into Parquet files in the scratch folder, then the rows
    are replaced from them, in key order."""
    scratch = warehouse.spill_folder()
    if scratch is None:
        raise WarehouseError(f"maintain needs a writable scratch folder beside {warehouse.label}")
    row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    rows = int(row[0]) if row else 0
    edges: list[object] = []
    if key is not None and rows > CLUSTER_SLICE_ROWS:
        slices = -(-rows // CLUSTER_SLICE_ROWS)
        fractions = [i / slices for i in range(1, slices)]
        bounds = con.execute(
            f'SELECT quantile_disc({key}, ?::DOUBLE[]) FROM "{table}"', [fractions]
        ).fetchone()
        edges = sorted(set(bounds[0])) if bounds and bounds[0] else []
    ranges = list(zip([None, *edges], [*edges, None], strict=True))
    files = [scratch / f"cluster-{table}-{n:04d}.parquet" for n in range(len(ranges))]
    try:
        for (low, high), path in zip(ranges, files, strict=True):
            where = (
                " AND ".join(
                    ([f"{key} >= $low"] if low is not None else [])
                    + ([f"{key} < $high"] if high is not None else [])
                )
                or "true"
            )
            params = {k: v for k, v in (("low", low), ("high", high)) if v is not None}
            order = f" ORDER BY {key}" if key else ""
            con.execute(
                f'COPY (SELECT * FROM "{table}" WHERE {where}{order}) TO '
                f"{quote(str(path))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)",
                params,
            )
        listed = ", ".join(quote(str(p)) for p in files)

        def replace(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(f'DELETE FROM "{table}"')
            con.execute("SET preserve_insertion_order = true")  # keep the sort in the files
            try:
                con.execute(f'INSERT INTO "{table}" SELECT * FROM read_parquet([{listed}])')
            finally:
                con.execute("SET preserve_insertion_order = false")

        warehouse.retrying(partial(in_transaction, con, replace))
    finally:
        for path in files:
            path.unlink(missing_ok=True)
