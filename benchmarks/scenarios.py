"""One benchmark scenario, run in its own process so its peak RSS is its own.

    python -m benchmarks.scenarios NAME --url URL --data DIR

Prints one JSON line: scenario, records, seconds, peak_rss_mb (this process) and
workers_peak_rss_mb (its largest worker process, if it started any).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any


def sickle_loop(url: str, data: Path) -> int:
    """What a user writes by hand: iterate ListRecords, keep every record's metadata."""
    from sickle import Sickle

    kept = [
        record.metadata
        for record in Sickle(url).ListRecords(
            metadataPrefix="oai_dc", ignore_deleted=False
        )  # fmt: skip
        if not record.deleted
    ]
    data.mkdir(parents=True, exist_ok=True)
    (data / "sickle.json").write_text(json.dumps(kept))
    return len(kept)


def _options(url: str) -> Any:
    from flows.options import HarvestOptions

    return HarvestOptions(endpoint=url, metadata_prefix="oai_dc", delay=0.0, window="year")


def harvest_only(url: str, data: Path) -> int:
    """Our harvest stage alone: fetch, parse once, archive raw pages, checkpoint."""
    from flows.datadir import DataDir
    from harvesting.archive import RawArchive
    from harvesting.client import OAIClient
    from harvesting.harvester import Harvester, PageCounts
    from harvesting.identity import HarvestSpec
    from harvesting.state import StateStore

    class NoSink:
        def submit(self, page: Any) -> Future[PageCounts]:
            counted: Future[PageCounts] = Future()
            counted.set_result(PageCounts(len(page.fetched.page.items), 0, 0))
            return counted

        def committed(self, page: Any) -> None: ...

        def window_done(self, *args: Any) -> None: ...

        def run_done(self, *args: Any) -> None: ...

        def recover(self, *args: Any) -> None: ...

        def settle(self) -> None: ...

    d = DataDir(data)
    d.prepare()
    client = OAIClient(url, delay=0.0)
    identity, _ = client.identify()
    state = StateStore(d.state_path)
    run = Harvester(client, state, RawArchive(d.raw), NoSink()).harvest(
        HarvestSpec(url, "oai_dc"), identity, window_size="year"
    )
    return run.records


def pipeline(url: str, data: Path) -> int:
    """The full pipeline into the warehouse."""
    from flows.datadir import DataDir
    from flows.pipeline import Pipeline

    [result] = Pipeline(DataDir(data), _options(url)).run()
    assert result.run is not None, result.error
    pipeline.extra = _disk(data)  # type: ignore[attr-defined]
    return result.run.records


def _disk(data: Path) -> dict[str, float]:
    """Megabytes the data dir holds, and of that the raw archive."""

    def size(folder: Path) -> float:
        total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return round(total / 2**20, 1)

    return {"data_dir_mb": size(data), "raw_mb": size(data / "raw")}


def normalize(url: str, data: Path) -> int:
    """Raw pages (from the archive a pipeline run left) to Arrow tables: parse and map, one
    page at a time, as a live harvest does."""
    from datetime import datetime

    from harvesting.archive import RawArchive
    from harvesting.responses import parse_response
    from schemas.records import PageContext, page_tables

    archive = RawArchive(data / "raw")
    paths = [e.path for m in archive.manifests() if "_endpoints" not in str(m)
             for e in archive.entries(m) if e.verb == "ListRecords"]  # fmt: skip
    seconds = 0.0
    records = 0
    for path in paths:
        raw = archive.read(path)  # reading and gunzip are not normalization: not timed
        started = time.perf_counter()
        page = parse_response(raw, "ListRecords")
        page_tables(PageContext("x", "h", "oai_dc", datetime(2025, 1, 1), "p", "p"),
                    page.items)  # fmt: skip
        seconds += time.perf_counter() - started
        records += len(page.items)
    normalize.seconds = seconds  # type: ignore[attr-defined]
    return records


def rebuild(url: str, data: Path) -> int:
    from flows.datadir import DataDir
    from flows.rebuild import rebuild as do_rebuild

    records = do_rebuild(DataDir(data)).records
    rebuild.extra = _disk(data)  # type: ignore[attr-defined]
    return records


def incremental(url: str, data: Path) -> int:
    """A second run when nothing changed."""
    return pipeline(url, data)


def load(url: str, data: Path) -> int:
    """Loading N records into a fresh warehouse: the pages a pipeline run archived are staged
    first (not timed), then sealed and loaded in batches as a live harvest does (timed)."""
    import shutil

    from flows.rebuild import _windows, normalize_pages
    from harvesting.archive import RawArchive
    from warehouse.catalog import Catalog
    from warehouse.database import Warehouse
    from warehouse.loader import WindowJob, _parts, seal_and_load
    from warehouse.staging import Staging

    bench = data / "load-bench"
    shutil.rmtree(bench, ignore_errors=True)
    archive = RawArchive(data / "raw")
    manifests = [m for m in archive.manifests() if "_endpoints" not in str(m)]
    windows = list(_windows(archive, manifests))
    for window in windows:
        normalize_pages(archive.root, bench / "staging", window)
    target = Warehouse(Catalog.at(bench / "catalog.sqlite", bench / "warehouse"), bench)
    staging = Staging(bench / "staging")
    jobs = [WindowJob(w[0].harvest_id, w[0].run_id, w[0].window, len(w)) for w in windows]
    started = time.perf_counter()
    for part in _parts(jobs):
        seal_and_load(staging, target, part)
    load.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    return target.count("articles")


SCENARIOS = {f.__name__: f for f in (sickle_loop, harvest_only, pipeline, normalize, rebuild,
                                      incremental, load)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=SCENARIOS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    records = SCENARIOS[args.name](args.url, args.data)
    seconds = getattr(SCENARIOS[args.name], "seconds", time.perf_counter() - started)
    print(json.dumps({
        "scenario": args.name, "records": records, "seconds": round(seconds, 2),
        "records_per_second": round(records / seconds) if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        # the largest worker process's peak (rebuild normalizes in one per core)
        "workers_peak_rss_mb":
            round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024) or None,
        **getattr(SCENARIOS[args.name], "extra", {}),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
