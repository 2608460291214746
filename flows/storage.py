"""From a page of records to the warehouse: normalize, write the lake, seal windows, load
DuckDB. Used by live harvests (as the harvester's page sink) and by ``rebuild`` alike.

Finished windows are sealed and loaded by a ``Loader`` thread while the harvest goes on
(DuckDB and Parquet writing release the GIL, so this uses the second core); windows that
queue up while a load runs are loaded together in one transaction. Each load records its
windows in ``window_loads``; a resumed run loads again any window it finished but whose load
a crash prevented (``WarehouseSink.recover``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from flows.datadir import DataDir
from harvesting.harvester import HarvestedPage, PageCounts
from harvesting.identity import HarvestSpec
from harvesting.responses import SetInfo
from harvesting.state import Run, StateStore
from harvesting.windows import Window
from schemas import tables
from schemas.dates import utc_now
from schemas.handles import handle_key, parse_handle
from schemas.records import PageContext, map_page
from warehouse.database import Warehouse
from warehouse.lake import Lake

log = logging.getLogger(__name__)

#: Windows are loaded once this many pages wait (or when the run settles): every commit
#: checkpoints DuckDB, so one load of 100 windows costs a third of 100 loads (BENCHMARKS.md).
BATCH_PAGES = 200
#: ... or once the oldest waiting window has waited this long, so that a harvest smaller than
#: a batch is loaded while it runs, not all at its end.
LOAD_AFTER_SECONDS = 5.0
#: Most pages loaded in one transaction (bounds DuckDB's working set).
MAX_BATCH_PAGES = 400


@dataclass(frozen=True)
class WindowJob:
    """Pages 1..``pages`` of one window of a run, to seal and load."""

    harvest_id: str
    run_id: str
    window: int
    pages: int


def store_page(
    lake: Lake,
    context: PageContext,
    run_id: str,
    window: int,
    number: int,
    records: Iterable[etree._Element],
) -> PageCounts:
    """Normalize one page of records and write it as page ``number`` of its window."""
    rows = map_page(context, records)
    lake.write_page(context.harvest_id, run_id, window, number, rows.tables())
    received = len(rows.articles) + len(rows.quarantine)
    return PageCounts(received, rows.deleted, len(rows.quarantine))


class Storage:
    """The lake and the warehouse of one data dir."""

    def __init__(self, data: DataDir, lake: Lake | None = None, db: Warehouse | None = None):
        self.data = data
        self.lake = lake or Lake(data.lake)
        self.db = db or Warehouse(data.warehouse_path)

    def seal_and_load(self, jobs: list[WindowJob]) -> None:
        """Seal windows and load them in one transaction, recording them in window_loads."""
        files = [self.lake.seal_window(j.harvest_id, j.run_id, j.window, j.pages) for j in jobs]
        now = utc_now()
        loads = tables.to_table(
            [
                {"harvest_id": j.harvest_id, "run_id": j.run_id, "window_index": j.window,
                 "pages": j.pages, "loaded_at": now}
                for j in jobs
                if j.pages
            ],
            tables.WINDOW_LOADS,
        )  # fmt: skip
        self.db.load_windows(files, loads)

    def store_sets(
        self, endpoint: str, folder: str, sets: list[SetInfo], listed_at: datetime
    ) -> None:
        if not sets:
            return
        rows = [
            {
                "handle": s.spec,
                "handle_key": handle_key(s.spec),
                "name": s.name,
                "description": s.description,
                "archive_code": parse_handle(s.spec).archive_code,
                "endpoint": endpoint,
                "listed_at": listed_at,
            }
            for s in sets
        ]
        path = self.lake.write_series(folder, tables.to_table(rows, tables.SERIES))
        self.db.load_series(path)

    def sync_harvest_log(self, state: StateStore, overlap: timedelta = timedelta(days=1)) -> None:
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
                    "next_from": h.next_from(overlap),
                    "current_run": open_run.run_id if open_run else None,
                    "window_index": open_run.window_index if open_run else None,
                    "resumption_token": open_run.token if open_run else None,
                    "last_error": h.last_error,
                }
            )
        self.db.replace_harvest_log(
            tables.to_table(runs, tables.HARVEST_RUNS),
            tables.to_table(harvests, tables.HARVEST_STATE),
        )


class Loader:
    """Seals and loads finished windows on a thread of its own, in order, in batches of about
    ``batch_pages`` pages, or sooner when the oldest waiting window has waited ``load_after``
    seconds. ``settle`` loads what waits, waits for it and raises the first error; after an
    error nothing more is loaded (the run stops, a later run recovers)."""

    _FLUSH = WindowJob("", "", -1, 0)  # handed over by settle: load what waits now

    def __init__(
        self,
        storage: Storage,
        batch_pages: int = BATCH_PAGES,
        load_after: float = LOAD_AFTER_SECONDS,
    ) -> None:
        self.storage = storage
        self.batch_pages = batch_pages
        self.load_after = load_after
        self._jobs: queue.Queue[WindowJob] = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: WindowJob) -> None:
        self.check()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="window-loader", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def check(self) -> None:
        """Raise the loader's error, if it had one."""
        if self._error is not None:
            raise self._error

    def settle(self) -> None:
        if self._thread is not None:
            self._jobs.put(self._FLUSH)
            self._jobs.join()
        self.check()

    def _work(self) -> None:
        waiting: list[WindowJob] = []
        due = 0.0  # when what waits is loaded even if it is less than a batch
        while True:
            try:
                timeout = max(0.0, due - time.monotonic()) if waiting else None
                job: WindowJob | None = self._jobs.get(timeout=timeout)
            except queue.Empty:
                job = None  # the oldest waiting window has waited long enough
            flush = job is self._FLUSH
            if job is not None and not flush:
                if not waiting:
                    due = time.monotonic() + self.load_after
                waiting.append(job)
            pages = sum(j.pages for j in waiting)
            if waiting and (job is None or flush or pages >= self.batch_pages):
                batch, waiting = waiting, []
                self._load(batch)
                for _ in batch:
                    self._jobs.task_done()
            if flush:
                self._jobs.task_done()

    def _load(self, batch: list[WindowJob]) -> None:
        try:
            if self._error is None:
                for part in _parts(_latest(batch)):
                    self.storage.seal_and_load(part)
        except BaseException as exc:  # handed to the harvest thread by check()
            log.debug("window load failed: %s", exc)
            self._error = exc


def _parts(jobs: list[WindowJob]) -> list[list[WindowJob]]:
    """Consecutive groups of at most ``MAX_BATCH_PAGES`` pages (a larger window alone)."""
    parts: list[list[WindowJob]] = [[]]
    for job in jobs:
        if parts[-1] and sum(j.pages for j in parts[-1]) + job.pages > MAX_BATCH_PAGES:
            parts.append([])
        parts[-1].append(job)
    return [p for p in parts if p]


def _latest(jobs: list[WindowJob]) -> list[WindowJob]:
    """One job per window, the one with the most pages, in the order handed over."""
    best: dict[tuple[str, str, int], WindowJob] = {}
    for job in jobs:
        key = (job.harvest_id, job.run_id, job.window)
        if key not in best or job.pages >= best[key].pages:
            best.pop(key, None)
            best[key] = job
    return list(best.values())


class WarehouseSink:
    """The harvester's page sink: every page to the lake, every finished window to DuckDB
    (through the loader thread)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.loader = Loader(storage)

    def recover(self, spec: HarvestSpec, run: Run) -> None:
        """A resumed run: load the windows it finished whose load did not happen."""
        loaded = self.storage.db.loaded_windows(spec.harvest_id, run.run_id)
        for window in range(run.window_index):
            pages = self.storage.lake.pending_pages(spec.harvest_id, run.run_id, window)
            if pages > loaded.get(window, 0):
                log.info("loading window %d of run %s again (interrupted)", window, run.run_id)
                self.loader.submit(WindowJob(spec.harvest_id, run.run_id, window, pages))

    def settle(self) -> None:
        self.loader.settle()

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
        return store_page(
            self.storage.lake,
            context,
            page.run_id,
            page.window.index,
            page.number,
            page.fetched.page.items,
        )

    def window_done(self, spec: HarvestSpec, run: Run, window: Window) -> None:
        self.loader.submit(WindowJob(spec.harvest_id, run.run_id, window.index, run.window_pages))

    def run_done(self, spec: HarvestSpec, run: Run) -> None:
        self.loader.settle()
        self.storage.lake.discard_pending(spec.harvest_id, run.run_id)
