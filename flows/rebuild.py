"""``rebuild``: raw archive -> warehouse, with no network.

A new generation of the warehouse is built beside the current one (``Warehouse.beside``) from
the raw pages and their manifests, in the order the pages were harvested, through the same
normalize/stage/load path as a live harvest; what has no raw archive behind it (the citation
graph, references, ReDIF loads) is carried over. Then one commit makes it the one readers see
(``Warehouse.publish``). A failure leaves the current one untouched; readers never wait.

A data dir of an earlier version (``warehouse.duckdb`` and its Parquet lake) is converted the
same way: its citation tables and ReDIF lake files are carried over, and the old files are
kept aside, renamed, for the user to delete.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flows.datadir import DataDir
from flows.interrupts import deferred
from flows.pages import APPLIED_VERB, TOMBSTONES, PageTask, normalize_pages, worker_pool
from flows.storage import Storage
from harvesting.archive import MANIFEST, ArchivedPage, RawArchive
from harvesting.harvester import PageCounts
from harvesting.responses import parse_response, read_sets
from harvesting.state import StateStore
from schemas.errors import ArchiveError, DataDirError, WarehouseError
from warehouse.database import Warehouse
from warehouse.loader import WindowJob, loader_for
from warehouse.merge import ENTITY_TABLES
from warehouse.staging import Staging

log = logging.getLogger(__name__)

#: Pages per task handed to a normalizing worker process.
CHUNK_PAGES = 8
#: Smaller archives are normalized in the rebuilding process itself: starting worker
#: processes (about a second) would cost more than it saves.
PARALLEL_FROM_PAGES = 100


@dataclass
class RebuildReport:
    pages: int = 0
    records: int = 0
    deleted: int = 0
    quarantined: int = 0
    series: int = 0
    redif_items: int = 0
    citations_kept: bool = False


def rebuild(
    data: DataDir, workers: int | None = None, allow_missing: bool = False
) -> RebuildReport:
    """Rebuild the warehouse of ``data`` from its raw archive. Pages are normalized by
    ``workers`` processes (0: in this one; default: one per core when the archive is large
    enough to be worth starting them). A run whose raw pages are missing is an error (the
    rebuilt warehouse would silently hold less), unless ``allow_missing``."""
    with data.alone():
        archive = RawArchive(data.raw)
        manifests = archive.manifests()
        _set_aside_damaged_state(data)
        if not allow_missing:
            _check_complete(data, archive)
        legacy = data.is_legacy()
        legacy_redif = _legacy_redif_batches(data.legacy_lake) if legacy else []
        current = data.warehouse(check=False)
        has_current = data.catalog.exists() and not legacy and _readable(data, current)
        if not manifests and not legacy_redif and not has_current:
            raise ArchiveError(f"no raw archive under {data.raw}: nothing to rebuild from")
        staging = Staging(data.root / "staging.rebuild")
        staging.discard_all()
        new = current.beside()
        storage = Storage(data, staging, new)
        report = RebuildReport()
        try:
            if has_current:
                report.redif_items = _carry_over(current, new)
                report.citations_kept = True
            elif legacy:
                report.citations_kept = _carry_over_legacy(data.legacy_warehouse, new)
                for batch in legacy_redif:
                    _load_legacy_redif(data.legacy_lake, batch, new)
                report.redif_items = _count(new, "article_versions", _REDIF_ITEMS)
            harvest_manifests = []
            for manifest in manifests:
                if manifest.relative_to(data.raw).parts[0] == "_endpoints":
                    _replay_sets(archive, storage, manifest, report)
                else:
                    harvest_manifests.append(manifest)
            _replay_runs(archive, storage, harvest_manifests, report, workers)
            report.series = _count(new, "series")
            if data.has_state():
                state = StateStore(data.state_location)
                try:
                    storage.sync_harvest_log(state)
                finally:
                    state.close()
            new.publish()
        except BaseException:
            new.discard()
            raise
        finally:
            staging.discard_all()
            new.close()
            current.close()
        if legacy:
            _set_aside(data)
        return report


#: Tables with no raw archive behind them, carried over to a new generation whole.
CARRIED_OVER = ("citations", "citation_counts", "citation_loads", "references")
#: Rows of a ReDIF load (their harvest ids start so): carried over too.
_REDIF_ROWS = "WHERE harvest_id LIKE 'redif-%'"
_REDIF_ITEMS = "WHERE metadata_prefix = 'redif'"


def _set_aside_damaged_state(data: DataDir) -> None:
    """A SQLite harvest state that cannot be read is renamed ``state.sqlite.damaged``: the
    warehouse is rebuilt from the raw archive alone, and the next run of each harvest starts
    from the beginning (nothing is lost; what it finds again is merged as usual)."""
    if data.catalog_url or not data.state_path.exists():
        return
    try:
        StateStore(data.state_location).close()
    except DataDirError as exc:
        for path in (data.state_path, *(data.state_path.with_name(data.state_path.name + x)
                                        for x in ("-wal", "-shm"))):  # fmt: skip
            if path.exists():
                os.replace(path, path.with_name(path.name + ".damaged"))
        log.warning("%s; it is kept as state.sqlite.damaged, and the next run of each harvest "
                    "starts from the beginning", exc)  # fmt: skip


def _check_complete(data: DataDir, archive: RawArchive) -> None:
    """Every page the harvest state counts as committed must be in the raw archive."""
    if not data.has_state():
        return
    state = StateStore(data.state_location)
    try:
        runs = [r for r in state.runs() if r.pages > 0]
    finally:
        state.close()
    for run in runs:
        manifest = archive.root / run.harvest_id / run.run_id / MANIFEST
        archived = (
            sum(1 for e in archive.entries(manifest) if e.verb == "ListRecords")
            if manifest.exists()
            else 0
        )
        if archived < run.pages:
            what = f"{archived:,} of its {run.pages:,} pages" if archived else "none of its pages"
            raise ArchiveError(
                f"the raw archive holds {what} of run {run.run_id} ({manifest} is "
                f"{'incomplete' if archived else 'missing'}); a rebuild would hold fewer "
                "records than were harvested: restore it, or `rebuild --allow-missing`"
            )


def _carry_over(current: Warehouse, new: Warehouse) -> int:
    """Copy into ``new`` what the raw archive cannot give: the citation tables, and the
    ReDIF versions (merged) with the named things they brought. Returns the ReDIF items."""
    source = f"{current.catalog_alias}.{current.current_generation()}"
    new.copy_tables(CARRIED_OVER, source)
    new.copy_tables(ENTITY_TABLES, source)
    new.copy_tables(("article_versions", "author_versions"), source, _REDIF_ITEMS)
    new.copy_tables(("quarantine",), source, _REDIF_ROWS)
    return new.merge_all("redif")


def _carry_over_legacy(path: Path, new: Warehouse) -> bool:
    """The citation tables of an earlier version's ``warehouse.duckdb``; False if unreadable."""
    try:
        new.copy_tables(CARRIED_OVER, "legacy", attach=path)
        return True
    except WarehouseError as exc:
        log.warning("citations of %s not carried over: %s", path, exc)
        return False


def _legacy_redif_batches(lake: Path) -> list[Path]:
    return sorted(
        lake.glob("articles/harvest=redif-*/run=*/*.parquet"),
        key=lambda p: (p.parent.name, p.name),
    )


def _load_legacy_redif(lake: Path, articles: Path, new: Warehouse) -> None:
    """One ReDIF batch of an earlier version's lake, loaded in one commit."""
    relative = articles.relative_to(lake / "articles")
    files = {t: lake / t / relative for t in ("articles", "authors", "quarantine")}
    entities = {t: lake / t / relative for t in ENTITY_TABLES if (lake / t / relative).exists()}
    new.load_windows([files], entities=entities)


def _readable(data: DataDir, current: Warehouse) -> bool:
    """Whether the current warehouse can be read; a damaged SQLite catalog is set aside
    (renamed, for the user to inspect) so that a new one is built from the raw archive."""
    try:
        current.current_generation()
        return True
    except WarehouseError as exc:
        current.close()  # SQLite must not see its files renamed while they are open
        if data.catalog.is_postgres:
            raise
        catalog = data.catalog.sqlite_path
        for path in (catalog, *(catalog.with_name(catalog.name + x) for x in ("-wal", "-shm"))):
            if path.exists():
                os.replace(path, path.with_name(path.name + ".damaged"))
        log.warning("%s; it is kept as %s.damaged, and a new one is built", exc, catalog.name)
        return False


def _set_aside(data: DataDir) -> None:
    """An earlier version's files, converted: renamed, for the user to delete."""
    for path in (data.legacy_warehouse, data.legacy_warehouse.with_name("warehouse.duckdb.wal"),
                 data.legacy_lake):  # fmt: skip
        if path.exists():
            os.replace(path, path.with_name(path.name + ".converted"))
    log.warning(
        "converted %s; the earlier files are kept as *.converted beside it: delete them "
        "when you no longer need them",
        data.root,
    )


def _count(warehouse: Warehouse, table: str, where: str = "") -> int:
    with warehouse.connect() as con:
        row = con.execute(f'SELECT count(*) FROM "{table}" {where}').fetchone()
    return int(row[0]) if row else 0


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


#: What a run's manifest lists that becomes rows: record pages, and a reconciliation's
#: records (GetRecord) and tombstones (these only when it was marked applied).
_REPLAYED = ("ListRecords", "GetRecord", TOMBSTONES)


def _windows(archive: RawArchive, manifests: list[Path]) -> Iterator[list[PageTask]]:
    """The pages of every window of every run, window by window in harvest order."""
    # Run ids sort by start time, whatever the harvest.
    for manifest in sorted(manifests, key=lambda m: (m.parent.name, m.parent.parent.name)):
        windows: dict[int, list[ArchivedPage]] = defaultdict(list)
        entries = list(archive.entries(manifest))
        applied = any(e.verb == APPLIED_VERB for e in entries)
        for entry in entries:
            if entry.verb in _REPLAYED and (applied or entry.verb != TOMBSTONES):
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
                    verb=e.verb,
                    response_date=e.get("response_date"),
                )
                for sequence, e in enumerate(entries, start=1)
            ]


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
    loader = loader_for(storage.staging, storage.db)
    with ExitStack() as stack:
        if workers > 0:
            pool = worker_pool(workers)
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            results = _in_order(pool, chunks, archive.root, storage.staging.root, 4 * workers)
        else:
            results = (normalize_pages(archive.root, storage.staging.root, c) for c in chunks)
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
    loader.stop()


def _in_order(
    pool: ProcessPoolExecutor, chunks: list[list[PageTask]], raw: Path, staging: Path, ahead: int
) -> Iterator[PageCounts]:
    """Each chunk's counts, in order, keeping at most ``ahead`` chunks in the workers."""
    running: deque[Future[PageCounts]] = deque()
    for chunk in chunks:
        with deferred():  # a submit may start a worker process: never cut half way
            running.append(pool.submit(normalize_pages, raw, staging, chunk))
        if len(running) >= ahead:
            yield running.popleft().result()
    while running:
        yield running.popleft().result()
