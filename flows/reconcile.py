"""Reconciliation: what a source lists now, against what the warehouse holds of it.

Incremental harvests see what changed since the last run. They miss deletions on servers that
keep none (``deletedRecord`` no or transient) and records whose datestamps never moved. For
each harvest (endpoint, prefix, set), ``reconcile``:

1. lists every identifier (ListIdentifiers; each page archived, the headers staged as
   Parquet, so a listing of millions holds one batch in memory);
2. compares the listing with the warehouse (``warehouse.listings``): items held of that
   source that it no longer lists have vanished; items it lists that the warehouse has no
   live version of are not loaded;
3. holds back, fetching and applying nothing, when more than ``max_vanished`` of the held
   items vanished (a server listing nothing for a day must not empty the warehouse): the
   reconciliation is ``held`` and says how to apply it;
4. otherwise asks GetRecord about each vanished item (a listing can miss an item: a record
   that left the set, a server paging by offset while an item was removed). An answer is a
   record like any other, archived and loaded (still there: kept, with its current version;
   deleted: a deletion); "no such record" makes a tombstone of that source, the item's last
   version marked deleted. Items not loaded are fetched the same way (a record deleted by
   mistake and listed again comes back), unless there are more than a harvest should fetch;
5. loads the fetched records and the tombstones in one commit, then marks the
   reconciliation applied in its manifest. The tombstones are archived
   (``w0000/pNNNNNN.jsonl.gz``, verb ``Tombstones``) and the records too (``w0001/``), so
   ``rebuild`` makes the same rows again; it leaves out the tombstones of a reconciliation
   that was never marked applied, as the live warehouse never had them.

A tombstone keeps the datestamp of the version it deletes (or the listing's own deletion, if
later) and is dated, as harvested, at the listing's start: the record harvested again later,
even with the same datestamp, is live again.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.pages import APPLIED_VERB, TOMBSTONES, store_harvested, store_tombstones
from flows.pipeline import Pipeline, Plan
from harvesting.harvester import HarvestedPage, page_id
from harvesting.identity import HarvestSpec, new_run_id
from harvesting.listing import PageName, fetch_record, list_identifiers
from harvesting.state import FAILED, RUNNING, Reconciliation
from harvesting.windows import Window
from schemas import tables
from schemas.dates import utc_now
from schemas.errors import ConfigError, EndpointError, RepecHarvestError
from schemas.files import page_name
from schemas.records import Header, PageContext
from warehouse.loader import WindowJob, seal_and_load

log = logging.getLogger(__name__)

#: Statuses of a reconciliation, besides running and failed.
APPLIED, UNCHANGED, HELD = "applied", "unchanged", "held"
#: The windows of a reconciliation's run: its tombstones, and the records it fetched.
TOMBSTONE_WINDOW, RECORD_WINDOW = 0, 1
#: Tombstones per archived file and staged page.
TOMBSTONES_PER_PAGE = 10_000
#: Items not loaded are fetched one by one when there are at most this many, or at most
#: ``max_vanished`` of those listed; more are a harvest's work (``run --from``).
MIN_FETCHED = 100
#: Listed headers gathered before they are written to the listing's Parquet file.
LISTING_BATCH = 50_000


@dataclass
class ReconcileResult:
    spec: HarvestSpec
    reconciliation: Reconciliation | None
    error: str | None = None

    @property
    def failed(self) -> bool:
        rec = self.reconciliation
        return rec is None or rec.status in (FAILED, HELD)


def reconcile_all(data: DataDir, endpoints: list[HarvestOptions]) -> list[ReconcileResult]:
    """Reconcile every set of every endpoint (the whole repository where no set is named).
    One that fails or is held never stops the others."""
    results: list[ReconcileResult] = []
    with data.writing():
        for options in endpoints:
            pipeline = Pipeline(data, options)
            failing = True
            try:
                plan = pipeline.prepare()
                results += [ReconcileResult(r.spec, None, r.error) for r in plan.unknown]
                results += [reconcile(pipeline, plan, spec) for spec in plan.specs]
                failing = False
            except (EndpointError, ConfigError) as exc:
                if len(endpoints) == 1:
                    raise
                spec = HarvestSpec(options.endpoint, options.metadata_prefix or "-", None)
                results.append(ReconcileResult(spec, None, str(exc)))
            finally:
                try:
                    pipeline.record_log(failing)  # the reconciliations, for SQL users
                finally:
                    pipeline.close()
    return results


def reconcile(
    pipeline: Pipeline,
    plan: Plan,
    spec: HarvestSpec,
    flow_run_id: str | None = None,
    stop: threading.Event | None = None,
) -> ReconcileResult:
    """Reconcile one harvest, holding it (no run of it meanwhile). Its failure (the endpoint,
    the warehouse, the harvest held by another process) is the result's error, recorded;
    other sets go on."""
    data, state = pipeline.data, pipeline.state
    state.register(spec, plan.identity.granularity)
    rec = Reconciliation(
        run_id=new_run_id(datetime.now(UTC).replace(tzinfo=None)), harvest_id=spec.harvest_id,
        status=RUNNING, started_at=utc_now(), flow_run_id=flow_run_id,
    )  # fmt: skip
    work = data.scratch / "reconcile" / spec.harvest_id
    what = f"the harvest of {spec.set_spec or 'all sets'} from {spec.endpoint}"
    try:
        with data.harvesting(spec.harvest_id, what):
            _clear_stopped(pipeline, spec.harvest_id, work)
            state.save_reconciliation(rec)
            _reconcile(pipeline, spec, rec, work / rec.run_id, stop)
    except RepecHarvestError as exc:
        rec.status, rec.error = FAILED, str(exc)
        log.error("reconciliation of %s failed: %s", spec.set_spec or "all sets", exc)
    except BaseException as exc:
        rec.status, rec.error = FAILED, str(exc) or "interrupted"
        raise
    finally:
        rec.finished_at = utc_now()
        state.save_reconciliation(rec)
        shutil.rmtree(work / rec.run_id, ignore_errors=True)
        pipeline.storage.staging.discard_pending(spec.harvest_id, rec.run_id)
    return ReconcileResult(spec, rec, rec.error if rec.status == FAILED else None)


def _clear_stopped(pipeline: Pipeline, harvest_id: str, work: Path) -> None:
    """What a reconciliation of this harvest stopped without a word (killed) left: its
    scratch files, its staged pages, and its record still saying running."""
    shutil.rmtree(work, ignore_errors=True)
    for stopped in pipeline.state.reconciliations(harvest_id):
        if stopped.status == RUNNING:
            stopped.status, stopped.error = FAILED, "stopped without recording why (killed?)"
            pipeline.state.save_reconciliation(stopped)
            pipeline.storage.staging.discard_pending(harvest_id, stopped.run_id)


def _reconcile(
    pipeline: Pipeline,
    spec: HarvestSpec,
    rec: Reconciliation,
    work: Path,
    stop: threading.Event | None,
) -> None:
    archive, folder = pipeline.archive, f"{spec.harvest_id}/{rec.run_id}"
    work.mkdir(parents=True, exist_ok=True)
    listing_file, vanished_file = work / "listing.parquet", work / "vanished.parquet"
    missing_file = work / "missing.parquet"
    with _ListingWriter(listing_file) as writer:
        listing = list_identifiers(pipeline.client, archive, spec, folder, writer.add, stop)
    rec.listed_at = listed_at = listing.listed_at or utc_now()
    comparison = pipeline.storage.db.compare_listing(
        listing_file, vanished_file, missing_file, endpoint=spec.endpoint,
        prefix=spec.metadata_prefix, set_spec=spec.set_spec, harvest_id=spec.harvest_id,
        listed_at=listed_at,
    )  # fmt: skip
    rec.listed, rec.live = comparison.listed, comparison.held
    rec.vanished, rec.not_loaded = comparison.vanished, comparison.not_loaded
    rec.tombstoned = rec.kept = rec.fetched = 0
    limit = pipeline.options.max_vanished
    share = comparison.vanished / comparison.held if comparison.held else 0.0
    if share > limit:
        rec.status = HELD
        rec.error = (
            f"{comparison.vanished:,} of {comparison.held:,} items ({share:.1%}) are no longer "
            f"listed, more than --max-vanished {limit:g}: nothing applied; if they are gone, "
            f"run `repec-harvest reconcile --max-vanished {_above(share)}`"
        )
        log.info("reconciliation of %s held: %s", spec.set_spec or "all sets", rec.error)
        return
    fetch_missing = comparison.not_loaded <= max(MIN_FETCHED, limit * comparison.listed)
    if not fetch_missing:
        log.warning(
            "%s: %s listed items are not in the warehouse, more than a reconciliation fetches "
            "one by one: harvest them with `repec-harvest run --from` an earlier date",
            spec.set_spec or spec.endpoint, f"{comparison.not_loaded:,}",
        )  # fmt: skip
    fetcher = _Fetcher(pipeline, spec, rec, folder)
    gone = work / "gone.jsonl"
    try:
        with open(gone, "w", encoding="utf-8") as lines:
            for item in _rows(vanished_file):
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                header = None if item["listed_deleted"] else fetcher.fetch(item["oai_identifier"])
                if header is None:  # no such record (or listed as deleted): a tombstone
                    lines.write(json.dumps(_tombstone(item), sort_keys=True) + "\n")
                elif header.deleted:
                    rec.tombstoned += 1
                else:
                    rec.kept += 1
                    log.info("%s is no longer listed but is still there; kept",
                             item["oai_identifier"])  # fmt: skip
            for item in _rows(missing_file) if fetch_missing else ():
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                if fetcher.fetch(item["oai_identifier"]) is not None:
                    rec.fetched += 1
    except BaseException:
        fetcher.load()  # archived, so in what rebuild makes: loaded here too
        raise
    pages, tombstones = _store_tombstones(pipeline, spec, rec, folder, gone, listed_at)
    staging, db = pipeline.storage.staging, pipeline.storage.db
    seal_and_load(staging, db, [WindowJob(spec.harvest_id, rec.run_id, TOMBSTONE_WINDOW, pages),
                                fetcher.job()])  # fmt: skip
    rec.tombstoned += tombstones
    archive.store_file(folder, "applied.json", json.dumps(rec.__dict__, default=str).encode(),
                       APPLIED_VERB, run_id=rec.run_id)  # fmt: skip
    changed = rec.tombstoned or rec.kept or rec.fetched
    rec.status = APPLIED if changed else UNCHANGED
    log.info(
        "reconciled %s: %s listed, %s held, %s vanished, %s deleted, %s kept, %s not loaded "
        "(%s fetched)", spec.set_spec or "all sets", rec.listed, rec.live, rec.vanished,
        rec.tombstoned, rec.kept, rec.not_loaded, rec.fetched,
    )  # fmt: skip


def _tombstone(item: dict[str, Any]) -> dict[str, Any]:
    return {"identifier": item["oai_identifier"], "handle": item["handle"],
            "datestamp": item["datestamp"].isoformat(), "set_specs": item["set_specs"]}  # fmt: skip


def _store_tombstones(
    pipeline: Pipeline,
    spec: HarvestSpec,
    rec: Reconciliation,
    folder: str,
    gone: Path,
    listed_at: datetime,
) -> tuple[int, int]:
    """Archive and stage the tombstones, ``TOMBSTONES_PER_PAGE`` a file: the pages, and the
    tombstones."""
    context = PageContext(
        endpoint=spec.endpoint, harvest_id=spec.harvest_id, metadata_prefix=spec.metadata_prefix,
        harvested_at=listed_at, page_id="", page_path="",
    )  # fmt: skip
    pages = tombstones = 0
    with open(gone, "rb") as lines:
        while batch := [line for _, line in zip(range(TOMBSTONES_PER_PAGE), lines, strict=False)]:
            pages += 1
            raw = b"".join(batch)
            path = pipeline.archive.store_file(
                folder, f"{page_name(TOMBSTONE_WINDOW, pages)}.jsonl", raw, TOMBSTONES,
                endpoint=spec.endpoint, metadata_prefix=spec.metadata_prefix,
                set_spec=spec.set_spec, harvest_id=spec.harvest_id, run_id=rec.run_id,
                window=TOMBSTONE_WINDOW, page=pages, response_date=listed_at.isoformat(),
                records=len(batch),
            )  # fmt: skip
            number = page_id(spec.harvest_id, rec.run_id, TOMBSTONE_WINDOW, pages)
            page = replace(context, page_path=path, page_id=number)
            counts = store_tombstones(pipeline.storage.staging, page, rec.run_id,
                                      TOMBSTONE_WINDOW, pages, raw)  # fmt: skip
            tombstones += counts.deleted
    return pages, tombstones


class _Fetcher:
    """GetRecord, one item at a time: each answer archived and staged as a page of the
    reconciliation's record window, loaded with its tombstones."""

    def __init__(self, pipeline: Pipeline, spec: HarvestSpec, rec: Reconciliation, folder: str):
        self.pipeline, self.spec, self.rec, self.folder = pipeline, spec, rec, folder
        self.pages = 0

    def fetch(self, identifier: str) -> Header | None:
        """The item's header as its record now says, or None when there is no such record."""
        number = self.pages + 1
        found = fetch_record(self.pipeline.client, self.pipeline.archive, self.spec,
                             self.folder, identifier,
                             PageName(self.rec.run_id, RECORD_WINDOW, number))  # fmt: skip
        if found is None:
            return None
        path, fetched, header = found
        window = Window(RECORD_WINDOW, None, None)
        page = HarvestedPage(self.spec, self.rec.run_id, window, number, fetched, path)
        store_harvested(self.pipeline.storage.staging, page)
        self.pages = number
        return header

    def job(self) -> WindowJob:
        return WindowJob(self.spec.harvest_id, self.rec.run_id, RECORD_WINDOW, self.pages)

    def load(self) -> None:
        """Load what was fetched (a reconciliation that stops half way)."""
        try:
            storage = self.pipeline.storage
            seal_and_load(storage.staging, storage.db, [self.job()])
        except Exception as exc:  # the reconciliation is failing already: say the first error
            log.error("could not load the records fetched before it stopped: %s", exc)


def _above(share: float) -> str:
    """A --max-vanished that lets ``share`` through, as a user would type it."""
    return f"{min(1.0, math.ceil(share * 100 - 1e-9) / 100):g}"


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=TOMBSTONES_PER_PAGE):
        yield from batch.to_pylist()


class _ListingWriter:
    """Listed headers into a Parquet file of ``LISTED`` rows, a batch at a time."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, tables.LISTED, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def add(self, headers: list[Header]) -> None:
        self._rows += [{"oai_identifier": h.identifier, "datestamp": h.datestamp,
                        "deleted": h.deleted} for h in headers]  # fmt: skip
        if len(self._rows) >= LISTING_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(tables.to_table(self._rows, tables.LISTED))
            self._rows = []

    def __enter__(self) -> _ListingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self._flush()
        finally:
            self._writer.close()
