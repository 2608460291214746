"""Files every layer writes: the one way a file is written (under a temporary name of its
own, unique to the writer so that processes writing the same file never clash, fsynced, then
renamed into place: a reader sees the whole file or none of it, whatever crashes when), and
the one spelling of a page's place in a run (``w0003/p000012``), used by the raw archive and
the staging area alike.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def window_name(window: int) -> str:
    return f"w{window:04d}"


def page_name(window: int, page: int) -> str:
    """Page ``page`` of window ``window``, as a relative path: ``w0003/p000012``."""
    return f"{window_name(window)}/p{page:06d}"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block ends without an error it
    is fsynced and renamed to ``path``, else removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, content: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(content)
