"""``repec-harvest redif PATH``: a RePEc mirror tree or any folder of ReDIF files into the
same tables as the OAI harvest (source ``redif``), incrementally.

Files are read series-and-archives first, so an article without ``Journal`` gets its
series' name. Only files whose size, mtime and then checksum changed are parsed again; items
that disappeared from a changed file, or with a removed file, become tombstones of the
``redif`` version. Rows are staged and loaded in batches (each one commit); a file is recorded as
read only after its rows are loaded, so an interrupted load is simply read again.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from flows.datadir import DataDir
from harvesting.identity import new_run_id
from harvesting.redif_files import FileRecord, FileStamp, RedifFile, RedifFileState, find_files
from harvesting.redif_ledger import Ledger
from schemas.dates import utc_now
from schemas.errors import SourceFileUnreadable
from schemas.redif_rows import (
    MAPPING_VERSION,
    REDIF_TABLES,
    FileRows,
    HandleClaims,
    RedifContext,
    map_templates,
    tombstones,
)
from schemas.redif_templates import parse_lines
from schemas.tables import TableBuffer
from warehouse.merge import ENTITY_TABLES
from warehouse.staging import write_parquet

#: Rows (of every table) loaded in one commit, and characters of the templates they come
#: from (a batch of large quarantined templates weighs by its text).
BATCH_ROWS = 50_000
BATCH_TEXT = 64 << 20
log = logging.getLogger(__name__)


@dataclass
class RedifReport:
    files: int = 0
    read: int = 0
    unchanged: int = 0
    removed: int = 0
    items: int = 0
    series: int = 0
    archives: int = 0
    persons: int = 0
    institutions: int = 0
    tombstones: int = 0
    quarantined: int = 0
    duplicates: int = 0  # templates whose handle an earlier template holds (quarantined)
    reread: int = 0  # files read again because an earlier mapping read them
    errors_by_file: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def redif_harvest_id(root: str) -> str:
    return f"redif-{Path(root).name or 'root'}-{hashlib.sha256(root.encode()).hexdigest()[:10]}"


class _Batch:
    """Rows on their way into the warehouse, and the files whose rows they complete: loaded
    in one commit once :data:`BATCH_ROWS` rows or :data:`BATCH_TEXT` characters of templates
    are gathered, inside a file as between files. A file is saved as read (:meth:`done`)
    only with the batch that holds its last rows."""

    def __init__(self, data: DataDir, harvest_id: str, run_id: str, state: RedifFileState,
                 root: str, loaded_at: datetime) -> None:  # fmt: skip
        self.staging = data.staging_area()
        self.warehouse = data.warehouse()
        self.harvest_id, self.run_id = harvest_id, run_id
        self.state, self.root, self.loaded_at = state, root, loaded_at
        self.rows = TableBuffer(REDIF_TABLES)
        self.text_size = 0  # characters of the templates the rows come from
        self.records: list[FileRecord] = []
        self.touched: list[FileStamp] = []
        self.number = 0

    def add(self, rows: FileRows) -> None:
        rows.add_to(self.rows)
        self.text_size += rows.text_size
        if self.rows.rows >= BATCH_ROWS or self.text_size >= BATCH_TEXT:
            self.flush()

    def done(self, record: FileRecord) -> None:
        """A file all of whose rows were added."""
        self.records.append(record)

    def touch(self, stamp: FileStamp) -> None:
        """A file not read (the same bytes as when last read) with a new size or mtime."""
        self.touched.append(stamp)

    def flush(self) -> None:
        """Load what is gathered in one commit, then save the files it completes."""
        if self.rows.rows:
            self.number += 1
            tables = self.rows.tables()
            files = {}
            for name, table in tables.items():
                path = self.staging.window_file(name, self.harvest_id, self.run_id, self.number)
                write_parquet(path, table)
                files[name] = path
            window = {k: files[k] for k in ("articles", "authors", "quarantine")}
            entities = {n: files[n] for n in ENTITY_TABLES if tables[n].num_rows}
            self.warehouse.load_windows([window], entities=entities)  # one commit: all or nothing
            self.staging.discard_files(files.values())
            self.rows, self.text_size = TableBuffer(REDIF_TABLES), 0
        if self.records or self.touched:
            self.state.save(self.root, self.records, [], self.loaded_at.isoformat(),
                            self.touched)  # fmt: skip
            self.records, self.touched = [], []


def load_redif(
    data: DataDir, path: str | Path, on_file: Callable[[int, int], None] | None = None
) -> RedifReport:
    """Load every changed ReDIF file under ``path``; return what was done. ``on_file`` is
    called with (files dealt with, files found) as each file is read or found unchanged."""
    target = Path(path).expanduser().resolve()
    root = target.as_uri()
    harvest_id = redif_harvest_id(root)
    with data.writing(), data.harvesting(harvest_id, f"a ReDIF load of {target}"):
        files = find_files(target)
        done = itertools.count(1)

        def tick() -> None:
            if on_file:
                on_file(next(done), len(files))

        loaded_at = utc_now()
        state = RedifFileState(data.state_location)
        batch = _Batch(data, harvest_id, new_run_id(datetime.now(UTC).replace(tzinfo=None)),
                       state, root, loaded_at)  # fmt: skip
        with batch.warehouse.connect():
            pass  # every table exists even when nothing loads
        report = RedifReport(files=len(files))
        ledger = Ledger(data.scratch / f"{harvest_id}-ledger.sqlite")
        try:
            _load(files, root, state, _Run(harvest_id, loaded_at, _series_names(data), ledger),
                  batch, report, tick)  # fmt: skip
        finally:
            ledger.close()
            state.close()
            batch.warehouse.close()
        return report


@dataclass
class _Run:
    harvest_id: str
    loaded_at: datetime
    series_names: dict[str, str]
    ledger: Ledger

    @property
    def claims(self) -> HandleClaims:
        return self.ledger.claims


def _load(
    files: list[RedifFile], root: str, state: RedifFileState, run: _Run, batch: _Batch,
    report: RedifReport, tick: Callable[[], None] = lambda: None,
) -> None:  # fmt: skip
    """First every file that stays as it was holds its handles (same size and mtime, or the
    same bytes, read by this mapping); then the others are read in order, claiming theirs.
    What every file holds is in the ledger (on disk), never all in memory."""
    known = state.stamps(root)
    kept: dict[str, tuple[RedifFile, FileStamp]] = {}  # files not read
    todo: list[tuple[RedifFile, FileStamp | None]] = []
    for file in files:
        previous = known.pop(file.relative, None)
        stamp = _unchanged(file, previous, report)
        if stamp is None:
            todo.append((file, previous))
            continue
        kept[file.relative] = (file, stamp)
        tick()
        if stamp is not previous:
            batch.touch(stamp)  # its new size and mtime
    ledger = run.ledger
    for held in state.held(root):
        if held.relative in kept:
            run.claims.hold(held.relative, held.handles, held.entities)
            ledger.live(held.handles)
            ledger.repeats(held.relative, held.duplicates)
        elif held.relative in known:  # removed from the tree: its items go too
            report.removed += 1
            ledger.gone(held.relative, held.handles, replace=True)
    while todo:
        for file, previous in todo:
            before = next(state.held(root, file.relative), None) if previous else None
            record = _read(file, root, run, batch, report)
            tick()
            if record is not None:
                batch.done(record)
            ledger.live(record.handles if record else before.handles if before else [])
            ledger.gone(file.relative, before.handles if before else [])
        # A handle whose keeper went may live on in a copy quarantined as its duplicate:
        # the files holding such copies are read again, and the first copy keeps it.
        todo = [kept.pop(relative) for relative in ledger.read_again()]
        report.unchanged -= len(todo)
    for relative, handle in ledger.lost():  # an item that moved to another file is not gone
        context = RedifContext(root, run.harvest_id, relative, run.loaded_at, run.loaded_at)
        batch.add(FileRows(articles=tombstones(context, [handle], run.loaded_at)))
        report.tombstones += 1
    batch.flush()
    state.save(root, [], list(known), run.loaded_at.isoformat())  # removed: tombstones loaded


def _unchanged(
    file: RedifFile, previous: FileStamp | None, report: RedifReport
) -> FileStamp | None:
    """The record of a file that need not be read: read by this mapping, with the same size
    and mtime or the same bytes; None when it must be read."""
    if previous is None or previous.mapping != MAPPING_VERSION:
        report.reread += previous is not None
        return None
    if (previous.size, previous.mtime_ns) == (file.size, file.mtime_ns):
        report.unchanged += 1
        return previous
    try:
        digest, _ = file.scan()
    except SourceFileUnreadable:
        return None  # reported when it is read
    if digest != previous.sha256:
        return None
    report.unchanged += 1
    return replace(previous, size=file.size, mtime_ns=file.mtime_ns)


def _read(
    file: RedifFile, root: str, run: _Run, batch: _Batch, report: RedifReport
) -> FileRecord | None:
    """Read and map one file into the batch, a template at a time (rows may go into the
    warehouse before the file ends); None when it cannot be read."""
    file_time = datetime.fromtimestamp(file.mtime_ns / 1e9, UTC).replace(tzinfo=None, microsecond=0)
    context = RedifContext(root, run.harvest_id, file.relative, file_time, run.loaded_at)
    handles: set[str] = set()
    duplicates: set[str] = set()
    entities: list[tuple[str, str]] = []
    quarantined = 0
    try:
        digest, encoding = file.scan()
        templates = parse_lines(file.lines(encoding), file.relative)
        for rows in map_templates(context, templates, run.series_names, run.claims):
            handles.update(a["handle"] for a in rows.articles)
            duplicates.update(rows.duplicate_handles)
            entities.extend(rows.entity_claims)
            quarantined += len(rows.quarantine)
            report.series += len(rows.series)
            report.archives += len(rows.archives)
            report.persons += len(rows.persons)
            report.institutions += len(rows.institutions)
            report.duplicates += rows.duplicates
            batch.add(rows)
    except SourceFileUnreadable as exc:  # reported, the others still load
        log.error("%s", exc)
        report.unreadable.append(file.relative)
        return None
    report.read += 1
    report.items += len(handles)
    report.quarantined += quarantined
    if quarantined:
        report.errors_by_file[file.relative] = quarantined
    return FileRecord(file.relative, file.size, file.mtime_ns, digest, MAPPING_VERSION,
                      sorted(handles), sorted(duplicates), entities)  # fmt: skip


def _series_names(data: DataDir) -> dict[str, str]:
    if not data.catalog.exists():
        return {}
    with data.warehouse() as warehouse:
        _, rows = warehouse.query("SELECT handle_key, name FROM series WHERE name IS NOT NULL")
    return {k: n for k, n in rows}
