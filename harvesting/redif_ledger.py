"""What a ReDIF load knows of every handle of a tree while it runs, kept on disk (a scratch
SQLite file) rather than in memory: a RePEc mirror holds millions of handles, and a run needs
all of them at once, to find duplicates across files and the items that went.

- ``claims``: which template holds each handle (the places of :class:`HandleClaims`);
- ``live``: the item handles some file holds now;
- ``gone``: item handles a changed or removed file held before, with that file;
- ``repeats``: item handles an unchanged file repeats (quarantined as duplicates), so that a
  copy can take over when its keeper goes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from schemas.handles import handle_key
from schemas.redif_rows import Claim, HandleClaims

_SCHEMA = """
CREATE TABLE claims (tbl TEXT, key TEXT, place TEXT, content INTEGER,
                     PRIMARY KEY (tbl, key)) WITHOUT ROWID;
CREATE TABLE live (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE gone (key TEXT PRIMARY KEY, relative TEXT, handle TEXT) WITHOUT ROWID;
CREATE TABLE repeats (key TEXT, relative TEXT, PRIMARY KEY (key, relative)) WITHOUT ROWID;
"""
#: SQLite's page cache, in KiB: what the ledger may keep in memory.
CACHE_KIB = 32 << 10


class Ledger:
    """The handles of one ReDIF load, in a scratch file deleted when it closes. One load of a
    root runs at a time (its harvest lock), so the file is named for it, and one that a killed
    load left behind is replaced."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.path = path
        self._db = sqlite3.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", f"cache_size = -{CACHE_KIB}",
                       "temp_store = FILE"):  # fmt: skip
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        self.claims = HandleClaims(_ClaimTable(self._db))

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)

    def live(self, handles: Iterable[str]) -> None:
        """Item handles a file holds now."""
        self._db.executemany("INSERT OR IGNORE INTO live VALUES (?)",
                             ((handle_key(h),) for h in handles))  # fmt: skip

    def gone(self, relative: str, handles: Iterable[str], replace: bool = False) -> None:
        """Item handles ``relative`` held before; the first file named for a handle stays,
        unless ``replace`` (a removed file names it)."""
        verb = "REPLACE" if replace else "IGNORE"
        self._db.executemany(f"INSERT OR {verb} INTO gone VALUES (?, ?, ?)",
                             ((handle_key(h), relative, h) for h in handles))  # fmt: skip

    def repeats(self, relative: str, handles: Iterable[str]) -> None:
        """Item handles an unchanged file repeats (its quarantined duplicates)."""
        self._db.executemany("INSERT OR IGNORE INTO repeats VALUES (?, ?)",
                             ((handle_key(h), relative) for h in handles))  # fmt: skip

    def read_again(self) -> list[str]:
        """Files that repeat a handle whose keeper went (gone, and in no file now): read
        again, the first copy takes the handle over. They are forgotten as repeaters."""
        files = [r for (r,) in self._db.execute(
            "SELECT DISTINCT relative FROM repeats WHERE key IN"
            " (SELECT key FROM gone WHERE key NOT IN (SELECT key FROM live)) ORDER BY relative"
        )]  # fmt: skip
        self._db.executemany("DELETE FROM repeats WHERE relative = ?", ((r,) for r in files))
        return files

    def lost(self) -> Iterator[tuple[str, str]]:
        """(file, handle) of every item gone and in no file now, by handle key."""
        yield from self._db.execute(
            "SELECT relative, handle FROM gone WHERE key NOT IN (SELECT key FROM live) ORDER BY key"
        )


class _ClaimTable:
    """The places of :class:`HandleClaims` in the ledger's ``claims`` table."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, key: tuple[str, str]) -> Claim | None:
        row = self._db.execute(
            "SELECT place, content FROM claims WHERE tbl = ? AND key = ?", key
        ).fetchone()
        return (row[0], row[1]) if row else None

    def setdefault(self, key: tuple[str, str], claim: Claim) -> None:
        self._db.execute("INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?)", (*key, *claim))

    def fill(self, claims: Iterable[tuple[tuple[str, str], Claim]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?)",
                             ((*key, *claim) for key, claim in claims))  # fmt: skip
