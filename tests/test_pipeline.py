"""The pipeline end to end against a local OAI-PMH provider serving the bundled sample:
first and incremental harvests, tombstones, resume, idempotent loads, rebuild."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import pytest
from conftest import SAMPLE_ITEMS, TALIBAN, Clock, harvest, query, snapshot, staged_windows

from flows.datadir import DataDir
from flows.rebuild import rebuild
from harvesting.state import StateStore
from provider.server import Provider, serve
from provider.store import RecordStore
from schemas.errors import ArchiveError, UnknownSet, UnsupportedMetadataPrefix


def list_requests(provider: Provider) -> list[dict[str, str]]:
    return [r for r in provider.requests if r.get("verb") == "ListRecords"]


def test_first_harvest_loads_every_record_once(data: DataDir, endpoint: str) -> None:
    [result] = harvest(data, endpoint)

    assert result.run is not None and result.run.status == "complete"
    assert result.run.records == SAMPLE_ITEMS
    assert result.spec.metadata_prefix == "amf"  # preferred when offered
    assert query(data, "SELECT count(*), count(DISTINCT handle_key) FROM articles") == [
        (SAMPLE_ITEMS, SAMPLE_ITEMS)
    ]
    assert query(data, "SELECT count(*) FROM articles WHERE deleted") == [(1,)]
    assert query(data, "SELECT count(*) FROM live_articles") == [(SAMPLE_ITEMS - 1,)]


def test_the_seed_article_is_answerable(data: DataDir, endpoint: str) -> None:
    harvest(data, endpoint)

    [row] = query(
        data,
        "SELECT title, journal, year, volume, issue, pages, doi, authors, keywords "
        f"FROM article_authors WHERE handle = '{TALIBAN}'",
    )
    assert row == (
        "Embracing the Taliban: Deciphering Russia’s Afghan Policy",
        "Journal of Asian Security and International Affairs",
        2025,
        "12",
        "4",
        "515-537",
        "10.1177/23477970251383994",
        ["Tatiana Belousova", "Raghav Sharma"],
        ["Russia", "Afghanistan", "Taliban", "security", "Islamic State Khorasan Province"],
    )


def test_oai_dc_takes_volume_issue_pages_from_the_handle(data: DataDir, endpoint: str) -> None:
    [result] = harvest(data, endpoint, metadata_prefix="oai_dc")

    assert result.run is not None and result.run.records == SAMPLE_ITEMS
    [row] = query(
        data,
        "SELECT item_type, year, volume, issue, pages, doi, authors, journal "
        f"FROM article_authors WHERE handle = '{TALIBAN}'",
    )
    assert row == (
        "article", 2025, "12", "4", "515-537", "10.1177/23477970251383994",
        ["Tatiana Belousova", "Raghav Sharma"],
        "Journal of Asian Security and International Affairs",  # from the series (ListSets)
    )  # fmt: skip


def test_series_come_from_list_sets(data: DataDir, endpoint: str, store: RecordStore) -> None:
    harvest(data, endpoint)

    assert query(data, "SELECT handle, name FROM series ORDER BY handle") == sorted(store.sets)
    [(items,)] = query(
        data, "SELECT items FROM counts_by_series WHERE series_handle = 'RePEc:sae:asseca'"
    )
    assert items == sum(1 for r in store.records() if "RePEc:sae:asseca" in r.sets)


def test_second_run_fetches_only_what_changed(
    data: DataDir, endpoint: str, provider: Provider, store: RecordStore, clock: Clock
) -> None:
    harvest(data, endpoint)
    before = snapshot(data)
    changed = [store.get(f"oai:{TALIBAN}"), store.get("oai:RePEc:nbr:nberwo:34240")]
    for record in changed:
        assert record is not None
        record.datestamp = "2025-12-05"
        record.metadata["amf"] = record.metadata["amf"].replace("<title>", "<title>Revised: ", 1)
    clock.now = datetime(2025, 12, 6, 8, 0, 0)
    provider.requests.clear()

    [result] = harvest(data, endpoint)

    assert result.run is not None and result.run.records == 2
    requests = list_requests(provider)
    assert requests[0]["from"] == "2025-11-30"  # last run's server start minus 1 day overlap
    titles = query(data, "SELECT handle FROM articles WHERE title LIKE 'Revised: %' ORDER BY 1")
    assert titles == [("RePEc:nbr:nberwo:34240",), (TALIBAN,)]
    after = snapshot(data)
    assert len(after["articles"]) == len(before["articles"])  # upserted, not duplicated
    assert after["authors"] == before["authors"]


def test_a_deletion_becomes_a_tombstone(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock
) -> None:
    harvest(data, endpoint)
    record = store.get(f"oai:{TALIBAN}")
    assert record is not None
    record.deleted, record.datestamp = True, "2025-12-03"
    clock.now = datetime(2025, 12, 4)

    harvest(data, endpoint)

    [(deleted, title)] = query(
        data, f"SELECT deleted, title FROM articles WHERE handle = '{TALIBAN}'"
    )
    assert deleted is True
    assert title.startswith("Embracing the Taliban")  # the tombstone keeps what we knew
    assert query(data, f"SELECT count(*) FROM live_articles WHERE handle = '{TALIBAN}'") == [(0,)]
    assert query(data, f"SELECT count(*) FROM live_authors WHERE handle = '{TALIBAN}'") == [(0,)]
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


def test_a_deleted_record_that_comes_back_is_live_again(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock
) -> None:
    harvest(data, endpoint)
    record = store.get("oai:RePEc:pra:mprapa:126702")  # deleted in the sample
    assert record is not None
    record.deleted, record.datestamp = False, "2025-12-03"
    record.metadata["amf"] = (
        '<amf xmlns="http://amf.openlib.org"><text id="RePEc:pra:mprapa:126702">'
        "<title>Reinstated</title><type>preprint</type></text></amf>"
    )
    clock.now = datetime(2025, 12, 4)

    harvest(data, endpoint)

    assert query(
        data, "SELECT deleted, title FROM articles WHERE handle = 'RePEc:pra:mprapa:126702'"
    ) == [(False, "Reinstated")]


def test_an_interrupted_run_resumes_at_the_last_committed_page(
    tmp_path, store: RecordStore, clock: Clock
) -> None:
    failing = {"after": 3, "seen": 0}

    def fail_after_three_pages(handler, params) -> bool:  # type: ignore[no-untyped-def]
        if params.get("verb") != "ListRecords":
            return False
        failing["seen"] += 1
        if failing["after"] and failing["seen"] > failing["after"]:
            handler.send_error(500)
            return True
        return False

    provider = Provider(store, page_size=10, clock=clock)
    interrupted, clean = DataDir(tmp_path / "interrupted"), DataDir(tmp_path / "clean")
    with serve(provider, before_response=fail_after_three_pages) as url:
        [failed] = harvest(interrupted, url, retries=0, window="none")
        assert failed.run is None and "HTTP 500" in (failed.error or "")
        state = StateStore(interrupted.state_path)
        [run] = state.runs()
        state.close()
        assert (run.status, run.pages, run.records) == ("failed", 3, 30)
        token = run.token
        assert token

        failing["after"] = 0
        provider.requests.clear()
        [resumed] = harvest(interrupted, url, window="none")
        assert resumed.run is not None and resumed.run.run_id == run.run_id
        assert list_requests(provider)[0] == {"verb": "ListRecords", "resumptionToken": token}
        assert resumed.run.records == SAMPLE_ITEMS
        harvest(clean, url, window="none")

    assert snapshot(interrupted) == snapshot(clean)


def test_pages_written_by_worker_processes_equal_pages_written_here(
    tmp_path: Path, store: RecordStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its first pages, a harvest hands each archived page to worker processes, which
    parse it again and write its rows while the next pages are fetched; the warehouse is the
    same as when every page is written in the harvesting process."""
    from flows import storage

    started = []
    acquire = storage.WORKERS.acquire
    monkeypatch.setattr(storage.WORKERS, "acquire", lambda: started.append(1) or acquire())
    with serve(Provider(store, page_size=2, clock=clock)) as url:
        workers = DataDir(tmp_path / "workers")
        [result] = harvest(workers, url)
        monkeypatch.setattr(storage, "INLINE_PAGES", 10**9)
        here = DataDir(tmp_path / "here")
        harvest(here, url)
    assert started == [1]  # the worker processes were used, by the first harvest only
    assert result.run is not None and result.run.pages > 20 and result.run.records == SAMPLE_ITEMS
    assert snapshot(workers) == snapshot(here)
    assert query(workers, "SELECT count(*) FROM quarantine") == query(
        here, "SELECT count(*) FROM quarantine"
    )


def test_loading_the_same_files_twice_changes_nothing(
    data: DataDir, endpoint: str, tmp_path: Path
) -> None:
    harvest(data, endpoint)
    before = snapshot(data)
    quarantine = query(data, "SELECT * FROM quarantine ORDER BY record_id")
    windows = staged_windows(data, tmp_path / "again")
    assert windows

    with data.warehouse() as warehouse:
        for window in windows:
            warehouse.load_window(window)

    assert snapshot(data) == before
    assert query(data, "SELECT * FROM quarantine ORDER BY record_id") == quarantine
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


def test_an_older_version_never_overwrites_a_newer_one(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock
) -> None:
    harvest(data, endpoint)
    [first_run] = [r for (r,) in query(data, "SELECT run_id FROM harvest_runs")]
    record = store.get(f"oai:{TALIBAN}")
    assert record is not None
    record.datestamp = "2025-12-05"
    record.metadata["amf"] = record.metadata["amf"].replace("<title>", "<title>New: ", 1)
    clock.now = datetime(2025, 12, 6)
    harvest(data, endpoint)

    with data.warehouse() as warehouse:  # reload the old version
        for window in staged_windows(data, data.root / "again", runs=[first_run]):
            warehouse.load_window(window)

    [(title,)] = query(data, f"SELECT title FROM articles WHERE handle = '{TALIBAN}'")
    assert title.startswith("New: ")


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "worker-processes"])
def test_rebuild_reproduces_the_warehouse_from_the_raw_archive(
    tmp_path, store: RecordStore, clock: Clock, workers: int
) -> None:
    data = DataDir(tmp_path / "data")
    provider = Provider(store, page_size=10, clock=clock)
    with serve(provider) as url:
        harvest(data, url)
        record = store.get(f"oai:{TALIBAN}")
        assert record is not None
        record.deleted, record.datestamp = True, "2025-12-03"
        clock.now = datetime(2025, 12, 4)
        harvest(data, url)
    before = snapshot(data)
    runs = query(data, "SELECT run_id, status, records FROM harvest_runs ORDER BY run_id")

    report = rebuild(data, workers=workers)  # the server is gone: no network needed

    assert report.pages > 0 and report.records == SAMPLE_ITEMS + 1
    assert snapshot(data) == before
    assert query(data, "SELECT run_id, status, records FROM harvest_runs ORDER BY run_id") == runs
    assert not (data.root / "staging.rebuild").exists()


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "worker-processes"])
def test_a_damaged_archived_page_stops_rebuild_and_leaves_the_warehouse_as_it_was(
    tmp_path, endpoint: str, workers: int
) -> None:
    data = DataDir(tmp_path / "data")
    harvest(data, endpoint)
    before = snapshot(data)
    page = sorted(data.raw.rglob("p*.xml.gz"))[-1]
    page.write_bytes(gzip.compress(gzip.decompress(page.read_bytes()).replace(b"<", b"[", 50)))

    with pytest.raises(ArchiveError, match="does not match its checksum"):
        rebuild(data, workers=workers)

    assert snapshot(data) == before


def test_harvesting_one_set(data: DataDir, endpoint: str, store: RecordStore) -> None:
    [result] = harvest(data, endpoint, sets=["RePEc:sae:asseca"])

    expected = sum(1 for r in store.records() if "RePEc:sae:asseca" in r.sets)
    assert result.run is not None and result.run.records == expected
    assert query(data, "SELECT DISTINCT series_handle FROM articles") == [("RePEc:sae:asseca",)]


def test_each_set_is_its_own_harvest(data: DataDir, endpoint: str) -> None:
    results = harvest(data, endpoint, sets=["RePEc:sae:asseca", "RePEc:nbr:nberwo"])

    assert len({r.spec.harvest_id for r in results}) == 2
    assert query(data, "SELECT count(*) FROM harvest_state") == [(2,)]


def test_a_metadata_prefix_the_server_lacks_is_refused_before_harvesting(
    data: DataDir, endpoint: str, provider: Provider
) -> None:
    with pytest.raises(UnsupportedMetadataPrefix, match="does not offer metadata prefix 'marc'"):
        harvest(data, endpoint, metadata_prefix="marc")
    assert not list_requests(provider)


def test_a_set_the_server_lacks_is_refused_before_harvesting(
    data: DataDir, endpoint: str, provider: Provider
) -> None:
    with pytest.raises(UnknownSet, match="RePEc:xxx:nothere"):
        harvest(data, endpoint, sets=["RePEc:xxx:nothere"])
    assert not list_requests(provider)


def test_a_set_the_server_lacks_beside_sets_it_has_fails_alone(
    data: DataDir, endpoint: str
) -> None:
    missing, found = harvest(data, endpoint, sets=["RePEc:xxx:nothere", "RePEc:sae:asseca"])
    assert (missing.run, missing.error) == (None, f"{endpoint} does not have the set: "
                                                  "RePEc:xxx:nothere")  # fmt: skip
    assert found.run is not None and found.run.status == "complete" and found.run.records == 7


def test_every_raw_page_is_archived_with_its_manifest(data: DataDir, endpoint: str) -> None:
    import json

    [result] = harvest(data, endpoint)
    assert result.run is not None
    [manifest] = (data.raw / result.spec.harvest_id).rglob("manifest.jsonl")
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]

    assert len(entries) == result.run.pages
    assert sum(e["records"] for e in entries) == SAMPLE_ITEMS
    for entry in entries:
        assert (data.raw / entry["path"]).exists()
        assert {"params", "response_date", "token", "sha256", "window", "page"} <= set(entry)
    assert list((data.raw / "_endpoints").rglob("ListSets-p0001.xml.gz"))


def test_an_endpoint_whose_identifiers_are_not_handles(data: DataDir, clock: Clock) -> None:
    """The handle then comes from the metadata, and a later deletion (which carries only the
    OAI identifier) still reaches the right row."""
    from provider.store import StoredRecord

    store = RecordStore()
    store.sets = [("econ", "Economics")]
    dc = (
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>A paper</dc:title>'
        "<dc:identifier>RePEc:abc:wpaper:42</dc:identifier></oai_dc:dc>"
    )
    store.put(StoredRecord("oai:example.org:42", "2025-11-01", ["econ"], False, {"oai_dc": dc}))
    provider = Provider(store, clock=clock)
    with serve(provider) as url:
        harvest(data, url)
        assert query(data, "SELECT handle, deleted FROM articles") == [
            ("RePEc:abc:wpaper:42", False)
        ]
        store.put(StoredRecord("oai:example.org:42", "2025-12-02", ["econ"], True, {}))
        clock.now = datetime(2025, 12, 3)
        harvest(data, url)

    assert query(data, "SELECT handle, deleted, title FROM articles") == [
        ("RePEc:abc:wpaper:42", True, "A paper")
    ]


def test_a_mislabelled_content_type_does_not_hide_good_xml(
    data: DataDir, store: RecordStore, clock: Clock
) -> None:
    def text_plain(handler, params) -> bool:  # type: ignore[no-untyped-def]
        body = provider.respond(params).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return True

    provider = Provider(store, clock=clock)
    with serve(provider, before_response=text_plain) as url:
        [result] = harvest(data, url)
    assert result.run is not None and result.run.records == SAMPLE_ITEMS


def test_an_html_placeholder_page_is_an_error_never_an_empty_page(
    data: DataDir, store: RecordStore, clock: Clock
) -> None:
    def placeholder(handler, params) -> bool:  # type: ignore[no-untyped-def]
        if params.get("verb") != "ListRecords":
            return False
        body = b"<html><body>Down for maintenance</body></html>"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return True

    provider = Provider(store, clock=clock)
    with serve(provider, before_response=placeholder) as url:
        [result] = harvest(data, url, retries=1)
    assert result.run is None
    assert result.error == f"{url} answered ListRecords with text/html, not OAI-PMH XML"
    assert not data.catalog.exists() or query(data, "SELECT count(*) FROM articles") == [(0,)]


def test_one_row_per_handle_whatever_the_source_best_source_first(
    data: DataDir, endpoint: str
) -> None:
    """oai_dc and amf harvests of the same items merge: amf's structured fields win, each
    field says where it came from, and amf's authors (with name parts) are kept."""
    harvest(data, endpoint, metadata_prefix="oai_dc")
    harvest(data, endpoint, metadata_prefix="amf")

    assert query(data, "SELECT count(*), count(DISTINCT handle_key) FROM articles") == [
        (SAMPLE_ITEMS, SAMPLE_ITEMS)
    ]
    [row] = query(
        data,
        "SELECT sources, field_sources.title, field_sources.journal, field_sources.authors, "
        f"metadata_prefix FROM articles WHERE handle = '{TALIBAN}'",
    )
    assert row == (["amf", "oai_dc"], "amf", "amf", "amf", "amf")
    assert query(
        data, f"SELECT name, given_name FROM authors WHERE handle = '{TALIBAN}' ORDER BY position"
    ) == [("Tatiana Belousova", "Tatiana"), ("Raghav Sharma", "Raghav")]
    assert query(data, "SELECT count(*) FROM article_versions") == [(2 * SAMPLE_ITEMS,)]
