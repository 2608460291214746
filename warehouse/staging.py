"""Staging: normalized rows on their way into the warehouse, and gone once loaded (the
warehouse's own Parquet files are the only lasting copy of a record).

Layout under ``<data dir>/staging``::

    pages/<harvest>/<run>/w0003/p000012/articles.arrow   per page, until the run is done
    sealed/<harvest>/<run>/w0003/articles.parquet        a finished window, until it is loaded
    entities/<name>.parquet                              a ListSets or ReDIF batch, until loaded

Every file is written under a temporary name and renamed into place. Page files are Arrow IPC
(uncompressed: written once, read once, a tenth of the cost of Parquet with zstd); a window is
sealed by streaming its page files into one Parquet file per table (memory stays at one page),
``articles`` last, so a sealed ``articles`` file means the window's other tables are in place.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from schemas.files import atomic_path, page_name, window_name
from schemas.tables import RECORD_TABLES

PAGES, SEALED, ENTITIES = "pages", "sealed", "entities"
#: Sealing order: articles last (its presence marks a complete window).
SEAL_ORDER = ("quarantine", "authors", "articles")
_COMPRESSION = "zstd"
#: A sealed window is read once, by the load, then deleted: compressing it only costs time
#: (zstd was 2.5 s of the loader thread's 17 s in a 100,000-record harvest, BENCHMARKS.md).
_SEALED_COMPRESSION = "none"


def write_parquet(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` atomically (temporary name, fsync, rename)."""
    import pyarrow.parquet as pq  # here: a worker process writes pages only (13 MB less)

    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression=_COMPRESSION)


def write_arrow(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` as an Arrow IPC file, atomically."""
    with (
        atomic_path(path) as temporary,
        pa.OSFile(str(temporary), "wb") as sink,
        pa.ipc.new_file(sink, table.schema) as writer,
    ):
        writer.write_table(table)


def read_arrow(path: Path) -> pa.Table:
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


class Staging:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- pages and windows ----------------------------------------------------------------

    def _pages(self, harvest_id: str, run_id: str) -> Path:
        return self.root / PAGES / harvest_id / run_id

    def _page(self, harvest_id: str, run_id: str, window: int, page: int) -> Path:
        return self._pages(harvest_id, run_id) / page_name(window, page)

    def write_page(
        self, harvest_id: str, run_id: str, window: int, page: int, tables: dict[str, pa.Table]
    ) -> None:
        folder = self._page(harvest_id, run_id, window, page)
        for name in SEAL_ORDER:
            write_arrow(folder / f"{name}.arrow", tables[name])

    def pending_pages(self, harvest_id: str, run_id: str, window: int) -> int:
        """How many pages of a window are written, counting 1, 2, ... until one is missing
        (``articles`` is written last, so its presence means the page is complete)."""
        pages = 0
        while (self._page(harvest_id, run_id, window, pages + 1) / "articles.arrow").exists():
            pages += 1
        return pages

    def window_file(
        self, table: str, harvest_id: str, run_id: str, window: int, first: int = 1
    ) -> Path:
        folder = window_name(window) if first == 1 else page_name(window, first).replace("/", "-")
        return self.root / SEALED / harvest_id / run_id / folder / f"{table}.parquet"

    def seal_window(
        self, harvest_id: str, run_id: str, window: int, pages: int, first: int = 1
    ) -> dict[str, Path]:
        """Merge pages ``first``..``pages`` of a window into one file per table; return the
        files.

        Only pages the checkpoint counts are read: a page file left by a crash before its
        commit is ignored (it will be written again).
        """
        import pyarrow.parquet as pq  # here: a worker process writes pages only (13 MB less)

        if pages < first:
            return {}
        sealed = {}
        for name in SEAL_ORDER:
            schema = RECORD_TABLES[name]
            target = self.window_file(name, harvest_id, run_id, window, first)
            with (
                atomic_path(target) as temporary,
                pq.ParquetWriter(temporary, schema, compression=_SEALED_COMPRESSION) as writer,
            ):
                for number in range(first, pages + 1):
                    page = self._page(harvest_id, run_id, window, number)
                    part = read_arrow(page / f"{name}.arrow")
                    writer.write_table(part.cast(schema))
            sealed[name] = target
        return sealed

    def discard_pending(self, harvest_id: str, run_id: str) -> None:
        """A run is done: its page files and whatever of it is still sealed go."""
        shutil.rmtree(self._pages(harvest_id, run_id), ignore_errors=True)
        shutil.rmtree(self.root / SEALED / harvest_id / run_id, ignore_errors=True)

    def discard_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def discard_files(files: Iterable[Path]) -> None:
        """Loaded: these staged files are in the warehouse now."""
        for path in files:
            path.unlink(missing_ok=True)

    # -- named things ---------------------------------------------------------------------

    def write_entities(self, name: str, table: pa.Table) -> Path:
        """Stage a batch of series, archives, persons or institutions as ``name`` (made unique:
        several processes may stage the same listing at once)."""
        path = self.root / ENTITIES / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
        write_parquet(path, table)
        return path
