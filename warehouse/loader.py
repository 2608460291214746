"""Loading finished windows into the warehouse while a harvest goes on.

A ``Loader`` thread seals each finished window's page files into one Parquet file per table
and loads them (DuckDB and Parquet writing release the GIL, so this uses the second core);
windows that queue up while a load runs are loaded together in one transaction. Each load
records its windows in ``window_loads`` in that same transaction, so a resumed run can tell
which windows it finished but did not load. A sealed file is deleted once it is loaded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from schemas import tables
from schemas.dates import utc_now
from warehouse.database import Warehouse
from warehouse.staging import Staging

log = logging.getLogger(__name__)

#: Windows are loaded once this many pages wait (or when the run settles): every commit has
#: a fixed cost, so one load of 100 windows costs a third of 100 loads (BENCHMARKS.md).
BATCH_PAGES = 200
#: ... or once the oldest waiting window has waited this long, so that a harvest smaller than
#: a batch is loaded while it runs, not all at its end.
LOAD_AFTER_SECONDS = 5.0
#: Most pages loaded in one transaction (bounds DuckDB's working set): a larger window, such
#: as a whole harvest with ``--window none``, is loaded in consecutive parts of this size.
MAX_BATCH_PAGES = 400


@dataclass(frozen=True)
class WindowJob:
    """Pages ``first``..``pages`` of one window of a run, to seal and load."""

    harvest_id: str
    run_id: str
    window: int
    pages: int
    first: int = 1

    @property
    def size(self) -> int:
        return max(0, self.pages - self.first + 1)


def seal_and_load(staging: Staging, warehouse: Warehouse, jobs: list[WindowJob]) -> None:
    """Seal windows and load them in one transaction, recording them in window_loads; the
    sealed files go once loaded."""
    files = [staging.seal_window(j.harvest_id, j.run_id, j.window, j.pages, j.first)
             for j in jobs]  # fmt: skip
    now = utc_now()
    loads = tables.to_table(
        [
            {"harvest_id": j.harvest_id, "run_id": j.run_id, "window_index": j.window,
             "pages": j.pages, "loaded_at": now}
            for j in jobs
            if j.size
        ],
        tables.WINDOW_LOADS,
    )  # fmt: skip
    warehouse.load_windows(files, loads)
    staging.discard_files(path for window in files for path in window.values())


def loader_for(staging: Staging, warehouse: Warehouse) -> Loader:
    """A loader that seals windows of ``staging`` and loads them into ``warehouse``."""
    return Loader(partial(seal_and_load, staging, warehouse))


class Loader:
    """Seals and loads finished windows on a thread of its own, in order, in batches of about
    ``batch_pages`` pages, or sooner when the oldest waiting window has waited ``load_after``
    seconds. ``settle`` loads what waits, waits for it and raises the first error; after an
    error nothing more is loaded (the run stops, a later run recovers)."""

    _FLUSH = WindowJob("", "", -1, 0)  # handed over by settle: load what waits now
    _STOP = WindowJob("", "", -2, 0)  # handed over by stop: load what waits, then end

    def __init__(
        self,
        load: Callable[[list[WindowJob]], None],
        batch_pages: int = BATCH_PAGES,
        load_after: float = LOAD_AFTER_SECONDS,
    ) -> None:
        #: loads a batch of windows in one transaction (``seal_and_load`` with its staging
        #: area and warehouse, see ``loader_for``)
        self.load = load
        self.batch_pages = batch_pages
        self.load_after = load_after
        #: windows handed over, each with when it was (``time.monotonic``)
        self._jobs: queue.Queue[tuple[WindowJob, float]] = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: WindowJob) -> None:
        self.check()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="window-loader", daemon=True)
            self._thread.start()
        self._jobs.put((job, time.monotonic()))

    def check(self) -> None:
        """Raise the loader's error, if it had one."""
        if self._error is not None:
            raise self._error

    def settle(self) -> None:
        if self._thread is not None:
            self._jobs.put((self._FLUSH, time.monotonic()))
            self._jobs.join()
        self.check()

    def stop(self) -> None:
        """Load what waits and end the thread (a later ``submit`` starts a new one)."""
        if self._thread is not None:
            self._jobs.put((self._STOP, time.monotonic()))
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        waiting: list[WindowJob] = []
        due = 0.0  # when what waits is loaded even if it is less than a batch
        while True:
            try:
                timeout = max(0.0, due - time.monotonic()) if waiting else None
                job, handed = self._jobs.get(timeout=timeout)
            except queue.Empty:
                job = None  # the oldest waiting window has waited long enough
            flush = job is self._FLUSH or job is self._STOP
            if job is not None and not flush:
                if not waiting:
                    # counted from the hand-over: windows that queued while a load ran are
                    # due at once, so loads follow one another while the harvest goes on
                    due = handed + self.load_after
                waiting.append(job)
            pages = sum(j.size for j in waiting)
            if waiting and (job is None or flush or pages >= self.batch_pages):
                batch, waiting = waiting, []
                self._load(batch)
                for _ in batch:
                    self._jobs.task_done()
            if flush:
                self._jobs.task_done()
            if job is self._STOP:
                return

    def _load(self, batch: list[WindowJob]) -> None:
        try:
            if self._error is None:
                for part in _parts(_latest(batch)):
                    self.load(part)
        except BaseException as exc:  # handed to the harvest thread by check()
            log.debug("window load failed: %s", exc)
            self._error = exc


def _parts(jobs: list[WindowJob]) -> list[list[WindowJob]]:
    """Consecutive groups of at most ``MAX_BATCH_PAGES`` pages; a larger window is cut into
    consecutive parts of that many pages, each loaded (and recorded) in its own commit."""
    parts: list[list[WindowJob]] = [[]]
    for whole in jobs:
        for first in range(whole.first, whole.pages + 1, MAX_BATCH_PAGES) or [whole.first]:
            job = replace(whole, first=first, pages=min(whole.pages, first + MAX_BATCH_PAGES - 1))
            if parts[-1] and sum(j.size for j in parts[-1]) + job.size > MAX_BATCH_PAGES:
                parts.append([])
            parts[-1].append(job)
    return [p for p in parts if p]


def _latest(jobs: list[WindowJob]) -> list[WindowJob]:
    """The jobs, less those whose pages a later job of the same window covers (a window
    handed over again, with more pages), in the order handed over."""
    return [job for index, job in enumerate(jobs)
            if not any(_covers(later, job) for later in jobs[index + 1 :])]  # fmt: skip


def _covers(job: WindowJob, other: WindowJob) -> bool:
    same = (job.harvest_id, job.run_id, job.window) == (
        other.harvest_id,
        other.run_id,
        other.window,
    )
    return same and job.first <= other.first and other.pages <= job.pages
