"""From a page of records to the warehouse: normalize, write the lake, seal windows, load
DuckDB. Used by live harvests (as the harvester's page sink) and by ``rebuild`` alike."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from lxml import etree

from flows.datadir import DataDir
from harvesting.harvester import HarvestedPage, PageCounts
from harvesting.identity import HarvestSpec
from harvesting.responses import SetInfo
from harvesting.state import Run, StateStore
from harvesting.windows import Window
from schemas import tables
from schemas.handles import handle_key, parse_handle
from schemas.records import PageContext, map_page
from warehouse.database import Warehouse
from warehouse.lake import Lake


class Storage:
    """The lake and the warehouse of one data dir."""

    def __init__(self, data: DataDir, lake: Lake | None = None, db: Warehouse | None = None):
        self.data = data
        self.lake = lake or Lake(data.lake)
        self.db = db or Warehouse(data.warehouse_path)

    def store_page(
        self,
        context: PageContext,
        run_id: str,
        window: int,
        number: int,
        records: Iterable[etree._Element],
    ) -> PageCounts:
        rows = map_page(context, records)
        self.lake.write_page(context.harvest_id, run_id, window, number, rows.tables())
        received = len(rows.articles) + len(rows.quarantine)
        return PageCounts(received, rows.deleted, len(rows.quarantine))

    def seal_and_load(self, harvest_id: str, run_id: str, window: int, pages: int) -> None:
        files = self.lake.seal_window(harvest_id, run_id, window, pages)
        self.db.load_window(files)

    def store_sets(
        self, endpoint: str, folder: str, sets: list[SetInfo], listed_at: datetime
    ) -> None:
        if not sets:
            return
        rows = [
            {
                "handle": s.spec,
                "handle_key": handle_key(s.spec),
                "name": s.name,
                "description": s.description,
                "archive_code": parse_handle(s.spec).archive_code,
                "endpoint": endpoint,
                "listed_at": listed_at,
            }
            for s in sets
        ]
        path = self.lake.write_series(folder, tables.to_table(rows, tables.SERIES))
        self.db.load_series(path)

    def sync_harvest_log(self, state: StateStore, overlap: timedelta = timedelta(days=1)) -> None:
        """Mirror the SQLite harvest state and log into DuckDB for SQL users."""
        runs = [
            {
                "run_id": r.run_id,
                "harvest_id": r.harvest_id,
                "endpoint": h.spec.endpoint,
                "metadata_prefix": h.spec.metadata_prefix,
                "set_spec": h.spec.set_spec,
                "status": r.status,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "server_started_at": r.server_started_at,
                "from_date": r.from_date,
                "until_date": r.until_date,
                "windows": len(r.windows),
                "pages": r.pages,
                "records": r.records,
                "deleted": r.deleted,
                "quarantined": r.quarantined,
                "error": r.error,
            }
            for h in state.harvests()
            for r in state.runs(h.harvest_id)
        ]
        harvests = []
        for h in state.harvests():
            open_run = state.open_run(h.harvest_id)
            harvests.append(
                {
                    "harvest_id": h.harvest_id,
                    "endpoint": h.spec.endpoint,
                    "metadata_prefix": h.spec.metadata_prefix,
                    "set_spec": h.spec.set_spec,
                    "granularity": h.granularity,
                    "last_complete_run": h.last_complete_run,
                    "last_complete_server_start": h.last_complete_server_start,
                    "next_from": h.next_from(overlap),
                    "current_run": open_run.run_id if open_run else None,
                    "window_index": open_run.window_index if open_run else None,
                    "resumption_token": open_run.token if open_run else None,
                    "last_error": h.last_error,
                }
            )
        self.db.replace_harvest_log(
            tables.to_table(runs, tables.HARVEST_RUNS),
            tables.to_table(harvests, tables.HARVEST_STATE),
        )


class WarehouseSink:
    """The harvester's page sink: every page to the lake, every finished window to DuckDB."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def page(self, page: HarvestedPage) -> PageCounts:
        context = PageContext(
            endpoint=page.spec.endpoint,
            harvest_id=page.spec.harvest_id,
            metadata_prefix=page.spec.metadata_prefix,
            harvested_at=page.fetched.page.response_date,
            page_id=page.page_id,
            page_path=page.path,
        )
        return self.storage.store_page(
            context, page.run_id, page.window.index, page.number, page.fetched.page.items
        )

    def window_done(self, spec: HarvestSpec, run: Run, window: Window) -> None:
        self.storage.seal_and_load(spec.harvest_id, run.run_id, window.index, run.window_pages)

    def run_done(self, spec: HarvestSpec, run: Run) -> None:
        self.storage.lake.discard_pending(spec.harvest_id, run.run_id)
