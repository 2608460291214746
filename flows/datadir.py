"""The data directory: where state, raw archive, staging and (by default) the warehouse live.

Default: ``$REPEC_HARVEST_DATA_DIR``, else ``$XDG_DATA_HOME/repec-harvest``, else
``~/.local/share/repec-harvest``. ``--data-dir`` overrides both. The warehouse's catalog is
``catalog.sqlite`` there unless ``--catalog``/``$REPEC_HARVEST_CATALOG`` names a PostgreSQL
database; its data files go to ``warehouse/`` there unless ``--data-path``/
``$REPEC_HARVEST_DATA_PATH`` says otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import DataDirError, WarehouseError
from warehouse.catalog import Catalog
from warehouse.database import Warehouse
from warehouse.locks import exclusive_lock, harvest_lock, shared_lock
from warehouse.staging import Staging

ENV_VAR = "REPEC_HARVEST_DATA_DIR"
CATALOG_ENV_VAR = "REPEC_HARVEST_CATALOG"
DATA_PATH_ENV_VAR = "REPEC_HARVEST_DATA_PATH"


def default_data_dir() -> Path:
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "repec-harvest"


@dataclass(frozen=True)
class DataDir:
    root: Path
    #: a PostgreSQL URL for the catalog (None: ``catalog.sqlite`` in the data dir)
    catalog_url: str | None = None
    #: where the warehouse's data files go (None: ``warehouse/`` in the data dir)
    data_path: str | None = None

    @classmethod
    def resolve(
        cls,
        path: str | Path | None,
        catalog: str | None = None,
        data_path: str | None = None,
    ) -> DataDir:
        """The data dir of the options given, else of the environment, else the default."""
        return cls(
            Path(path).expanduser() if path else default_data_dir(),
            catalog or os.environ.get(CATALOG_ENV_VAR) or None,
            data_path or os.environ.get(DATA_PATH_ENV_VAR) or None,
        )

    @property
    def state_path(self) -> Path:
        return self.root / "state.sqlite"

    @property
    def state_location(self) -> str | Path:
        """Where harvest state lives: beside a shared PostgreSQL catalog, else in the data dir
        (every writer of the warehouse sees it either way)."""
        return self.catalog_url or self.state_path

    def has_state(self) -> bool:
        return bool(self.catalog_url) or self.state_path.exists()

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def scratch(self) -> Path:
        return self.root / "tmp"

    @property
    def catalog(self) -> Catalog:
        metadata = self.catalog_url or self.root / "catalog.sqlite"
        return Catalog.at(metadata, self.data_path or self.root / "warehouse")

    @property
    def legacy_warehouse(self) -> Path:
        """The single DuckDB file of repec-harvest before the lakehouse."""
        return self.root / "warehouse.duckdb"

    @property
    def legacy_lake(self) -> Path:
        return self.root / "lake"

    def is_legacy(self) -> bool:
        return self.legacy_warehouse.exists() and not self.catalog.exists()

    def warehouse(self, check: bool = True) -> Warehouse:
        """The warehouse; an earlier version's data dir is refused with one line."""
        if check and self.is_legacy():
            raise WarehouseError(
                f"{self.root} holds a warehouse made by an earlier repec-harvest "
                "(warehouse.duckdb): `repec-harvest rebuild` converts it, nothing is lost"
            )
        return Warehouse(self.catalog, self.scratch)

    def staging_area(self) -> Staging:
        return Staging(self.staging)

    def prepare(self) -> None:
        """Create the folder and prove it is writable, with a one-line error if not."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # a name of this process's own: writers preparing at once must not clash
            probe = self.root / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise DataDirError(f"data dir {self.root} is not writable: {exc.strerror}") from None

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A writer of this warehouse: any number at once, none during a rebuild."""
        self.prepare()
        with shared_lock(self.catalog):
            yield

    @contextmanager
    def harvesting(self, harvest_id: str, what: str) -> Iterator[None]:
        """One process per harvest: a second one on the same harvest fails at once (exit 3)."""
        with harvest_lock(self.catalog, harvest_id, what):
            yield

    @contextmanager
    def alone(self) -> Iterator[None]:
        """The warehouse alone (rebuild): fails at once while another writer runs (exit 3)."""
        self.prepare()
        with exclusive_lock(self.catalog):
            yield
