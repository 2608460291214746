"""Four endpoints at once, each host kept to its pace: `run --config` over four local servers
(disjoint quarters of N records, each on its own port: four hosts), one after another and
with `--parallel 4`; each server logs when every request arrives.

    python -m benchmarks.politeness [--records 20000] [--page-size 100] [--delay 0.6]
                                    [--workdir DIR]

A host asking for at most 2 requests a second gets `delay = 0.6`: half a second and a margin
for the jitter of arrival times (a request reaches the server up to a tenth of a second after
its slot when both cores are busy; with 0.55, one second in one run saw 3). Prints the wall
time of both runs, their ratio, and for each server the most requests that arrived within any
one second (the limit: 2). The threads of one process share its Python interpreter: the
parallel run is as fast as the slower of the hosts' pace and the process's parsing of every
record (about 3,500 records a second); pages of 100 records keep it paced by the hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.server import free_port

CLI = [sys.executable, "-c", "from flows.cli import entry; entry()"]
ENDPOINTS = 4


def busiest_second(log: Path) -> int:
    """The most requests in the log that arrived within one second of each other."""
    times = sorted(float(line) for line in log.read_text().split())
    most, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def harvest(workdir: Path, urls: list[str], delay: float, parallel: int) -> float:
    """Seconds of one `run --config` of the four endpoints into a new data dir."""
    config = workdir / "harvest.toml"
    config.write_text(f"delay = {delay}\nwindow = \"none\"\n" + "".join(
        f'\n[[endpoint]]\nurl = "{url}"\n' for url in urls))  # fmt: skip
    data = workdir / f"data-{parallel}"
    shutil.rmtree(data, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(
        [*CLI, "run", "--config", str(config), "--parallel", str(parallel), "--data-dir",
         str(data)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        sys.exit(done.stderr)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.6)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="politeness-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = workdir / f"corpus-{args.records}"
    servers, urls, logs = [], [], []
    try:
        for part in range(ENDPOINTS):
            logs.append(workdir / f"requests-{part}.log")
            server = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.server", "--records", str(args.records),
                 "--port", str(free_port()), "--part", f"{part}/{ENDPOINTS}", "--workdir",
                 str(corpus), "--log", str(logs[-1]), "--page-size", str(args.page_size)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert server.stdout is not None
            servers.append(server)
            urls.append(server.stdout.readline().strip())  # once the corpus is built
        report = {"records": args.records, "endpoints": ENDPOINTS, "delay": args.delay,
                  "page_size": args.page_size, "cpus": os.cpu_count()}  # fmt: skip
        for parallel in (1, ENDPOINTS):
            for log in logs:
                log.write_text("")
            report[f"seconds_parallel_{parallel}"] = round(
                harvest(workdir, urls, args.delay, parallel), 1
            )
            report[f"busiest_second_parallel_{parallel}"] = [busiest_second(log) for log in logs]
        report["ratio"] = round(
            report[f"seconds_parallel_{ENDPOINTS}"] / report["seconds_parallel_1"], 2
        )
        print(json.dumps(report, indent=2))
    finally:
        for server in servers:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
