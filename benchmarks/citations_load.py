"""Load N generated citation edges (default 10 million) with `repec-harvest citations` and
report wall time and peak memory of the loading process.

    python -m benchmarks.citations_load [--edges 10000000] [--workdir DIR]

The file is generated deterministically (same seed, same file): about 2 million distinct
handles, a realistic skew (a few items cited thousands of times), mixed case, both
separators, 1% duplicates and self-citations, and some malformed lines. The load runs in a
child process so its peak RSS (Python, Arrow and DuckDB together) is measured alone.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARCHIVES = ["aea", "eee", "nbr", "spr", "wly", "oup", "cup", "sae", "pra", "cep", "ags", "bla"]


def generate(path: Path, edges: int, seed: int = 42) -> int:
    """Write an iscited.txt.gz with about ``edges`` citing entries; return the count."""
    rng = random.Random(seed)
    universe = 2_000_000
    written = 0

    def handle(n: int) -> str:
        return (
            f"RePEc:{ARCHIVES[n % len(ARCHIVES)]}:s{n % 997:03d}:v:{n % 89}:y:{1990 + n % 35}:p:{n}"
        )

    with gzip.open(path, "wt", compresslevel=1) as out:
        cited = 0
        while written < edges:
            cited += 1
            target = int(universe * rng.random() ** 2)  # skewed: low numbers are cited more
            count = min(edges - written, 1 + int(rng.expovariate(1 / 6)))
            parts = []
            for _ in range(count):
                source = rng.randrange(universe)
                text = handle(source)
                if rng.random() < 0.05:
                    text = text.upper()
                parts.append(text)
                if rng.random() < 0.01:
                    parts.append(text)  # duplicate
            if rng.random() < 0.01:
                parts.append(handle(target))  # self-citation
            separator = "#" if rng.random() < 0.9 else ","
            out.write(f"{handle(target)} {separator.join(parts)}\n")
            if rng.random() < 0.001:
                out.write("this line is malformed\n\n")
            written += count
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="citations-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"iscited-{args.edges}.txt.gz"
    if not source.exists():
        started = time.perf_counter()
        generate(source, args.edges)
        print(f"generated {source} ({source.stat().st_size / 1e6:.0f} MB gz) "
              f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)  # fmt: skip
    data = workdir / "data"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", "from flows.cli import entry; entry()", "citations", str(source),
         "--data-dir", str(data)],
        capture_output=True, text=True, check=False, env={**os.environ},
    )  # fmt: skip
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if result.returncode:
        sys.exit(result.stderr)
    report = {
        "edges_generated": args.edges,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_mb),
        "cpus": os.cpu_count(),
        "output": result.stdout.strip(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
