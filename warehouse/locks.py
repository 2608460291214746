"""Who may write what, when: the locks every writer of a warehouse takes.

- ``write_lock``: one commit at a time per catalog (waits). Loads are short; serializing their
  commits keeps the merge into ``articles`` exact and spares SQLite's single writer.
- ``harvest_lock``: one process per harvest (endpoint, prefix, set); a second one on the same
  harvest fails at once, one on another harvest goes ahead.
- ``shared_lock``/``exclusive_lock``: every writer holds the warehouse shared; ``rebuild``,
  which replaces it whole, needs it alone.

With a SQLite catalog these are ``flock`` locks on files beside the catalog (every writer is on
that machine). With a PostgreSQL catalog they are PostgreSQL advisory locks, held on a session
of their own, so writers on different machines see each other's. A process that dies releases
its locks either way.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from schemas.errors import DataDirLocked, RepecHarvestError, WarehouseError
from warehouse.catalog import Catalog, connect_postgres

log = logging.getLogger(__name__)

_WRITE, _USE = "write", "warehouse"


@contextmanager
def write_lock(catalog: Catalog) -> Iterator[None]:
    """Wait until no other process commits to ``catalog``, and hold that until the block ends."""
    with _lock(catalog, _WRITE, exclusive=True, wait=True):
        yield


def harvest_lock(catalog: Catalog, harvest_id: str, what: str) -> AbstractContextManager[None]:
    """Hold ``harvest_id`` for this process; raise DataDirLocked if another holds it."""
    busy = f"another repec-harvest process is running {what}; wait for it to finish"
    return _held(catalog, f"harvest-{harvest_id}", True, busy)


def harvest_running(catalog: Catalog, harvest_id: str) -> bool | None:
    """Whether a process holds ``harvest_id`` now (None: cannot tell, e.g. read-only)."""
    try:
        with _lock(catalog, f"harvest-{harvest_id}", exclusive=True, wait=False):
            return False
    except _Busy:
        return True
    except RepecHarvestError:
        return None


def shared_lock(catalog: Catalog) -> AbstractContextManager[None]:
    """Writers hold the warehouse shared: any number at once, but not during a rebuild."""
    busy = f"the warehouse {catalog.label} is being rebuilt; wait for it to finish"
    return _held(catalog, _USE, False, busy)


def exclusive_lock(catalog: Catalog) -> AbstractContextManager[None]:
    """The warehouse alone (``rebuild``): fails at once while any other writer runs."""
    busy = f"another repec-harvest process is writing to {catalog.label}; wait for it to finish"
    return _held(catalog, _USE, True, busy)


@contextmanager
def _held(catalog: Catalog, name: str, exclusive: bool, busy: str) -> Iterator[None]:
    """A lock taken at once or not at all (DataDirLocked saying ``busy``)."""
    try:
        with _lock(catalog, name, exclusive=exclusive, wait=False):
            yield
    except _Busy:
        raise DataDirLocked(busy) from None


class _Busy(Exception):
    """The lock is held by another process."""


@contextmanager
def _lock(catalog: Catalog, name: str, exclusive: bool, wait: bool) -> Iterator[None]:
    if catalog.is_postgres:
        with _advisory_lock(catalog.metadata, name, exclusive, wait):
            yield
    else:
        with _file_lock(_lock_file(catalog, name), exclusive, wait):
            yield


def _lock_file(catalog: Catalog, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100]
    if safe != name:  # distinct names must stay distinct once made safe
        safe += "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return catalog.sqlite_path.parent / ".locks" / f"{safe}.lock"


@contextmanager
def _file_lock(path: Path, exclusive: bool, wait: bool) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise WarehouseError(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(handle, mode | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise _Busy() from None
        yield
    finally:
        handle.close()


def _key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    digest = hashlib.sha256(f"repec-harvest:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _advisory_lock(url: str, name: str, exclusive: bool, wait: bool) -> Iterator[None]:
    session = connect_postgres(url)
    try:
        kind = "" if exclusive else "_shared"
        if wait:
            session.execute(f"SELECT pg_advisory_lock{kind}(%s)", (_key(name),))
        else:
            row = session.execute(
                f"SELECT pg_try_advisory_lock{kind}(%s)", (_key(name),)
            ).fetchone()
            if not row or not row[0]:
                raise _Busy()
        yield
    finally:
        session.close()  # ends the session: its advisory locks go with it
