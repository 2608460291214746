"""From a page of records to the warehouse: normalize, stage, and hand finished windows to
the loader (``warehouse.loader``). Used by live harvests (as the harvester's page sink) and by
``rebuild`` alike. A resumed run loads again any window it finished but whose load a crash
prevented (``WarehouseSink.recover``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from flows.datadir import DataDir
from harvesting.harvester import HarvestedPage, PageCounts
from harvesting.identity import HarvestSpec
from harvesting.responses import SetInfo
from harvesting.state import Run, StateStore
from harvesting.windows import Window
from schemas import tables
from schemas.dates import parse_datestamp
from schemas.handles import handle_key, parse_handle
from schemas.records import (
    PAGE_TABLES,
    DamagedRecord,
    Header,
    PageContext,
    map_records,
    tombstone_row,
)
from schemas.tables import TableBuffer
from warehouse.database import Warehouse
from warehouse.loader import MAX_BATCH_PAGES, WindowJob, loader_for
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
    record is emptied once mapped and the rows become Arrow as they come, so a large page
    holds little more than its parsed tree."""
    buffer = TableBuffer(PAGE_TABLES)
    received = deleted = quarantined = clamped = 0
    first_clamped: tuple[str, datetime] | None = None
    for rows in map_records(context, _emptied(records)):
        received += len(rows.articles) + len(rows.quarantine)
        deleted += sum(1 for a in rows.articles if a["deleted"])
        quarantined += len(rows.quarantine)
        clamped += len(rows.clamped)
        first_clamped = first_clamped or next(iter(rows.clamped), None)
        for name in PAGE_TABLES:
            buffer.add(name, getattr(rows, name))
    if first_clamped:
        identifier, datestamp = first_clamped
        log.warning(
            "%d record(s) of %s dated after the server's clock (%s: %s); their datestamp is "
            "taken as the responseDate %s, so later corrections win",
            clamped, context.page_path, identifier, datestamp.isoformat(),
            context.harvested_at.isoformat(),
        )  # fmt: skip
    staging.write_page(context.harvest_id, run_id, window, number, buffer.tables())
    return PageCounts(received, deleted, quarantined)


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
    buffer = TableBuffer(PAGE_TABLES)
    buffer.add("articles", rows)
    staging.write_page(context.harvest_id, run_id, window, number, buffer.tables())
    return PageCounts(len(rows), len(rows), 0)


def _emptied(
    records: Iterable[etree._Element | DamagedRecord],
) -> Iterator[etree._Element | DamagedRecord]:
    """The records, each emptied (its subtree freed) once the next one is asked for."""
    for record in records:
        yield record
        if isinstance(record, etree._Element):
            record.clear()


class Storage:
    """The staging area and the warehouse of one data dir."""

    def __init__(
        self, data: DataDir, staging: Staging | None = None, db: Warehouse | None = None
    ) -> None:
        self.data = data
        self.staging = staging or data.staging_area()
        self.db = db or data.warehouse()
        self._staged_series: list[Path] = []

    def store_sets(
        self, endpoint: str, folder: str, sets: list[SetInfo], listed_at: datetime
    ) -> None:
        """Load a ListSets listing into ``series`` now (rebuild)."""
        self.stage_sets(endpoint, folder, sets, listed_at)
        self.flush()

    def stage_sets(
        self, endpoint: str, folder: str, sets: list[SetInfo], listed_at: datetime
    ) -> None:
        """Stage a ListSets listing; it is loaded with the harvest log (``sync_harvest_log``),
        in the same commit, so the harvest does not wait for a commit of its own."""
        if sets:
            name = "series-" + folder.replace("/", "-")
            rows = tables.to_table(_series_rows(endpoint, sets, listed_at), tables.SERIES)
            self._staged_series.append(self.staging.write_entities(name, rows))

    def flush(self) -> None:
        """Load what is staged and not loaded yet (a pipeline closed before ``finish``)."""
        if self._staged_series:
            for path in self._staged_series:
                self.db.load_series(path)
            self.staging.discard_files(self._staged_series)
            self._staged_series = []

    def sync_harvest_log(self, state: StateStore) -> None:
        """Mirror the SQLite harvest state and log into DuckDB for SQL users."""
        runs = [
            {
                "run_id": r.run_id,
                "harvest_id": r.harvest_id,
                "endpoint": h.spec.endpoint,
                "metadata_prefix": h.spec.metadata_prefix,
                "set_spec": h.spec.set_spec,
                "status": r.status,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "server_started_at": r.server_started_at,
                "from_date": r.from_date,
                "until_date": r.until_date,
                "windows": len(r.windows),
                "pages": r.pages,
                "records": r.records,
                "deleted": r.deleted,
                "quarantined": r.quarantined,
                "error": r.error,
                "flow_run_id": r.flow_run_id,
            }
            for h in state.harvests()
            for r in state.runs(h.harvest_id)
        ]
        harvests = []
        for h in state.harvests():
            open_run = state.open_run(h.harvest_id)
            harvests.append(
                {
                    "harvest_id": h.harvest_id,
                    "endpoint": h.spec.endpoint,
                    "metadata_prefix": h.spec.metadata_prefix,
                    "set_spec": h.spec.set_spec,
                    "granularity": h.granularity,
                    "last_complete_run": h.last_complete_run,
                    "last_complete_server_start": h.last_complete_server_start,
                    "next_from": h.next_from(),
                    "current_run": open_run.run_id if open_run else None,
                    "window_index": open_run.window_index if open_run else None,
                    "resumption_token": open_run.token if open_run else None,
                    "last_error": h.last_error,
                }
            )
        specs = {h.harvest_id: h.spec for h in state.harvests()}
        reconciliations = [
            {**asdict(r), "endpoint": specs[r.harvest_id].endpoint,
             "metadata_prefix": specs[r.harvest_id].metadata_prefix,
             "set_spec": specs[r.harvest_id].set_spec}
            for r in state.reconciliations()
        ]  # fmt: skip
        series, self._staged_series = self._staged_series, []
        try:
            self.db.replace_harvest_log(
                {
                    "harvest_runs": tables.to_table(runs, tables.HARVEST_RUNS),
                    "harvest_state": tables.to_table(harvests, tables.HARVEST_STATE),
                    "reconciliations": tables.to_table(reconciliations, tables.RECONCILIATIONS),
                },
                series,
            )
        finally:  # loaded, or failed with the log: the next run lists the sets again
            self.staging.discard_files(series)


def _series_rows(endpoint: str, sets: list[SetInfo], listed_at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "handle": s.spec,
            "handle_key": handle_key(s.spec),
            "name": s.name,
            "description": s.description,
            "archive_code": parse_handle(s.spec).archive_code,
            "endpoint": endpoint,
            "listed_at": listed_at,
            **dict.fromkeys(tables.TEMPLATE_ONLY["series"]),
        }
        for s in sets
    ]


class WarehouseSink:
    """The harvester's page sink: every page to the lake, every finished window to DuckDB
    (through the loader thread)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.loader = loader_for(storage.staging, storage.db)
        #: (harvest, run, window) -> the last page handed to the loader
        self._handed: dict[tuple[str, str, int], int] = {}

    def recover(self, spec: HarvestSpec, run: Run) -> None:
        """A resumed run: load the windows it finished whose load did not happen."""
        loaded = self.storage.db.loaded_windows(spec.harvest_id, run.run_id)
        for window in range(run.window_index):
            pages = self.storage.staging.pending_pages(spec.harvest_id, run.run_id, window)
            if pages > loaded.get(window, 0):
                log.info("loading window %d of run %s again (interrupted)", window, run.run_id)
                first = loaded.get(window, 0) + 1  # loads go in order: the rest is loaded
                self.loader.submit(WindowJob(spec.harvest_id, run.run_id, window, pages, first))
        # the window it goes on with: handed to the loader from the page after the last loaded
        self._handed[spec.harvest_id, run.run_id, run.window_index] = loaded.get(
            run.window_index, 0
        )

    def settle(self) -> None:
        self.loader.settle()

    def close(self) -> None:
        """The harvest is over, whatever its end: the loader's thread ends."""
        self.loader.stop()

    def page(self, page: HarvestedPage) -> PageCounts:
        self.loader.check()  # a failed load stops the harvest at the next page
        context = PageContext(
            endpoint=page.spec.endpoint,
            harvest_id=page.spec.harvest_id,
            metadata_prefix=page.spec.metadata_prefix,
            harvested_at=page.fetched.page.response_date,
            page_id=page.page_id,
            page_path=page.path,
        )
        counts = store_page(
            self.storage.staging,
            context,
            page.run_id,
            page.window.index,
            page.number,
            page.fetched.page.items,
        )
        # A long window (``--window none``) is loaded as it goes, in parts of the largest
        # load, from the pages committed before this one.
        key, committed = (page.spec.harvest_id, page.run_id, page.window.index), page.number - 1
        if committed - self._handed.get(key, 0) >= MAX_BATCH_PAGES:
            self._hand(key, committed)
        return counts

    def window_done(self, spec: HarvestSpec, run: Run, window: Window) -> None:
        self._hand((spec.harvest_id, run.run_id, window.index), run.window_pages)

    def _hand(self, key: tuple[str, str, int], last: int) -> None:
        """Pages of a window up to ``last`` to the loader, from the first not handed yet."""
        first = self._handed.get(key, 0) + 1
        self.loader.submit(WindowJob(*key, pages=last, first=first))
        self._handed[key] = last

    def run_done(self, spec: HarvestSpec, run: Run) -> None:
        self.loader.settle()
        self.storage.staging.discard_pending(spec.harvest_id, run.run_id)
