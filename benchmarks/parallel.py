"""Four harvests at once into one warehouse, against the same four one after the other.

    python -m benchmarks.parallel --records 200000 [--workdir /tmp/repec-bench]

Four local endpoints serve disjoint quarters of the N-record corpus (four harvests, as four
sets or four providers would be). Each harvest is a `repec-harvest run` process of its own.
Prints the wall time of both ways, the commits that lost a race and were retried (counted from
the processes' logs), and checks that both warehouses hold the same N items.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.server import build

RETRY_LINE = "warehouse commit lost a race"
COMMAND = [sys.executable, "-c", "from flows.cli import entry; entry()"]


def harvest(url: str, data: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, "-v", "run", "--endpoint", url, "--delay", "0",
         "--metadata-prefix", "oai_dc", "--window", "year", "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> int:
    """Wait for a harvest; its commit retries (a failed harvest is an error here)."""
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"a harvest failed: {err.strip().splitlines()[-1:]}")
    return err.count(RETRY_LINE)


def items(data: Path) -> int:
    out = subprocess.run(
        [*COMMAND, "sql", "--format", "csv", "--data-dir", str(data),
         "SELECT count(*) FROM articles"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(out.stdout.splitlines()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/repec-bench"))
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--harvests", type=int, default=4)
    args = parser.parse_args()
    build(args.workdir, args.records)
    parts = args.harvests
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.server",
                "--records",
                str(args.records),
                "--port",
                str(args.port + k),
                "--workdir",
                str(args.workdir),
                "--part",
                f"{k}/{parts}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for k in range(parts)
    ]
    try:
        urls = []
        for server in servers:
            assert server.stdout is not None
            urls.append(server.stdout.readline().strip())
        together, apart = args.workdir / "parallel-together", args.workdir / "parallel-apart"
        for folder in (together, apart):
            shutil.rmtree(folder, ignore_errors=True)

        started = time.perf_counter()
        retries = sum(finish(p) for p in [harvest(url, together) for url in urls])
        at_once = time.perf_counter() - started

        started = time.perf_counter()
        sequential_retries = sum(finish(harvest(url, apart)) for url in urls)
        one_by_one = time.perf_counter() - started
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    result = {
        "records": args.records, "harvests": parts,
        "at_once_seconds": round(at_once, 1), "one_by_one_seconds": round(one_by_one, 1),
        "speedup": round(one_by_one / at_once, 2), "commit_retries_at_once": retries,
        "commit_retries_one_by_one": sequential_retries,
        "items_at_once": items(together), "items_one_by_one": items(apart),
    }  # fmt: skip
    print(json.dumps(result))
    assert result["items_at_once"] == result["items_one_by_one"], "the two ways must agree"


if __name__ == "__main__":
    main()
