"""The pipeline, in plain Python: prepare (Identify, formats, sets) -> harvest each set
(normalize and load as it goes) -> record the harvest log. The CLI runs it directly; the
Prefect flow runs the same steps as tasks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.storage import Storage, WarehouseSink
from harvesting.archive import RawArchive, endpoint_folder
from harvesting.client import OAIClient
from harvesting.harvester import ErrorBudget, Harvester, Progress
from harvesting.identity import HarvestSpec
from harvesting.responses import Identity, SetInfo
from harvesting.retries import RetryPolicy
from harvesting.state import Run, StateStore
from schemas.errors import (
    ConfigError,
    EndpointError,
    RepecHarvestError,
    UnknownSet,
    UnsupportedMetadataPrefix,
)
from schemas.records import format_for
from warehouse.statements import first_line

log = logging.getLogger(__name__)

PREFERRED_PREFIXES = ("amf", "oai_dc")


@dataclass
class HarvestResult:
    spec: HarvestSpec
    run: Run | None
    error: str | None = None


@dataclass
class Plan:
    """What ``prepare`` learned: the harvests to run and the server's identity."""

    identity: Identity
    metadata_prefix: str
    specs: list[HarvestSpec]
    sets_listed: int
    #: Sets asked for that the server does not have, each a failed harvest of its own (when
    #: none of the sets asked for exists, ``prepare`` refuses the run instead).
    unknown: list[HarvestResult] = field(default_factory=list)


def choose_prefix(offered: list[str], requested: str | None, endpoint: str) -> str:
    """The user's prefix if offered; else amf when offered, else oai_dc."""
    if requested:
        if requested not in offered:
            raise UnsupportedMetadataPrefix(
                f"{endpoint} does not offer metadata prefix {requested!r}; "
                f"it offers: {', '.join(offered) or 'nothing'}"
            )
        format_for(requested)
        return requested
    for prefix in PREFERRED_PREFIXES:
        if prefix in offered:
            return prefix
    raise UnsupportedMetadataPrefix(
        f"{endpoint} offers neither amf nor oai_dc (it offers: {', '.join(offered)})"
    )


class Pipeline:
    def __init__(
        self,
        data: DataDir,
        options: HarvestOptions,
        progress: Progress | None = None,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.data = data
        self.options = options
        self.progress = progress
        self.stop = stop
        kwargs = {"sleep": sleep} if sleep is not None else {}
        self.client = OAIClient(
            options.endpoint,
            contact=options.contact,
            delay=options.delay,
            retry=RetryPolicy(max_attempts=options.max_attempts, base_delay=options.backoff),
            timeout=(min(15.0, options.timeout), options.timeout),
            max_bytes=options.max_bytes,
            reserve=self._reserve,  # a host's delay holds across processes sharing the state
            postpone=self._postpone,
            **kwargs,  # type: ignore[arg-type]
        )
        self.archive = RawArchive(data.raw)
        self.storage = Storage(data)
        self._state: StateStore | None = None

    def _reserve(self, host: str, delay: float) -> float:
        return self.state.reserve_request(host, delay)

    def _postpone(self, host: str, seconds: float) -> None:
        self.state.postpone_requests(host, seconds)

    @property
    def state(self) -> StateStore:
        if self._state is None:
            self._state = StateStore(self.data.state_location)
        return self._state

    def close(self) -> None:
        try:
            self.storage.flush()
        except RepecHarvestError as exc:  # the next run lists the sets again
            log.debug("the series listed by this run were not loaded: %s", exc)
        finally:
            self._close()

    def _close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None
        self.storage.db.close()

    # -- steps ----------------------------------------------------------------------------

    def prepare(self) -> Plan:
        """Identify, choose the metadata prefix, list sets (-> ``series``), check the sets."""
        options = self.options
        identity, fetched = self.client.identify()
        if fetched.page.clock_ahead is not None:
            log.warning(
                "%s says it is %s, ahead of this machine's clock: its responseDates are taken "
                "as this machine's time", options.endpoint, fetched.page.clock_ahead.isoformat(),
            )  # fmt: skip
        # to the microsecond: processes preparing at once keep their responses apart
        folder = endpoint_folder(options.endpoint, datetime.now(UTC))
        self.archive.store(folder, "Identify", fetched, endpoint=options.endpoint)
        offered, fetched = self.client.list_metadata_formats()
        self.archive.store(folder, "ListMetadataFormats", fetched, endpoint=options.endpoint)
        prefix = choose_prefix(offered, options.metadata_prefix, options.endpoint)

        listed: list[SetInfo] = []
        for number, (sets, fetched) in enumerate(self.client.list_sets(), start=1):
            self.archive.store(
                folder, f"ListSets-p{number:04d}", fetched, endpoint=options.endpoint
            )
            listed.extend(sets)
        self.storage.stage_sets(
            options.endpoint, folder.removeprefix("_endpoints/"), listed, identity.response_date
        )
        known = {s.spec for s in listed}
        missing = [s for s in options.sets if s not in known]
        what = "has no sets" if not known else "does not have the set"
        if missing and len(missing) == len(options.sets):
            raise UnknownSet(f"{options.endpoint} {what}: {', '.join(missing)}")
        unknown = [
            HarvestResult(HarvestSpec(options.endpoint, prefix, s), None,
                          f"{options.endpoint} {what}: {s}")
            for s in missing
        ]  # fmt: skip
        specs = [HarvestSpec(options.endpoint, prefix, s) for s in options.sets if s in known]
        return Plan(identity, prefix, specs or [HarvestSpec(options.endpoint, prefix, None)],
                    len(listed), unknown)  # fmt: skip

    def harvest(self, plan: Plan, spec: HarvestSpec, flow_run_id: str | None = None) -> Run:
        """Harvest one (endpoint, prefix, set), resuming its unfinished run if there is one.
        Other harvests may run at the same time; another process on this one is refused."""
        sink = WarehouseSink(self.storage)
        harvester = Harvester(
            self.client, self.state, self.archive, sink, self.progress,
            ErrorBudget(ratio=self.options.max_quarantined), self.stop,
        )  # fmt: skip
        what = f"the harvest of {spec.set_spec or 'all sets'} from {spec.endpoint}"
        with self.data.harvesting(spec.harvest_id, what), closing(sink):
            return harvester.harvest(
                spec,
                plan.identity,
                start=self.options.start,
                until=self.options.until,
                window_size=self.options.window,
                overlap=self.options.overlap_span,
                flow_run_id=flow_run_id,
            )

    def finish(self) -> None:
        self.storage.sync_harvest_log(self.state)

    def attempt(self, plan: Plan, spec: HarvestSpec) -> HarvestResult:
        """``harvest``, an endpoint's failure kept as the set's result (other errors stop the
        run: a harvest another process holds, the warehouse)."""
        try:
            return HarvestResult(spec, self.harvest(plan, spec))
        except EndpointError as exc:
            log.error("harvest of %s failed: %s", spec.set_spec or "all", exc)
            return HarvestResult(spec, None, str(exc))

    def record_log(self, failing: bool) -> None:
        """``finish``; its own failure is the caller's error unless the run is failing
        already (the error that stops it says so), then only logged."""
        try:
            self.finish()
        except RepecHarvestError as exc:
            if not failing:
                raise
            log.debug("could not record the harvest log: %s", exc)

    # -- all of it ------------------------------------------------------------------------

    def run(self) -> list[HarvestResult]:
        """The whole pipeline, as one of the warehouse's writers. One failing set does not stop
        the others; the caller decides the exit code from the results."""
        with self.data.writing():
            self.storage.db.warm()  # while the endpoint is asked who it is
            failing = True
            try:
                plan = self.prepare()
                results = [*plan.unknown, *(self.attempt(plan, spec) for spec in plan.specs)]
                failing = False
                return results
            finally:
                try:
                    self.record_log(failing)
                finally:
                    self.close()


def harvest_all(
    data: DataDir,
    endpoints: list[HarvestOptions],
    parallel: int = 1,
    progress: Progress | None = None,
    **kwargs: Any,
) -> list[HarvestResult]:
    """Every endpoint and every set. One that fails never stops the others (with a single
    endpoint, its failure before any set, e.g. a wrong URL, is the caller's error). With
    ``parallel`` above 1, that many harvests run at once in threads, each with its own
    pipeline; requests to one host stay spaced by its delay across the threads
    and processes, and Ctrl-C stops every running harvest before its next request (those not
    started yet never start)."""
    if parallel <= 1:
        results: list[HarvestResult] = []
        for options in endpoints:
            try:
                results.extend(Pipeline(data, options, progress, **kwargs).run())
            except (EndpointError, ConfigError) as exc:
                results.append(_failed_endpoint(endpoints, options, exc))
        return results
    stop = threading.Event()
    with data.writing():
        pool = ThreadPoolExecutor(parallel, thread_name_prefix="harvest")
        failing = True
        try:
            results = _in_threads(data, endpoints, pool, progress, stop, **kwargs)
            failing = False
            return results
        except BaseException:
            stop.set()  # running harvests stop before their next request
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # queued ones never start
            finishing = Pipeline(data, endpoints[0], **kwargs)  # the log, all threads stopped
            try:
                finishing.record_log(failing)
            finally:
                finishing.close()


def _in_threads(
    data: DataDir,
    endpoints: list[HarvestOptions],
    pool: ThreadPoolExecutor,
    progress: Progress | None,
    stop: threading.Event,
    **kwargs: Any,
) -> list[HarvestResult]:
    def prepared(options: HarvestOptions) -> Plan:
        if stop.is_set():
            raise KeyboardInterrupt
        pipeline = Pipeline(data, options, progress, stop=stop, **kwargs)
        try:
            return pipeline.prepare()
        finally:
            pipeline.close()

    def harvested(options: HarvestOptions, plan: Plan, spec: HarvestSpec) -> HarvestResult:
        if stop.is_set():
            raise KeyboardInterrupt
        pipeline = Pipeline(data, options, progress, stop=stop, **kwargs)
        try:
            return pipeline.attempt(plan, spec)
        finally:
            pipeline.close()

    results: list[HarvestResult] = []
    jobs = []
    plans = [(options, pool.submit(prepared, options)) for options in endpoints]
    for options, planned in plans:
        try:
            plan = planned.result()
        except (EndpointError, ConfigError) as exc:
            results.append(_failed_endpoint(endpoints, options, exc))
            continue
        results.extend(plan.unknown)
        jobs += [pool.submit(harvested, options, plan, spec) for spec in plan.specs]
    return results + [job.result() for job in jobs]


def _failed_endpoint(
    endpoints: list[HarvestOptions], options: HarvestOptions, exc: RepecHarvestError
) -> HarvestResult:
    """An endpoint that failed before its first set, as a failed row of the results; the
    error itself when it is the only endpoint (a wrong URL, a set it does not have)."""
    if len(endpoints) == 1:
        raise exc
    spec = HarvestSpec(options.endpoint, options.metadata_prefix or "-", None)
    return HarvestResult(spec, None, first_line(exc))
