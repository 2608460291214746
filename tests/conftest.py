"""Shared fixtures: a local OAI-PMH provider over the bundled sample, a data dir, and
helpers to harvest and query. Everything networked runs on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.pipeline import HarvestResult, Pipeline
from provider.server import Provider, serve
from provider.store import RecordStore
from tests.browser import chromium  # noqa: F401  # the headless-browser fixture
from warehouse.database import Warehouse

#: Speed belongs in benchmarks, never in a test's verdict: on a loaded machine Hypothesis's
#: deadline and its slow-generation check fail tests that are right.
settings.register_profile("no-timing", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("no-timing")

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "repec-samples"
TALIBAN = "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"
SAMPLE_ITEMS = 54  # 53 live records and 1 deleted record in provider/sample


class Clock:
    """The provider's clock, which tests move forward between harvests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store() -> RecordStore:
    return RecordStore.sample()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 12, 1, 12, 0, 0))


@pytest.fixture
def provider(store: RecordStore, clock: Clock) -> Provider:
    return Provider(store, page_size=10, clock=clock)


@pytest.fixture
def endpoint(provider: Provider) -> Iterator[str]:
    with serve(provider) as url:
        yield url


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data")


def harvest(data: DataDir, endpoint: str, **options: Any) -> list[HarvestResult]:
    """The pipeline as `repec-harvest run` runs it, with no pauses between requests."""
    options = {"delay": 0.0, "retries": 1, "backoff": 0.01, **options}
    return Pipeline(data, HarvestOptions(endpoint=endpoint, **options)).run()


#: Readers opened by ``query`` during a test (opening one costs a quarter of a second).
_READERS: dict[DataDir, Warehouse] = {}


@pytest.fixture(autouse=True)
def _close_readers() -> Iterator[None]:
    yield
    for reader in _READERS.values():
        reader.close()
    _READERS.clear()


def query(data: DataDir, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one query, as `repec-harvest sql` runs it."""
    if data not in _READERS:
        _READERS[data] = data.warehouse()
    return _READERS[data].query(sql)[1]


def snapshot(data: DataDir) -> dict[str, list[tuple[Any, ...]]]:
    """The user-visible content of the warehouse, without per-run provenance columns (nor
    the endpoint URL, so that harvests of the same records on two ports compare equal)."""
    return {
        "articles": query(
            data,
            "SELECT * EXCLUDE (record_id, harvested_at, endpoint, harvest_id) FROM articles "
            "ORDER BY handle_key",
        ),
        "authors": query(
            data,
            "SELECT * EXCLUDE (record_id) FROM authors ORDER BY handle_key, role, position",
        ),
        "series": query(
            data, "SELECT * EXCLUDE (listed_at, endpoint) FROM series ORDER BY handle_key"
        ),
    }


def staged_windows(
    data: DataDir, folder: Path, runs: list[str] | None = None
) -> list[dict[str, Path]]:
    """The windows of the raw archive (of ``runs`` only, if given), normalized and sealed again
    under ``folder`` as a harvest stages them: the files a load reads."""
    from flows.rebuild import _windows, normalize_pages
    from harvesting.archive import RawArchive
    from warehouse.staging import Staging

    archive = RawArchive(data.raw)
    manifests = [m for m in archive.manifests() if "_endpoints" not in m.parts
                 and (runs is None or m.parent.name in runs)]  # fmt: skip
    staging = Staging(folder)
    sealed = []
    for window in _windows(archive, manifests):
        normalize_pages(archive.root, folder, window)
        first = window[0]
        sealed.append(
            staging.seal_window(first.harvest_id, first.run_id, first.window, len(window))
        )
    return sealed


@pytest.fixture(scope="session")
def web_sample(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    """The sample warehouse the web tests browse (``tests/web_server.py``), made once."""
    from tests.web_server import sample_warehouse

    return sample_warehouse(tmp_path_factory.mktemp("web") / "data")


@pytest.fixture(scope="session")
def web_site(web_sample: DataDir) -> Iterator[str]:
    """The web app over ``web_sample`` on 127.0.0.1: its base URL."""
    from tests.web_server import web_server

    with web_server(web_sample) as base:
        yield base
