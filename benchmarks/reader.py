"""A dashboard's query while a harvest loads: one item by handle, over and over, on one
connection opened with `repec-harvest attach`, while a harvest loads into the warehouse (by
default a re-harvest of the corpus' last fifth, as a large incremental harvest would be).

    python -m benchmarks.reader --records 1000000 --data /tmp/rb/data-1000000-ours

Needs a warehouse the side-by-side run filled (``benchmarks.run``). Prints the median and 95th
percentile of the query's latency during the harvest, and before it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.corpus import record

COMMAND = [sys.executable, "-c", "from flows.cli import entry; entry()"]
QUERY = "SELECT handle, title, year, journal, doi FROM articles WHERE handle = ?"


def latencies(con: duckdb.DuckDBPyConnection, handles: list[str], until: float) -> list[float]:
    seen = []
    while time.monotonic() < until or not seen:
        handle = random.choice(handles)
        started = time.perf_counter()
        con.execute(QUERY, [handle]).fetchall()
        seen.append((time.perf_counter() - started) * 1000)
    return seen


def summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"queries": len(ms), "median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[int(len(ms) * 0.95)], 1), "max_ms": round(ms[-1], 1)}  # fmt: skip


def harvest_options(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that measures a reader of ``--data`` during a harvest."""
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/repec-bench"))
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument(
        "--part",
        default="4/5",
        metavar="K/P",
        help="The harvest re-loads this part of the corpus (default: the last "
        "fifth, a large incremental harvest).",
    )


def start_harvest(args: argparse.Namespace) -> tuple[subprocess.Popen[str], subprocess.Popen[str]]:
    """The benchmark server of the corpus' part ``args.part``, and `repec-harvest run`
    harvesting it into ``args.data``."""
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--records", str(args.records), "--port",
         str(args.port), "--workdir", str(args.workdir), "--part", args.part],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    harvest = subprocess.Popen(
        [*COMMAND, "run", "--endpoint", url, "--delay", "0", "--metadata-prefix", "oai_dc",
         "--window", "year", "--from", "2013-01-01", "--data-dir", str(args.data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return server, harvest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harvest_options(parser)
    args = parser.parse_args()
    attach = subprocess.run([*COMMAND, "attach", "--data-dir", str(args.data)],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    con = duckdb.connect()
    for statement in attach.splitlines():
        con.execute(statement)
    rng = random.Random(7)
    handles = [str(record(rng.randrange(args.records), args.records)["handle"])
               for _ in range(2000)]  # fmt: skip
    idle = latencies(con, handles, time.monotonic() + 10)
    server, harvest = start_harvest(args)
    try:
        during: list[float] = []
        while harvest.poll() is None:
            during += latencies(con, handles, time.monotonic() + 1)
        if harvest.returncode != 0:
            raise SystemExit(
                f"the harvest failed: {harvest.stderr.read() if harvest.stderr else ''}"
            )
    finally:
        server.terminate()
        server.wait()
    print(json.dumps({"records": args.records, "idle": summary(idle),
                      "while_harvesting": summary(during)}))  # fmt: skip


if __name__ == "__main__":
    main()
