"""Reconciliation: what a source lists now, against what the warehouse holds of it.

Incremental harvests see what changed since the last run. They miss deletions on servers that
keep none (``deletedRecord`` no or transient) and records whose datestamps never moved. For
each harvest (endpoint, prefix, set), ``reconcile``:

1. lists every identifier (ListIdentifiers; each page archived, the headers staged as
   Parquet, so a listing of millions holds one batch in memory);
2. compares the listing with the warehouse (``warehouse.listings``): items held of that
   source that it no longer lists have vanished;
3. holds back, applying nothing, when more than ``max_vanished`` of the held items vanished
   (a server listing nothing for a day must not empty the warehouse): the reconciliation is
   ``held`` and says how to apply it;
4. otherwise, within a set, asks GetRecord about each vanished item (a record can leave a
   set and stay in the repository: it is kept); every one confirmed gone becomes a tombstone of
   that source, the item's last version marked deleted, on the way every record takes: the
   tombstones are archived (``w0000/pNNNNNN.jsonl.gz``, verb ``Tombstones``), staged and
   loaded, so ``rebuild`` makes them again.

A tombstone keeps the datestamp of the version it deletes (or the listing's own deletion, if
later) and is dated, as harvested, at the listing's start: the record harvested again later,
even with the same datestamp, is live again.
"""

from __future__ import annotations

import json
import logging
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
from flows.pipeline import Pipeline, Plan
from flows.storage import TOMBSTONES, store_tombstones
from harvesting.harvester import page_id
from harvesting.identity import HarvestSpec, new_run_id
from harvesting.listing import current_header, in_set, list_identifiers
from harvesting.state import FAILED, RUNNING, Reconciliation
from schemas import tables
from schemas.dates import utc_now
from schemas.errors import ConfigError, EndpointError
from schemas.files import page_name
from schemas.records import Header, PageContext
from warehouse.loader import WindowJob, seal_and_load

log = logging.getLogger(__name__)

#: Statuses of a reconciliation, besides running and failed.
APPLIED, UNCHANGED, HELD = "applied", "unchanged", "held"
#: Tombstones per archived file and staged page.
TOMBSTONES_PER_PAGE = 10_000
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
            try:
                plan = pipeline.prepare()
                results += [ReconcileResult(r.spec, None, r.error) for r in plan.unknown]
                results += [reconcile(pipeline, plan, spec) for spec in plan.specs]
            except (EndpointError, ConfigError) as exc:
                if len(endpoints) == 1:
                    raise
                spec = HarvestSpec(options.endpoint, options.metadata_prefix or "-", None)
                results.append(ReconcileResult(spec, None, str(exc)))
            finally:
                try:
                    pipeline.record_log(failing=True)  # the reconciliations, for SQL users
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
    """Reconcile one harvest, holding it (no run of it meanwhile); a failure of the endpoint
    is the result's error, recorded."""
    data, state = pipeline.data, pipeline.state
    state.register(spec, plan.identity.granularity)
    rec = Reconciliation(
        run_id=new_run_id(datetime.now(UTC).replace(tzinfo=None)), harvest_id=spec.harvest_id,
        status=RUNNING, started_at=utc_now(), flow_run_id=flow_run_id,
    )  # fmt: skip
    state.save_reconciliation(rec)
    work = data.scratch / f"reconcile-{rec.run_id}"
    what = f"the harvest of {spec.set_spec or 'all sets'} from {spec.endpoint}"
    try:
        with data.harvesting(spec.harvest_id, what):
            _reconcile(pipeline, spec, rec, work, stop)
    except EndpointError as exc:
        rec.status, rec.error = FAILED, str(exc)
        log.error("reconciliation of %s failed: %s", spec.set_spec or "all sets", exc)
    except BaseException as exc:
        rec.status, rec.error = FAILED, str(exc) or type(exc).__name__
        raise
    finally:
        rec.finished_at = utc_now()
        state.save_reconciliation(rec)
        shutil.rmtree(work, ignore_errors=True)
        pipeline.storage.staging.discard_pending(spec.harvest_id, rec.run_id)
    return ReconcileResult(spec, rec, rec.error if rec.status == FAILED else None)


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
    with _ListingWriter(listing_file) as writer:
        listing = list_identifiers(pipeline.client, archive, spec, folder, writer.add, stop)
    rec.listed_at = listed_at = listing.listed_at or utc_now()
    comparison = pipeline.storage.db.compare_listing(
        listing_file, vanished_file, endpoint=spec.endpoint, prefix=spec.metadata_prefix,
        set_spec=spec.set_spec, harvest_id=spec.harvest_id, listed_at=listed_at,
    )  # fmt: skip
    rec.listed, rec.live = comparison.listed, comparison.held
    rec.vanished, rec.not_loaded = comparison.vanished, comparison.not_loaded
    rec.tombstoned = rec.kept = 0
    limit = pipeline.options.max_vanished
    if not comparison.vanished:
        rec.status = UNCHANGED
    elif comparison.vanished > limit * comparison.held:
        rec.status = HELD
        share = comparison.vanished / comparison.held
        rec.error = (
            f"{comparison.vanished:,} of {comparison.held:,} items ({share:.1%}) are no longer "
            f"listed, more than --max-vanished {limit:g}: nothing applied; if they are gone, "
            f"run `repec-harvest reconcile --max-vanished {_above(share)}`"
        )
        log.info("reconciliation of %s held: %s", spec.set_spec or "all sets", rec.error)
    else:
        context = PageContext(
            endpoint=spec.endpoint, harvest_id=spec.harvest_id,
            metadata_prefix=spec.metadata_prefix, harvested_at=listed_at, page_id="",
            page_path="",
        )  # fmt: skip
        pages = 0
        for lines in _batches(_gone(pipeline, spec, folder, vanished_file, rec, stop)):
            pages += 1
            raw = b"".join(json.dumps(line, sort_keys=True).encode() + b"\n" for line in lines)
            path = archive.store_file(
                folder, f"{page_name(0, pages)}.jsonl", raw, TOMBSTONES, endpoint=spec.endpoint,
                metadata_prefix=spec.metadata_prefix, set_spec=spec.set_spec,
                harvest_id=spec.harvest_id, run_id=rec.run_id, window=0, page=pages,
                response_date=listed_at.isoformat(), records=len(lines),
            )  # fmt: skip
            page = replace(
                context, page_path=path, page_id=page_id(spec.harvest_id, rec.run_id, 0, pages)
            )
            store_tombstones(pipeline.storage.staging, page, rec.run_id, 0, pages, raw)
            rec.tombstoned += len(lines)
        if pages:
            staging, db = pipeline.storage.staging, pipeline.storage.db
            seal_and_load(staging, db, [WindowJob(spec.harvest_id, rec.run_id, 0, pages)])
        rec.status = APPLIED if rec.tombstoned else UNCHANGED
    log.info(
        "reconciled %s: %s listed, %s held, %s vanished, %s tombstoned, %s kept, %s not loaded",
        spec.set_spec or "all sets", rec.listed, rec.live, rec.vanished, rec.tombstoned,
        rec.kept, rec.not_loaded,
    )  # fmt: skip


def _above(share: float) -> str:
    """A --max-vanished that lets ``share`` through, as a user would type it."""
    return f"{min(1.0, (int(share * 100) + 1) / 100):g}"


def _gone(
    pipeline: Pipeline,
    spec: HarvestSpec,
    folder: str,
    vanished: Path,
    rec: Reconciliation,
    stop: threading.Event | None,
) -> Iterator[dict[str, Any]]:
    """The vanished items confirmed gone, as tombstone lines. Within a set, GetRecord asks
    about each one the listing does not say is deleted: one still there left the set (or was
    left out of the listing) and is kept."""
    asked = 0
    for batch in pq.ParquetFile(vanished).iter_batches(batch_size=TOMBSTONES_PER_PAGE):
        for item in batch.to_pylist():
            datestamp = item["datestamp"]
            if spec.set_spec is not None and not item["listed_deleted"]:
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                asked += 1
                now = current_header(pipeline.client, pipeline.archive, spec, folder,
                                     item["oai_identifier"], asked)  # fmt: skip
                if now is not None and not now.deleted:
                    rec.kept = (rec.kept or 0) + 1
                    why = "" if in_set(now, spec.set_spec) else " (it left the set)"
                    log.info("%s is not listed in %s but is still there%s; kept",
                             item["oai_identifier"], spec.set_spec, why)  # fmt: skip
                    continue
                if now is not None:
                    datestamp = max(datestamp, now.datestamp)
            yield {"identifier": item["oai_identifier"], "handle": item["handle"],
                   "datestamp": datestamp.isoformat(), "set_specs": item["set_specs"]}  # fmt: skip


def _batches(lines: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= TOMBSTONES_PER_PAGE:
            yield batch
            batch = []
    if batch:
        yield batch


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
