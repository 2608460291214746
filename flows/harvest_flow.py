"""The Prefect flow and its deployment: the same pipeline steps as ``repec-harvest run``,
as tasks per set (never per record), retried only when the error is transient.

Start the daily schedule with ``repec-harvest schedule`` (it serves the deployment; runs
happen while it is up). Prefect is imported only here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import httpx
from prefect import flow, serve, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.settings import get_current_settings
from prefect.states import State
from prefect.tasks import Task

from flows.citations import load_citations
from flows.datadir import DataDir
from flows.pipeline import DEFAULT_ENDPOINT, HarvestOptions, Pipeline, Plan
from flows.redif import load_redif
from harvesting.citec import DEFAULT_ISCITED
from harvesting.identity import HarvestSpec
from harvesting.retries import should_retry
from harvesting.windows import parse_duration
from schemas.errors import ConfigError
from warehouse.maintenance import maintain


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
    pipeline = _pipeline(data_dir, options)
    try:
        run = pipeline.harvest(plan, spec)
    finally:
        pipeline.close()
    return {
        "set": spec.set_spec, "run_id": run.run_id, "status": run.status,
        "windows": len(run.windows), "pages": run.pages, "records": run.records,
        "deleted": run.deleted, "quarantined": run.quarantined,
    }  # fmt: skip


@task(name="record-harvest-log", cache_policy=NO_CACHE)
def finish_task(data_dir: str, options: HarvestOptions) -> None:
    pipeline = _pipeline(data_dir, options)
    try:
        pipeline.finish()
    finally:
        pipeline.close()


@flow(name="repec-harvest", log_prints=True)
def harvest_flow(
    endpoint: str = DEFAULT_ENDPOINT,
    sets: list[str] | None = None,
    metadata_prefix: str | None = None,
    from_date: str | None = None,
    until_date: str | None = None,
    data_dir: str | None = None,
    window: str = "month",
    overlap: str = "1d",
    delay: float | None = None,
    contact: str | None = None,
    retries: int = 4,
    timeout: float = 180.0,
    max_quarantined: float = 0.5,
    backoff: float = 2.0,
) -> list[dict[str, Any]]:
    """Harvest -> normalize -> load, incrementally, as one of the warehouse's writers."""
    options = HarvestOptions.from_text(
        endpoint, sets, metadata_prefix, from_date, until_date, window, overlap, delay, contact,
        retries, timeout, max_quarantined, backoff,
    )  # fmt: skip
    data = DataDir.resolve(data_dir)
    root = str(data.root)
    with data.writing():
        try:
            plan = prepare_task(root, options)
            return [harvest_task(root, options, plan, spec) for spec in plan.specs]
        finally:
            finish_task(root, options)


def build_deployment(data: DataDir, options: HarvestOptions, cron: str, name: str) -> Any:
    return harvest_flow.to_deployment(
        name=name,
        cron=cron,
        parameters={**options.to_text(), "data_dir": str(data.root)},
        description="Incremental RePEc harvest into the warehouse.",
        tags=["repec-harvest"],
    )


@task(name="load-citations", retries=2, retry_delay_seconds=[300, 3600],
      retry_condition_fn=transient_only, cache_policy=NO_CACHE)  # fmt: skip
def citations_task(data_dir: str, source: str, contact: str | None) -> dict[str, Any]:
    return load_citations(DataDir.resolve(data_dir), source, contact)


@flow(name="repec-citations", log_prints=True)
def citations_flow(
    source: str = DEFAULT_ISCITED, data_dir: str | None = None, contact: str | None = None
) -> dict[str, Any]:
    """Replace the citation graph with CitEc's current iscited.txt.gz."""
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
        tags=["repec-harvest"],
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
        tags=["repec-harvest"],
    )


def serve_schedule(
    data: DataDir,
    options: HarvestOptions,
    cron: str,
    name: str,
    citations_cron: str | None = "0 4 1 * *",
    citations_source: str | None = None,
    maintain_cron: str | None = "0 5 * * 0",
) -> None:
    """Serve the scheduled deployments until interrupted, against a running Prefect API."""
    api = get_current_settings().api.url
    if not api:
        raise ConfigError(
            "repec-harvest schedule needs a Prefect server: run `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (Prefect's temporary server is not "
            "reliable for long-running schedules)"
        )
    deployments = [build_deployment(data, options, cron, name)]
    if citations_cron:
        deployments.append(
            build_citations_deployment(data, citations_source, options.contact, citations_cron)
        )
    if maintain_cron:
        deployments.append(build_maintenance_deployment(data, maintain_cron))
    try:
        serve(*deployments)
    except (httpx.HTTPError, OSError) as exc:
        raise ConfigError(f"cannot use the Prefect API at {api}: {exc}") from None
