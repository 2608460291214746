"""Reconciliation: items a source no longer lists, and GetRecord confirms gone, become
tombstones of that source, through the raw archive, so that `rebuild` makes them again; items
it lists that the warehouse lacks are fetched; a listing that would empty too much is held and
reported; nothing is concluded from a listing or a confirmation that breaks off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flows.cli import main
from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.rebuild import rebuild
from flows.reconcile import APPLIED, HELD, UNCHANGED, ReconcileResult, _above, reconcile_all
from provider.server import Provider, serve
from provider.store import RecordStore
from tests.conftest import Clock, harvest, query, snapshot

GONE = "oai:RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"
GONE_HANDLE = GONE.removeprefix("oai:")
ASSECA, NBER = "RePEc:sae:asseca", "RePEc:nbr:nberwo"


def reconciled(data: DataDir, endpoint: str, **options: Any) -> list[ReconcileResult]:
    options = {"delay": 0.0, "retries": 1, "backoff": 0.01, **options}
    return reconcile_all(data, [HarvestOptions(endpoint=endpoint, **options)])


def deleted(data: DataDir, handle: str) -> bool:
    return bool(query(data, f"SELECT deleted FROM articles WHERE handle = '{handle}'")[0][0])


def later(clock: Clock) -> None:
    """A week goes by on the server's clock."""
    clock.now += timedelta(days=7)


def test_an_item_the_source_no_longer_has_is_deleted_and_rebuild_deletes_it_again(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock, capsys: Any
) -> None:
    harvest(data, endpoint)
    live = query(data, "SELECT count(*) FROM articles WHERE NOT deleted")[0][0]
    store.remove(GONE)
    later(clock)

    [result] = reconciled(data, endpoint, max_vanished=0.1)

    rec = result.reconciliation
    assert rec is not None and rec.status == APPLIED, rec
    assert (rec.live, rec.vanished, rec.tombstoned, rec.kept, rec.not_loaded) == (
        live, 1, 1, 0, 0)  # fmt: skip
    assert deleted(data, GONE_HANDLE)
    # the deletion keeps the item's metadata, and is dated by the listing
    title, harvested_at = query(
        data, f"SELECT title, harvested_at FROM articles WHERE handle = '{GONE_HANDLE}'"
    )[0]
    assert title and harvested_at == rec.listed_at
    assert query(data, "SELECT count(*) FROM articles WHERE NOT deleted")[0][0] == live - 1
    assert query(data, "SELECT status, vanished, tombstoned FROM reconciliations") == [
        (APPLIED, 1, 1)
    ]
    # the listing and the tombstones are in the raw archive: rebuild makes the same warehouse
    folder = data.raw / rec.harvest_id / rec.run_id
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.gz")) == [
        "applied.json.gz", *(f"identifiers/p00000{n}.xml.gz" for n in range(1, 7)),
        "w0000/p000001.jsonl.gz",
    ]  # fmt: skip
    before = snapshot(data)
    rebuild(data, workers=0)
    assert snapshot(data) == before

    # `status` says when each harvest was last reconciled, and what it did
    assert main(["status", "--data-dir", str(data.root)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "applied: 1 no longer listed, 1 deleted, 0 listed but not loaded" in shown

    # a second reconciliation finds nothing more to do
    [again] = reconciled(data, endpoint)
    assert again.reconciliation is not None and again.reconciliation.status == UNCHANGED


def test_a_listing_that_would_empty_too_much_is_held_and_applies_nothing(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock, capsys: Any
) -> None:
    harvest(data, endpoint, sets=[ASSECA])
    before = snapshot(data)
    for record in store.records():
        if ASSECA in record.sets and not record.deleted:
            store.remove(record.identifier)
    later(clock)
    args = ["reconcile", "--endpoint", endpoint, "--set", ASSECA, "--delay", "0",
            "--data-dir", str(data.root)]  # fmt: skip

    assert main(args) == 1

    error = capsys.readouterr().err
    assert "7 of 7 items (100.0%) are no longer listed, more than --max-vanished 0.05" in error
    assert "nothing applied" in " ".join(error.split())
    assert snapshot(data) == before
    assert query(data, "SELECT status FROM reconciliations") == [(HELD,)]

    assert main([*args, "--max-vanished", "1"]) == 0
    assert query(data, "SELECT count(*) FROM articles WHERE series_handle = 'RePEc:sae:asseca'"
                 " AND NOT deleted")[0][0] == 0  # fmt: skip


def test_the_share_it_suggests_is_let_through() -> None:
    for vanished in range(1, 101):
        share = vanished / 100
        assert not share > float(_above(share)), vanished
    assert _above(0.0712) == "0.08" and _above(1.0) == "1"


def test_an_item_that_left_the_set_is_kept_with_its_record_as_it_is_now(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock
) -> None:
    harvest(data, endpoint, sets=[ASSECA])
    moved = store.get(GONE)
    assert moved is not None
    moved.sets = ["RePEc:sae:other"]  # it left the set, and its datestamp never moved
    later(clock)

    [result] = reconciled(data, endpoint, sets=[ASSECA], max_vanished=0.5)

    rec = result.reconciliation
    assert rec is not None and (rec.status, rec.vanished, rec.kept, rec.tombstoned) == (
        APPLIED, 1, 1, 0)  # fmt: skip
    assert not deleted(data, GONE_HANDLE)
    assert query(data, f"SELECT set_specs FROM articles WHERE handle = '{GONE_HANDLE}'") == [
        (["RePEc:sae:other"],)
    ]
    before = snapshot(data)  # the record GetRecord gave is in the raw archive too
    rebuild(data, workers=0)
    assert snapshot(data) == before


def test_an_item_missed_by_a_listing_paged_by_offset_is_not_deleted(
    data: DataDir, store: RecordStore, clock: Clock
) -> None:
    """A record removed while the listing runs shifts the pages: the first item of the next
    page is never listed, though it is there. GetRecord says so, and it stays live."""
    removed = store.records()[0]

    class Shifting(Provider):
        def respond(self, params: dict[str, str]) -> str:
            paging = params.get("verb") == "ListIdentifiers" and "resumptionToken" in params
            if paging and store.get(removed.identifier) is not None:
                store.remove(removed.identifier)
            return super().respond(params)

    with serve(Shifting(store, page_size=10, clock=clock)) as endpoint:
        harvest(data, endpoint)
        live = query(data, "SELECT count(*) FROM articles WHERE NOT deleted")[0][0]
        later(clock)
        [result] = reconciled(data, endpoint, max_vanished=0.1)

    rec = result.reconciliation
    assert rec is not None and (rec.vanished, rec.tombstoned, rec.kept) == (1, 0, 1), rec
    assert query(data, "SELECT count(*) FROM articles WHERE NOT deleted")[0][0] == live


def test_a_record_deleted_by_mistake_comes_back_when_listed_again(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock
) -> None:
    harvest(data, endpoint)
    record = store.get(GONE)
    assert record is not None
    store.remove(GONE)
    later(clock)
    reconciled(data, endpoint, max_vanished=0.1)
    assert deleted(data, GONE_HANDLE)

    store.put(record)  # listed again, with the datestamp it always had
    later(clock)
    harvest(data, endpoint)  # incremental: its datestamp is older than the last run
    assert deleted(data, GONE_HANDLE)
    [result] = reconciled(data, endpoint)

    rec = result.reconciliation
    assert rec is not None and (rec.status, rec.not_loaded, rec.fetched) == (APPLIED, 1, 1)
    assert not deleted(data, GONE_HANDLE)


def test_an_item_another_endpoint_still_serves_comes_back_from_it(
    data: DataDir, store: RecordStore, clock: Clock
) -> None:
    """Two endpoints serving the same items: the one that dropped an item deletes it; the
    other's reconciliation finds it listed and not loaded, and fetches it again."""
    mirror = RecordStore.sample()
    with (serve(Provider(store, clock=clock)) as first,
          serve(Provider(mirror, clock=clock)) as second):  # fmt: skip
        harvest(data, second)
        later(clock)
        harvest(data, first)  # the versions of the first are the newest
        store.remove(GONE)
        later(clock)
        reconciled(data, first, max_vanished=0.1)
        assert deleted(data, GONE_HANDLE)
        later(clock)  # (in the same second, the later of the two would be a toss-up)
        [result] = reconciled(data, second, max_vanished=0.1)

    assert result.reconciliation is not None and result.reconciliation.fetched == 1
    assert not deleted(data, GONE_HANDLE)


def test_a_listing_that_breaks_off_applies_nothing(
    data: DataDir, store: RecordStore, clock: Clock
) -> None:
    class Breaking(Provider):
        def respond(self, params: dict[str, str]) -> str:
            if params.get("verb") == "ListIdentifiers" and "resumptionToken" in params:
                return "<html>502 Bad Gateway</html>"
            return super().respond(params)

    with serve(Breaking(store, page_size=10, clock=clock)) as endpoint:
        harvest(data, endpoint)
        store.remove(GONE)
        later(clock)
        before = snapshot(data)
        [result] = reconciled(data, endpoint, max_vanished=1)

    rec = result.reconciliation
    assert rec is not None and rec.status == "failed" and result.failed
    assert rec.error and "HTML" in rec.error
    assert snapshot(data) == before


def test_a_confirmation_that_breaks_off_applies_no_tombstone_here_or_in_a_rebuild(
    data: DataDir, store: RecordStore, clock: Clock
) -> None:
    second = "oai:RePEc:sae:asseca:v:11:y:2024:i:4:p:455-478"

    class Breaking(Provider):
        def respond(self, params: dict[str, str]) -> str:
            if params.get("verb") == "GetRecord" and params.get("identifier") == second:
                return "<html>502 Bad Gateway</html>"
            return super().respond(params)

    assert store.get(second) is not None
    with serve(Breaking(store, page_size=10, clock=clock)) as endpoint:
        harvest(data, endpoint)
        store.remove(GONE)
        store.remove(second)
        later(clock)
        before = snapshot(data)
        [result] = reconciled(data, endpoint, max_vanished=1)

    rec = result.reconciliation
    assert rec is not None and rec.status == "failed" and rec.tombstoned == 0
    assert snapshot(data) == before
    rebuild(data, workers=0)
    assert snapshot(data) == before


def test_a_harvest_held_by_another_process_fails_alone(
    data: DataDir, endpoint: str, store: RecordStore
) -> None:
    [asseca, _] = harvest(data, endpoint, sets=[ASSECA, NBER])
    with data.harvesting(asseca.spec.harvest_id, "a test"):
        results = reconciled(data, endpoint, sets=[ASSECA, NBER])

    assert [(r.spec.set_spec, r.reconciliation and r.reconciliation.status) for r in results] == [
        (ASSECA, "failed"), (NBER, UNCHANGED)]  # fmt: skip
    assert "another repec-harvest process is running" in str(results[0].error)


@pytest.mark.parametrize("share", ["-0.1", "2", "lots"])
def test_a_bad_max_vanished_is_one_line(share: str, data: DataDir, capsys: Any) -> None:
    code = main(["reconcile", "--max-vanished", share, "--data-dir", str(data.root)])
    error = capsys.readouterr().err
    assert code == 2 and "--max-vanished" in error and len(error.strip().splitlines()) == 1
