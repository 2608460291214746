"""Pages of records to staged rows: a ListRecords (or GetRecord) page normalized into page
files of the staging area, a reconciliation's tombstones the same way, and the worker
processes that do it for live harvests and ``rebuild`` alike (``normalize_pages``: an archived
page in, its rows staged). A worker imports this module and nothing of the warehouse, so it
stays small.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from lxml import etree

from harvesting.archive import RawArchive
from harvesting.harvester import HarvestedPage, PageCounts, page_id
from harvesting.responses import parse_response
from schemas.dates import parse_datestamp
from schemas.errors import ArchiveError
from schemas.records import (
    PAGE_TABLES,
    DamagedRecord,
    Header,
    PageContext,
    page_constants,
    page_tables,
    tombstone_row,
)
from schemas.tables import TableBuffer
from warehouse.staging import Staging

log = logging.getLogger(__name__)


def store_page(
    staging: Staging,
    context: PageContext,
    run_id: str,
    window: int,
    number: int,
    records: Iterable[etree._Element | DamagedRecord],
) -> PageCounts:
    """Normalize one page of records and write it as page ``number`` of its window. Each
    record is emptied once mapped, so a large page holds little more than its parsed tree."""
    page = page_tables(context, _emptied(records))
    if page.first_clamped:
        identifier, datestamp = page.first_clamped
        log.warning(
            "%d record(s) of %s dated after the server's clock (%s: %s); their datestamp is "
            "taken as the responseDate %s, so later corrections win",
            page.clamped, context.page_path, identifier, datestamp.isoformat(),
            context.harvested_at.isoformat(),
        )  # fmt: skip
    staging.write_page(context.harvest_id, run_id, window, number, page.tables)
    return PageCounts(page.records, page.deleted, page.quarantined)


def store_harvested(staging: Staging, page: HarvestedPage) -> PageCounts:
    """``store_page`` for a page just fetched (in this process, not from the archive)."""
    context = PageContext(
        endpoint=page.spec.endpoint,
        harvest_id=page.spec.harvest_id,
        metadata_prefix=page.spec.metadata_prefix,
        harvested_at=page.fetched.page.response_date,
        page_id=page.page_id,
        page_path=page.path,
    )
    return store_page(
        staging, context, page.run_id, page.window.index, page.number, page.fetched.page.items
    )


#: The manifest's verb of an archived file of tombstones (``flows.reconcile``): JSON lines of
#: identifier, handle, datestamp and set_specs, one per item its source no longer lists.
TOMBSTONES = "Tombstones"
#: The verb of the manifest line that marks a reconciliation's tombstones applied (loaded):
#: ``rebuild`` leaves out those of one that never was.
APPLIED_VERB = "Applied"


def store_tombstones(
    staging: Staging, context: PageContext, run_id: str, window: int, number: int, raw: bytes
) -> PageCounts:
    """Write an archived file of tombstones as page ``number`` of its window: one deletion
    per line, dated as harvested at ``context.harvested_at``."""
    rows = []
    for ordinal, text in enumerate(raw.splitlines(), start=1):
        line = json.loads(text)
        header = Header(line["identifier"], parse_datestamp(line["datestamp"]), True,
                        line["set_specs"])  # fmt: skip
        rows.append(tombstone_row(context, line["handle"], header,
                                  f"{context.page_id}#{ordinal:05d}"))  # fmt: skip
    buffer = TableBuffer(PAGE_TABLES, page_constants(context))
    buffer.add("articles", rows)
    staging.write_page(context.harvest_id, run_id, window, number, buffer.tables())
    return PageCounts(len(rows), len(rows), 0)


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
    verb: str = "ListRecords"  # or GetRecord, or TOMBSTONES (a reconciliation's)
    response_date: str | None = None  # a file of tombstones: when they were harvested


def normalize_pages(raw_root: Path, staging: Path, tasks: list[PageTask]) -> PageCounts:
    """Parse, map and write some archived pages as staged page files; their counts.
    Runs in a worker process (arguments and result are small and picklable)."""
    archive, target = RawArchive(raw_root), Staging(staging)
    records = deleted = quarantined = 0
    for task in tasks:
        raw = archive.read(task.path, task.sha256)
        context = PageContext(
            endpoint=task.endpoint,
            harvest_id=task.harvest_id,
            metadata_prefix=task.metadata_prefix,
            harvested_at=datetime.min,  # the page's own, below
            page_id=page_id(task.harvest_id, task.run_id, task.window, task.page),
            page_path=task.path,
        )
        if task.verb == TOMBSTONES:
            if task.response_date is None:
                raise ArchiveError(f"{task.path} has no response_date in its manifest")
            context = replace(context, harvested_at=parse_datestamp(task.response_date))
            counts = store_tombstones(target, context, task.run_id, task.window, task.sequence,
                                      raw)  # fmt: skip
        else:
            page = parse_response(raw, task.verb)
            context = replace(context, harvested_at=page.response_date)
            counts = store_page(target, context, task.run_id, task.window, task.sequence,
                                page.items)  # fmt: skip
        records += counts.records
        deleted += counts.deleted
        quarantined += counts.quarantined
    return PageCounts(records, deleted, quarantined)


def _emptied(
    records: Iterable[etree._Element | DamagedRecord],
) -> Iterator[etree._Element | DamagedRecord]:
    """The records, each emptied (its subtree freed) once the next one is asked for."""
    for record in records:
        yield record
        if isinstance(record, etree._Element):
            record.clear()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for normalizing pages (``normalize_pages``), started fresh (spawn),
    each ending as soon as the process that started them is gone: one killed (SIGKILL)
    leaves none behind, holding its output or its files."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_end_with_parent, initargs=(os.getpid(),),
    )  # fmt: skip


def _end_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
