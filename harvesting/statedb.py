"""The database that holds harvest state: a SQLite file in the data dir, or the PostgreSQL
database of a shared catalog (schema ``repec_state``), so that every writer of one warehouse,
on any machine, sees the same checkpoints.

One small door for both: statements are written once with ``?`` placeholders, rows come back
as mappings, and ``transaction`` takes the write lock at once (SQLite's ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from schemas.errors import DataDirError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
#: The PostgreSQL schema of the state tables (DuckLake's own tables are in ``public``).
SCHEMA = "repec_state"

Row = Mapping[str, Any]
#: The advisory lock that serializes creating the state tables in PostgreSQL.
_SCHEMA_LOCK = 0x7265706563


def _hint(exc: Exception) -> str:
    """What to do about a damaged SQLite file."""
    damaged = isinstance(exc, sqlite3.DatabaseError) and any(
        s in str(exc) for s in ("malformed", "not a database", "file is encrypted")
    )
    return " (damaged: `repec-harvest rebuild` sets it aside)" if damaged else ""


def is_postgres(location: str | Path) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


class StateDB:
    def __init__(self, location: str | Path, schema: str, read_only: bool = False) -> None:
        """Open ``location`` (a path or a PostgreSQL URL) and create ``schema``'s tables;
        ``read_only``: a SQLite file only read (``status`` on a read-only data dir), nothing
        created."""
        self.location = location
        self.postgres = is_postgres(location)
        try:
            if self.postgres:
                self._open_postgres(str(location))
            elif read_only:
                self._open_sqlite_read_only(Path(location))
                return
            else:
                self._open_sqlite(Path(location))
        except (sqlite3.Error, OSError) as exc:
            raise DataDirError(
                f"cannot use harvest state {self.label}: {exc}{_hint(exc)}"
            ) from None
        try:
            with self.transaction():
                if self.postgres:  # CREATE ... IF NOT EXISTS races in PostgreSQL: one at a time
                    self.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
                    self.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                self.script(schema)
        except BaseException:
            self.close()
            raise

    @property
    def label(self) -> str:
        if not self.postgres:
            return str(self.location)
        scheme, _, rest = str(self.location).partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    def _open_sqlite(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        db.row_factory = sqlite3.Row
        _write_ahead(db)
        db.execute("PRAGMA synchronous=FULL")
        self._db: Any = db

    def _open_sqlite_read_only(self, path: Path) -> None:
        """Read-only; where even SQLite's shared-memory file cannot be made (a read-only
        folder), as an immutable file."""
        uri = path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
            db.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.OperationalError:
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
        db.row_factory = sqlite3.Row
        self._db = db

    def _open_postgres(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        try:
            db = psycopg.connect(url, autocommit=True, connect_timeout=15, row_factory=dict_row)
            db.execute(f"SET search_path TO {SCHEMA}")
        except psycopg.Error as exc:
            raise DataDirError(
                f"cannot use harvest state {self.label}: {str(exc).strip().splitlines()[0]}"
            ) from None
        self._db = db

    def close(self) -> None:
        self._db.close()

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; the cursor (``fetchone``/``fetchall`` give mappings)."""
        try:
            return self._db.execute(self._sql(statement), tuple(params))
        except sqlite3.Error as exc:
            raise DataDirError(f"harvest state {self.label} failed: {exc}{_hint(exc)}") from None
        except Exception as exc:
            if self.postgres and _is_psycopg_error(exc):
                raise DataDirError(
                    f"harvest state {self.label} failed: {str(exc).strip().splitlines()[0]}"
                ) from None
            raise

    def script(self, statements: str) -> None:
        for statement in (s.strip() for s in statements.split(";")):
            if statement:
                self.execute(statement)

    def columns(self, table: str) -> set[str]:
        if self.postgres:
            rows = self.execute(
                "SELECT column_name AS name FROM information_schema.columns"
                " WHERE table_schema = ? AND table_name = ?",
                (SCHEMA, table),
            ).fetchall()
        else:
            rows = self.execute(f"PRAGMA table_info({table})").fetchall()
        return {r["name"] for r in rows}

    @contextmanager
    def transaction(self) -> Iterator[StateDB]:
        """One transaction. An interrupt (Ctrl-C, SIGTERM) may land on any instruction, even
        right after BEGIN or COMMIT returned: whatever is still open is rolled back, so the
        command can record where it stopped."""
        try:
            self.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")
            yield self
            self.execute("COMMIT")
        except BaseException:
            if self._in_transaction():
                self.execute("ROLLBACK")
            raise

    def _in_transaction(self) -> bool:
        """Whether a transaction is open on the connection (a committed one is not)."""
        if self.postgres:
            from psycopg.pq import TransactionStatus

            return bool(self._db.info.transaction_status != TransactionStatus.IDLE)
        return bool(self._db.in_transaction)


def _is_psycopg_error(exc: Exception) -> bool:
    import psycopg

    return isinstance(exc, psycopg.Error)


def _write_ahead(db: sqlite3.Connection, patience: float = 30.0) -> None:
    """Put the file in WAL mode (it stays so). Switching needs the file alone, and SQLite
    answers "database is locked" at once, without waiting, while another connection
    opens it too (harvests started together on a new data dir): so wait, as for any lock."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
