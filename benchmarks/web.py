"""The web front while a harvest loads: item pages and searches over HTTP, from a
`repec-harvest web` process over a warehouse the side-by-side run filled, before and during a
harvest into that warehouse (by default a re-harvest of the corpus' last fifth).

    python -m benchmarks.web --records 1000000 --data /tmp/rb/data-1000000-ours

Prints how long the first search index took to build, and the median and 95th percentile of
each kind of request's latency (full response read), idle and while harvesting.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time

import requests

from benchmarks.corpus import record
from benchmarks.reader import COMMAND, harvest_options, start_harvest, summary

#: What people type: one or two words, a name, a phrase; some narrowed by year or sorted.
WORDS = ["inflation", "monetary policy", "Novak", "carbon tax", "auction", "migration poverty",
         "bank credit risk", "trade", "Ivanova", "heterogeneous agents"]  # fmt: skip
FILTERS: list[dict[str, str]] = [{}, {}, {"year_from": "2015", "year_to": "2018"},
                                 {"sort": "date"}, {"type": "paper"}, {"jel": "E5"}]  # fmt: skip


def timed(session: requests.Session, url: str, params: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = session.get(url, params=params, timeout=120)
    if response.status_code != 200:
        raise SystemExit(f"{response.url} answered {response.status_code}")
    return (time.perf_counter() - started) * 1000


def load(base: str, handles: list[str], until: float, rng: random.Random) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {"item": [], "search": []}
    session = requests.Session()
    while time.monotonic() < until or not seen["search"]:
        handle = rng.choice(handles)
        seen["item"].append(timed(session, base + handle))
        params = {"q": rng.choice(WORDS), **rng.choice(FILTERS)}
        seen["search"].append(timed(session, base + "search", params))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harvest_options(parser)
    parser.add_argument(
        "--idle", type=float, default=20, help="seconds measured before the harvest"
    )
    args = parser.parse_args()
    rng = random.Random(7)
    picked = (record(rng.randrange(args.records), args.records) for _ in range(2000))
    handles = [str(r["handle"]) for r in picked if not r["deleted"]]  # deleted ones: a 410
    web = subprocess.Popen([*COMMAND, "web", "--port", "0", "--data-dir", str(args.data)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    server = None
    try:
        assert web.stdout is not None
        base = web.stdout.readline().split(" at ", 1)[1].split()[0]
        started = time.perf_counter()
        while (
            response := requests.get(base + "search", params={"q": "trade"}, timeout=600)
        ).status_code == 503:  # the first index is being built
            time.sleep(1)
        response.raise_for_status()
        index_s = time.perf_counter() - started
        idle = load(base, handles, time.monotonic() + args.idle, rng)
        server, harvest = start_harvest(args)
        during: dict[str, list[float]] = {"item": [], "search": []}
        while harvest.poll() is None:
            for kind, ms in load(base, handles, time.monotonic() + 1, rng).items():
                during[kind] += ms
        if harvest.returncode != 0:
            raise SystemExit(
                f"the harvest failed: {harvest.stderr.read() if harvest.stderr else ''}"
            )
    finally:
        web.terminate()
        web.wait()
        if server is not None:
            server.terminate()
            server.wait()
    print(json.dumps({
        "records": args.records, "first_index_s": round(index_s, 1),
        "idle": {kind: summary(ms) for kind, ms in idle.items()},
        "while_harvesting": {kind: summary(ms) for kind, ms in during.items()},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
