"""ReDIF files on disk: finding them in a RePEc mirror tree (``RePEc/<arc>/<arc>arch.rdf``,
``<arc>seri.rdf``, ``<arc>/<series>/*.rdf|*.redif``) or any folder, and remembering what was
read (size, mtime, checksum and the item handles each file held) so a re-run reads only the
files that changed and can tombstone items that disappeared."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from harvesting.statedb import StateDB
from schemas.errors import ConfigError

SUFFIXES = (".rdf", ".redif")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS redif_files (
    root TEXT NOT NULL,
    relative TEXT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    handles TEXT NOT NULL,
    loaded_at TEXT NOT NULL,
    PRIMARY KEY (root, relative)
);
CREATE TABLE IF NOT EXISTS redif_roots (
    root TEXT PRIMARY KEY,
    mapping TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class RedifFile:
    path: Path
    relative: str
    size: int
    mtime_ns: int

    @property
    def describes_series(self) -> bool:
        """Archive and series templates, read first so items can use series names."""
        name = self.path.name.lower()
        return name.endswith(("arch.rdf", "seri.rdf", "arch.redif", "seri.redif"))

    def read(self) -> tuple[bytes, str]:
        raw = self.path.read_bytes()
        return raw, hashlib.sha256(raw).hexdigest()


def find_files(root: Path) -> list[RedifFile]:
    """Every ReDIF file under ``root`` (or ``root`` itself), series and archives first."""
    if not root.exists():
        raise ConfigError(f"{root} does not exist")
    paths = [root] if root.is_file() else [
        p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
    ]  # fmt: skip
    base = root.parent if root.is_file() else root
    found = []
    for path in paths:
        stat = path.stat()
        found.append(RedifFile(path, path.relative_to(base).as_posix(), stat.st_size,
                               stat.st_mtime_ns))  # fmt: skip
    if not found:
        raise ConfigError(f"no .rdf or .redif files under {root}")
    return sorted(found, key=lambda f: (not f.describes_series, f.relative))


@dataclass(frozen=True)
class FileRecord:
    relative: str
    size: int
    mtime_ns: int
    sha256: str
    handles: list[str]


class RedifFileState:
    """What was read from each file of a root, beside the harvest state."""

    def __init__(self, location: str | Path) -> None:
        self._db = StateDB(location, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def files(self, root: str) -> dict[str, FileRecord]:
        rows = self._db.execute(
            "SELECT relative, size, mtime_ns, sha256, handles FROM redif_files WHERE root = ?",
            (root,),
        ).fetchall()
        return {
            r["relative"]: FileRecord(r["relative"], r["size"], r["mtime_ns"], r["sha256"],
                                      json.loads(r["handles"]))
            for r in rows
        }  # fmt: skip

    def mapping(self, root: str) -> str | None:
        """The version of the mapping that last read every file of ``root``."""
        row = self._db.execute("SELECT mapping FROM redif_roots WHERE root = ?", (root,)).fetchone()
        return str(row["mapping"]) if row else None

    def save(
        self, root: str, records: list[FileRecord], removed: list[str], when: str,
        mapping: str | None = None,
    ) -> None:  # fmt: skip
        """Record files after their rows are loaded, all in one transaction; ``mapping`` once
        every file of the root has been read by it."""
        with self._db.transaction() as db:
            if mapping is not None:
                db.execute(
                    "INSERT INTO redif_roots VALUES (?, ?)"
                    " ON CONFLICT (root) DO UPDATE SET mapping = excluded.mapping",
                    (root, mapping),
                )
            for r in records:
                db.execute(
                    "INSERT INTO redif_files VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (root, relative) DO UPDATE SET size = excluded.size,"
                    " mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256,"
                    " handles = excluded.handles, loaded_at = excluded.loaded_at",
                    (root, r.relative, r.size, r.mtime_ns, r.sha256, json.dumps(r.handles), when),
                )
            for relative in removed:
                db.execute(
                    "DELETE FROM redif_files WHERE root = ? AND relative = ?", (root, relative)
                )
