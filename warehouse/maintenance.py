"""Keeping the warehouse small and fast: DuckLake's own maintenance, in its recommended order,
and the rows users look up by handle kept in handle order.

Every load adds a few small Parquet files and a snapshot; ``maintain`` rewrites ``articles``
and ``authors`` sorted by ``handle_key`` (one commit: a reader sees the old rows or the new,
and a lookup by handle then reads one row group instead of every file), rewrites files that
are mostly deleted rows, merges small adjacent files, expires snapshots older than the
retention period (time travel reaches back that far) and deletes the files no snapshot needs
any more, orphans left by crashed writers included (only those older than a day: a running
writer's files are orphans until it commits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import duckdb

from warehouse.catalog import ALIAS, quote
from warehouse.database import Warehouse
from warehouse.locks import write_lock
from warehouse.statements import in_transaction

DEFAULT_RETENTION = timedelta(days=30)
#: Tables kept in key order, and their key: what item pages and dashboards look up.
CLUSTERED = {"articles": "handle_key", "authors": "handle_key"}
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


def file_count(con: duckdb.DuckDBPyConnection) -> int:
    """Data and delete files the current snapshot reads."""
    row = con.execute(
        f"SELECT (SELECT count(*) FROM __ducklake_metadata_{ALIAS}.ducklake_data_file"
        "         WHERE end_snapshot IS NULL)"
        f"     + (SELECT count(*) FROM __ducklake_metadata_{ALIAS}.ducklake_delete_file"
        "         WHERE end_snapshot IS NULL)"
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
        # any file with deleted rows (every load replaces some rows), then small files merged
        f"CALL ducklake_rewrite_data_files('{ALIAS}', delete_threshold => 0.0)",
        f"CALL ducklake_merge_adjacent_files('{ALIAS}')",
        f"CALL ducklake_expire_snapshots('{ALIAS}',"
        f" older_than => now() - INTERVAL {_seconds(retention)} SECOND)",
        f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)",
        f"CALL ducklake_delete_orphaned_files('{ALIAS}',"
        f" older_than => now() - INTERVAL {_seconds(ORPHAN_AGE)} SECOND)",
    ]
    with write_lock(warehouse.catalog), warehouse.connect() as con:
        files, snapshots = file_count(con), snapshot_count(con)
        for table, key in CLUSTERED.items():
            _cluster(warehouse, con, table, key)
        for step in steps:
            warehouse.retrying(partial(_run, con, step))
        return MaintenanceReport(files, file_count(con), snapshots, snapshot_count(con))


#: Rows sorted at once when a table is rewritten in key order (a slice of the key range:
#: DuckDB sorts nested rows in memory, and a million RePEc records do not fit its limit).
CLUSTER_SLICE_ROWS = 25_000


def _cluster(warehouse: Warehouse, con: duckdb.DuckDBPyConnection, table: str, key: str) -> None:
    """Rewrite ``table`` sorted by ``key``, in one commit. Slices of the key range are sorted
    one at a time into Parquet files in the scratch folder, then the rows are replaced from
    them, in key order."""
    scratch = warehouse.spill_folder()
    row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    rows = int(row[0]) if row else 0
    if scratch is None or rows == 0:
        return
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
            con.execute(
                f'COPY (SELECT * FROM "{table}" WHERE {where} ORDER BY {key}) TO '
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
