"""``status``: per harvest, the last complete run, the next ``from``, counts and errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.datadir import DataDir
from harvesting.state import COMPLETE, RUNNING, Run, StateStore
from schemas.errors import WarehouseError
from warehouse.locks import harvest_running


@dataclass
class HarvestStatus:
    harvest_id: str
    endpoint: str
    metadata_prefix: str
    set_spec: str | None
    last_complete: datetime | None
    next_from: str | None
    open_run: str | None
    position: str | None
    records: int
    deleted: int
    quarantined: int
    last_error: str | None
    #: the dates the latest complete run with --until covered (it moves "next from" no
    #: further than its --until)
    last_bounded: str | None = None
    #: why the warehouse's counts are missing (it could not be opened), if they are
    counts_missing: str | None = None
    #: the latest reconciliation (``repec-harvest reconcile``): when, and what it did
    last_reconciled: str | None = None


def harvest_status(data: DataDir) -> list[HarvestStatus]:
    if not data.has_state():
        return []
    state = StateStore(data.state_location, read_only=not data.catalog_url)
    try:
        try:
            counts, missing = _warehouse_counts(data), None
        except WarehouseError as exc:  # the state can still be shown (read-only media, ...)
            if data.is_legacy():  # but an earlier version's data dir is converted first
                raise
            counts, missing = {}, str(exc)
        statuses = []
        for h in state.harvests():
            run = state.open_run(h.harvest_id)
            rows = counts.get(h.harvest_id, (0, 0, 0))
            position = None
            if run is not None and run.window is not None:
                position = (
                    f"window {run.window_index + 1}/{len(run.windows)}, "
                    f"{run.window_pages} pages in, token {run.token or '-'}"
                )
            statuses.append(
                HarvestStatus(
                    harvest_id=h.harvest_id,
                    endpoint=h.spec.endpoint,
                    metadata_prefix=h.spec.metadata_prefix,
                    set_spec=h.spec.set_spec,
                    last_complete=h.last_complete_server_start,
                    next_from=h.next_from(),  # with the overlap the last run used
                    open_run=_describe_open(data, run) if run else None,
                    position=position,
                    records=rows[0],
                    deleted=rows[1],
                    quarantined=rows[2],
                    last_error=h.last_error or (run.error if run else None),
                    last_bounded=_last_bounded(state, h.harvest_id),
                    counts_missing=missing,
                    last_reconciled=_last_reconciled(state, h.harvest_id),
                )
            )
        return statuses
    finally:
        state.close()


def _describe_open(data: DataDir, run: Run) -> str:
    """The unfinished run and its status; a run marked running that no process holds was
    stopped without recording why (killed, or the disk was full): the next run resumes it."""
    if run.status == RUNNING and harvest_running(data.catalog, run.harvest_id) is False:
        return f"{run.run_id} (stopped without recording why: killed, or the disk was full)"
    return f"{run.run_id} ({run.status})"


def _last_bounded(state: StateStore, harvest_id: str) -> str | None:
    bounded = [r for r in state.runs(harvest_id) if r.status == COMPLETE and r.until_date]
    if not bounded:
        return None
    run = max(bounded, key=lambda r: r.run_id)
    return f"{run.from_date or 'earliestDatestamp'} to {run.until_date} (run {run.run_id})"


def _last_reconciled(state: StateStore, harvest_id: str) -> str | None:
    done = state.reconciliations(harvest_id)
    if not done:
        return None
    rec = done[-1]
    when = (rec.finished_at or rec.started_at).isoformat()
    if rec.error or rec.status == RUNNING:  # failed, held (why), or running
        return f"{when} {rec.status}" + (f": {rec.error}" if rec.error else "")
    return (
        f"{when} {rec.status}: {rec.vanished or 0:,} no longer listed, "
        f"{rec.tombstoned or 0:,} deleted, {rec.not_loaded or 0:,} listed but not loaded "
        f"({rec.fetched or 0:,} fetched)"
    )


def _warehouse_counts(data: DataDir) -> dict[str, tuple[int, int, int]]:
    """harvest_id -> (live versions, tombstones, quarantined records) in the warehouse: what
    each harvest contributed, whatever the merge across sources made of it."""
    if not data.catalog.exists() and not data.is_legacy():
        return {}
    with data.warehouse() as warehouse:  # an earlier version's data dir: a one-line error
        _, made = warehouse.query(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = 'article_versions'"
            " AND database_name = current_database()"
        )
        if not made[0][0]:  # the first run was stopped before the tables were made
            return {}
        _, rows = warehouse.query(
            """
            SELECT harvest_id, sum(live)::BIGINT, sum(dead)::BIGINT, sum(q)::BIGINT FROM (
                SELECT harvest_id, count(*) FILTER (WHERE NOT deleted) AS live,
                       count(*) FILTER (WHERE deleted) AS dead, 0 AS q
                FROM article_versions GROUP BY harvest_id
                UNION ALL
                SELECT harvest_id, 0, 0, count(*) FROM quarantine GROUP BY harvest_id)
            GROUP BY harvest_id
            """
        )
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}
