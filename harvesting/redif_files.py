"""ReDIF files on disk: finding them in a RePEc mirror tree (``RePEc/<arc>/<arc>arch.rdf``,
``<arc>seri.rdf``, ``<arc>/<series>/*.rdf|*.redif``) or any folder, and remembering what was
read (size, mtime, checksum and the item handles each file held) so a re-run reads only the
files that changed and can tombstone items that disappeared."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvesting.statedb import StateDB
from schemas.errors import ConfigError, SourceFileUnreadable
from schemas.redif_text import Encoding, EncodingSniffer, LongLine, text_lines

SUFFIXES = (".rdf", ".redif")
CHUNK = 1 << 20  # bytes read at a time
HELD_PAGE = 500  # files whose handles are read from the state at a time
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
CREATE TABLE IF NOT EXISTS redif_file_reads (
    root TEXT NOT NULL,
    relative TEXT NOT NULL,
    mapping TEXT NOT NULL,
    duplicates TEXT NOT NULL,
    entities TEXT NOT NULL,
    PRIMARY KEY (root, relative)
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

    def chunks(self) -> Iterator[bytes]:
        """Its bytes, a chunk at a time: no file is held whole. Raises
        :class:`SourceFileUnreadable` (never a bare ``OSError``, which a failing load may
        raise too) when the file cannot be read."""
        try:
            with self.path.open("rb") as stream:
                while chunk := stream.read(CHUNK):
                    yield chunk
        except OSError as exc:
            raise SourceFileUnreadable(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    def scan(self) -> tuple[str, Encoding]:
        """Its checksum and its encoding, in one pass."""
        digest, sniffer = hashlib.sha256(), EncodingSniffer()
        for chunk in self.chunks():
            digest.update(chunk)
            sniffer.feed(chunk)
        return digest.hexdigest(), sniffer.encoding()

    def lines(self, encoding: Encoding) -> Iterator[str | LongLine]:
        """Its lines (a second pass), each capped (:func:`schemas.redif_text.text_lines`)."""
        return text_lines(self.chunks(), encoding)


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
        found.append(RedifFile(path, _printable(path.relative_to(base).as_posix()),
                               stat.st_size, stat.st_mtime_ns))  # fmt: skip
    if not found:
        raise ConfigError(f"no .rdf or .redif files under {root}")
    return sorted(found, key=lambda f: (not f.describes_series, f.relative))


def _printable(name: str) -> str:
    """A file name as stored and shown: bytes of it that are not UTF-8 (Python keeps them as
    surrogates, which nothing can store) written as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class FileStamp:
    """A file as last read: enough to tell whether it changed."""

    relative: str
    size: int
    mtime_ns: int
    sha256: str
    mapping: str | None = None  # the version of the mapping that read it


@dataclass(frozen=True)
class FileRecord(FileStamp):
    """A file as read, with the handles it holds."""

    handles: list[str] = field(default_factory=list)  # the items it holds
    duplicates: list[str] = field(default_factory=list)  # item handles it repeats (quarantined)
    entities: list[tuple[str, str]] = field(default_factory=list)  # (table, handle) it holds


@dataclass(frozen=True)
class Held:
    """The handles a file held when it was last read."""

    relative: str
    handles: list[str]
    duplicates: list[str]
    entities: list[tuple[str, str]]


class RedifFileState:
    """What was read from each file of a root, beside the harvest state."""

    def __init__(self, location: str | Path) -> None:
        self._db = StateDB(location, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def stamps(self, root: str) -> dict[str, FileStamp]:
        """Every file of a root as last read, without what it holds (:meth:`held`)."""
        rows = self._db.execute(
            "SELECT f.relative, size, mtime_ns, sha256, mapping FROM redif_files f"
            " LEFT JOIN redif_file_reads r ON r.root = f.root AND r.relative = f.relative"
            " WHERE f.root = ?",
            (root,),
        )
        return {r["relative"]: FileStamp(r["relative"], r["size"], r["mtime_ns"], r["sha256"],
                                         r["mapping"]) for r in rows}  # fmt: skip

    def held(self, root: str, relative: str | None = None) -> Iterator[Held]:
        """What each file of a root held (or one file's), :data:`HELD_PAGE` files at a time
        (a whole mirror's handles are never read at once)."""
        sql = ("SELECT f.relative, handles, duplicates, entities FROM redif_files f"
               " LEFT JOIN redif_file_reads r ON r.root = f.root AND r.relative = f.relative"
               " WHERE f.root = ?")  # fmt: skip
        pages: Iterable[list[Any]] = (
            [self._db.execute(sql + " AND f.relative = ?", (root, relative)).fetchall()]
            if relative is not None
            else self._pages(sql, root)
        )
        for rows in pages:
            for r in rows:
                yield Held(r["relative"], json.loads(r["handles"]),
                           json.loads(r["duplicates"] or "[]"),
                           [(t, h) for t, h in json.loads(r["entities"] or "[]")])  # fmt: skip

    def _pages(self, sql: str, root: str) -> Iterator[list[Any]]:
        after = ""
        while rows := self._db.execute(
            sql + f" AND f.relative > ? ORDER BY f.relative LIMIT {HELD_PAGE}", (root, after)
        ).fetchall():
            yield rows
            after = rows[-1]["relative"]

    def files(self, root: str) -> dict[str, FileRecord]:
        """Every file of a root as last read, with what it holds."""
        stamps = self.stamps(root)
        return {h.relative: FileRecord(**vars(stamps[h.relative]), handles=h.handles,
                                       duplicates=h.duplicates, entities=h.entities)
                for h in self.held(root)}  # fmt: skip

    def save(
        self, root: str, records: list[FileRecord], removed: list[str], when: str,
        touched: Sequence[FileStamp] = (),
    ) -> None:  # fmt: skip
        """Record files after their rows are loaded, all in one transaction: files read,
        files removed, and files ``touched`` (same bytes, a new size or mtime)."""
        with self._db.transaction() as db:
            for t in touched:
                db.execute(
                    "UPDATE redif_files SET size = ?, mtime_ns = ? WHERE root = ? AND relative = ?",
                    (t.size, t.mtime_ns, root, t.relative),
                )
            for r in records:
                db.execute(
                    "INSERT INTO redif_files VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (root, relative) DO UPDATE SET size = excluded.size,"
                    " mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256,"
                    " handles = excluded.handles, loaded_at = excluded.loaded_at",
                    (root, r.relative, r.size, r.mtime_ns, r.sha256, json.dumps(r.handles), when),
                )
                db.execute(
                    "INSERT INTO redif_file_reads VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (root, relative) DO UPDATE SET mapping = excluded.mapping,"
                    " duplicates = excluded.duplicates, entities = excluded.entities",
                    (root, r.relative, r.mapping or "", json.dumps(r.duplicates),
                     json.dumps(r.entities)),
                )  # fmt: skip
            for relative in removed:
                for table in ("redif_files", "redif_file_reads"):
                    db.execute(
                        f"DELETE FROM {table} WHERE root = ? AND relative = ?", (root, relative)
                    )
