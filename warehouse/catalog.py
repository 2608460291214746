"""Where a DuckLake warehouse lives: its catalog database and its data files, and how any
DuckDB client attaches it.

The catalog is a SQLite file (several processes of one machine) or a PostgreSQL database
(several machines). Data files are Parquet under the data path: a folder, or any URL DuckDB
writes to (``s3://...``). A SQLite catalog is put in WAL mode when it is created, so that
readers never wait for a writer's commit.

The ``ducklake``, ``sqlite`` and ``postgres`` extensions are DuckDB's signed builds, brought by
the ``duckdb-ext-*`` wheels (DuckDB's extension repository is not needed); where those wheels
are absent, DuckDB installs them from its repository as usual.
"""

from __future__ import annotations

import importlib.util
import platform
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from schemas.errors import ConfigError, WarehouseError

#: The name the warehouse is attached under in every connection we open.
ALIAS = "repec"
#: Catalog URLs that select PostgreSQL.
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    system = platform.system().lower()
    return f"{'osx' if system == 'darwin' else system}_{arch.get(machine, machine)}"


def extension_file(name: str) -> Path | None:
    """The signed extension file a ``duckdb-ext-<name>`` wheel installed for this DuckDB,
    or None when the wheel is absent."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        return None
    stem = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}.get(name, name)
    for folder in spec.submodule_search_locations:
        path = (
            Path(folder)
            / "extensions"
            / f"v{duckdb.__version__}"
            / _platform()
            / f"{stem}.duckdb_extension"
        )
        if path.is_file():
            return path
    return None


def load_statements(names: tuple[str, ...]) -> list[str]:
    """SQL that loads the extensions ``names`` into any DuckDB client of this version."""
    statements = []
    for name in names:
        path = extension_file(name)
        if path is None:
            statements += [f"INSTALL {name};", f"LOAD {name};"]
        else:
            statements.append(f"LOAD {quote(str(path))};")
    return statements


def quote(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Catalog:
    """A DuckLake: ``metadata`` is a SQLite file's path or a PostgreSQL URL; ``data_path`` the
    folder or URL of its Parquet files (ends with ``/``)."""

    metadata: str
    data_path: str

    @classmethod
    def at(cls, metadata: str | Path, data_path: str | Path) -> Catalog:
        text = str(metadata)
        if not text.startswith(_POSTGRES_SCHEMES):
            text = str(Path(text).expanduser().absolute())
        data = str(data_path)
        if "://" not in data:
            data = str(Path(data).expanduser().absolute())
        return cls(text, data.rstrip("/") + "/")

    @property
    def is_postgres(self) -> bool:
        return self.metadata.startswith(_POSTGRES_SCHEMES)

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise ValueError("a PostgreSQL catalog has no file")
        return Path(self.metadata)

    @property
    def extensions(self) -> tuple[str, ...]:
        return ("ducklake", "postgres" if self.is_postgres else "sqlite")

    @property
    def label(self) -> str:
        """The catalog as said to a user (a PostgreSQL password left out)."""
        if not self.is_postgres:
            return self.metadata
        scheme, _, rest = self.metadata.partition("://")
        credentials, at, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}{at}{host}" if at else self.metadata

    def exists(self) -> bool:
        """Whether the catalog was created (a SQLite file left empty by a process killed
        before DuckLake set it up does not count: the next writer sets it up)."""
        if not self.is_postgres:
            return self.sqlite_path.exists() and _initialized(self.sqlite_path)
        session = connect_postgres(self.metadata)
        try:
            row = session.execute("SELECT to_regclass('public.ducklake_metadata')").fetchone()
            return bool(row and row[0])
        finally:
            session.close()

    def attach_statement(
        self,
        read_only: bool = False,
        snapshot: int | str | None = None,
        data_path: bool = False,
        alias: str = ALIAS,
    ) -> str:
        """The ATTACH of this DuckLake; ``snapshot``: a snapshot id or a timestamp to see the
        warehouse as it was then (read-only); ``data_path``: say where data files go (when
        the catalog is created: afterwards the catalog knows)."""
        kind = "postgres" if self.is_postgres else "sqlite"
        options = [f"DATA_PATH {quote(self.data_path)}"] if data_path else []
        if read_only or snapshot is not None:
            options.append("READ_ONLY")
        if isinstance(snapshot, int):
            options.append(f"SNAPSHOT_VERSION {snapshot}")
        elif snapshot is not None:
            options.append(f"SNAPSHOT_TIME {quote(snapshot)}")
        target = quote(f"ducklake:{kind}:{self.metadata}")
        return f"ATTACH {target} AS {alias}" + (f" ({', '.join(options)});" if options else ";")

    def client_statements(self, snapshot: int | str | None = None) -> list[str]:
        """What any DuckDB client runs to open this warehouse read-only."""
        return [
            *load_statements(self.extensions),
            self.attach_statement(read_only=True, snapshot=snapshot),
            f"USE {ALIAS};",
        ]

    def prepare(self) -> None:
        """Create a SQLite catalog's file in WAL mode (readers then never wait for a commit)."""
        if self.is_postgres or self.sqlite_path.exists():
            return
        try:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.sqlite_path)
            try:
                con.execute("PRAGMA journal_mode=WAL")
            finally:
                con.close()
        except (OSError, sqlite3.Error) as exc:
            raise WarehouseError(f"cannot create the catalog {self.metadata}: {exc}") from None
        if "://" not in self.data_path:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)


def _initialized(path: Path) -> bool:
    """Whether DuckLake's tables are in the SQLite file (a damaged file counts as set up: its
    attach then says what is wrong)."""
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ducklake_metadata'"
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return True
    return row is not None


def connect_postgres(url: str) -> Any:
    """An autocommit psycopg session on ``url``; errors as one line."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=15)
    except psycopg.Error as exc:
        raise WarehouseError(
            f"cannot reach the PostgreSQL catalog: {str(exc).strip().splitlines()[0]}"
        ) from None


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """Load signed extensions from their wheels (or from DuckDB's repository without them)."""
    for name in names:
        path = extension_file(name)
        try:
            if path is not None:
                con.execute(f"LOAD {quote(str(path))}")
            else:
                con.execute(f"INSTALL {name}")
                con.execute(f"LOAD {name}")
        except duckdb.Error as exc:
            raise ConfigError(
                f"cannot load DuckDB's {name} extension: {str(exc).splitlines()[0]} "
                f"(install the duckdb-ext-{name} wheel for DuckDB {duckdb.__version__})"
            ) from None
