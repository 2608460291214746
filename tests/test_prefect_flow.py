"""The Prefect flow runs the same pipeline as the CLI; its deployment is scheduled daily;
tasks are retried only for transient errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_ITEMS, TALIBAN, Clock, harvest, query, snapshot
from test_cli import free_port
from test_parallel import TimedProvider

from flows.datadir import DataDir
from flows.options import HarvestOptions
from provider.server import Provider, serve
from provider.store import RecordStore
from schemas.errors import ConfigError, EndpointUnreachable, UnknownSet

prefect = pytest.importorskip("prefect")
from prefect import get_client  # noqa: E402
from prefect.client.schemas.actions import WorkPoolCreate  # noqa: E402
from prefect.client.schemas.filters import (  # noqa: E402
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import ConcurrencyLimitStrategy  # noqa: E402
from prefect.deployments import run_deployment  # noqa: E402
from prefect.exceptions import ObjectNotFound  # noqa: E402
from prefect.logging.handlers import APILogHandler  # noqa: E402
from prefect.settings import get_current_settings  # noqa: E402
from prefect.states import Completed, Failed, Scheduled  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from flows.harvest_flow import (  # noqa: E402
    build_citations_deployment,
    build_deployment,
    build_maintenance_deployment,
    build_reconcile_deployment,
    citations_flow,
    deploy_to_pool,
    harvest_flow,
    harvest_task,
    maintain_flow,
    on_dask,
    prepare_task,
    reconcile_flow,
    redif_flow,
    transient_only,
)


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.prefect
def test_the_flow_harvests_into_the_warehouse(
    prefect_server: None, data: DataDir, endpoint: str
) -> None:
    options = [HarvestOptions(endpoint=endpoint, delay=0.0)]
    state = harvest_flow(endpoints=options, data_dir=str(data.root), return_state=True)
    results = state.result()

    assert [(r["status"], r["records"]) for r in results] == [("complete", SAMPLE_ITEMS)]
    assert query(data, "SELECT flow_run_id FROM harvest_runs") == [
        (str(state.state_details.flow_run_id),)
    ]  # which flow run did it
    assert query(data, f"SELECT year, pages FROM live_articles WHERE handle = '{TALIBAN}'") == [
        (2025, "515-537")
    ]
    again = harvest_flow(endpoints=options, data_dir=str(data.root))
    assert [r["records"] for r in again] == [0]  # incremental: nothing changed


def test_tasks_retry_only_transient_errors() -> None:
    assert transient_only(harvest_task, None, Failed(data=EndpointUnreachable("down")))  # type: ignore[arg-type]
    assert not transient_only(harvest_task, None, Failed(data=UnknownSet("no such set")))  # type: ignore[arg-type]
    assert not transient_only(prepare_task, None, Failed(data=ConfigError("bad")))  # type: ignore[arg-type]
    assert not transient_only(prepare_task, None, Completed())  # type: ignore[arg-type]
    assert harvest_task.retries > 0 and harvest_task.retry_condition_fn is transient_only
    assert prepare_task.retries > 0 and prepare_task.retry_condition_fn is transient_only


def test_the_deployment_runs_daily_with_the_cli_options(data: DataDir) -> None:
    options = HarvestOptions(endpoint="https://oai.repec.org/", sets=["RePEc:sae:asseca"])
    deployment = build_deployment(data, [options], cron="0 3 * * *", name="daily-harvest")

    assert deployment.name == "daily-harvest"
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 3 * * *"
    [endpoint] = deployment.parameters["endpoints"]
    assert HarvestOptions.model_validate(endpoint) == options
    assert deployment.parameters["data_dir"] == str(data.root)


@pytest.mark.parametrize("build", ["harvest", "citations", "maintenance", "reconcile"])
def test_every_deployment_runs_one_at_a_time_and_queues_the_next(data: DataDir, build: str) -> None:
    deployment = {
        "harvest": lambda: build_deployment(data, [HarvestOptions()], "0 3 * * *", "daily"),
        "citations": lambda: build_citations_deployment(data, None, None, cron="0 4 1 * *"),
        "maintenance": lambda: build_maintenance_deployment(data, cron="0 5 * * 0"),
        "reconcile": lambda: build_reconcile_deployment(data, [HarvestOptions()], "0 6 * * 6"),
    }[build]()
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options is not None
    assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert deployment.enforce_parameter_schema  # a bad parameter is refused when a run is made


def test_a_deployment_made_with_dask_runs_its_sets_on_the_cluster_it_names(
    data: DataDir, tmp_path: Path
) -> None:
    pytest.importorskip("prefect_dask")
    deployment = build_deployment(data, [HarvestOptions()], "0 3 * * *", "daily", 8, dask="2")

    assert deployment.entrypoint == "flows.on_dask.harvest_on_dask"
    assert deployment.job_variables == {"env": {"REPEC_HARVEST_DASK": "2"}}
    # the run's process reads where from its environment, as a worker or `serve` starts it
    check = ("from flows.on_dask import harvest_on_dask as f; r = f.task_runner; "
             "print(type(r).__name__, r.cluster_kwargs['n_workers'], f.name)")  # fmt: skip
    env = {**os.environ, "REPEC_HARVEST_DASK": "2"}
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    assert done.stdout.split() == ["DaskTaskRunner", "2", "repec-harvest"]
    with pytest.raises(ConfigError, match="--dask 'fast': give a scheduler address"):
        build_deployment(data, [HarvestOptions()], "0 3 * * *", "daily", dask="fast")


@pytest.mark.prefect
def test_the_citation_flow_loads_the_graph(prefect_server: None, data: DataDir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "iscited.txt"
    source.write_text("RePEc:a:b:1 RePEc:c:d:2#RePEc:e:f:3\n")
    log = citations_flow(source=str(source), data_dir=str(data.root))
    assert log["edges"] == 2
    assert query(data, "SELECT cited_by FROM citation_counts WHERE handle = 'RePEc:a:b:1'") == [
        (2,)
    ]


def test_the_citation_deployment_runs_monthly(data: DataDir) -> None:
    deployment = build_citations_deployment(data, None, None, cron="0 4 1 * *")
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 4 1 * *"
    assert deployment.parameters["source"].endswith("RePEc/cit/conf/iscited.txt.gz")


@pytest.mark.prefect
def test_the_redif_flow_loads_a_folder(prefect_server: None, data: DataDir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "x.redif").write_text(
        "Template-Type: ReDIF-Paper 1.0\nTitle: T\nHandle: RePEc:tst:wpaper:1\n"
    )
    report = redif_flow(path=str(tmp_path), data_dir=str(data.root))
    assert (report["read"], report["items"]) == (1, 1)


def test_the_maintenance_deployment_runs_weekly(data: DataDir) -> None:
    deployment = build_maintenance_deployment(data, cron="0 5 * * 0")
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 5 * * 0"
    assert deployment.parameters == {"data_dir": str(data.root), "retention": "30d"}


@pytest.mark.prefect
def test_the_maintenance_flow_compacts_the_warehouse(
    prefect_server: None, data: DataDir, endpoint: str
) -> None:
    harvest_flow(endpoints=[HarvestOptions(endpoint=endpoint, delay=0.0)], data_dir=str(data.root))
    before = query(data, "SELECT * EXCLUDE (field_sources) FROM articles ORDER BY handle_key")
    report = maintain_flow(data_dir=str(data.root))
    assert report["files_after"] <= report["files_before"]
    assert query(data, "SELECT * EXCLUDE (field_sources) FROM articles ORDER BY handle_key") == (
        before
    )


def test_the_flow_parameters_are_typed_and_described() -> None:
    schema = harvest_flow.parameters.model_dump()
    options = schema["definitions"]["HarvestOptions"]["properties"]
    assert options["window"]["enum"] == ["day", "week", "month", "year", "none"]
    assert "pattern" in options["overlap"]
    assert all(field.get("description") for field in options.values())


@pytest.mark.prefect
def test_a_bad_parameter_fails_before_any_request(
    prefect_server: None, data: DataDir, provider: Provider, endpoint: str
) -> None:
    state = harvest_flow(endpoints=[{"endpoint": endpoint, "window": "fortnight"}],  # type: ignore[list-item]
                         data_dir=str(data.root), return_state=True)  # fmt: skip
    assert state.is_failed()
    assert "'fortnight' is not one of day, week, month, year, none" in str(state.message)
    assert provider.requests == []


@pytest.mark.prefect
def test_one_failing_endpoint_does_not_stop_the_others_and_the_run_says_which(
    prefect_server: None, data: DataDir, endpoint: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/oai"
    endpoints = [HarvestOptions(endpoint=closed, delay=0.0, retries=0),
                 HarvestOptions(endpoint=endpoint, delay=0.0)]  # fmt: skip
    state = harvest_flow(endpoints=endpoints, data_dir=str(data.root), return_state=True)

    assert state.is_failed()
    assert "1 of 2 harvests failed: " in str(state.message) and closed in str(state.message)
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]
        assert run.name.startswith("harvest 127.0.0.1:")
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    kinds = {a.key: a for a in artifacts}
    assert SAMPLE_ITEMS and "| complete |" in str(kinds["harvest-summary"].data)
    assert closed in str(kinds["harvest-failures"].data)


@pytest.mark.prefect
def test_the_reconcile_flow_deletes_what_is_gone_and_fails_naming_a_held_set(
    prefect_server: None, data: DataDir, endpoint: str, store: RecordStore, clock: Clock
) -> None:
    sets = ["RePEc:sae:asseca", "RePEc:nbr:nberwo"]
    options = [HarvestOptions(endpoint=endpoint, delay=0.0, sets=sets, max_vanished=0.2)]
    harvest(data, endpoint, sets=sets)
    gone = [r for r in store.records() if "RePEc:nbr:nberwo" in r.sets and not r.deleted]
    store.remove(gone[0].identifier)  # 1 of 8 in one set
    for record in store.records():  # all of the other
        if "RePEc:sae:asseca" in record.sets:
            store.remove(record.identifier)
    clock.now += timedelta(days=7)

    state = reconcile_flow(endpoints=options, data_dir=str(data.root), return_state=True)

    assert state.is_failed()
    message = str(state.message)
    assert "1 of 2 reconciliations failed or were held: " in message
    assert "RePEc:sae:asseca: 7 of 7 items (100.0%) are no longer listed" in message
    assert query(data, "SELECT set_spec, status, tombstoned FROM reconciliations ORDER BY 1") == [
        ("RePEc:nbr:nberwo", "applied", 1), ("RePEc:sae:asseca", "held", 0)]  # fmt: skip
    handle = gone[0].identifier.removeprefix("oai:")
    assert query(data, f"SELECT deleted FROM articles WHERE handle = '{handle}'") == [(True,)]
    assert query(data, "SELECT count(*) FROM live_articles WHERE series_handle = "
                 "'RePEc:sae:asseca'")[0][0] == 7  # fmt: skip


@pytest.mark.prefect
def test_the_projects_own_log_lines_reach_the_runs_logs(
    prefect_server: None, data: DataDir, endpoint: str
) -> None:
    options = [HarvestOptions(endpoint=endpoint, delay=0.0, window="year")]
    state = harvest_flow(endpoints=options, data_dir=str(data.root), return_state=True)
    assert state.is_completed()
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id])  # type: ignore[list-item]
            )
        )
    ours = [entry for entry in logs if entry.name.startswith("harvesting.")]
    assert any("harvested:" in entry.message for entry in ours), [e.name for e in logs]
    assert all(entry.task_run_id for entry in ours)  # each under its set's task


@pytest.mark.prefect
@pytest.mark.parametrize("on_dask", [False, True], ids=["threads", "dask"])
def test_a_worker_of_the_work_pool_runs_the_deployed_harvest(
    prefect_server: None, data: DataDir, endpoint: str, on_dask: bool
) -> None:
    cluster = None
    if on_dask:  # a cluster of its own, named by address (as a real one on other machines)
        distributed = pytest.importorskip("distributed")
        pytest.importorskip("prefect_dask")
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None)  # fmt: skip
    sets = ["RePEc:sae:asseca", "RePEc:nbr:nberwo"] if on_dask else []
    options = [HarvestOptions(endpoint=endpoint, delay=0.0, window="year", sets=sets)]
    try:
        names = deploy_to_pool(
            data, options, "test-pool", cron="0 3 * * *", name="daily-harvest",
            citations_cron=None, maintain_cron=None, reconcile_cron=None, parallel=2,
            dask=cluster.scheduler_address if cluster else None,
        )  # fmt: skip
        assert names == ["repec-harvest/daily-harvest"]
        flow_run = run_deployment("repec-harvest/daily-harvest", timeout=0)
        env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
        worker = subprocess.run(
            [str(Path(sys.executable).with_name("prefect")), "worker", "start", "--pool",
             "test-pool", "--run-once"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr[-3000:]
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(flow_run.id).state  # type: ignore[union-attr]
        assert state is not None and state.is_completed(), (state, worker.stdout[-3000:])
        if cluster is not None:  # the prepare and both sets ran on the cluster's workers
            assert {"prepare_task", "harvest_task"} <= set(cluster.scheduler.task_prefixes)
            assert query(data, "SELECT count(*) FROM articles") == [(7 + 8,)]
        else:
            assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]
    finally:
        if cluster is not None:
            cluster.close()


@pytest.mark.prefect
def test_prefect_deploy_all_registers_the_projects_prefect_yaml(prefect_server: None) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool("repec-harvest")
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name="repec-harvest", type="process"))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("prefect")), "--no-prompt", "deploy", "--all"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
    for name in ("daily-harvest", "monthly-citations", "weekly-maintenance", "weekly-reconcile"):
        deployment = deployments[name]
        assert deployment.work_pool_name == "repec-harvest"
        assert deployment.global_concurrency_limit is not None
        assert deployment.global_concurrency_limit.limit == 1
        assert deployment.concurrency_options is not None
        assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
        assert deployment.schedules and deployment.schedules[0].active
    harvest = deployments["daily-harvest"]
    assert harvest.parameter_openapi_schema["definitions"]["HarvestOptions"]  # typed in the UI
    [endpoint] = harvest.parameters["endpoints"]
    assert HarvestOptions.model_validate(endpoint).window == "month"


@pytest.mark.prefect
def test_the_flow_harvests_sets_at_once_into_the_same_warehouse_as_one_after_another(
    prefect_server: None, data: DataDir, endpoint: str, tmp_path: Path
) -> None:
    sets = ["RePEc:sae:asseca", "RePEc:nbr:nberwo", "RePEc:eee:jeborg", "RePEc:eee:eneeco"]
    options = [HarvestOptions(endpoint=endpoint, delay=0.0, sets=sets, window="year")]
    results = harvest_flow(endpoints=options, data_dir=str(data.root), parallel=4)

    assert sorted((r["set"], r["status"]) for r in results) == [
        (s, "complete") for s in sorted(sets)
    ]
    sequential = DataDir(tmp_path / "sequential")
    harvest(sequential, endpoint, sets=sets, window="year")
    assert snapshot(data) == snapshot(sequential)


@pytest.mark.prefect
def test_eight_sets_on_a_dask_cluster_of_four_processes_equal_a_sequential_run(
    prefect_server: None, data: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("prefect_dask")
    # the worker processes report to the same Prefect API
    monkeypatch.setenv("PREFECT_API_URL", str(get_current_settings().api.url))
    server = TimedProvider(RecordStore.sample(), page_size=2, clock=Clock(datetime(2025, 12, 1)))
    sets = sorted({s for record in server.store.records() for s in record.sets})
    assert len(sets) == 8
    with serve(server) as url:
        options = [HarvestOptions(endpoint=url, delay=0.05, sets=sets, window="year")]
        results = on_dask(workers=4)(endpoints=options, data_dir=str(data.root), parallel=8)
        times = list(server.times)
        sequential = DataDir(tmp_path / "sequential")
        harvest(sequential, url, sets=sets, window="year")

    assert sorted((r["set"], r["status"]) for r in results) == [(s, "complete") for s in sets]
    assert snapshot(data) == snapshot(sequential)
    # the host's 20 requests a second held across the four worker processes (+1: jitter)
    busiest = max(sum(1 for u in times if t <= u < t + 0.5) for t in times)
    assert len(times) > 30 and busiest <= 12, (len(times), busiest)


def schedule_process(endpoint: str, data: DataDir, name: str) -> subprocess.Popen[bytes]:
    """`repec-harvest schedule` serving the harvest deployment ``name``, as a service would."""
    env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
    command = [sys.executable, "-c", "from flows.cli import entry; entry()", "schedule",
               "--endpoint", endpoint, "--delay", "0", "--name", name, "--citations-cron",
               "off", "--maintain-cron", "off", "--data-dir", str(data.root)]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)  # as a service manager stops it
    process.wait(60)


def until(check: Any, what: str, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"no {what} after {seconds} s")


def deployment(client: Any, name: str) -> Any:
    try:
        return client.read_deployment_by_name(f"repec-harvest/{name}")
    except ObjectNotFound:
        return None


def final_state(client: Any, run_id: Any) -> Any:
    state = client.read_flow_run(run_id).state
    return state if state is not None and state.is_final() else None


@pytest.mark.prefect
def test_a_run_due_while_schedule_was_stopped_runs_when_it_is_back(
    prefect_server: None, data: DataDir, endpoint: str
) -> None:
    with get_client(sync_client=True) as client:
        first = schedule_process(endpoint, data, "missed")
        try:
            until(lambda: deployment(client, "missed"), "deployment")
        finally:
            stop(first)
        served = deployment(client, "missed")
        assert not served.paused  # stopping paused nothing
        due = client.create_flow_run_from_deployment(  # its time came while nothing served it
            served.id, state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(minutes=1))
        )
        second = schedule_process(endpoint, data, "missed")
        try:
            state = until(lambda: final_state(client, due.id), "final state of the missed run")
        finally:
            stop(second)
    assert state.is_completed(), state
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


@pytest.mark.prefect
def test_a_run_due_while_another_runs_waits_its_turn_instead_of_failing(
    prefect_server: None, data: DataDir, endpoint: str
) -> None:
    with get_client(sync_client=True) as client:
        process = schedule_process(endpoint, data, "queued")
        try:
            served = until(lambda: deployment(client, "queued"), "deployment")
            runs = [client.create_flow_run_from_deployment(served.id) for _ in range(2)]
            states = [until(lambda r=r: final_state(client, r.id), "final state") for r in runs]
            done = sorted((client.read_flow_run(r.id) for r in runs), key=lambda r: r.start_time)
        finally:
            stop(process)
    assert all(state.is_completed() for state in states), states
    assert done[0].end_time <= done[1].start_time  # one after the other, none failed
