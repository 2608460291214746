"""One benchmark scenario, run in its own process so its peak RSS is its own.

    python -m benchmarks.scenarios NAME --url URL --data DIR

Prints one JSON line: scenario, records, seconds, peak_rss_mb (this process),
workers_peak_rss_mb (its largest worker process, if it started any), and all_peak_rss_mb and
all_peak_pss_mb (every process of it together at its peak; PSS counts a page that several
processes share once, divided among them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
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


def dlt_pipeline(url: str, data: Path) -> int:
    """What a data engineer builds with dlt instead: a sickle resource of every record, merged
    into DuckDB on its identifier, with dlt's defaults (the ``bench`` extra: dlt is what we are
    measured against, not a dependency of ours)."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no calls home
    import dlt
    from sickle import Sickle

    @dlt.resource(name="records", primary_key="oai_identifier", write_disposition="merge")
    def records() -> Any:
        for record in Sickle(url).ListRecords(metadataPrefix="oai_dc", ignore_deleted=False):
            # the header's own keys: dc has an ``identifier`` too (a list: a child table)
            yield {"oai_identifier": record.header.identifier,
                   "datestamp": record.header.datestamp,
                   "deleted": record.deleted, "set_specs": record.header.setSpecs,
                   **(getattr(record, "metadata", None) or {})}  # fmt: skip

    data.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(
        pipeline_name="repec_bench", pipelines_dir=str(data / "dlt"),
        destination=dlt.destinations.duckdb(str(data / "dlt.duckdb")), dataset_name="oai",
    )  # fmt: skip
    pipeline.run(records())
    with pipeline.sql_client() as client:
        [(count,)] = client.execute_sql("SELECT count(*) FROM records")
    return int(count)


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


SCENARIOS = {f.__name__: f for f in (sickle_loop, dlt_pipeline, harvest_only, pipeline,
                                      normalize, rebuild, incremental, load)}  # fmt: skip


class TreeMemory:
    """The peak memory of this process and all its descendants together, sampled from /proc
    every 100 ms: RSS (shared pages counted in each process) and PSS (shared pages divided
    among the processes that share them: what the machine really gives them). RSS is cheap
    to read; PSS (``smaps_rollup``, a walk of every mapping) is read only when the RSS total
    reaches a new peak, so the sampling costs the measured run little."""

    def __init__(self) -> None:
        self.peak_rss = self.peak_pss = 0
        self.peak_worker_rss = 0  # the largest one process other than this one reached
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            tree = _tree(os.getpid())
            sizes = {pid: _kb(f"/proc/{pid}/status", "VmRSS:") for pid in tree}
            workers = [kb for pid, kb in sizes.items() if pid != os.getpid()]
            self.peak_worker_rss = max([self.peak_worker_rss, *workers])
            rss = sum(sizes.values())
            if rss > self.peak_rss:
                self.peak_rss = rss
                pss = sum(_kb(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in tree)
                self.peak_pss = max(self.peak_pss, pss)


def _kb(path: str, field: str) -> int:
    """A ``kB`` figure of a /proc file (0 if the process ended meanwhile)."""
    try:
        with open(path) as lines:
            return next((int(line.split()[1]) for line in lines if line.startswith(field)), 0)
    except OSError:
        return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=SCENARIOS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    with TreeMemory() as memory:
        records = SCENARIOS[args.name](args.url, args.data)
    seconds = getattr(SCENARIOS[args.name], "seconds", time.perf_counter() - started)
    print(json.dumps({
        "scenario": args.name, "records": records, "seconds": round(seconds, 2),
        "records_per_second": round(records / seconds) if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        # the largest worker process's peak (rebuild normalizes in one per core), sampled:
        # the kernel's own figure for children counts the parent's RSS at the fork
        "workers_peak_rss_mb": round(memory.peak_worker_rss / 1024) or None,
        # every process of the scenario together (its workers included), at the same moment
        "all_peak_rss_mb": round(memory.peak_rss / 1024),
        "all_peak_pss_mb": round(memory.peak_pss / 1024),
        **getattr(SCENARIOS[args.name], "extra", {}),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
