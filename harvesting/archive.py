"""The raw page archive: every OAI-PMH response, gzip-compressed, with a manifest.

Layout under ``<data dir>/raw``::

    <harvest_id>/<run_id>/w0003/p000012.xml.gz   one ListRecords page
    <harvest_id>/<run_id>/manifest.jsonl          one JSON line per stored page
    <harvest_id>/<reconciliation>/identifiers/p000001.xml.gz   a ListIdentifiers page
    <harvest_id>/<reconciliation>/w0000/p000001.jsonl.gz       tombstones it found
    <harvest_id>/<reconciliation>/w0001/p000001.xml.gz         a GetRecord response
    <harvest_id>/<reconciliation>/applied.json.gz              its mark: loaded
    _endpoints/<host>/<stamp>/ListSets-p0001.xml.gz   Identify, formats, sets

A page file is written under a temporary name and renamed, so a crash never leaves half a
page. The manifest line is appended after the page is in place; a torn last line (crash
mid-append) is skipped when read, and a page stored twice (re-fetched after a crash) is
listed twice, the later entry winning. ``rebuild`` needs nothing but this folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from isal import igzip, isal_zlib

from schemas.errors import ArchiveError
from schemas.files import write_atomically

if TYPE_CHECKING:  # not imported at run time: a worker process needs none of the client
    from harvesting.client import Fetched

#: What reading a damaged gzip file raises: BadGzipFile (an OSError), EOFError when it is cut
#: short, ISA-L's own error for a damaged deflate stream (its stubs call it an instance).
_CORRUPT: tuple[type[BaseException], ...] = (OSError, EOFError, isal_zlib.error)  # type: ignore[assignment]

MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class ArchivedPage:
    """A manifest entry."""

    path: str
    verb: str
    entry: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.entry[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.entry.get(key, default)


class RawArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def store(self, folder: str, name: str, fetched: Fetched, **extra: Any) -> str:
        """Write one response and its manifest line; return its path relative to the root."""
        page = fetched.page
        return self.store_file(
            folder, f"{name}.xml", page.raw, page.verb, params=fetched.params, url=fetched.url,
            response_date=page.response_date.isoformat(), records=len(page.items),
            token=page.token, complete_list_size=page.complete_list_size, cursor=page.cursor,
            **extra,
        )  # fmt: skip

    def store_file(self, folder: str, name: str, raw: bytes, verb: str, **extra: Any) -> str:
        """Write any file of a run (``verb`` says what it is) and its manifest line; return
        its path relative to the root."""
        relative = f"{folder}/{name}.gz"
        # ISA-L at level 1: about four times faster than zlib's level 1 for the same size, and
        # zlib's level 1 was four times faster than 6 for pages 20% larger (BENCHMARKS.md)
        write_atomically(self.root / relative, igzip.compress(raw, compresslevel=1, mtime=0))
        entry = {
            "path": relative,
            "verb": verb,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw),
            **extra,
        }
        with open(self.root / folder / MANIFEST, "a", encoding="utf-8") as manifest:
            manifest.write(json.dumps(entry, sort_keys=True) + "\n")
            manifest.flush()
            os.fsync(manifest.fileno())
        return relative

    def read(self, relative: str, sha256: str | None = None) -> bytes:
        """The raw bytes of a stored page, checked against the manifest's checksum."""
        try:
            raw = igzip.decompress((self.root / relative).read_bytes())
        except _CORRUPT as exc:
            raise ArchiveError(f"archived page {relative} cannot be read: {exc}") from None
        if sha256 and hashlib.sha256(raw).hexdigest() != sha256:
            raise ArchiveError(f"archived page {relative} does not match its checksum")
        return raw

    def manifests(self) -> list[Path]:
        return sorted(self.root.glob(f"**/{MANIFEST}")) if self.root.exists() else []

    def entries(self, manifest: Path) -> Iterator[ArchivedPage]:
        """Entries of one manifest, one per page path (the last one wins), in order. A torn
        last line (a crash mid-append) is skipped; any other line that cannot be read is an
        ``ArchiveError`` naming it: pages would be left out without a word."""
        latest: dict[str, dict[str, Any]] = {}
        try:
            with open(manifest, "rb") as lines:
                numbered = list(enumerate(lines, start=1))
        except OSError as exc:
            raise ArchiveError(f"manifest {manifest} cannot be read: {exc.strerror}") from None
        for number, line in numbered:
            try:
                entry = json.loads(line)
                path, verb = entry["path"], entry["verb"]
                if not isinstance(path, str) or not isinstance(verb, str):
                    raise TypeError
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                if number == len(numbered) and not line.endswith(b"\n"):
                    continue  # a torn last line from a crash mid-append
                raise ArchiveError(
                    f"line {number} of {manifest} is damaged: the pages it lists cannot be "
                    "found; repair or remove the line, then rebuild again"
                ) from None
            latest.pop(path, None)
            latest[path] = entry
        for path, entry in latest.items():
            yield ArchivedPage(path=path, verb=entry["verb"], entry=entry)


def endpoint_folder(endpoint: str, stamp: datetime) -> str:
    """Where Identify/ListMetadataFormats/ListSets responses of a session go."""
    host = (urlsplit(endpoint).netloc or "endpoint").replace(":", "_")
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:8]
    return f"_endpoints/{host}-{digest}/{stamp.strftime('%Y%m%dT%H%M%S%fZ')}"
