"""One test per fault a real OAI-PMH endpoint commits: transient ones are retried and the
harvest ends exactly as a clean one would; the others stop the run with a clear error and
keep everything committed so far."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_ITEMS, Clock, query, snapshot
from faults import EXTERNAL_ENTITY, Faults
from test_cli import run

from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.pipeline import HarvestResult, Pipeline
from harvesting.state import StateStore
from provider.server import Provider, serve
from provider.store import RecordStore
from warehouse.health import health


@pytest.fixture
def faults(provider: Provider) -> Faults:
    return Faults(provider, seed=7)


@pytest.fixture
def faulty(provider: Provider, faults: Faults) -> Iterator[str]:
    with serve(provider, before_response=faults) as url:
        yield url


@pytest.fixture(scope="module")
def clean_snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = DataDir(tmp_path_factory.mktemp("clean"))
    provider = Provider(RecordStore.sample(), page_size=10, clock=Clock(_clock_now()))
    with serve(provider) as url:
        [result] = Pipeline(data, HarvestOptions(endpoint=url, delay=0.0)).run()
    assert result.run is not None
    return snapshot(data)


def _clock_now():  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime(2025, 12, 1, 12, 0, 0)


class Sleeps(list[float]):
    """Records the pauses the client asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def harvest(data: DataDir, url: str, sleeps: Sleeps | None = None, **options: Any) -> HarvestResult:
    options = {"delay": 0.0, "retries": 3, "backoff": 0.01, "timeout": 5.0, **options}
    pipeline = Pipeline(data, HarvestOptions(endpoint=url, **options), sleep=sleeps)
    [result] = pipeline.run()
    return result


RETRIED = [
    pytest.param("http_error", {"status": 500}, id="http-500"),
    pytest.param("http_error", {"status": 502}, id="http-502"),
    pytest.param("http_error", {"status": 503}, id="http-503"),
    pytest.param("http_error", {"status": 504}, id="http-504"),
    pytest.param("http_error", {"status": 429}, id="http-429"),
    pytest.param("http_error", {"status": 408}, id="http-408"),
    pytest.param("reset", {}, id="connection-reset"),
    pytest.param("html", {}, id="html-placeholder"),
    pytest.param("html", {"content_type": "text/xml"}, id="html-labelled-xml"),
    pytest.param("wrong_type", {}, id="wrong-content-type"),
    pytest.param("empty", {}, id="empty-body"),
    pytest.param("truncated", {}, id="truncated-xml"),
    pytest.param("cut_connection", {}, id="connection-cut-mid-body"),
    pytest.param("slow", {"seconds": 1.5}, id="read-timeout"),
]


@pytest.mark.parametrize(("fault", "options"), RETRIED)
def test_transient_faults_are_retried_and_lose_nothing(
    data: DataDir, faulty: str, faults: Faults, clean_snapshot: dict[str, Any],
    fault: str, options: dict[str, Any],
) -> None:  # fmt: skip
    faults.on(fault, times=2, after=1, **options)

    result = harvest(data, faulty, timeout=0.5)

    assert faults.injected[fault] == 2
    assert result.run is not None and result.run.status == "complete"
    assert snapshot(data) == clean_snapshot


def test_retry_after_in_seconds_is_honoured(data: DataDir, faulty: str, faults: Faults) -> None:
    faults.on("http_error", times=1, status=503, retry_after=7)
    sleeps = Sleeps()
    assert harvest(data, faulty, sleeps).run is not None
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date_is_honoured(
    data: DataDir, faulty: str, faults: Faults
) -> None:
    faults.on("http_error", times=1, status=429, retry_after_in=30)
    sleeps = Sleeps()
    assert harvest(data, faulty, sleeps).run is not None
    [pause] = sleeps
    assert 25 <= pause <= 30


def test_retry_after_is_capped(data: DataDir, faulty: str, faults: Faults) -> None:
    faults.on("http_error", times=1, status=503, retry_after=86400)
    sleeps = Sleeps()
    assert harvest(data, faulty, sleeps).run is not None
    assert sleeps == [600.0]


def test_backoff_grows_exponentially_with_jitter(
    data: DataDir, faulty: str, faults: Faults
) -> None:
    faults.on("http_error", times=3, status=500)
    sleeps = Sleeps()
    assert harvest(data, faulty, sleeps, backoff=1.0).run is not None
    assert len(sleeps) == 3
    for attempt, pause in enumerate(sleeps, start=1):
        assert 2 ** (attempt - 1) / 2 <= pause <= 2 ** (attempt - 1)


def test_a_lasting_outage_stops_the_run_and_keeps_what_was_committed(
    data: DataDir, faulty: str, faults: Faults, clean_snapshot: dict[str, Any]
) -> None:
    faults.on("http_error", after=3, status=503)  # every ListRecords after the third

    result = harvest(data, faulty, window="none")

    assert result.run is None and result.error is not None and "HTTP 503" in result.error
    state = StateStore(data.state_path)
    [run] = state.runs()
    state.close()
    assert (run.status, run.records, run.token is not None) == ("failed", 30, True)
    faults.off("http_error")
    resumed = harvest(data, faulty, window="none")
    assert resumed.run is not None and resumed.run.run_id == run.run_id
    assert snapshot(data) == clean_snapshot


def test_the_retry_budget_stops_the_run(data: DataDir, faulty: str, faults: Faults) -> None:
    faults.on("http_error", status=500)
    pipeline = Pipeline(data, HarvestOptions(endpoint=faulty, delay=0.0, retries=49, backoff=0.0))
    pipeline.client.retry.budget = 5
    [result] = pipeline.run()
    assert result.run is None
    assert result.error == "retry budget of 5 spent; stopping, all committed pages are kept"


def test_a_token_that_does_not_move_is_an_error(data: DataDir, faulty: str, faults: Faults) -> None:
    faults.on("stuck_token", times=1)
    result = harvest(data, faulty, window="none")
    assert result.run is None and "did not change" in (result.error or "")


def test_endless_empty_pages_are_an_error(data: DataDir, faulty: str, faults: Faults) -> None:
    faults.on("empty_pages", after=1)
    result = harvest(data, faulty, window="none")
    assert result.run is None and "20 empty pages in a row" in (result.error or "")


def test_an_expired_token_restarts_the_window(
    data: DataDir, faulty: str, faults: Faults, clean_snapshot: dict[str, Any]
) -> None:
    faults.on("bad_token", times=1, after=2)
    result = harvest(data, faulty, window="none")
    assert faults.injected["bad_token"] == 1
    assert result.run is not None and result.run.status == "complete"
    assert result.run.records == SAMPLE_ITEMS  # the replayed window is not counted twice
    assert snapshot(data) == clean_snapshot


def test_an_overflowing_window_is_split_down_to_what_the_server_accepts(
    data: DataDir, faulty: str, faults: Faults, clean_snapshot: dict[str, Any]
) -> None:
    faults.on("overflow", max_days=10)  # the server refuses ranges over 10 days

    result = harvest(data, faulty, window="year")

    assert result.run is not None and result.run.status == "complete"
    assert len(result.run.windows) > 20
    assert snapshot(data) == clean_snapshot


def test_a_shortfall_against_complete_list_size_is_not_a_success(
    data: DataDir, faulty: str, faults: Faults, provider: Provider
) -> None:
    faults.on("inflated_count", by=5)

    result = harvest(data, faulty, window="none")

    assert result.run is None
    assert result.error is not None and "54 of 59 records (completeListSize)" in result.error
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]  # data is kept
    assert query(data, "SELECT status, error LIKE 'records missing%' FROM harvest_runs") == [
        ("incomplete", True)
    ]
    assert query(data, "SELECT last_complete_run FROM harvest_state") == [(None,)]
    faults.off("inflated_count")
    provider.requests.clear()
    again = harvest(data, faulty, window="none")  # covers the same dates again
    assert again.run is not None and again.run.records == SAMPLE_ITEMS


@pytest.mark.parametrize("body", [None, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_hostile_xml_is_refused(
    data: DataDir, faulty: str, faults: Faults, body: bytes | None
) -> None:
    faults.on("hostile", **({"body": body} if body else {}))
    result = harvest(data, faulty)
    assert result.run is None
    assert result.error == "The response contains a DTD or entity declarations, which are refused."
    assert not data.catalog.exists() or query(
        data, "SELECT count(*) FROM articles WHERE oai_identifier LIKE '%root%'"
    ) == [(0,)]


def test_an_enormous_response_is_refused_with_bounded_memory(
    data: DataDir, faulty: str, faults: Faults
) -> None:
    faults.on("huge", size=3 << 20)
    options = HarvestOptions(endpoint=faulty, delay=0.0, retries=0, max_page_size=1)
    [result] = Pipeline(data, options).run()  # as --max-page-size 1 says
    assert result.run is None
    assert result.error == f"{faulty} sent a response larger than 1 MiB; refused"


def test_max_page_size_lets_a_larger_page_in(
    capsys: pytest.CaptureFixture[str], data: DataDir, tmp_path: Path
) -> None:
    """Pages of about 1.6 MB: refused with --max-page-size 1, loaded with 2."""
    big = Provider(RecordStore.sample(), page_size=20, token_padding=600_000)  # fat tokens
    with serve(big) as url:
        code, out, _ = run(capsys, "run", "--endpoint", url, "--delay", "0", "--retries", "0",
                           "--window", "none", "--max-page-size", "1",
                           "--data-dir", str(data.root))  # fmt: skip
        assert code == 1 and "larger than 1 MiB" in " ".join(out.split())
        code, out, err = run(capsys, "run", "--endpoint", url, "--delay", "0",
                             "--window", "none", "--max-page-size", "2",
                             "--data-dir", str(data.root))  # fmt: skip
    assert code == 0, err


def test_a_bad_record_is_quarantined_and_the_run_goes_on(
    data: DataDir, faulty: str, faults: Faults
) -> None:
    faults.on("bad_record", times=1)
    result = harvest(data, faulty)
    assert result.run is not None and result.run.status == "complete"
    assert result.run.quarantined == 1
    [(reason, raw)] = query(data, "SELECT reason, raw_xml FROM quarantine")
    assert reason == "record datestamp 'not-a-date' is not a date"
    assert "<datestamp>not-a-date</datestamp>" in raw
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS - 1,)]


def test_a_mostly_broken_source_is_stopped_by_the_error_budget(data: DataDir, clock: Clock) -> None:
    from provider.store import StoredRecord

    store = RecordStore()
    for n in range(150):
        bad = (
            '<amf xmlns="http://amf.openlib.org"><person/></amf>'
            if n % 3
            else (
                f'<amf xmlns="http://amf.openlib.org"><text id="RePEc:abc:wpaper:{n}">'
                "<title>Fine</title></text></amf>"
            )
        )
        store.put(StoredRecord(f"oai:RePEc:abc:wpaper:{n}", "2025-11-01", [], False, {"amf": bad}))
    with serve(Provider(store, page_size=25, clock=clock)) as url:
        result = harvest(data, url)
    first_four_pages = sorted(r.identifier for r in store.records())[:100]
    broken = sum(1 for i in first_four_pages if int(i.rsplit(":", 1)[1]) % 3)
    assert result.run is None
    assert result.error == (
        f"{broken} of 100 records quarantined, more than 50%: the source looks broken, "
        "stopping (see `repec-harvest status`)"
    )
    assert query(data, "SELECT count(*) FROM quarantine") == [(broken,)]  # kept, and reported


def test_each_run_logs_the_retries_its_requests_took(
    data: DataDir, faulty: str, faults: Faults
) -> None:
    faults.on("http_error", times=2, after=3, status=503)
    first = harvest(data, faulty)
    assert faults.injected["http_error"] == 2
    assert first.run is not None and first.run.retries == 2
    faults.on("http_error", status=500)  # the next run fails on its first ListRecords
    failed = harvest(data, faulty, retries=2)
    assert failed.run is None and failed.error
    logged = query(data, "SELECT status, retries FROM harvest_runs ORDER BY started_at")
    state = StateStore(data.state_location)
    try:  # the state's log says the same
        assert [(r.status, r.retries) for r in state.runs()] == logged
    finally:
        state.close()
    assert logged[0] == ("complete", 2)
    assert logged[1][0] == "failed" and logged[1][1] >= 1


def test_runs_logged_before_retries_were_counted_say_so(data: DataDir, faulty: str) -> None:
    assert harvest(data, faulty).run is not None
    with closing(sqlite3.connect(data.state_path)) as db:  # as an earlier version left it
        db.execute("ALTER TABLE runs DROP COLUMN retries")
        db.commit()
    state = StateStore(data.state_location)  # upgraded: the column is back, unknown
    try:
        assert [r.retries for r in state.runs()] == [None]
    finally:
        state.close()
    again = harvest(data, faulty)
    assert again.run is not None and again.run.retries == 0
    logged = query(data, "SELECT retries FROM harvest_runs ORDER BY started_at")
    assert logged == [(None,), (0,)]


def test_a_warehouse_whose_log_has_no_retries_column_still_shows_its_runs(
    data: DataDir, faulty: str
) -> None:
    """As a warehouse made before retries were counted reads, until its next harvest."""
    assert harvest(data, faulty).run is not None
    with data.warehouse() as warehouse, warehouse.connect() as con:
        con.execute("ALTER TABLE harvest_runs DROP COLUMN retries")
    with data.warehouse() as warehouse:
        [runs] = health(warehouse).runs.values()
    assert [r["retries"] for r in runs] == [None] and runs[0]["status"] == "complete"
