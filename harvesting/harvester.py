"""The harvest loop: windows, each with its own resumption-token loop, a checkpoint after
every page, and resume from the last committed page.

For every page, in this order: fetch and check it (its resumption token), archive the raw
bytes, hand the page to the sink (which writes its rows, maybe in another process), and once
its rows are written commit the position (window, token, page) and the page's counts in one
transaction, pages in order. The next pages are fetched while the sink works on the earlier
ones (at most ``MAX_PENDING_PAGES`` wait). A crash at any point re-fetches the pages that were
not committed; page names are deterministic, so a re-fetch overwrites, never duplicates.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from harvesting.archive import RawArchive
from harvesting.identity import HarvestSpec, new_run_id
from harvesting.responses import Identity
from harvesting.state import SUPERSEDED, Run, StateStore
from harvesting.windows import Window, split_windows
from schemas.dates import SECONDS, format_datestamp, parse_datestamp, utc_now
from schemas.errors import (
    BadArgument,
    BadResumptionToken,
    ErrorBudgetExceeded,
    IncompleteHarvest,
    OAIError,
    PageIntegrityError,
    TransientEndpointError,
)
from schemas.files import page_name

if TYPE_CHECKING:  # not imported at run time: a worker process needs none of the client
    from harvesting.client import Fetched, OAIClient

log = logging.getLogger(__name__)

#: A run of this many empty pages that still carry a resumption token is a broken server.
MAX_EMPTY_PAGES = 20
#: How often one window may be restarted after an expired resumption token.
MAX_WINDOW_RESTARTS = 3
#: Pages handed to the sink whose rows are not written yet, at most: the fetching goes on
#: while the sink works, this far ahead.
MAX_PENDING_PAGES = 6
#: OAI error messages that mean "this date range is too large for me".
_OVERFLOW = re.compile(r"too (many|large|big)|overflow|exceed|limit", re.IGNORECASE)


def page_id(harvest_id: str, run_id: str, window: int, number: int) -> str:
    """A page's id: its harvest, run, window and number."""
    return f"{harvest_id}/{run_id}/{page_name(window, number)}"


@dataclass(frozen=True)
class HarvestedPage:
    spec: HarvestSpec
    run_id: str
    window: Window
    number: int
    fetched: Fetched
    path: str

    @property
    def page_id(self) -> str:
        return page_id(self.spec.harvest_id, self.run_id, self.window.index, self.number)


@dataclass(frozen=True)
class CommittedPage:
    """A page whose rows are written and whose position is committed."""

    spec: HarvestSpec
    run_id: str
    window: Window
    number: int
    path: str
    token: str | None
    complete_list_size: int | None


@dataclass(frozen=True)
class PageCounts:
    records: int
    deleted: int
    quarantined: int


class PageSink(Protocol):
    """Where pages go; provided by the layer above (normalize and store). ``submit`` writes a
    page's rows, now or in the background (the future says when, and the counts);
    ``committed`` hears of each page whose position is committed, in order. ``window_done``
    may store the window in the background: ``run_done`` and ``settle`` wait for it, and
    ``recover`` (called when a run is resumed) stores again any window of the run that was
    finished but not stored when the process stopped."""

    def submit(self, page: HarvestedPage) -> Future[PageCounts]: ...

    def committed(self, page: CommittedPage) -> None: ...

    def window_done(self, spec: HarvestSpec, run: Run, window: Window) -> None: ...

    def run_done(self, spec: HarvestSpec, run: Run) -> None: ...

    def recover(self, spec: HarvestSpec, run: Run) -> None: ...

    def settle(self) -> None: ...


class Progress(Protocol):
    def run_started(self, spec: HarvestSpec, run: Run, resumed: bool) -> None: ...

    def page_done(self, spec: HarvestSpec, run: Run, page: CommittedPage) -> None: ...


@dataclass(frozen=True)
class ErrorBudget:
    """Stop a run whose source is mostly broken: more than ``ratio`` of its records
    quarantined, once at least ``min_records`` have been seen. Committed pages are kept."""

    ratio: float = 0.5
    min_records: int = 100

    def check(self, run: Run) -> None:
        if run.records >= self.min_records and run.quarantined > self.ratio * run.records:
            raise ErrorBudgetExceeded(
                f"{run.quarantined} of {run.records} records quarantined, more than "
                f"{self.ratio:.0%}: the source looks broken, stopping (see `repec-harvest status`)"
            )


def _splits_on(error: Exception) -> bool:
    """5xx and timeouts (transient errors that outlived their retries) and overflow errors."""
    if isinstance(error, TransientEndpointError):
        return True
    return isinstance(error, OAIError) and bool(_OVERFLOW.search(str(error)))


def halve(
    window: Window, server_now: datetime | None, granularity: str
) -> tuple[Window, Window] | None:
    """Two windows covering ``window``, or None if it is one granularity unit already."""
    if window.start is None:
        return None
    unit = timedelta(seconds=1) if granularity == SECONDS else timedelta(days=1)
    start = parse_datestamp(window.start)
    end = parse_datestamp(window.end) if window.end else server_now
    if end is None or end - start < unit:
        return None
    middle = start + (end - start) / 2
    middle = parse_datestamp(format_datestamp(middle, granularity))  # floor to the unit
    if middle >= end:
        middle = end - unit
    first = Window(window.index, window.start, format_datestamp(middle, granularity))
    second = Window(window.index + 1, format_datestamp(middle + unit, granularity), window.end)
    return first, second


class Harvester:
    def __init__(
        self,
        client: OAIClient,
        state: StateStore,
        archive: RawArchive,
        sink: PageSink,
        progress: Progress | None = None,
        budget: ErrorBudget | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.budget = budget or ErrorBudget()
        #: set by whoever runs harvests in threads on Ctrl-C: stop before the next request,
        #: as an interrupted run (what is committed is kept; the next run resumes)
        self.stop = stop
        self.client = client
        self.state = state
        self.archive = archive
        self.sink = sink
        self.progress = progress
        #: the server refused from/until with a time of day: dates only, for this run
        self._by_day = False
        #: pages of the current window handed to the sink, not committed yet, in order
        self._pending: deque[tuple[CommittedPage, Future[PageCounts]]] = deque()
        #: the client's retries spent, and the run's retries logged, when the run (re)started
        self._retries_at_start = (0, 0)

    def harvest(
        self,
        spec: HarvestSpec,
        identity: Identity,
        *,
        start: datetime | None = None,
        until: datetime | None = None,
        window_size: str = "month",
        overlap: timedelta = timedelta(days=1),
        flow_run_id: str | None = None,
    ) -> Run:
        """Run (or resume) one harvest to completion and return its run; ``flow_run_id``:
        the Prefect flow run doing it, kept in the run log."""
        granularity = identity.granularity
        self.state.register(spec, granularity)
        fmt = _formatter(granularity)
        run = self.state.open_run(spec.harvest_id)
        if (
            run is not None
            and (start or until)
            and ((fmt(start), fmt(until)) != (run.from_date, run.until_date))
        ):
            self._supersede(spec, run)
            run = None
        resumed = run is not None
        if run is None:
            if start is None:
                record = self.state.harvest(spec.harvest_id)
                next_from = record.next_from(overlap) if record else None
                start = parse_datestamp(next_from) if next_from else identity.earliest_datestamp
            now = utc_now()
            run = Run(
                run_id=new_run_id(datetime.now(UTC).replace(tzinfo=None)),
                harvest_id=spec.harvest_id, status="running", started_at=now,
                server_started_at=identity.response_date,
                from_date=fmt(start), until_date=fmt(until),
                windows=split_windows(start, until, identity.response_date, granularity,
                                      window_size),
                window_index=0, window_pages=0, window_records=0, token=None, pages=0,
                records=0, deleted=0, quarantined=0,
                overlap_seconds=int(overlap.total_seconds()), flow_run_id=flow_run_id,
            )  # fmt: skip
            self.state.start_run(run)
        else:
            run.flow_run_id = flow_run_id or run.flow_run_id
            self.state.mark_running(run)
            self.sink.recover(spec, run)
        log.info(
            "%s run %s of %s: %d window(s) from %s", "resuming" if resumed else "starting",
            run.run_id, spec.set_spec or "all sets", len(run.windows) - run.window_index,
            run.from_date or "the earliest datestamp",
        )  # fmt: skip
        if self.progress:
            self.progress.run_started(spec, run, resumed)
        self._retries_at_start = (self.client.retry.spent, run.retries or 0)
        try:
            while run.window is not None:
                try:
                    self._harvest_window(spec, run, run.window)
                except (TransientEndpointError, OAIError) as exc:
                    if not self._split_window(run, exc, granularity):
                        raise
            self.sink.run_done(spec, run)
        except BaseException as exc:
            self._commit_written(spec, run)
            self._flush_partial_window(spec, run)
            try:
                self.sink.settle()
            except Exception as stored:  # the run is failing already; report the first error
                if stored is not exc:
                    log.error("could not store finished windows: %s", stored)
            self._count_retries(run)
            self.state.fail_run(run, _describe(exc), utc_now())
            raise
        self._count_retries(run)
        if run.shortfalls:
            message = "records missing: " + "; ".join(run.shortfalls)
            self.state.close_incomplete(run, message, utc_now())
            raise IncompleteHarvest(
                f"{message}. The data received is kept; the next run harvests these dates again."
            )
        self.state.complete_run(run, utc_now())
        return run

    def _count_retries(self, run: Run) -> None:
        """Log in ``run`` the retries its requests took so far (the client counts them)."""
        spent, logged = self._retries_at_start
        run.retries = logged + self.client.retry.spent - spent

    def _split_window(self, run: Run, error: Exception, granularity: str) -> bool:
        """Split the failing window in halves (down to the server's granularity) when its
        first request fails with a 5xx, a timeout or an overflow error; False when it cannot
        be split any further. A failure in the middle of a resumption-token list is not a
        reason to split: the run stops there and the next run resumes at that token."""
        window = run.window
        if window is None or run.window_pages or self._pending or not _splits_on(error):
            return False
        halves = halve(window, run.server_started_at, granularity)
        if halves is None:
            return False
        log.warning(
            "window %s failed (%s); splitting it into %s and %s",
            window.label(), error, halves[0].label(), halves[1].label(),
        )  # fmt: skip
        self.state.split_window(run, halves)
        return True

    def _flush_partial_window(self, spec: HarvestSpec, run: Run) -> None:
        """Make the committed pages of an unfinished window visible in the warehouse. The
        window stays unfinished: when it completes it is sealed and loaded again, which the
        warehouse's upserts make harmless."""
        window = run.window
        if window is None or not run.window_pages:
            return
        try:
            self.sink.window_done(spec, run, window)
        except Exception as exc:  # the run is failing already; report the first error
            log.error("could not load the unfinished window %s: %s", window.label(), exc)

    def _supersede(self, spec: HarvestSpec, run: Run) -> None:
        """An unfinished run with other dates: keep what it committed, then close it."""
        log.warning("unfinished run %s had other dates; its committed pages are kept", run.run_id)
        self.sink.recover(spec, run)
        self._flush_partial_window(spec, run)
        self.sink.settle()
        self.state.fail_run(
            run, "superseded by a run with other --from/--until", utc_now(), status=SUPERSEDED
        )

    def _harvest_window(self, spec: HarvestSpec, run: Run, window: Window) -> None:
        restarts = empty_pages = 0
        seen_tokens: set[str] = set()
        token = run.token  # the list's next token: ahead of the committed one while pages wait
        fetched_all = run.window_pages > 0 and run.token is None  # crash after the last page
        pending = self._pending = deque()
        while not fetched_all:
            if self.stop is not None and self.stop.is_set():
                raise KeyboardInterrupt
            if token:
                params = {"resumptionToken": token}
            else:
                params = {"metadataPrefix": spec.metadata_prefix, **window.params()}
                if self._by_day:
                    params = {k: v[:10] if k in ("from", "until") else v for k, v in params.items()}
                if spec.set_spec:
                    params["set"] = spec.set_spec
            try:
                fetched = self.client.request("ListRecords", **params)
            except BadArgument as exc:
                timed = any("T" in params.get(k, "") for k in ("from", "until"))
                if token or self._by_day or not timed:
                    raise
                self._by_day = True  # days cover the same records, and a few more
                log.warning("%s refuses a time of day in from/until (%s); asking by day",
                            spec.endpoint, exc)  # fmt: skip
                continue
            except BadResumptionToken:
                if not token or restarts >= MAX_WINDOW_RESTARTS:
                    raise
                restarts += 1
                log.warning("resumption token expired; restarting window %s", window.label())
                self._commit_pending(spec, run, wait=True)
                self.state.restart_window(run)
                token = None
                seen_tokens.clear()
                continue
            page = fetched.page
            if page.no_records_match:
                if token:
                    raise PageIntegrityError(
                        "noRecordsMatch in the middle of a resumption-token list"
                    )
                break
            if page.token and (page.token == token or page.token in seen_tokens):
                raise PageIntegrityError(f"resumption token {page.token!r} did not change")
            if page.token:
                seen_tokens.add(page.token)
            empty_pages = 0 if page.items else empty_pages + 1
            if page.token and empty_pages >= MAX_EMPTY_PAGES:
                raise PageIntegrityError(f"{empty_pages} empty pages in a row with a token")
            number = run.window_pages + len(pending) + 1
            path = self.archive.store(
                f"{spec.harvest_id}/{run.run_id}", page_name(window.index, number), fetched,
                endpoint=spec.endpoint, metadata_prefix=spec.metadata_prefix,
                set_spec=spec.set_spec, harvest_id=spec.harvest_id, run_id=run.run_id,
                window=window.index, window_from=window.start, window_until=window.end,
                page=number,
            )  # fmt: skip
            rows = self.sink.submit(HarvestedPage(spec, run.run_id, window, number, fetched, path))
            done = CommittedPage(spec, run.run_id, window, number, path, page.token,
                                 page.complete_list_size)  # fmt: skip
            del fetched, page  # the sink has what it needs: the parsed page may go
            pending.append((done, rows))
            self._commit_pending(spec, run, wait=len(pending) >= MAX_PENDING_PAGES)
            token = done.token
            fetched_all = not token
        self._commit_pending(spec, run, wait=True)
        expected = run.window_expected
        if expected is not None and run.window_records < expected:
            run.shortfalls.append(
                f"window {window.label()}: {run.window_records} of {expected} records "
                "(completeListSize)"
            )
        self.sink.window_done(spec, run, window)
        log.info("window %s (%d/%d) harvested: %d pages, %d records", window.label(),
                 window.index + 1, len(run.windows), run.window_pages,
                 run.window_records)  # fmt: skip
        self.state.complete_window(run)

    def _commit_pending(self, spec: HarvestSpec, run: Run, wait: bool) -> None:
        """Commit, in order, the waiting pages whose rows are written: all of them with
        ``wait`` (waiting for each), else those ready now and the oldest once too many wait.
        A page whose rows failed raises its error; the pages after it stay uncommitted."""
        pending = self._pending
        while pending and (wait or pending[0][1].done() or len(pending) >= MAX_PENDING_PAGES):
            done, rows = pending[0]
            counts = rows.result()
            pending.popleft()
            self._count_retries(run)
            self.state.commit_page(
                run, done.token, counts.records, counts.deleted, counts.quarantined,
                done.complete_list_size,
            )  # fmt: skip
            self.sink.committed(done)
            log.debug("page %d of window %s: %d records (%d quarantined), token %s",
                      done.number, done.window.label(), counts.records, counts.quarantined,
                      done.token or "-")  # fmt: skip
            if self.progress:
                self.progress.page_done(spec, run, done)
            self.budget.check(run)

    def _commit_written(self, spec: HarvestSpec, run: Run) -> None:
        """A run that stops: commit the waiting pages as their rows are written, up to the
        first that failed; the others are dropped (the next run fetches them again)."""
        try:
            self._commit_pending(spec, run, wait=True)
        except Exception as exc:  # the run is failing already; report the first error
            log.debug("a page waiting to be committed failed too: %s", exc)
        finally:
            for _, rows in self._pending:
                rows.cancel()
            self._pending.clear()


def _formatter(granularity: str) -> Callable[[datetime | None], str | None]:
    def fmt(moment: datetime | None) -> str | None:
        return None if moment is None else format_datestamp(moment, granularity)

    return fmt


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__
