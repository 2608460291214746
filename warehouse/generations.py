"""The warehouse's layout: tables in generations, public names in ``main``.

The tables live in a schema per generation (``g0001``, ``g0002``, ...); the names users query
are views in ``main`` over the current generation's tables, beside the views of views.sql. A
rebuild fills a new generation while readers use the current one, then points the public
views at it in one commit and drops the previous one. The current generation and the views'
version are kept as comments on two of those views.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

import duckdb

from schemas.errors import WarehouseError
from schemas.tables import ALL_TABLES
from warehouse.catalog import ALIAS, quote
from warehouse.statements import in_transaction

#: How the warehouse writes its Parquet files: row groups of 16,384 rows keep a writer's
#: buffers at a few tens of MB whatever the load (DuckDB's default of 122,880 rows of
#: RePEc records, abstracts included, overflowed the memory limit), zstd keeps them small.
DATA_FILE_OPTIONS = {"parquet_row_group_size": "16384", "parquet_compression": "zstd"}

_VIEWS = resources.files("warehouse").joinpath("views.sql").read_text("utf-8")
#: Marks the views' version (a comment on ``live_articles``): changed views are made again.
_VIEWS_VERSION = "repec-harvest views " + hashlib.sha256(_VIEWS.encode()).hexdigest()[:16]
#: Where users look: a view per table over the current generation, and the views of
#: views.sql.
PUBLIC = "main"
FIRST_GENERATION = "g0001"


def current_generation(con: duckdb.DuckDBPyConnection) -> str | None:
    """The schema holding the tables ``main``'s views show (None in a new warehouse)."""
    return _view_comment(con, "articles")


def set_options(con: duckdb.DuckDBPyConnection) -> None:
    """The warehouse's Parquet settings (kept in its catalog), where they differ."""
    present = dict(con.execute(f"SELECT option_name, value FROM {ALIAS}.options()").fetchall())
    for name, value in DATA_FILE_OPTIONS.items():
        if present.get(name) != value:
            con.execute(f"CALL {ALIAS}.set_option('{name}', {quote(value)})")


def _view_comment(con: duckdb.DuckDBPyConnection, view: str) -> str | None:
    """The comment on a public view (where the generation and the views' version are kept)."""
    rows = con.execute(
        "SELECT comment FROM duckdb_views() WHERE database_name = ? AND schema_name = ?"
        " AND view_name = ?",
        [ALIAS, PUBLIC, view],
    ).fetchall()
    return str(rows[0][0]) if rows and rows[0][0] else None


def ensure_schema(con: duckdb.DuckDBPyConnection, wanted: str | None) -> str:
    """Create what is missing (one transaction): the generation's tables, the columns a newer
    version added and, for the current generation, the public views. Return the generation."""
    current = current_generation(con)
    generation = wanted or current or FIRST_GENERATION
    present: dict[str, dict[str, str]] = {}
    for table, column, type_ in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns()"
        " WHERE database_name = ? AND schema_name = ?",
        [ALIAS, generation],
    ).fetchall():
        present.setdefault(table, {})[column] = type_
    wanted_types = _wanted_types()
    for name, columns in present.items():
        for column, type_ in columns.items():
            if column in wanted_types.get(name, {}) and wanted_types[name][column] != type_:
                raise WarehouseError(
                    f"the warehouse was made by another repec-harvest (column {name}.{column} "
                    f"is {type_}, not {wanted_types[name][column]}); `repec-harvest rebuild` "
                    "recreates it"
                )
    added = {
        name: new
        for name in ALL_TABLES
        if name in present
        and (new := [(c, t) for c, t in wanted_types[name].items() if c not in present[name]])
    }
    set_options(con)
    missing_tables = [n for n in ALL_TABLES if n not in present]
    public = generation == (current or generation)
    views_current = not public or _view_comment(con, "live_articles") == _VIEWS_VERSION
    if not missing_tables and not added and views_current:
        return generation

    def create(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {generation}")
        for name in missing_tables:
            create_table(con, name, generation)
        # Columns a newer version maps: a change of the catalog only; rows already loaded
        # read them as NULL until a rebuild or a re-read fills them.
        for name, columns in added.items():
            for column, type_ in columns:
                con.execute(f'ALTER TABLE {generation}."{name}" ADD COLUMN "{column}" {type_}')
        if public:
            publish_views(con, generation)

    in_transaction(con, create)
    return generation


def create_table(con: duckdb.DuckDBPyConnection, name: str, schema: str | None = None) -> None:
    """Create the table ``name`` of ``ALL_TABLES``, empty, in ``schema`` (default: the one in
    use) unless it exists."""
    qualified = f'{schema}."{name}"' if schema else f'"{name}"'
    con.register("empty_table", ALL_TABLES[name].empty_table())
    con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} AS SELECT * FROM empty_table")
    con.unregister("empty_table")


@functools.cache
def _wanted_types() -> dict[str, dict[str, str]]:
    """Table -> column -> DuckDB type, as ``ALL_TABLES`` defines them (asked once of an
    in-memory DuckDB: 40 ms that every run would otherwise pay)."""
    with duckdb.connect() as con:
        types = {}
        for name, schema in ALL_TABLES.items():
            con.register("empty_table", schema.empty_table())
            types[name] = {r[0]: r[1] for r in con.execute("DESCRIBE empty_table").fetchall()}
            con.unregister("empty_table")
        return types


def publish_views(con: duckdb.DuckDBPyConnection, generation: str) -> None:
    """Point every public name at ``generation``'s tables (inside the caller's transaction)."""
    con.execute(f"USE {ALIAS}.{PUBLIC}")
    for name in ALL_TABLES:
        con.execute(
            f'CREATE OR REPLACE VIEW {PUBLIC}."{name}" AS SELECT * FROM {generation}."{name}"'
        )
    con.execute(f"COMMENT ON VIEW {PUBLIC}.articles IS {quote(generation)}")
    con.execute(_VIEWS)
    con.execute(f"COMMENT ON VIEW {PUBLIC}.live_articles IS {quote(_VIEWS_VERSION)}")
    con.execute(f"USE {ALIAS}.{generation}")


def drop_generation(con: duckdb.DuckDBPyConnection, generation: str) -> None:
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
        [ALIAS, generation],
    ).fetchall()
    for (table,) in tables:
        con.execute(f'DROP TABLE {generation}."{table}"')
    con.execute(f"DROP SCHEMA IF EXISTS {generation}")


def generations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every generation the warehouse holds, in order."""
    return sorted(
        str(r[0])
        for r in con.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?"
            " AND regexp_full_match(schema_name, 'g[0-9]+')",
            [ALIAS],
        ).fetchall()
    )


def next_generation(con: duckdb.DuckDBPyConnection) -> str:
    """The name of a generation after every one the warehouse holds."""
    return f"g{max((int(n[1:]) for n in generations(con)), default=0) + 1:04d}"
