"""Crash safety: the harvester, run as the real command, is killed with SIGKILL at random
moments while the server injects random faults, and restarted until it finishes. The final
warehouse must equal that of a clean, uninterrupted run: no record lost, none duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from conftest import SAMPLE_ITEMS, Clock, harvest, query, snapshot
from faults import Faults

from flows.datadir import DataDir
from provider.server import Provider, serve
from provider.store import RecordStore

COMMAND = [sys.executable, "-c", "from flows.cli import entry; entry()"]


def chaos(provider: Provider, seed: int) -> Faults:
    faults = Faults(provider, seed=seed)
    verbs = ("ListRecords", "ListSets", "Identify", "ListMetadataFormats")
    faults.on("http_error", probability=0.08, status=503, verbs=verbs)
    faults.on("reset", probability=0.05, verbs=verbs)
    faults.on("truncated", probability=0.05)
    faults.on("cut_connection", probability=0.04)
    faults.on("html", probability=0.04, verbs=verbs)
    faults.on("bad_token", probability=0.05)
    faults.on("slow", seconds=0.05, verbs=verbs)  # every other request: slow enough to be hit
    return faults


def test_killed_at_random_moments_it_ends_equal_to_a_clean_run(tmp_path: Path) -> None:
    clock = Clock(datetime(2025, 12, 1, 12, 0, 0))
    store = RecordStore.sample()
    killed = DataDir(tmp_path / "killed")
    rng = random.Random(20261124)
    provider = Provider(store, page_size=2, clock=clock)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = exits = 0
    with serve(provider, before_response=chaos(provider, seed=3)) as url:
        command = [*COMMAND, "run", "--endpoint", url, "--data-dir", str(killed.root),
                   "--retries", "6", "--backoff", "0.02", "--timeout", "2"]  # fmt: skip
        for attempt in range(60):
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
            )
            # killed at random moments for 30 runs; then left to finish (on a loaded machine
            # a whole run may take longer than the window, and the point is what a killed
            # run leaves behind, not whether one fits in 1.6 s)
            timeout = rng.uniform(0.4, 1.6) if attempt < 30 else 300
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                continue
            finally:
                assert process.stderr is not None
                errors = process.stderr.read().decode()
                process.stderr.close()
            assert "Traceback" not in errors
            if code == 0:
                break
            exits += 1  # a run that gave up cleanly (retries spent): run it again
        else:
            raise AssertionError(f"never finished after {kills} kills and {exits} failed runs")

    clean = DataDir(tmp_path / "clean")
    with serve(Provider(store, page_size=2, clock=clock)) as url:
        harvest(clean, url)

    print(f"{kills} kills, {exits} runs that gave up")
    assert kills >= 5, "the test should have killed the harvester several times"
    assert query(killed, "SELECT count(*), count(DISTINCT handle_key) FROM articles") == [
        (SAMPLE_ITEMS, SAMPLE_ITEMS)
    ]
    assert snapshot(killed) == snapshot(clean)
    assert query(killed, "SELECT count(*) FROM quarantine") == [(0,)]
