"""`run --parallel N`: sets and endpoints harvested at once in threads, the same warehouse as
one after another, and a host never asked more often than its delay allows."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Clock, harvest, query, snapshot
from test_cli import run

from flows.datadir import DataDir
from provider.server import Provider, serve
from provider.store import RecordStore

COMMAND = [sys.executable, "-c", "from flows.cli import entry; entry()"]
SETS = ("RePEc:sae:asseca", "RePEc:nbr:nberwo", "RePEc:eee:jeborg", "RePEc:eee:eneeco")


@dataclass
class TimedProvider(Provider):
    """The sample provider, noting when each request came (seconds, monotonic)."""

    times: list[float] = field(default_factory=list)

    def respond(self, params: dict[str, str]) -> str:
        self.times.append(time.monotonic())
        return super().respond(params)


def provider() -> TimedProvider:
    return TimedProvider(RecordStore.sample(), page_size=2, clock=Clock(datetime(2025, 12, 1, 12)))


def test_four_sets_at_once_equal_four_in_a_row_and_the_host_delay_holds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = provider()
    parallel, sequential = DataDir(tmp_path / "parallel"), DataDir(tmp_path / "sequential")
    with serve(server) as url:
        sets = [arg for s in SETS for arg in ("--set", s)]
        code, out, err = run(capsys, "run", "--endpoint", url, *sets, "--window", "year",
                             "--delay", "0.05", "--parallel", "4",
                             "--data-dir", str(parallel.root))  # fmt: skip
        assert code == 0, err
        times = list(server.times)  # the parallel run's requests, as they arrived
        harvest(sequential, url, sets=list(SETS), window="year")
    assert out.count("complete") == len(SETS)
    assert snapshot(parallel) == snapshot(sequential)
    assert query(parallel, "SELECT count(*) FROM harvest_runs WHERE status = 'complete'") == [
        (len(SETS),)
    ]
    # one host, one request per 50 ms: never more than 11 in any half second (as it arrives)
    busiest = max(sum(1 for u in times if t <= u < t + 0.5) for t in times)
    assert len(times) > 20 and busiest <= 11, busiest


def test_endpoints_of_a_config_file_at_once_and_one_failing_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = DataDir(tmp_path / "data")
    with serve(provider()) as first, serve(provider()) as second:
        config = tmp_path / "harvest.toml"
        config.write_text(f"""
delay = 0
retries = 0

[[endpoint]]
url = "{first}"
sets = ["RePEc:sae:asseca", "RePEc:xxx:nothere"]

[[endpoint]]
url = "{second}"
sets = ["RePEc:nbr:nberwo"]

[[endpoint]]
url = "http://127.0.0.1:9/oai"
""")  # fmt: skip
        code, out, err = run(capsys, "run", "--config", str(config), "--parallel", "3",
                             "--data-dir", str(data.root))  # fmt: skip
    assert code == 1
    assert "2 of 4 harvests failed" in err
    flat = " ".join(out.split())
    assert flat.count("complete") == 2 and "RePEc:xxx:nothere" in flat, out
    assert query(data, "SELECT count(DISTINCT endpoint) FROM articles") == [(2,)]


def test_processes_sharing_a_data_dir_share_each_hosts_delay(tmp_path: Path) -> None:
    """Two processes on one host, each keeping --delay 0.1 alone, would send 20 requests a
    second; sharing the data dir's state, the host gets its 10."""
    server = provider()
    data = DataDir(tmp_path / "data")
    with serve(server) as url:
        runs = [
            subprocess.Popen(
                [
                    *COMMAND,
                    "run",
                    "--endpoint",
                    url,
                    "--set",
                    first,
                    "--set",
                    second,
                    "--window",
                    "year",
                    "--delay",
                    "0.1",
                    "--data-dir",
                    str(data.root),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for first, second in (SETS[:2], SETS[2:])
        ]
        for process in runs:
            _, errors = process.communicate(timeout=300)
            assert process.returncode == 0, errors
    # 10 a second, and 1 more for arrival jitter: a process starting on a busy machine can
    # send its first request a little after the slot it took (without sharing: 19)
    times = server.times
    busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert len(times) > 25 and busiest <= 12, (len(times), busiest)
