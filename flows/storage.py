"""From a page of records to the warehouse: normalize, stage, and hand finished windows to
the loader (``warehouse.loader``). Used by live harvests (as the harvester's page sink) and by
``rebuild`` alike. A resumed run loads again any window it finished but whose load a crash
prevented (``WarehouseSink.recover``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.datadir import DataDir
from flows.interrupts import deferred
from flows.pages import PageTask, normalize_pages, store_harvested, worker_pool
from harvesting.harvester import CommittedPage, HarvestedPage, PageCounts
from harvesting.identity import HarvestSpec
from harvesting.responses import SetInfo
from harvesting.state import Run, StateStore
from harvesting.windows import Window
from schemas import tables
from schemas.handles import handle_key, parse_handle
from warehouse.database import Warehouse
from warehouse.loader import MAX_BATCH_PAGES, WindowJob, loader_for
from warehouse.staging import Staging

log = logging.getLogger(__name__)


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
        known = state.harvests()
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
                "retries": r.retries,
            }
            for h in known
            for r in state.runs(h.harvest_id)
        ]
        harvests = []
        for h in known:
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
        specs = {h.harvest_id: h.spec for h in known}
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


#: Pages a sink writes in its own process before it uses the worker processes.
INLINE_PAGES = 8


class _Workers:
    """Worker processes shared by the sinks of this process (one per core), started when a
    sink first needs them and stopped when the last one lets go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._users = 0

    @staticmethod
    def allowed() -> bool:
        """Whether this process may start any: not a daemon (a Dask worker is one, and the
        tasks of a Dask harvest are spread over processes already)."""
        return not multiprocessing.current_process().daemon

    def acquire(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = worker_pool(os.cpu_count() or 1)
            self._users += 1
            return self._pool

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


WORKERS = _Workers()


class WarehouseSink:
    """The harvester's page sink: every page to the lake, every finished window to DuckDB
    (through the loader thread)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.loader = loader_for(storage.staging, storage.db)
        #: (harvest, run, window) -> the last page handed to the loader
        self._handed: dict[tuple[str, str, int], int] = {}
        self._submitted = 0
        self._workers: ProcessPoolExecutor | None = None

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
        """The harvest is over, whatever its end: the loader's thread ends, and this sink's
        hold on the worker processes."""
        try:
            self.loader.stop()
        finally:
            if self._workers is not None:
                self._workers = None
                WORKERS.release()

    def submit(self, page: HarvestedPage) -> Future[PageCounts]:
        """Write a page's rows: here for the first pages of a sink (a small harvest is done
        before worker processes would have started), then in the shared worker processes,
        which parse the archived page again and write its rows, while this process fetches
        the next pages."""
        self.loader.check()  # a failed load stops the harvest at the next page
        self._submitted += 1
        if self._submitted <= INLINE_PAGES or not WORKERS.allowed():
            rows: Future[PageCounts] = Future()
            try:
                rows.set_result(store_harvested(self.storage.staging, page))
            except Exception as exc:
                rows.set_exception(exc)
            return rows
        if self._workers is None:
            self._workers = WORKERS.acquire()
        task = PageTask(
            path=page.path, sha256=None, endpoint=page.spec.endpoint,
            metadata_prefix=page.spec.metadata_prefix, harvest_id=page.spec.harvest_id,
            run_id=page.run_id, window=page.window.index, page=page.number,
            sequence=page.number,
        )  # fmt: skip
        with deferred():  # a submit may start a worker process: never cut half way
            return self._workers.submit(
                normalize_pages, self.storage.data.raw, self.storage.staging.root, [task]
            )

    def committed(self, page: CommittedPage) -> None:
        """A long window (``--window none``) is loaded as it goes, in parts of the largest
        load, from the pages committed."""
        key = (page.spec.harvest_id, page.run_id, page.window.index)
        if page.number - self._handed.get(key, 0) >= MAX_BATCH_PAGES:
            self._hand(key, page.number)

    def window_done(self, spec: HarvestSpec, run: Run, window: Window) -> None:
        self._hand((spec.harvest_id, run.run_id, window.index), run.window_pages)

    def _hand(self, key: tuple[str, str, int], last: int) -> None:
        """Pages of a window up to ``last`` to the loader, from the first not handed yet."""
        first = self._handed.get(key, 0) + 1
        if last >= first:
            self.loader.submit(WindowJob(*key, pages=last, first=first))
            self._handed[key] = last

    def run_done(self, spec: HarvestSpec, run: Run) -> None:
        self.loader.settle()
        self.storage.staging.discard_pending(spec.harvest_id, run.run_id)
