"""``rebuild``: raw archive -> Parquet -> DuckDB, with no network.

A new lake and a new database are built beside the old ones from the raw pages and their
manifests, in the order the pages were harvested, through the same normalize/seal/load path
as a live harvest; then they replace the old ones. A failure leaves the old ones untouched.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flows.datadir import DataDir
from flows.storage import Loader, Storage, WindowJob
from harvesting.archive import ArchivedPage, RawArchive
from harvesting.responses import parse_response, read_sets
from harvesting.state import StateStore
from schemas.errors import ArchiveError
from schemas.records import PageContext
from warehouse.database import ENTITY_TABLES, Warehouse
from warehouse.lake import Lake

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


def rebuild(data: DataDir) -> RebuildReport:
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
        # Harvest order: run ids sort by start time, whatever the harvest. Windows are loaded
        # by the loader thread while the next ones are normalized.
        loader = Loader(storage)
        for manifest in sorted(
            harvest_manifests, key=lambda m: (m.parent.name, m.parent.parent.name)
        ):
            _replay_run(archive, storage, loader, manifest, report)
        loader.settle()
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


def _replay_run(
    archive: RawArchive, storage: Storage, loader: Loader, manifest: Path, report: RebuildReport
) -> None:
    windows: dict[int, list[ArchivedPage]] = defaultdict(list)
    for entry in archive.entries(manifest):
        if entry.verb == "ListRecords":
            windows[int(entry["window"])].append(entry)
    for window, entries in sorted(windows.items()):
        entries.sort(key=lambda e: int(e["page"]))
        harvest_id, run_id = entries[0]["harvest_id"], entries[0]["run_id"]
        for sequence, entry in enumerate(entries, start=1):
            page = parse_response(archive.read(entry.path, entry.get("sha256")), "ListRecords")
            context = PageContext(
                endpoint=entry["endpoint"],
                harvest_id=harvest_id,
                metadata_prefix=entry["metadata_prefix"],
                harvested_at=page.response_date,
                page_id=f"{harvest_id}/{run_id}/w{window:04d}/p{int(entry['page']):06d}",
                page_path=entry.path,
            )
            counts = storage.store_page(context, run_id, window, sequence, page.items)
            report.pages += 1
            report.records += counts.records
            report.deleted += counts.deleted
            report.quarantined += counts.quarantined
        loader.submit(WindowJob(harvest_id, run_id, window, len(entries)))
