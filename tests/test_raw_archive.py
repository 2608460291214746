"""The raw page archive: pages are gzip files (written by ISA-L) that any gzip reads, and a
damaged one is one clear error."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from harvesting.archive import RawArchive
from schemas.errors import ArchiveError

PAGE = b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">' + b"<x>caf\xc3\xa9</x>" * 5000


def stored(root: Path) -> tuple[RawArchive, str]:
    archive = RawArchive(root)
    return archive, archive.store_file("h/r", "w0000/p000001.xml", PAGE, "ListRecords")


def test_an_archived_page_is_a_plain_gzip_file_read_back_as_it_came(tmp_path: Path) -> None:
    archive, path = stored(tmp_path)
    assert gzip.decompress((tmp_path / path).read_bytes()) == PAGE
    assert archive.read(path) == PAGE


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: b"not gzip at all",
        lambda b: b[:30] + bytes(200) + b[230:],
        lambda b: b[:-8] + bytes(4) + b[-4:],
    ],
    ids=["cut-short", "not-gzip", "damaged-stream", "wrong-checksum"],
)
def test_a_damaged_archived_page_is_one_clear_error(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    archive, path = stored(tmp_path)
    (tmp_path / path).write_bytes(damage((tmp_path / path).read_bytes()))
    with pytest.raises(ArchiveError, match=r"^archived page h/r/w0000/p000001\.xml\.gz cannot"):
        archive.read(path)
