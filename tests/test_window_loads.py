"""Finished windows are loaded by a background loader, several at a time: batching never
changes the result, and a window whose load did not happen is loaded when the run resumes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import SAMPLE_ITEMS, TALIBAN, Clock, harvest, query, snapshot, staged_windows

from flows import storage
from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.pipeline import Pipeline
from provider.server import Provider, serve
from provider.store import RecordStore
from schemas.errors import WarehouseError
from warehouse import database, loader
from warehouse.catalog import Catalog
from warehouse.database import Warehouse
from warehouse.loader import Loader, WindowJob
from warehouse.staging import Staging


def versions(warehouse: Warehouse) -> list[tuple[object, ...]]:
    return warehouse.query(
        "SELECT handle_key, metadata_prefix, deleted, title, datestamp FROM article_versions "
        "ORDER BY ALL"
    )[1]


def fresh(folder: Path) -> Warehouse:
    return Warehouse(Catalog.at(folder / "catalog.sqlite", folder / "warehouse"))


def test_windows_loaded_together_equal_windows_loaded_one_by_one(
    tmp_path: Path, store: RecordStore, clock: Clock
) -> None:
    data = DataDir(tmp_path / "data")
    with serve(Provider(store, page_size=10, clock=clock)) as url:
        harvest(data, url, window="month")
        record = store.get(f"oai:{TALIBAN}")
        assert record is not None
        record.deleted, record.datestamp = True, "2025-12-03"  # live in one run, gone in the next
        clock.now = datetime(2025, 12, 4)
        harvest(data, url, window="month")
    windows = staged_windows(data, tmp_path / "staged")
    assert len(windows) >= 3

    one_by_one = fresh(tmp_path / "one")
    for window in windows:
        one_by_one.load_window(window)
    together = fresh(tmp_path / "together")
    together.load_windows(windows)

    assert versions(together) == versions(one_by_one)
    for sql in ("SELECT * EXCLUDE (field_sources) FROM articles ORDER BY handle_key",
                "SELECT * FROM authors ORDER BY ALL"):  # fmt: skip
        assert together.query(sql) == one_by_one.query(sql)
    [(deleted, title)] = together.query(
        f"SELECT deleted, title FROM articles WHERE handle = '{TALIBAN}'"
    )[1]
    assert deleted and title.startswith("Embracing the Taliban")  # the tombstone keeps it


class FailingOnce(Warehouse):
    """A warehouse whose first load of records fails (a full disk, say)."""

    failed = False

    def load_windows(
        self,
        windows: Sequence[dict[str, Path]],
        loads: pa.Table | None = None,
        entities: dict[str, Path] | None = None,
    ) -> None:
        if any(windows) and not FailingOnce.failed:
            FailingOnce.failed = True
            raise WarehouseError("disk full")
        super().load_windows(windows, loads, entities)


def test_a_window_whose_load_failed_is_loaded_when_the_run_resumes(
    tmp_path: Path, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    clean = DataDir(tmp_path / "clean")
    harvest(clean, endpoint, window="month")
    data = DataDir(tmp_path / "data")
    pipeline = Pipeline(data, HarvestOptions(endpoint=endpoint, delay=0.0, window="month"))
    pipeline.storage.db = FailingOnce(data.catalog, data.scratch)

    with pytest.raises(WarehouseError, match="disk full"):
        pipeline.run()
    assert query(data, "SELECT status FROM harvest_runs") == [("failed",)]

    with caplog.at_level("INFO", logger="flows.storage"):
        [result] = harvest(data, endpoint, window="month")  # resumes the failed run

    assert "(interrupted)" in caplog.text  # finished windows loaded on resume

    assert result.run is not None and result.run.status == "complete"
    assert snapshot(data) == snapshot(clean)
    assert query(data, "SELECT count(*) FROM live_articles") == [(SAMPLE_ITEMS - 1,)]
    loads = query(data, "SELECT count(*), count(DISTINCT window_index) FROM window_loads")
    assert loads[0][0] == loads[0][1]  # each window loaded once


class RecordingStorage:
    """Stands in for the warehouse: records each load's windows."""

    def __init__(self) -> None:
        self.loads: list[list[int]] = []
        self.loaded = threading.Event()

    def __call__(self, jobs: list[WindowJob]) -> None:
        self.loads.append([j.window for j in jobs])
        self.loaded.set()


def job(window: int, pages: int = 1) -> WindowJob:
    return WindowJob("h", "r", window, pages)


def test_the_loader_waits_for_a_batch_of_pages_before_loading() -> None:
    storage = RecordingStorage()
    loader = Loader(storage, batch_pages=3, load_after=60)
    loader.submit(job(0))
    loader.submit(job(1))
    assert not storage.loaded.wait(0.3)
    loader.submit(job(2))
    assert storage.loaded.wait(10)
    loader.settle()
    assert storage.loads == [[0, 1, 2]]


def test_a_window_left_waiting_is_loaded_after_a_while_without_a_full_batch() -> None:
    storage = RecordingStorage()
    loader = Loader(storage, batch_pages=1000, load_after=0.2)
    loader.submit(job(0, pages=5))
    assert storage.loaded.wait(10), "a lone window must not wait for the end of the run"
    loader.settle()
    assert storage.loads == [[0]]


def test_settle_loads_what_waits_and_keeps_the_newest_job_of_each_window() -> None:
    storage = RecordingStorage()
    loader = Loader(storage, batch_pages=1000, load_after=60)
    loader.submit(job(0, pages=2))
    loader.submit(job(1, pages=1))
    loader.submit(job(0, pages=4))  # the same window again, after a partial flush
    loader.settle()
    assert storage.loads == [[1, 0]]


def test_a_load_needs_memory_for_its_batch_not_for_the_whole_warehouse(
    tmp_path: Path, store: RecordStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = DataDir(tmp_path / "data")
    with serve(Provider(store, page_size=10, clock=clock)) as url:
        harvest(data, url)
        with data.warehouse() as warehouse, warehouse.connect() as con:  # a million others
            con.execute(
                "INSERT INTO article_versions BY NAME SELECT 'RePEc:bench:wpaper:' || i AS handle,"
                " 'repec:bench:wpaper:' || i AS handle_key, 'oai:RePEc:bench:wpaper:' || i"
                " AS oai_identifier, 'oai_dc' AS metadata_prefix, false AS deleted,"
                " 'r' || i AS record_id FROM range(1000000) t(i)"
            )
            con.execute(
                "INSERT INTO author_versions BY NAME SELECT 'repec:bench:wpaper:' || (i // 3)"
                " AS handle_key, 'oai_dc' AS metadata_prefix, 'Author ' || i AS name,"
                " 'r' || (i // 3) AS record_id FROM range(3000000) t(i)"
            )
        monkeypatch.setattr(database, "MEMORY_LIMIT", "48MB")
        record = store.get(f"oai:{TALIBAN}")
        assert record is not None
        record.deleted, record.datestamp = True, "2025-12-03"
        clock.now = datetime(2025, 12, 4)
        [result] = harvest(data, url)  # a batch with a deletion, in 48 MB

    assert result.run is not None and result.run.status == "complete"
    assert query(data, f"SELECT deleted FROM articles WHERE handle = '{TALIBAN}'") == [(True,)]


def test_stop_loads_what_waits_and_ends_the_thread() -> None:
    storage = RecordingStorage()
    loader = Loader(storage, batch_pages=1000, load_after=60)
    loader.submit(job(0))
    thread = loader._thread
    loader.stop()
    assert storage.loads == [[0]]
    assert thread is not None and not thread.is_alive()


def test_one_long_window_loads_in_parts_as_it_goes_and_resumes_after_its_last_part(
    tmp_path: Path, store: RecordStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--window none``: one window for the whole harvest, loaded in parts of the largest
    load while it is harvested (never all at once), each part recorded; a load that fails
    midway is taken up where it stopped, and the result is a clean run's."""
    monkeypatch.setattr(loader, "MAX_BATCH_PAGES", 2)
    monkeypatch.setattr(storage, "MAX_BATCH_PAGES", 2)
    loads: list[tuple[int, int]] = []
    fail_at: list[int] = []  # the loads (counted from 1) that fail
    real = loader.seal_and_load

    def recording(staging: Staging, warehouse: Warehouse, jobs: list[WindowJob]) -> None:
        loads.extend((j.first, j.pages) for j in jobs)
        if len(loads) in fail_at:
            raise WarehouseError("disk full")
        real(staging, warehouse, jobs)

    monkeypatch.setattr(loader, "seal_and_load", recording)
    with serve(Provider(store, page_size=10, clock=clock)) as url:
        clean = DataDir(tmp_path / "clean")
        harvest(clean, url, window="none")
        pages = loads[-1][1]
        assert pages > 4
        assert loads == [(first, min(first + 1, pages)) for first in range(1, pages + 1, 2)]
        loads.clear()
        fail_at.append(2)
        data = DataDir(tmp_path / "data")
        with pytest.raises(WarehouseError, match="disk full"):
            harvest(data, url, window="none")
        assert query(data, "SELECT max(pages) FROM window_loads") == [(2,)]
        loads.clear()
        fail_at.clear()
        [result] = harvest(data, url, window="none")
    assert result.run is not None and result.run.status == "complete"
    assert loads[0][0] == 3  # taken up after the last part loaded
    assert snapshot(data) == snapshot(clean)
