"""A warehouse shared by several machines: the catalog and the harvest state in PostgreSQL (a
real server, started for these tests), each machine with a data dir of its own."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import SAMPLE_ITEMS, harvest, query
from postgres import new_database, server, why_not

from flows.citations import load_citations
from flows.cli import main
from flows.datadir import DataDir
from flows.demo import SAMPLE_CITATIONS
from flows.rebuild import rebuild
from flows.status import harvest_status
from harvesting.identity import HarvestSpec
from harvesting.state import StateStore
from schemas.errors import DataDirLocked

pytestmark = pytest.mark.skipif(why_not() is not None, reason=str(why_not()))


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="repec-harvest-pg-"))
    folder.chmod(0o755)  # the server's own user must reach its folder
    try:
        with server(folder / "server") as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def catalog(postgres: str) -> str:
    return new_database(postgres)


def machine(tmp_path: Path, name: str, catalog: str) -> DataDir:
    """One machine's data dir; the data files are shared (a bucket, in real life)."""
    return DataDir(tmp_path / name, catalog_url=catalog, data_path=str(tmp_path / "shared"))


def test_a_harvest_lands_in_the_shared_catalog(tmp_path: Path, endpoint: str, catalog: str) -> None:
    data = machine(tmp_path, "a", catalog)
    [result] = harvest(data, endpoint)
    load_citations(data, str(SAMPLE_CITATIONS))

    assert result.run is not None and result.run.status == "complete"
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]
    assert query(data, "SELECT count(*) > 0 FROM article_citation_counts") == [(True,)]
    assert not (data.root / "catalog.sqlite").exists()
    assert not (data.root / "state.sqlite").exists()  # the state is in PostgreSQL too


def test_two_machines_harvest_two_sets_at_once_and_see_each_others_state(
    tmp_path: Path, endpoint: str, catalog: str
) -> None:
    a, b = machine(tmp_path, "a", catalog), machine(tmp_path, "b", catalog)
    results: dict[str, object] = {}

    def work(data: DataDir, set_spec: str) -> None:
        results[set_spec] = harvest(data, endpoint, sets=[set_spec])

    threads = [threading.Thread(target=work, args=(a, "RePEc:sae:asseca")),
               threading.Thread(target=work, args=(b, "RePEc:nbr:nberwo"))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert len(results) == 2
    series = {s for (s,) in query(a, "SELECT DISTINCT series_handle FROM articles")}
    assert series == {"RePEc:sae:asseca", "RePEc:nbr:nberwo"}
    assert {s.set_spec for s in harvest_status(b)} == {"RePEc:sae:asseca", "RePEc:nbr:nberwo"}


def test_the_same_harvest_on_another_machine_is_refused(
    tmp_path: Path, endpoint: str, catalog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = machine(tmp_path, "a", catalog), machine(tmp_path, "b", catalog)
    spec = HarvestSpec(endpoint, "amf", None)
    with a.harvesting(spec.harvest_id, "a harvest"):
        code = main(["run", "--endpoint", endpoint, "--delay", "0", "--data-dir", str(b.root),
                     "--catalog", catalog, "--data-path", str(tmp_path / "shared")])  # fmt: skip
    assert code == 3
    assert "another repec-harvest process is running the harvest" in capsys.readouterr().err
    with pytest.raises(DataDirLocked), a.writing(), b.alone():
        pass  # a rebuild waits for no writer on any machine


def test_rebuild_from_one_machines_archive_keeps_the_citation_graph(
    tmp_path: Path, endpoint: str, catalog: str
) -> None:
    data = machine(tmp_path, "a", catalog)
    harvest(data, endpoint)
    load_citations(data, str(SAMPLE_CITATIONS))
    before = query(data, "SELECT count(*), count(*) FILTER (WHERE deleted) FROM articles")

    report = rebuild(data)

    assert report.records == SAMPLE_ITEMS and report.citations_kept
    assert query(data, "SELECT count(*), count(*) FILTER (WHERE deleted) FROM articles") == before
    assert query(data, "SELECT count(*) > 0 FROM citations") == [(True,)]


def test_machines_sharing_the_catalog_take_turns_at_each_host(catalog: str) -> None:
    first, second = StateStore(catalog), StateStore(catalog)  # two machines' connections
    try:
        waits = [store.reserve_request("oai.example.org", 0.5)
                 for store in (first, second, first, second)]  # fmt: skip
        other = second.reserve_request("oai.other.org", 0.5)
    finally:
        first.close()
        second.close()
    # slots half a second apart on the database's clock, whoever asks: 0, 0.5, 1.0, 1.5 s
    assert waits[0] < 0.1, waits
    assert all(0.4 < later - earlier <= 0.5 for earlier, later in pairwise(waits)), waits
    assert other < 0.1  # another host is not kept waiting
