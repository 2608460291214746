"""``rebuild``: raw archive -> Parquet -> DuckDB, with no network.

A new lake and a new database are built beside the old ones from the raw pages and their
manifests, in the order the pages were harvested, through the same normalize/seal/load path
as a live harvest; then they replace the old ones. A failure leaves the old ones untouched.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flows.datadir import DataDir
from flows.storage import Loader, Storage, WindowJob, store_page
from harvesting.archive import ArchivedPage, RawArchive
from harvesting.harvester import PageCounts, page_id
from harvesting.responses import parse_response, read_sets
from harvesting.state import StateStore
from schemas.errors import ArchiveError
from schemas.records import PageContext
from warehouse.database import ENTITY_TABLES, Warehouse
from warehouse.lake import Lake

#: Pages per task handed to a normalizing worker process.
CHUNK_PAGES = 8
#: Smaller archives are normalized in the rebuilding process itself: starting worker
#: processes (about a second) would cost more than it saves.
PARALLEL_FROM_PAGES = 100
#: Tables with no raw archive behind them, copied from the old warehouse when it is readable.
CARRIED_OVER = ("citations", "citation_counts", "citation_loads", "references")


@dataclass
class RebuildReport:
    pages: int = 0
    records: int = 0
    deleted: int = 0
    quarantined: int = 0
    series: int = 0
    redif_batches: int = 0
    citations_kept: bool = False


def rebuild(data: DataDir, workers: int | None = None) -> RebuildReport:
    """Rebuild the lake and the warehouse of ``data`` from its raw archive. Pages are
    normalized by ``workers`` processes (0: in this one; default: one per core when the
    archive is large enough to be worth starting them)."""
    with data.lock():
        archive = RawArchive(data.raw)
        manifests = archive.manifests()
        if not manifests and not list(data.lake.glob("articles/harvest=redif-*")):
            raise ArchiveError(f"no raw archive under {data.raw}: nothing to rebuild from")
        new_lake = data.root / "lake.rebuild"
        new_db = data.root / "warehouse.rebuild.duckdb"
        shutil.rmtree(new_lake, ignore_errors=True)
        new_db.unlink(missing_ok=True)
        storage = Storage(data, Lake(new_lake), Warehouse(new_db))
        report = RebuildReport()
        with storage.db.connect():
            pass  # an empty warehouse with every table, even if the archive holds no records
        harvest_manifests = []
        for manifest in manifests:
            if manifest.relative_to(data.raw).parts[0] == "_endpoints":
                _replay_sets(archive, storage, manifest, report)
            else:
                harvest_manifests.append(manifest)
        _replay_runs(archive, storage, harvest_manifests, report, workers)
        storage.lake.discard_all_pending()
        _replay_redif(data.lake, storage, report)
        report.series = storage.db.count("series")
        if data.state_path.exists():
            state = StateStore(data.state_path)
            try:
                storage.sync_harvest_log(state)
            finally:
                state.close()
        report.citations_kept = storage.db.copy_tables_from(data.warehouse_path, CARRIED_OVER)
        _swap(new_db, data.warehouse_path)
        old_lake = data.root / "lake.old"
        shutil.rmtree(old_lake, ignore_errors=True)
        if data.lake.exists():
            os.replace(data.lake, old_lake)
        os.replace(new_lake, data.lake)
        shutil.rmtree(old_lake, ignore_errors=True)
        return report


def _replay_redif(old_lake: Path, storage: Storage, report: RebuildReport) -> None:
    """ReDIF loads have no raw pages: their lake files are the source. Carry them over."""
    batches = sorted(
        old_lake.glob("articles/harvest=redif-*/run=*/*.parquet"),
        key=lambda p: (p.parent.name, p.name),
    )
    for articles in batches:
        relative = articles.relative_to(old_lake / "articles")
        files = {}
        for table in ("articles", "authors", "quarantine", *ENTITY_TABLES):
            source = old_lake / table / relative
            if source.exists():
                target = storage.lake.root / table / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                files[table] = target
        storage.db.load_window({k: files[k] for k in ("articles", "authors", "quarantine")})
        for table in ENTITY_TABLES:
            if table in files:
                storage.db.load_entities(table, files[table])
        report.redif_batches += 1


def _swap(new: Path, current: Path) -> None:
    os.replace(new, current)
    wal = new.with_name(new.name + ".wal")
    if wal.exists():
        os.replace(wal, current.with_name(current.name + ".wal"))


def _replay_sets(
    archive: RawArchive, storage: Storage, manifest: Path, report: RebuildReport
) -> None:
    sets = []
    listed_at: datetime | None = None
    endpoint = None
    for entry in archive.entries(manifest):
        if entry.verb != "ListSets":
            continue
        page = parse_response(archive.read(entry.path, entry.get("sha256")), "ListSets")
        sets.extend(read_sets(page))
        listed_at = listed_at or page.response_date
        endpoint = entry.get("endpoint")
    if sets and listed_at and endpoint:
        folder = str(manifest.parent.relative_to(archive.root)).removeprefix("_endpoints/")
        storage.store_sets(endpoint, folder, sets, listed_at)


@dataclass(frozen=True)
class PageTask:
    """One archived ListRecords page to normalize: where it is, and which page file of which
    window it becomes."""

    path: str
    sha256: str | None
    endpoint: str
    metadata_prefix: str
    harvest_id: str
    run_id: str
    window: int
    page: int  # the harvest's page number (part of the page id)
    sequence: int  # the page's place among its window's page files: 1, 2, ...


def _windows(archive: RawArchive, manifests: list[Path]) -> Iterator[list[PageTask]]:
    """The pages of every window of every run, window by window in harvest order."""
    # Run ids sort by start time, whatever the harvest.
    for manifest in sorted(manifests, key=lambda m: (m.parent.name, m.parent.parent.name)):
        windows: dict[int, list[ArchivedPage]] = defaultdict(list)
        for entry in archive.entries(manifest):
            if entry.verb == "ListRecords":
                windows[int(entry["window"])].append(entry)
        for window, entries in sorted(windows.items()):
            entries.sort(key=lambda e: int(e["page"]))
            yield [
                PageTask(
                    path=e.path,
                    sha256=e.get("sha256"),
                    endpoint=e["endpoint"],
                    metadata_prefix=e["metadata_prefix"],
                    harvest_id=entries[0]["harvest_id"],
                    run_id=entries[0]["run_id"],
                    window=window,
                    page=int(e["page"]),
                    sequence=sequence,
                )
                for sequence, e in enumerate(entries, start=1)
            ]


def normalize_pages(raw: Path, lake: Path, tasks: list[PageTask]) -> PageCounts:
    """Parse, map and write some archived pages as page files of the new lake; their counts.
    Runs in a worker process (arguments and result are small and picklable)."""
    archive, target = RawArchive(raw), Lake(lake)
    records = deleted = quarantined = 0
    for task in tasks:
        page = parse_response(archive.read(task.path, task.sha256), "ListRecords")
        context = PageContext(
            endpoint=task.endpoint,
            harvest_id=task.harvest_id,
            metadata_prefix=task.metadata_prefix,
            harvested_at=page.response_date,
            page_id=page_id(task.harvest_id, task.run_id, task.window, task.page),
            page_path=task.path,
        )
        counts = store_page(target, context, task.run_id, task.window, task.sequence, page.items)
        records += counts.records
        deleted += counts.deleted
        quarantined += counts.quarantined
    return PageCounts(records, deleted, quarantined)


def _replay_runs(
    archive: RawArchive,
    storage: Storage,
    manifests: list[Path],
    report: RebuildReport,
    workers: int | None,
) -> None:
    """Normalize every archived page into the new lake (in worker processes when the archive
    is large enough to be worth them) while the loader thread seals and loads each finished
    window, in harvest order."""
    windows = list(_windows(archive, manifests))
    pages = sum(len(w) for w in windows)
    if workers is None:
        workers = (os.cpu_count() or 1) if pages >= PARALLEL_FROM_PAGES else 0
    chunks = [w[i : i + CHUNK_PAGES] for w in windows for i in range(0, len(w), CHUNK_PAGES)]
    loader = Loader(storage)
    with ExitStack() as stack:
        if workers > 0:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            results = _in_order(pool, chunks, archive.root, storage.lake.root, 4 * workers)
        else:
            results = (normalize_pages(archive.root, storage.lake.root, c) for c in chunks)
        ends = {(w[-1].harvest_id, w[-1].run_id, w[-1].window): len(w) for w in windows}
        for chunk, counts in zip(chunks, results, strict=True):
            report.pages += len(chunk)
            report.records += counts.records
            report.deleted += counts.deleted
            report.quarantined += counts.quarantined
            last = chunk[-1]
            if ends[last.harvest_id, last.run_id, last.window] == last.sequence:
                loader.submit(WindowJob(last.harvest_id, last.run_id, last.window, last.sequence))
    loader.settle()


def _in_order(
    pool: ProcessPoolExecutor, chunks: list[list[PageTask]], raw: Path, lake: Path, ahead: int
) -> Iterator[PageCounts]:
    """Each chunk's counts, in order, keeping at most ``ahead`` chunks in the workers."""
    running: deque[Future[PageCounts]] = deque()
    for chunk in chunks:
        running.append(pool.submit(normalize_pages, raw, lake, chunk))
        if len(running) >= ahead:
            yield running.popleft().result()
    while running:
        yield running.popleft().result()
