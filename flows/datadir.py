"""The data directory: where state, raw archive, lake and warehouse live, and its lock.

Default: ``$REPEC_HARVEST_DATA_DIR``, else ``$XDG_DATA_HOME/repec-harvest``, else
``~/.local/share/repec-harvest``. ``--data-dir`` overrides both.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import DataDirError, DataDirLocked

ENV_VAR = "REPEC_HARVEST_DATA_DIR"


def default_data_dir() -> Path:
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "repec-harvest"


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(cls, path: str | Path | None) -> DataDir:
        return cls(Path(path).expanduser() if path else default_data_dir())

    @property
    def state_path(self) -> Path:
        return self.root / "state.sqlite"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    def prepare(self) -> None:
        """Create the folder and prove it is writable, with a one-line error if not."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise DataDirError(f"data dir {self.root} is not writable: {exc.strerror}") from None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One writer per data dir: a second one fails at once with a clear message."""
        self.prepare()
        handle = open(self.root / ".lock", "a+")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DataDirLocked(
                    f"another repec-harvest process is writing to {self.root}; "
                    "wait for it to finish"
                ) from None
            yield
        finally:
            handle.close()
