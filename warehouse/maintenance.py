"""Keeping the warehouse small and fast: DuckLake's own maintenance, in its recommended order.

Every load adds a few small Parquet files and a snapshot; ``maintain`` rewrites files that
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

from warehouse.catalog import ALIAS
from warehouse.database import Warehouse
from warehouse.locks import write_lock

DEFAULT_RETENTION = timedelta(days=30)
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
        f"CALL ducklake_rewrite_data_files('{ALIAS}')",
        f"CALL ducklake_merge_adjacent_files('{ALIAS}')",
        f"CALL ducklake_expire_snapshots('{ALIAS}',"
        f" older_than => now() - INTERVAL {_seconds(retention)} SECOND)",
        f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)",
        f"CALL ducklake_delete_orphaned_files('{ALIAS}',"
        f" older_than => now() - INTERVAL {_seconds(ORPHAN_AGE)} SECOND)",
    ]
    with write_lock(warehouse.catalog), warehouse.connect() as con:
        files, snapshots = file_count(con), snapshot_count(con)
        for step in steps:
            warehouse.retrying(partial(_run, con, step))
        return MaintenanceReport(files, file_count(con), snapshots, snapshot_count(con))
