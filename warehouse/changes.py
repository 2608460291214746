"""The change feed: which items were inserted, updated or deleted since a snapshot or a time.

The warehouse is attached twice, as it is now and as it was then (DuckLake's time travel), and
the two ``articles`` compared: a rebuild in between is no obstacle, and an item loaded again
unchanged is not reported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from schemas.errors import QueryError, WarehouseError
from warehouse.catalog import ALIAS
from warehouse.database import Warehouse

_CHANGES = """
SELECT coalesce(a.handle, b.handle) AS handle,
       CASE WHEN a.deleted AND NOT coalesce(b.deleted, false) THEN 'deleted'
            WHEN b.handle_key IS NULL OR b.deleted THEN 'inserted'
            ELSE 'updated' END AS change,
       a.title, a.year, a.datestamp, a.harvested_at, a.sources
FROM articles a LEFT JOIN {before} b USING (handle_key)
WHERE b.handle_key IS NULL
   OR a.record_id <> b.record_id OR a.deleted <> b.deleted OR a.datestamp <> b.datestamp
   OR a.sources <> b.sources
ORDER BY change, a.harvested_at DESC, handle
"""


_NOTHING = "(SELECT * FROM articles WHERE false)"


def changes_since(
    warehouse: Warehouse, since: int | str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Items inserted, updated or deleted after snapshot ``since`` (an id, or a timestamp)."""
    try:
        with warehouse.connect(read_only=True, before=since) as con:
            existed = con.execute(
                "SELECT count(*) FROM duckdb_views() WHERE database_name = 'before'"
                " AND schema_name = 'main' AND view_name = 'articles'"
            ).fetchone()
            # before the first load there were no tables: everything is new
            before = "before.main.articles" if existed and existed[0] else _NOTHING
            cursor = con.execute(_CHANGES.format(before=before))
            return [d[0] for d in cursor.description or []], cursor.fetchall()
    except WarehouseError as exc:
        raise QueryError(f"cannot list the changes since {since}: {exc}") from None


#: What a snapshot's ``changes`` says of rows written, by table id; any other change (a table
#: or schema made or dropped, a view replaced) counts as a change of every table.
_ROW_CHANGES = ("tables_inserted_into", "tables_deleted_from")


def snapshot_time(con: duckdb.DuckDBPyConnection, snapshot: int) -> datetime | None:
    """When the attached warehouse's snapshot ``snapshot`` was committed (UTC), or None when
    its history has no such snapshot: with the id, this tells a history from one made again,
    whose ids start over."""
    row = con.execute(
        f"SELECT snapshot_time FROM {ALIAS}.snapshots() WHERE snapshot_id = $id", {"id": snapshot}
    ).fetchone()
    return row[0].astimezone(UTC) if row else None


def snapshot_changes(
    con: duckdb.DuckDBPyConnection, after: int, upto: int | None = None
) -> tuple[set[int], bool]:
    """The ids of the tables that the attached warehouse's snapshots after ``after`` (up to
    ``upto``) wrote rows of, and whether any of them changed the catalog's structure (then
    every table counts as changed)."""
    touched: set[int] = set()
    structure = False
    for (changes,) in con.execute(
        f"SELECT changes FROM {ALIAS}.snapshots() WHERE snapshot_id > $after"
        " AND snapshot_id <= coalesce($upto, snapshot_id)",
        {"after": after, "upto": upto},
    ).fetchall():
        for kind, ids in (changes or {}).items():
            structure = structure or kind not in _ROW_CHANGES
            touched |= {int(i) for i in ids if str(i).isdigit()}
    return touched, structure


def tables_changed(con: duckdb.DuckDBPyConnection, since: int, tables: tuple[str, ...]) -> bool:
    """Whether a snapshot after ``since`` (an id in the attached warehouse's history) wrote
    rows of any of ``tables`` (names, in any schema) or changed the catalog's structure."""
    touched, structure = snapshot_changes(con, since)
    if structure or not touched:
        return structure
    names = dict(con.execute(f"SELECT table_id, table_name FROM {ALIAS}.table_info()").fetchall())
    return any(i not in names or names[i] in tables for i in touched)  # (gone: changed)
