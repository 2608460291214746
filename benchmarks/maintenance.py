"""How many files the warehouse holds after many small incremental runs, with and without
`repec-harvest maintain` once a week (every seventh run, as the weekly deployment would).

    python -m benchmarks.maintenance --runs 200 [--workdir /tmp/repec-bench]

Each run is a day: one record of the bundled sample changes, the run harvests it and loads
it. Prints the data and delete files the current snapshot reads, and the files on disk, every
50 runs, for both warehouses, and checks that both hold the same items.
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.pipeline import Pipeline
from provider.server import Provider, serve
from provider.store import RecordStore
from warehouse.maintenance import file_count, maintain

EVERY = 7


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def on_disk(data: DataDir) -> int:
    return sum(1 for _ in (data.root / "warehouse").rglob("*.parquet"))


def counts(data: DataDir) -> dict[str, int]:
    with data.warehouse() as warehouse, warehouse.connect() as con:
        return {"files_read": file_count(con), "files_on_disk": on_disk(data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/repec-bench"))
    args = parser.parse_args()
    store = RecordStore.sample()
    clock = Clock(datetime(2025, 12, 1, 12))
    plain, maintained = (DataDir(args.workdir / f"maintenance-{n}") for n in ("none", "weekly"))
    for data in (plain, maintained):
        shutil.rmtree(data.root, ignore_errors=True)
    records = store.records()
    with serve(Provider(store, page_size=10, clock=clock)) as url:
        options = HarvestOptions(endpoint=url, delay=0.0, window="month")
        for day in range(1, args.runs + 1):
            record = records[day % len(records)]
            record.datestamp = clock.now.strftime("%Y-%m-%d")
            clock.now += timedelta(days=1)
            for data in (plain, maintained):
                Pipeline(data, options).run()
            if day % EVERY == 0:
                with maintained.warehouse() as warehouse:
                    maintain(warehouse, retention=timedelta(0))
            if day % 50 == 0 or day == args.runs:
                print(json.dumps({"runs": day, "without_maintain": counts(plain),
                                  "weekly_maintain": counts(maintained)}), flush=True)  # fmt: skip
    same = "SELECT handle, title, deleted FROM articles ORDER BY ALL"
    with plain.warehouse() as a, maintained.warehouse() as b:
        assert a.query(same) == b.query(same), "maintenance must not change the content"


if __name__ == "__main__":
    main()
