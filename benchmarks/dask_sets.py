"""Eight sets of one host on a Dask cluster: the harvest flow with its set tasks on a local
cluster of four worker processes, against `repec-harvest run` of the same sets one after
another, both from one local server that logs when every request arrives.

    python -m benchmarks.dask_sets [--records 16000] [--page-size 100] [--delay 0.6]
                                   [--workers 4] [--workdir DIR]

Prints the wall time of both, their ratio, the most requests the server saw within any one
second in each (a delay of 0.6 s keeps a host to 2 a second), whether every set completed,
and whether both warehouses hold the same rows (a hash of every user-visible column of
``articles`` and ``authors``, per-run provenance left out). The flow runs against Prefect's
temporary server, started for it (about 15 s of the Dask run's time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.politeness import busiest_second
from benchmarks.server import free_port

CLI = [sys.executable, "-c", "from flows.cli import entry; entry()"]
SETS = 8

#: The Dask run, in a process of its own (as a deployment's run would be).
ON_DASK = """
import json, sys
from flows.harvest_flow import on_dask
from flows.options import HarvestOptions
url, sets, delay, data, workers = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3]), \\
    sys.argv[4], int(sys.argv[5])
options = [HarvestOptions(endpoint=url, sets=sets, delay=delay, window="none")]
results = on_dask(workers=workers)(endpoints=options, data_dir=data, parallel=len(sets))
print(json.dumps(sorted(r["status"] for r in results)))
"""

#: Every user-visible column, hashed row by row and summed: equal sums, equal tables.
CONTENT = {
    "articles": "SELECT count(*) AS n, sum(hash(COLUMNS(* EXCLUDE (record_id, harvested_at, "
    "harvest_id))))::VARCHAR AS h FROM articles",
    "authors": "SELECT count(*) AS n, sum(hash(COLUMNS(* EXCLUDE (record_id))))::VARCHAR AS h "
    "FROM authors",
}


def content(data: Path) -> dict[str, list[object]]:
    found = {}
    for table, sql in CONTENT.items():
        done = subprocess.run(
            [*CLI, "sql", "--format", "json", sql, "--data-dir", str(data)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        found[table] = json.loads(done.stdout)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=16_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.6)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dask-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "requests.log"
    sets = [f"bench:{k}" for k in range(SETS)]
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--records", str(args.records), "--port",
         str(free_port()), "--sets", str(SETS), "--workdir", str(workdir / "corpus"), "--log",
         str(log), "--page-size", str(args.page_size)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # once the corpus is built
        report: dict[str, object] = {"records": args.records, "sets": SETS,
                                     "delay": args.delay, "page_size": args.page_size,
                                     "dask_workers": args.workers, "cpus": os.cpu_count()}  # fmt: skip
        runs = {
            "sequential": [*CLI, "run", "--endpoint", url, *(a for s in sets for a in ("--set", s)),
                           "--delay", str(args.delay), "--window", "none"],
            "dask": [sys.executable, "-c", ON_DASK, url, ",".join(sets), str(args.delay)],
        }  # fmt: skip
        for name, command in runs.items():
            data = workdir / f"data-{name}"
            subprocess.run(["rm", "-rf", str(data)], check=True)
            command = [*command, "--data-dir", str(data)] if name == "sequential" else [
                *command, str(data), str(args.workers)]  # fmt: skip
            log.write_text("")
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            report[f"seconds_{name}"] = round(time.perf_counter() - started, 1)
            if done.returncode:
                sys.exit(f"{name} failed: {done.stderr[-3000:]}")
            report[f"busiest_second_{name}"] = busiest_second(log)
            report[f"content_{name}"] = content(data)
            if name == "dask":
                report["dask_statuses"] = json.loads(done.stdout.strip().splitlines()[-1])
        report["ratio"] = round(
            float(report["seconds_dask"]) / float(report["seconds_sequential"]), 2
        )  # type: ignore[arg-type]
        report["same_rows"] = report["content_dask"] == report["content_sequential"]
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
