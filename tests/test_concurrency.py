"""Many writers, readers that never wait: real processes on one warehouse.

- A dashboard holds one connection (opened with `repec-harvest attach`) while harvests, a
  citation load, a ReDIF load, a rebuild and maintenance write: every one of them succeeds,
  and every query of the dashboard sees whole loads, never half of one.
- Four processes harvest four sets into one warehouse at once while being killed at random
  moments; restarted until done, they leave the same tables as one sequential run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

from conftest import SAMPLE_ITEMS, Clock, harvest, query, snapshot

from flows.datadir import DataDir
from provider.server import Provider, serve
from provider.store import RecordStore

COMMAND = [sys.executable, "-c", "from flows.cli import entry; entry()"]
DASHBOARD = Path(__file__).with_name("dashboard.py")
SETS = ("RePEc:sae:asseca", "RePEc:nbr:nberwo", "RePEc:eee:jeborg", "RePEc:eee:eneeco")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
#: How many times each of the four harvests is killed at most.
KILLS_PER_HARVEST = 5


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=ENV,
                          timeout=300, check=False)  # fmt: skip


REDIF = """Template-Type: ReDIF-Article 1.0
Title: A Dashboard Never Waits
Author-Name: Reader, Ada
Journal: Journal of Concurrency
Year: 2025
Handle: RePEc:tst:jocon:v:1:y:2025:i:1:p:1-9
"""


def test_a_dashboard_holding_one_connection_sees_only_whole_loads(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    root = str(data.root)
    store, clock = RecordStore.sample(), Clock(datetime(2025, 12, 1, 12))
    with serve(Provider(store, page_size=3, clock=clock)) as url:
        first = cli("run", "--endpoint", url, "--set", SETS[0], "--delay", "0", "--data-dir", root)
        assert first.returncode == 0, first.stderr
        attach = tmp_path / "attach.sql"
        printed = cli("attach", "--data-dir", root)
        assert printed.returncode == 0, printed.stderr
        assert all(line.endswith(";") for line in printed.stdout.splitlines())
        attach.write_text(printed.stdout)
        out, stop = tmp_path / "seen.jsonl", tmp_path / "stop"
        dashboard = subprocess.Popen([sys.executable, str(DASHBOARD), attach, out, stop], env=ENV)
        try:
            for set_spec in SETS[1:]:
                done = cli("run", "--endpoint", url, "--set", set_spec, "--delay", "0",
                           "--window", "month", "--data-dir", root)  # fmt: skip
                assert done.returncode == 0, done.stderr
            iscited = tmp_path / "iscited.txt"
            iscited.write_text("RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537 RePEc:nbr:nberwo:1#"
                               "RePEc:nbr:nberwo:2\n")  # fmt: skip
            tree = tmp_path / "redif"
            tree.mkdir()
            (tree / "jocon.rdf").write_text(REDIF)
            for command in (("citations", str(iscited)), ("redif", str(tree)), ("rebuild",),
                            ("maintain",), ("citations", str(iscited))):  # fmt: skip
                done = cli(*command, "--data-dir", root)
                assert done.returncode == 0, (command, done.stderr)
        finally:
            stop.touch()
            dashboard.wait(60)
    seen = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [s["error"] for s in seen if "error" in s]
    assert not errors, errors[:3]
    states = {tuple(s.values()) for s in seen}
    assert len(seen) > 20 and len(states) >= 4, "the dashboard should have seen the loads"
    for s in seen:
        assert s["articles"] == s["versioned"], s  # versions and merge: one commit
        assert s["orphans"] == 0, s
        assert s["citations"] in (0, 2), s  # a graph is replaced whole
    counts = [s["articles"] for s in seen]
    assert counts == sorted(counts), "an item never disappears, not even during a rebuild"
    assert counts[-1] == sum(1 for r in store.records() if set(r.sets) & set(SETS)) + 1


def test_four_harvests_killed_at_random_end_equal_to_a_sequential_run(tmp_path: Path) -> None:
    store, clock = RecordStore.sample(), Clock(datetime(2025, 12, 1, 12))
    shared = DataDir(tmp_path / "shared")
    rng = random.Random(20261203)
    kills: list[int] = []
    failures: list[str] = []

    def harvest_until_done(url: str, set_spec: str, seed: int) -> None:
        chance = random.Random(seed)
        command = [*COMMAND, "run", "--endpoint", url, "--set", set_spec, "--delay", "0",
                   "--window", "month", "--data-dir", str(shared.root)]  # fmt: skip
        last = ""
        for attempt in range(12):
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, env=ENV)  # fmt: skip
            # killed at a random moment the first times, then left to finish
            patience = chance.uniform(0.3, 2.5) if attempt < KILLS_PER_HARVEST else 300
            try:
                code = process.wait(timeout=patience)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills.append(1)
                continue
            finally:
                assert process.stderr is not None
                errors = process.stderr.read().decode()
                process.stderr.close()
            if "Traceback" in errors:
                failures.append(errors)
                return
            if code == 0:
                return
            last = errors.strip()
        failures.append(f"{set_spec} never finished: {last}")

    with serve(Provider(store, page_size=2, clock=clock)) as url:
        workers = [threading.Thread(target=harvest_until_done, args=(url, s, rng.random()))
                   for s in SETS]  # fmt: skip
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(600)
        sequential = DataDir(tmp_path / "sequential")
        harvest(sequential, url, sets=list(SETS), window="month")

    assert not failures, failures[:2]
    assert len(kills) >= 4, "the test should have killed the harvesters several times"
    expected = sum(1 for r in store.records() if set(r.sets) & set(SETS))
    assert query(shared, "SELECT count(*), count(DISTINCT handle_key) FROM articles") == [
        (expected, expected)
    ]
    assert snapshot(shared) == snapshot(sequential)
    assert expected < SAMPLE_ITEMS
