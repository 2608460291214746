"""Reconciliation: items a source no longer lists become tombstones of that source, through
the raw archive, so that `rebuild` makes them again; a listing that would empty too much is
held and reported; within a set, an item still in the repository is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.cli import main
from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.rebuild import rebuild
from flows.reconcile import APPLIED, HELD, UNCHANGED, ReconcileResult, reconcile_all
from provider.server import Provider, serve
from provider.store import RecordStore
from tests.conftest import Clock, harvest, query, snapshot

GONE = "oai:RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"
GONE_HANDLE = GONE.removeprefix("oai:")
ASSECA = "RePEc:sae:asseca"


def reconciled(data: DataDir, endpoint: str, **options: Any) -> list[ReconcileResult]:
    options = {"delay": 0.0, "retries": 1, "backoff": 0.01, **options}
    return reconcile_all(data, [HarvestOptions(endpoint=endpoint, **options)])


def deleted(data: DataDir, handle: str) -> bool:
    return bool(query(data, f"SELECT deleted FROM articles WHERE handle = '{handle}'")[0][0])


def test_an_item_the_source_no_longer_lists_is_deleted_and_rebuild_deletes_it_again(
    data: DataDir, endpoint: str, store: RecordStore, clock: Clock, capsys: Any
) -> None:
    harvest(data, endpoint)
    live = query(data, "SELECT count(*) FROM articles WHERE NOT deleted")[0][0]
    store.remove(GONE)
    clock.now = clock.now.replace(day=8)

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
    assert sorted(p.name for p in folder.rglob("*.gz")) == ["p000001.jsonl.gz"] + [
        f"p00000{n}.xml.gz" for n in range(1, 7)
    ]
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
    data: DataDir, endpoint: str, store: RecordStore, tmp_path: Path, capsys: Any
) -> None:
    harvest(data, endpoint, sets=[ASSECA])
    before = snapshot(data)
    for record in store.records():
        if ASSECA in record.sets and not record.deleted:
            store.remove(record.identifier)
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


def test_within_a_set_an_item_still_in_the_repository_is_kept(
    data: DataDir, endpoint: str, store: RecordStore
) -> None:
    harvest(data, endpoint, sets=[ASSECA])
    moved = store.get(GONE)
    assert moved is not None
    moved.sets = ["RePEc:sae:other"]  # it left the set, and its datestamp never moved

    [result] = reconciled(data, endpoint, sets=[ASSECA], max_vanished=0.5)

    rec = result.reconciliation
    assert rec is not None and (rec.status, rec.vanished, rec.kept, rec.tombstoned) == (
        UNCHANGED, 1, 1, 0)  # fmt: skip
    assert not deleted(data, GONE_HANDLE)


def test_a_deleted_item_that_comes_back_is_live_again(
    data: DataDir, endpoint: str, store: RecordStore
) -> None:
    harvest(data, endpoint)
    record = store.get(GONE)
    assert record is not None
    store.remove(GONE)
    reconciled(data, endpoint, max_vanished=0.1)
    assert deleted(data, GONE_HANDLE)

    store.put(record)  # listed again, with the datestamp it always had
    harvest(data, endpoint, from_date="2000-01-01")

    assert not deleted(data, GONE_HANDLE)


def test_a_listing_that_breaks_off_applies_nothing(data: DataDir, store: RecordStore) -> None:
    """A failure in the middle of the listing: nothing can be concluded from it."""

    class Breaking(Provider):
        def respond(self, params: dict[str, str]) -> str:
            if params.get("verb") == "ListIdentifiers" and "resumptionToken" in params:
                return "<html>502 Bad Gateway</html>"
            return super().respond(params)

    with serve(Breaking(store, page_size=10)) as endpoint:
        harvest(data, endpoint)
        store.remove(GONE)
        before = snapshot(data)
        [result] = reconciled(data, endpoint, max_vanished=1)

    rec = result.reconciliation
    assert rec is not None and rec.status == "failed" and result.failed
    assert rec.error and "HTML" in rec.error
    assert snapshot(data) == before


@pytest.mark.parametrize("share", ["-0.1", "2", "lots"])
def test_a_bad_max_vanished_is_one_line(share: str, data: DataDir, capsys: Any) -> None:
    code = main(["reconcile", "--max-vanished", share, "--data-dir", str(data.root)])
    error = capsys.readouterr().err
    assert code == 2 and "--max-vanished" in error and len(error.strip().splitlines()) == 1
