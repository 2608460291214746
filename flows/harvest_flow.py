"""The Prefect flow and its deployment: the same pipeline steps as ``repec-harvest run``,
as tasks per set (never per record), retried only when the error is transient.

Start the daily schedule with ``repec-harvest schedule`` (it serves the deployment; runs
happen while it is up). Prefect is imported only here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from prefect import deploy, flow, get_client, serve, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import (
    ConcurrencyLimitConfig,
    ConcurrencyLimitStrategy,
    TaskRun,
)
from prefect.context import get_run_context
from prefect.deployments.runner import EntrypointType
from prefect.exceptions import MissingContextError, ObjectNotFound
from prefect.futures import PrefectFuture
from prefect.logging.handlers import APILogHandler
from prefect.runtime import flow_run
from prefect.settings import get_current_settings
from prefect.states import Failed, State
from prefect.tasks import Task
from pydantic import Field

from flows.citations import load_citations
from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.pipeline import Pipeline, Plan
from flows.reconcile import HELD, reconcile
from flows.redif import load_redif
from harvesting.citec import DEFAULT_ISCITED
from harvesting.identity import HarvestSpec
from harvesting.retries import should_retry
from harvesting.state import FAILED
from harvesting.windows import parse_duration
from schemas.errors import ConfigError, HarvestsFailed
from warehouse.maintenance import maintain
from warehouse.statements import first_line

#: Every deployment runs one flow run at a time; a run due while one runs waits its turn
#: (queued, not failed). Different deployments (other endpoints, the citation load) run at once.
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)

#: What every deployment has: our tag, one run at a time, and an entrypoint a worker imports
#: from the installed package (nothing to pull).
DEPLOYED: dict[str, Any] = {
    "tags": ["repec-harvest"],
    "concurrency_limit": ONE_AT_A_TIME,
    "entrypoint_type": EntrypointType.MODULE_PATH,
}

#: The project's loggers (its packages): what they say inside a run goes to that run's logs.
PROJECT_LOGGERS = ("flows", "harvesting", "schemas", "warehouse", "provider")


class RunLogHandler(APILogHandler):
    """Prefect's API log handler for the project's loggers: a record made inside a flow or
    task run goes to that run's logs in the UI; one made elsewhere (the command line, a
    loader thread) is left to the usual handlers instead of warning that it has no run."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            get_run_context()
        except MissingContextError:
            return
        super().emit(record)


class _RunLogs:
    """The project's loggers sending to the runs' logs, shared by the flows and tasks that run
    at once in one process (threads, a Dask worker's threads): attached by the first,
    removed by the last, the loggers' levels put back then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._handler: RunLogHandler | None = None
        self._levels: list[tuple[logging.Logger, int]] = []

    @contextmanager
    def __call__(self, level: int = logging.INFO) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._handler = RunLogHandler(level=level)
                self._levels = [(logging.getLogger(n), logging.getLogger(n).level)
                                for n in PROJECT_LOGGERS]  # fmt: skip
                for logger, _ in self._levels:
                    logger.addHandler(self._handler)
                    if logger.getEffectiveLevel() > level:
                        logger.setLevel(level)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    for logger, before in self._levels:
                        logger.removeHandler(self._handler)  # type: ignore[arg-type]
                        logger.setLevel(before)


_RUN_LOGS = _RunLogs()


def run_logs(level: int = logging.INFO) -> AbstractContextManager[None]:
    """While a flow or task runs: the project's records of ``level`` and above in its run's
    logs. (A function of the module, so that tasks sent to Dask workers refer to it by name.)"""
    return _RUN_LOGS(level)


def transient_only(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect retry condition: retry a task only when its error is transient."""
    try:
        state.result()
    except Exception as exc:
        return should_retry(exc)
    return False


def _pipeline(data_dir: str, options: HarvestOptions) -> Pipeline:
    return Pipeline(DataDir.resolve(data_dir), options)


@task(name="prepare", retries=2, retry_delay_seconds=[30, 300],
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)  # fmt: skip
def prepare_task(data_dir: str, options: HarvestOptions) -> Plan:
    """Identify, ListMetadataFormats, ListSets -> series."""
    with run_logs():  # in a worker process of its own (Dask), the flow's handler is not there
        pipeline = _pipeline(data_dir, options)
        try:
            return pipeline.prepare()
        finally:
            pipeline.close()


@task(name="harvest-set", task_run_name="harvest {spec.set_spec}", retries=2,
      retry_delay_seconds=[60, 600], retry_condition_fn=transient_only,
      cache_policy=NO_CACHE)  # fmt: skip
def harvest_task(
    data_dir: str, options: HarvestOptions, plan: Plan, spec: HarvestSpec
) -> dict[str, Any]:
    """One (endpoint, prefix, set): its windows, pages and loads. A retry resumes the run."""
    started = time.monotonic()
    with run_logs():
        pipeline = _pipeline(data_dir, options)
        try:
            run = pipeline.harvest(plan, spec, flow_run_id=flow_run.id)
        finally:
            pipeline.close()
    return {
        "endpoint": spec.endpoint, "set": spec.set_spec or "(all)", "run_id": run.run_id,
        "status": run.status, "windows": len(run.windows), "pages": run.pages,
        "records": run.records, "deleted": run.deleted, "quarantined": run.quarantined,
        "retries": pipeline.client.retry.spent, "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip


@task(name="record-harvest-log", cache_policy=NO_CACHE)
def finish_task(data_dir: str, options: HarvestOptions) -> None:
    pipeline = _pipeline(data_dir, options)
    try:
        pipeline.finish()
    finally:
        pipeline.close()


def harvest_run_name() -> str:
    """``harvest oai.repec.org [RePEc:sae:asseca] 2026-12-06``: endpoints, sets and day."""
    endpoints = [_as_options(e) for e in flow_run.parameters.get("endpoints") or [{}]]
    hosts = ", ".join(dict.fromkeys(urlsplit(e.endpoint).netloc or e.endpoint for e in endpoints))
    sets = list(dict.fromkeys(s for e in endpoints for s in e.sets))
    shown = f" [{', '.join(sets[:3])}{', ...' if len(sets) > 3 else ''}]" if sets else ""
    return f"harvest {hosts}{shown} {datetime.now(UTC):%Y-%m-%d}"


def _as_options(value: Any) -> HarvestOptions:
    return value if isinstance(value, HarvestOptions) else HarvestOptions.model_validate(value)


@flow(name="repec-harvest", flow_run_name=harvest_run_name, log_prints=True)
def harvest_flow(
    endpoints: list[HarvestOptions] | None = None,
    data_dir: str | None = None,
    parallel: Annotated[int, Field(ge=1, le=64)] = 1,
) -> list[dict[str, Any]] | State[Any]:
    """Harvest -> normalize -> load, incrementally, every endpoint and set as its own task:
    one that fails does not stop the others, and the run ends Failed naming them.

    Args:
        endpoints: The OAI-PMH endpoints to harvest and how (default: RePEc's gateway).
        data_dir: Where state, raw pages and the warehouse live (default: the
            REPEC_HARVEST_DATA_DIR environment variable, else ~/.local/share/repec-harvest).
        parallel: How many sets and endpoints to harvest at once (threads); requests to one
            host stay spaced by its delay.
    """
    endpoints = endpoints or [HarvestOptions()]
    data = DataDir.resolve(data_dir)
    root = str(data.root)
    done: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    gate = threading.BoundedSemaphore(parallel)

    def submit(task: Task[..., Any], *args: Any) -> PrefectFuture[Any]:
        """``task`` submitted once fewer than ``parallel`` tasks run."""
        gate.acquire()
        future = task.submit(*args)
        future.add_done_callback(lambda _: gate.release())
        return future

    with run_logs(), data.writing():
        plans = [(options, submit(prepare_task, root, options)) for options in endpoints]
        harvests = []
        for options, planned in plans:
            try:
                plan = planned.result()
            except Exception as exc:
                failed.append(_failure(options.endpoint, "(every set)", exc))
                continue
            failed += [
                _failure(u.spec.endpoint, u.spec.set_spec or "", u.error) for u in plan.unknown
            ]
            for spec in plan.specs:
                harvests.append((spec, submit(harvest_task, root, options, plan, spec)))
        for spec, future in harvests:
            try:
                done.append(future.result())
            except Exception as exc:
                failed.append(_failure(spec.endpoint, spec.set_spec or "(all)", exc))
        finish_task(root, endpoints[0])
    _report(done, failed)
    if failed:  # the run ends Failed, saying which and why (a state: no traceback to read)
        return Failed(message=str(HarvestsFailed(
            f"{len(failed)} of {len(done) + len(failed)} harvests failed: "
            + "; ".join(f"{f['endpoint']} {f['set']}: {f['error']}" for f in failed)
        )))  # fmt: skip
    return done


def _failure(endpoint: str, set_spec: str, error: BaseException | str | None) -> dict[str, str]:
    said = first_line(error) if isinstance(error, BaseException) else str(error)
    return {"endpoint": endpoint, "set": set_spec, "error": said}


SUMMARY_COLUMNS = ("endpoint", "set", "status", "windows", "pages", "records", "deleted",
                   "quarantined", "retries", "seconds")  # fmt: skip


def _report(done: list[dict[str, Any]], failed: list[dict[str, str]]) -> None:
    """The run's artifacts: a markdown summary per set, and a table of the failures."""
    lines = ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|---" * len(SUMMARY_COLUMNS) + "|"]
    lines += ["| " + " | ".join(str(row[k]) for k in SUMMARY_COLUMNS) + " |" for row in done]
    lines += [f"| {f['endpoint']} | {f['set']} | failed: {f['error']} |" + " |" * 7
              for f in failed]  # fmt: skip
    create_markdown_artifact("\n".join(lines), key="harvest-summary",
                             description="What each harvest of this run did.")  # fmt: skip
    if failed:
        create_table_artifact(failed, key="harvest-failures",
                              description="Harvests of this run that failed, and why.")  # fmt: skip


def build_deployment(
    data: DataDir,
    endpoints: list[HarvestOptions],
    cron: str,
    name: str,
    parallel: int = 1,
    dask: str | None = None,
) -> Any:
    """The harvest's deployment; ``dask`` (an address or a number of local processes): its
    set tasks run on Dask (``flows.on_dask``, told where by the run's environment)."""
    target = harvest_flow
    extra: dict[str, Any] = {}
    if dask:  # a bad value or a missing extra is said now, not at 03:00
        target = harvest_flow.with_options(task_runner=dask_runner(dask))
        extra = {"job_variables": {"env": {DASK_ENV: dask}}}
    deployment: Any = target.to_deployment(
        name=name,
        cron=cron,
        parameters={
            "endpoints": [e.model_dump() for e in endpoints],
            "data_dir": str(data.root),
            "parallel": parallel,
        },
        description="Incremental OAI-PMH harvest into the warehouse.",
        **DEPLOYED,
        **extra,
    )
    if dask:  # a copy of the flow keeps the original's name: say where the copy is
        deployment.entrypoint = DASK_ENTRYPOINT
    return deployment


@task(name="load-citations", retries=2, retry_delay_seconds=[300, 3600],
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)  # fmt: skip
def citations_task(data_dir: str, source: str, contact: str | None) -> dict[str, Any]:
    return load_citations(DataDir.resolve(data_dir), source, contact)


@flow(name="repec-citations", log_prints=True)
def citations_flow(
    source: str = DEFAULT_ISCITED, data_dir: str | None = None, contact: str | None = None
) -> dict[str, Any]:
    """Replace the citation graph with CitEc's current iscited.txt.gz."""
    with run_logs():
        log = citations_task(str(DataDir.resolve(data_dir).root), source, contact)
    print(f"{log['edges']:,} citations loaded from {log['source']}")
    return log


@task(name="load-redif", cache_policy=NO_CACHE)
def redif_task(data_dir: str, path: str) -> dict[str, Any]:
    report = load_redif(DataDir.resolve(data_dir), path)
    return {k: v for k, v in vars(report).items() if k != "errors_by_file"}


@flow(name="repec-redif", log_prints=True)
def redif_flow(path: str, data_dir: str | None = None) -> dict[str, Any]:
    """Load a RePEc mirror tree or a folder of ReDIF files, incrementally."""
    with run_logs():
        report = redif_task(str(DataDir.resolve(data_dir).root), path)
    print(f"{report['read']:,} files read, {report['items']:,} items")
    return report


def build_citations_deployment(
    data: DataDir, source: str | None, contact: str | None, cron: str
) -> Any:
    return citations_flow.to_deployment(
        name="monthly-citations",
        cron=cron,
        parameters={
            "source": source or DEFAULT_ISCITED,
            "data_dir": str(data.root),
            "contact": contact,
        },
        description="Reload CitEc's citation graph into the warehouse.",
        **DEPLOYED,
    )


@task(name="maintain", cache_policy=NO_CACHE)
def maintain_task(data_dir: str, retention: str) -> dict[str, int]:
    """Compact, expire snapshots older than ``retention``, delete files no snapshot needs."""
    data = DataDir.resolve(data_dir)
    with data.writing(), data.warehouse() as warehouse:
        return asdict(maintain(warehouse, parse_duration(retention)))


@flow(name="repec-maintain", log_prints=True)
def maintain_flow(data_dir: str | None = None, retention: str = "30d") -> dict[str, int]:
    """The warehouse's maintenance (weekly by default): small files merged, old snapshots
    expired, unneeded files deleted."""
    parse_duration(retention)  # a bad retention fails here, before any work
    with run_logs():
        report = maintain_task(str(DataDir.resolve(data_dir).root), retention)
    print(f"{report['files_before']:,} -> {report['files_after']:,} data files, "
          f"{report['snapshots_before']:,} -> {report['snapshots_after']:,} snapshots")  # fmt: skip
    return report


def build_maintenance_deployment(data: DataDir, cron: str, retention: str = "30d") -> Any:
    return maintain_flow.to_deployment(
        name="weekly-maintenance",
        cron=cron,
        parameters={"data_dir": str(data.root), "retention": retention},
        description="Compact the warehouse and expire its old snapshots.",
        **DEPLOYED,
    )


@task(name="reconcile-set", task_run_name="reconcile {spec.set_spec}", cache_policy=NO_CACHE)
def reconcile_task(
    data_dir: str, options: HarvestOptions, plan: Plan, spec: HarvestSpec
) -> dict[str, Any]:
    """One (endpoint, prefix, set): its ListIdentifiers against the warehouse."""
    with run_logs():
        pipeline = _pipeline(data_dir, options)
        try:
            result = reconcile(pipeline, plan, spec, flow_run_id=flow_run.id)
        finally:
            pipeline.close()
    rec = result.reconciliation
    assert rec is not None  # made before anything can fail
    row = {"endpoint": spec.endpoint, "set": spec.set_spec or "(all)", "status": rec.status}
    return {**row, **{k: getattr(rec, k) for k in RECONCILE_COLUMNS[3:-1]}, "error": rec.error}


RECONCILE_COLUMNS = ("endpoint", "set", "status", "listed", "live", "vanished", "tombstoned",
                     "kept", "not_loaded", "fetched", "error")  # fmt: skip


@flow(name="repec-reconcile", log_prints=True)
def reconcile_flow(
    endpoints: list[HarvestOptions] | None = None, data_dir: str | None = None
) -> list[dict[str, Any]] | State[Any]:
    """Compare each set's ListIdentifiers with the warehouse (weekly by default): items no
    longer listed become deleted, unless more than ``max_vanished`` of a set would; then
    nothing is applied and the run ends Failed, naming it.

    Args:
        endpoints: The OAI-PMH endpoints and sets to reconcile (default: RePEc's gateway).
        data_dir: Where state, raw pages and the warehouse live (default: the
            REPEC_HARVEST_DATA_DIR environment variable, else ~/.local/share/repec-harvest).
    """
    endpoints = endpoints or [HarvestOptions()]
    data = DataDir.resolve(data_dir)
    root = str(data.root)
    rows: list[dict[str, Any]] = []
    with run_logs(), data.writing():
        for options in endpoints:
            try:
                plan = prepare_task(root, options)
            except Exception as exc:
                rows.append({"endpoint": options.endpoint, "set": "(every set)",
                             "status": "failed", "error": first_line(exc)})  # fmt: skip
                continue
            rows += [{"endpoint": u.spec.endpoint, "set": u.spec.set_spec, "status": "failed",
                      "error": u.error} for u in plan.unknown]  # fmt: skip
            rows += [reconcile_task(root, options, plan, spec) for spec in plan.specs]
        finish_task(root, endpoints[0])
    lines = ["| " + " | ".join(RECONCILE_COLUMNS) + " |", "|---" * len(RECONCILE_COLUMNS) + "|"]
    lines += ["| " + " | ".join(str(r.get(k) if r.get(k) is not None else "") for k in
                                RECONCILE_COLUMNS) + " |" for r in rows]  # fmt: skip
    create_markdown_artifact("\n".join(lines), key="reconcile-summary",
                             description="What each reconciliation of this run found.")  # fmt: skip
    bad = [r for r in rows if r["status"] in (FAILED, HELD)]
    if bad:
        return Failed(message=str(HarvestsFailed(
            f"{len(bad)} of {len(rows)} reconciliations failed or were held: "
            + "; ".join(f"{r['endpoint']} {r['set']}: {r['error']}" for r in bad)
        )))  # fmt: skip
    return rows


def build_reconcile_deployment(data: DataDir, endpoints: list[HarvestOptions], cron: str) -> Any:
    return reconcile_flow.to_deployment(
        name="weekly-reconcile",
        cron=cron,
        parameters={"endpoints": [e.model_dump() for e in endpoints], "data_dir": str(data.root)},
        description="Compare each set's listing with the warehouse; delete what is gone.",
        **DEPLOYED,
    )


def scheduled_deployments(
    data: DataDir,
    endpoints: list[HarvestOptions],
    cron: str,
    name: str,
    citations_cron: str | None = "0 4 1 * *",
    citations_source: str | None = None,
    maintain_cron: str | None = "0 5 * * 0",
    reconcile_cron: str | None = "0 6 * * 6",
    parallel: int = 1,
    dask: str | None = None,
) -> list[Any]:
    """The harvest (daily), the citation load (monthly), maintenance and reconciliation
    (weekly)."""
    deployments = [build_deployment(data, endpoints, cron, name, parallel, dask)]
    if citations_cron:
        contact = endpoints[0].contact
        deployments.append(
            build_citations_deployment(data, citations_source, contact, citations_cron)
        )
    if maintain_cron:
        deployments.append(build_maintenance_deployment(data, maintain_cron))
    if reconcile_cron:
        deployments.append(build_reconcile_deployment(data, endpoints, reconcile_cron))
    return deployments


def _api() -> str:
    api = get_current_settings().api.url
    if not api:
        raise ConfigError(
            "repec-harvest schedule and deploy need a Prefect server: run `prefect server "
            "start` and set PREFECT_API_URL=http://127.0.0.1:4200/api (Prefect's temporary "
            "server is not reliable for long-running schedules)"
        )
    return api


def serve_schedule(data: DataDir, endpoints: list[HarvestOptions], **schedule: Any) -> None:
    """Serve the scheduled deployments from this process until it is stopped, against a
    running Prefect API. Stopping does not pause them: runs due meanwhile are Late, and run
    when this process (or a worker) is back."""
    api = _api()
    deployments = scheduled_deployments(data, endpoints, **schedule)
    if schedule.get("dask"):  # the runs this process starts inherit its environment
        os.environ[DASK_ENV] = schedule["dask"]
    try:
        serve(*deployments, pause_on_shutdown=False)
    except (httpx.HTTPError, OSError) as exc:
        raise ConfigError(f"cannot use the Prefect API at {api}: {exc}") from None


def deploy_to_pool(
    data: DataDir, endpoints: list[HarvestOptions], pool: str, **schedule: Any
) -> list[str]:
    """Register the scheduled deployments with the process work pool ``pool`` (made if it is
    missing); a worker (``prefect worker start --pool POOL``) on a machine with this package
    installed runs them. Returns the deployments' names."""
    api = _api()
    deployments = scheduled_deployments(data, endpoints, **schedule)
    try:
        with get_client(sync_client=True) as client:
            try:
                client.read_work_pool(pool)
            except ObjectNotFound:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        deploy(*deployments, work_pool_name=pool, build=False, push=False,
               print_next_steps_message=False, ignore_warnings=True)  # fmt: skip
    except (httpx.HTTPError, OSError) as exc:
        raise ConfigError(f"cannot use the Prefect API at {api}: {exc}") from None
    return [f"{d.flow_name}/{d.name}" for d in deployments]


#: Where a deployment made with ``--dask`` runs its set tasks: a Dask scheduler's address
#: (``tcp://host:8786``), or a number of local worker processes (read by ``flows.on_dask``).
DASK_ENV = "REPEC_HARVEST_DASK"
#: The harvest flow on Dask, as a worker imports it.
DASK_ENTRYPOINT = "flows.on_dask.harvest_on_dask"


def dask_runner(where: str | None = None) -> Any:
    """A DaskTaskRunner (the ``[dask]`` extra) on the cluster whose scheduler is at
    ``where``, or, for a number (default 4), on a local cluster of that many processes."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError("Dask needs the dask extra: pip install 'repec-harvest[dask]'") from None
    where = (where or "4").strip()
    if where.isdigit() and int(where) > 0:
        return DaskTaskRunner(cluster_kwargs={"n_workers": int(where), "processes": True,
                                              "threads_per_worker": 1})  # fmt: skip
    if "://" not in where:
        raise ConfigError(f"--dask {where!r}: give a scheduler address (tcp://host:8786) or a "
                          "number of local worker processes")  # fmt: skip
    return DaskTaskRunner(address=where)


def on_dask(address: str | None = None, workers: int = 4) -> Any:
    """The harvest flow with its tasks on Dask: on the cluster whose scheduler is at
    ``address``, else on a local cluster of ``workers`` processes. Requests to one host keep
    its delay across the workers (the slots are in the harvest state)."""
    runner = dask_runner(address or str(workers))
    return harvest_flow.with_options(task_runner=runner)
