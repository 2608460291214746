"""Harvest state and log, in ``state.sqlite`` in the data dir, or in the PostgreSQL database
of a shared catalog (``harvesting.statedb``).

``harvests`` holds one row per harvest identity with the checkpoint of its last complete
run; ``runs`` is the log and holds the live position of a run (window, resumption token,
page) that is committed after every page, in one transaction with that page's counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harvesting.identity import HarvestSpec
from harvesting.statedb import Row, StateDB
from harvesting.windows import Window, windows_from_json, windows_to_json
from schemas.dates import format_datestamp, parse_datestamp
from schemas.errors import DataDirError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS harvests (
    harvest_id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    metadata_prefix TEXT NOT NULL,
    set_spec TEXT,
    granularity TEXT,
    last_complete_run TEXT,
    last_complete_server_start TEXT,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    harvest_id TEXT NOT NULL REFERENCES harvests(harvest_id),
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    server_started_at TEXT,
    from_date TEXT,
    until_date TEXT,
    windows TEXT NOT NULL,
    window_index INTEGER NOT NULL DEFAULT 0,
    window_pages INTEGER NOT NULL DEFAULT 0,
    window_records INTEGER NOT NULL DEFAULT 0,
    token TEXT,
    pages INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    window_expected INTEGER,
    shortfalls TEXT NOT NULL DEFAULT '[]',
    overlap_seconds INTEGER,
    flow_run_id TEXT,
    error TEXT,
    retries INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_harvest ON runs(harvest_id, run_id);
CREATE TABLE IF NOT EXISTS reconciliations (
    run_id TEXT PRIMARY KEY,
    harvest_id TEXT NOT NULL REFERENCES harvests(harvest_id),
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    listed_at TEXT,
    listed INTEGER,
    live INTEGER,
    vanished INTEGER,
    tombstoned INTEGER,
    kept INTEGER,
    not_loaded INTEGER,
    fetched INTEGER,
    error TEXT,
    flow_run_id TEXT
);
CREATE TABLE IF NOT EXISTS host_slots (
    host TEXT PRIMARY KEY,
    next_at DOUBLE PRECISION NOT NULL
);
"""
#: The next free request slot of a host, taken in one statement on the database's clock (so
#: machines whose clocks differ share one timeline): the wait until the slot is returned.
_RESERVE_POSTGRES = """
INSERT INTO host_slots AS s (host, next_at)
VALUES (?, extract(epoch FROM clock_timestamp()) + ?)
ON CONFLICT (host) DO UPDATE
SET next_at = greatest(s.next_at, extract(epoch FROM clock_timestamp())) + ?
RETURNING next_at - ? - extract(epoch FROM clock_timestamp()) AS wait
"""

#: A harvest with the overlap its last complete run used.
_HARVESTS = (
    "SELECT h.*, r.overlap_seconds AS last_overlap_seconds FROM harvests h"
    " LEFT JOIN runs r ON r.run_id = h.last_complete_run"
)

RUNNING, COMPLETE, FAILED = "running", "complete", "failed"
#: Closed without completing: not resumed (the checkpoint did not move, so the next run
#: covers the same dates again).
INCOMPLETE, SUPERSEDED = "incomplete", "superseded"
CLOSED = {COMPLETE, INCOMPLETE, SUPERSEDED}
#: Columns added after a table's first release: (table, name, declaration).
_ADDED_COLUMNS = [
    ("runs", "window_expected", "INTEGER"),
    ("runs", "shortfalls", "TEXT NOT NULL DEFAULT '[]'"),
    ("runs", "overlap_seconds", "INTEGER"),
    ("runs", "flow_run_id", "TEXT"),
    ("runs", "retries", "INTEGER"),
    ("reconciliations", "fetched", "INTEGER"),
]
#: The overlap "next from" is computed with when no run recorded its own.
DEFAULT_OVERLAP = timedelta(days=1)


def checkpoint_after(run: Run, previous: datetime | None) -> datetime | None:
    """Where a harvest's checkpoint stands after ``run`` completes (everything the server
    held before it is harvested). A run reaches the server time it began at, or its
    ``--until`` if that is earlier (a trial run never limits later ones); it moves the
    checkpoint only when it began at or before it (a run ``--from`` a later date leaves a gap
    behind) and never moves it back."""
    reach = run.server_started_at
    if run.until_date:
        until = parse_datestamp(run.until_date)
        reach = until if reach is None else min(reach, until)
    if previous is None:
        return reach
    start = parse_datestamp(run.from_date) if run.from_date else None
    if reach is None or (start is not None and start > previous) or reach <= previous:
        return previous
    return reach


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class Run:
    run_id: str
    harvest_id: str
    status: str
    started_at: datetime
    server_started_at: datetime | None
    from_date: str | None
    until_date: str | None
    windows: list[Window]
    window_index: int
    window_pages: int
    window_records: int
    token: str | None
    pages: int
    records: int
    deleted: int
    quarantined: int
    finished_at: datetime | None = None
    error: str | None = None
    #: completeListSize announced in the current window, if any
    window_expected: int | None = None
    #: windows whose records fell short of their completeListSize
    shortfalls: list[str] = field(default_factory=list)
    #: how far before the last complete run's start this run began (``--overlap``)
    overlap_seconds: int | None = None
    #: the Prefect flow run that started it, or last resumed it (None from the command line)
    flow_run_id: str | None = None
    #: requests retried after a transient failure (None: the run was logged by a version
    #: that did not count them)
    retries: int | None = 0

    @property
    def window(self) -> Window | None:
        return self.windows[self.window_index] if self.window_index < len(self.windows) else None


@dataclass
class Reconciliation:
    """One comparison of a harvest's ListIdentifiers with the warehouse (``flows.reconcile``):
    ``vanished`` items the source no longer lists, of which ``tombstoned`` were deleted and
    ``kept`` were found still there (GetRecord); ``not_loaded`` items it lists that the
    warehouse lacks, of which ``fetched`` were fetched (GetRecord) and loaded. Status:
    running, applied, unchanged, held (more would vanish than allowed: nothing applied) or
    failed."""

    run_id: str
    harvest_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    listed_at: datetime | None = None
    listed: int | None = None
    live: int | None = None
    vanished: int | None = None
    tombstoned: int | None = None
    kept: int | None = None
    not_loaded: int | None = None
    fetched: int | None = None
    error: str | None = None
    flow_run_id: str | None = None


_RECONCILIATION_FIELDS = tuple(Reconciliation.__dataclass_fields__)
_RECONCILIATION_TIMES = ("started_at", "finished_at", "listed_at")


@dataclass(frozen=True)
class HarvestRecord:
    spec: HarvestSpec
    harvest_id: str
    granularity: str | None
    last_complete_run: str | None
    last_complete_server_start: datetime | None
    last_error: str | None
    #: the overlap the last complete run was started with
    last_overlap: timedelta | None = None

    def next_from(self, overlap: timedelta | None = None) -> str | None:
        """Where the next run starts: the server time at which the last complete run began,
        minus ``overlap`` (by default the one that run used), at the server's granularity
        (None before any complete run)."""
        start = self.last_complete_server_start
        if start is None:
            return None
        overlap = overlap if overlap is not None else self.last_overlap or DEFAULT_OVERLAP
        return format_datestamp(start - overlap, self.granularity or "")


class StateStore:
    """Checkpoints and the run log of every harvest of one warehouse."""

    def __init__(self, location: str | Path, read_only: bool = False) -> None:
        """``location``: the SQLite file, or the PostgreSQL URL of a shared catalog.
        ``read_only``: only read (a read-only data dir)."""
        self.location = location
        self._db = StateDB(location, _SCHEMA, read_only=read_only)
        present = {t: self._db.columns(t) for t in {t for t, _, _ in _ADDED_COLUMNS}}
        for table, name, declaration in _ADDED_COLUMNS:
            if present[table] and name not in present[table]:  # (not made: a reader's)
                if read_only:
                    self._db.close()
                    raise DataDirError(f"the harvest state {location} was made by an earlier "
                                       "version; a run with write access upgrades it")  # fmt: skip
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        self._db.close()

    def reserve_request(self, host: str, delay: float) -> float:
        """Take the next free request slot of ``host``, ``delay`` seconds after the slot taken
        before it by any process sharing this state; the seconds to wait for it."""
        if self._db.postgres:
            row = self._db.execute(_RESERVE_POSTGRES, (host, delay, delay, delay)).fetchone()
            return max(0.0, float(row["wait"]))
        with self._tx() as db:
            row = db.execute("SELECT next_at FROM host_slots WHERE host = ?", (host,)).fetchone()
            now = time.time()
            slot = max(now, float(row["next_at"]) if row else now)
            db.execute(
                "INSERT INTO host_slots (host, next_at) VALUES (?, ?) ON CONFLICT(host)"
                " DO UPDATE SET next_at = excluded.next_at", (host, slot + delay),
            )  # fmt: skip
        # counted from after the commit: a slow commit must not make this request late and
        # the next one on time, closer together than the delay
        return max(0.0, slot - time.time())

    def postpone_requests(self, host: str, seconds: float) -> None:
        """Move ``host``'s next free slot ``seconds`` later (a request left late)."""
        with self._tx() as db:
            db.execute("UPDATE host_slots SET next_at = next_at + ? WHERE host = ?",
                       (seconds, host))  # fmt: skip

    @contextmanager
    def _tx(self) -> Iterator[StateDB]:
        with self._db.transaction() as db:
            yield db

    # -- harvests -------------------------------------------------------------------------

    def register(self, spec: HarvestSpec, granularity: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO harvests (harvest_id, endpoint, metadata_prefix, set_spec,"
                " granularity) VALUES (?, ?, ?, ?, ?) ON CONFLICT(harvest_id) DO UPDATE"
                " SET granularity = excluded.granularity",
                (spec.harvest_id, spec.endpoint, spec.metadata_prefix, spec.set_spec,
                 granularity),
            )  # fmt: skip

    def harvest(self, harvest_id: str) -> HarvestRecord | None:
        row = self._db.execute(_HARVESTS + " WHERE h.harvest_id = ?", (harvest_id,)).fetchone()
        return _harvest(row) if row else None

    def harvests(self) -> list[HarvestRecord]:
        rows = self._db.execute(_HARVESTS + " ORDER BY h.harvest_id").fetchall()
        return [_harvest(r) for r in rows]

    # -- runs -----------------------------------------------------------------------------

    def open_run(self, harvest_id: str) -> Run | None:
        """The harvest's latest run if it did not complete (it is resumed, not restarted)."""
        row = self._db.execute(
            "SELECT * FROM runs WHERE harvest_id = ? ORDER BY run_id DESC LIMIT 1",
            (harvest_id,),
        ).fetchone()
        if row is None or row["status"] in CLOSED:
            return None
        return _run(row)

    def start_run(self, run: Run) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (run_id, harvest_id, status, started_at, server_started_at,"
                " from_date, until_date, windows, overlap_seconds, flow_run_id, retries)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.run_id, run.harvest_id, RUNNING, _iso(run.started_at),
                 _iso(run.server_started_at), run.from_date, run.until_date,
                 json.dumps(windows_to_json(run.windows)), run.overlap_seconds,
                 run.flow_run_id, run.retries),
            )  # fmt: skip

    def mark_running(self, run: Run) -> None:
        """The run is resumed (by ``run.flow_run_id`` if a Prefect flow run resumes it)."""
        run.status, run.error = RUNNING, None
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = ?, error = NULL,"
                " flow_run_id = coalesce(?, flow_run_id) WHERE run_id = ?",
                (RUNNING, run.flow_run_id, run.run_id),
            )

    def commit_page(
        self,
        run: Run,
        token: str | None,
        records: int,
        deleted: int,
        quarantined: int,
        complete_list_size: int | None = None,
    ) -> None:
        """Record one committed page: its data is already on disk."""
        if complete_list_size is not None:
            run.window_expected = complete_list_size
        run.window_pages += 1
        run.window_records += records
        run.token = token
        run.pages += 1
        run.records += records
        run.deleted += deleted
        run.quarantined += quarantined
        self._save_position(run)

    def restart_window(self, run: Run) -> None:
        """Forget the current window's progress (after an expired resumption token)."""
        run.records -= run.window_records
        self._reset_window(run)
        self._save_position(run)

    def split_window(self, run: Run, halves: tuple[Window, Window]) -> None:
        """Replace the current window by two halves and start the first from scratch."""
        run.records -= run.window_records
        i = run.window_index
        following = [Window(w.index + 1, w.start, w.end) for w in run.windows[i + 1 :]]
        run.windows = [*run.windows[:i], *halves, *following]
        self._reset_window(run)
        self._save_position(run)

    def complete_window(self, run: Run) -> None:
        run.window_index += 1
        self._reset_window(run)
        self._save_position(run)

    @staticmethod
    def _reset_window(run: Run) -> None:
        run.window_pages = run.window_records = 0
        run.token = None
        run.window_expected = None

    def _save_position(self, run: Run) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET window_index = ?, window_pages = ?, window_records = ?,"
                " token = ?, pages = ?, records = ?, deleted = ?, quarantined = ?,"
                " window_expected = ?, shortfalls = ?, windows = ?, retries = ? WHERE run_id = ?",
                (run.window_index, run.window_pages, run.window_records, run.token, run.pages,
                 run.records, run.deleted, run.quarantined, run.window_expected,
                 json.dumps(run.shortfalls), json.dumps(windows_to_json(run.windows)),
                 run.retries, run.run_id),
            )  # fmt: skip

    def complete_run(self, run: Run, finished_at: datetime) -> None:
        """Close the run and move the harvest's checkpoint as far as the run reached without
        a gap (``checkpoint_after``)."""
        run.status, run.finished_at = COMPLETE, finished_at
        record = self.harvest(run.harvest_id)
        previous = record.last_complete_server_start if record else None
        reached = checkpoint_after(run, previous)
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = NULL, retries = ?"
                " WHERE run_id = ?",
                (COMPLETE, _iso(finished_at), run.retries, run.run_id),
            )
            if reached == previous:
                db.execute("UPDATE harvests SET last_error = NULL WHERE harvest_id = ?",
                           (run.harvest_id,))  # fmt: skip
                return
            db.execute(
                "UPDATE harvests SET last_complete_run = ?, last_complete_server_start = ?,"
                " last_error = NULL WHERE harvest_id = ?",
                (run.run_id, _iso(reached), run.harvest_id),
            )

    def fail_run(self, run: Run, error: str, finished_at: datetime, status: str = FAILED) -> None:
        """Stop a run with an error; a failed run is resumed by the next one."""
        run.status, run.error, run.finished_at = status, error, finished_at
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ?, retries = ?"
                " WHERE run_id = ?",
                (status, error, _iso(finished_at), run.retries, run.run_id),
            )
            db.execute(
                "UPDATE harvests SET last_error = ? WHERE harvest_id = ?",
                (error, run.harvest_id),
            )

    def close_incomplete(self, run: Run, error: str, finished_at: datetime) -> None:
        """Close a run whose records fell short: not resumed, checkpoint not moved."""
        self.fail_run(run, error, finished_at, status=INCOMPLETE)

    # -- reconciliations ------------------------------------------------------------------

    def save_reconciliation(self, rec: Reconciliation) -> None:
        """Insert or update a reconciliation, as it stands."""
        values = [_iso(v) if k in _RECONCILIATION_TIMES else v
                  for k, v in zip(_RECONCILIATION_FIELDS, astuple(rec), strict=True)]  # fmt: skip
        columns = ", ".join(_RECONCILIATION_FIELDS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _RECONCILIATION_FIELDS[1:])
        with self._tx() as db:
            db.execute(
                f"INSERT INTO reconciliations ({columns}) VALUES"
                f" ({', '.join('?' * len(values))}) ON CONFLICT(run_id) DO UPDATE SET {updates}",
                tuple(values),
            )

    def reconciliations(self, harvest_id: str | None = None) -> list[Reconciliation]:
        if not self._db.columns("reconciliations"):  # a state only read, made before them
            return []
        sql, args = "SELECT * FROM reconciliations", ()  # type: tuple[str, tuple[str, ...]]
        if harvest_id:
            sql, args = sql + " WHERE harvest_id = ?", (harvest_id,)
        rows = self._db.execute(sql + " ORDER BY run_id", args).fetchall()
        found = []
        for row in rows:
            values: dict[str, Any] = {k: row[k] for k in _RECONCILIATION_FIELDS}
            values.update({k: _dt(row[k]) for k in _RECONCILIATION_TIMES})
            found.append(Reconciliation(**values))
        return found

    def runs(self, harvest_id: str | None = None) -> list[Run]:
        sql, args = "SELECT * FROM runs ORDER BY run_id", ()  # type: tuple[str, tuple[str, ...]]
        if harvest_id:
            sql, args = "SELECT * FROM runs WHERE harvest_id = ? ORDER BY run_id", (harvest_id,)
        return [_run(r) for r in self._db.execute(sql, args).fetchall()]


def _harvest(row: Row) -> HarvestRecord:
    return HarvestRecord(
        spec=HarvestSpec(row["endpoint"], row["metadata_prefix"], row["set_spec"]),
        harvest_id=row["harvest_id"],
        granularity=row["granularity"],
        last_complete_run=row["last_complete_run"],
        last_complete_server_start=_dt(row["last_complete_server_start"]),
        last_error=row["last_error"],
        last_overlap=(
            timedelta(seconds=row["last_overlap_seconds"])
            if row["last_overlap_seconds"] is not None
            else None
        ),
    )


def _run(row: Row) -> Run:
    data: dict[str, Any] = dict(row)
    started = _dt(data["started_at"])
    assert started is not None
    return Run(
        run_id=data["run_id"],
        harvest_id=data["harvest_id"],
        status=data["status"],
        started_at=started,
        server_started_at=_dt(data["server_started_at"]),
        from_date=data["from_date"],
        until_date=data["until_date"],
        windows=windows_from_json(json.loads(data["windows"])),
        window_index=data["window_index"],
        window_pages=data["window_pages"],
        window_records=data["window_records"],
        token=data["token"],
        pages=data["pages"],
        records=data["records"],
        deleted=data["deleted"],
        quarantined=data["quarantined"],
        finished_at=_dt(data["finished_at"]),
        error=data["error"],
        window_expected=data["window_expected"],
        shortfalls=json.loads(data["shortfalls"] or "[]"),
        overlap_seconds=data.get("overlap_seconds"),
        flow_run_id=data.get("flow_run_id"),
        retries=data.get("retries"),
    )
