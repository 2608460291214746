"""The benchmark code keeps working (at tiny sizes; timings are never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from benchmarks.corpus import record, record_xml
from harvesting.responses import parse_response
from schemas.records import PageContext, map_page


def test_the_generated_corpus_is_deterministic_and_maps_cleanly() -> None:
    assert record(41, 1000) == record(41, 1000)
    records = "".join(record_xml(i, 1000, "oai_dc") for i in range(50))
    raw = (
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2025-01-01T00:00:00Z'
        f"</responseDate><ListRecords>{records}</ListRecords></OAI-PMH>"
    ).encode()
    page = parse_response(raw, "ListRecords")
    from datetime import datetime

    rows = map_page(PageContext("x", "h", "oai_dc", datetime(2025, 1, 1), "p", "p"), page.items)
    assert len(rows.articles) == 50 and rows.quarantine == []
    assert etree.fromstring(record_xml(3, 10, "amf").encode()) is not None


def test_the_side_by_side_run_works_at_a_tiny_size(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--sizes", "300", "--workdir", str(tmp_path),
         "--port", "8791"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["scenario"] for r in results} == {
        "sickle_loop", "dlt_pipeline", "harvest_only", "pipeline", "normalize", "rebuild", "load",
        "incremental",
    }  # fmt: skip
    by_name = {r["scenario"]: r for r in results}
    assert not [r for r in results if "failed" in r]
    assert by_name["pipeline"]["records"] == by_name["harvest_only"]["records"] == 300
    assert by_name["dlt_pipeline"]["records"] == 300  # every identifier once, merged
    assert by_name["incremental"]["records"] == 0
    pipeline = by_name["pipeline"]
    assert 0 < pipeline["all_peak_pss_mb"] <= pipeline["all_peak_rss_mb"]
    assert "speed vs sickle" in out.stdout

    # the web front's benchmark, over the warehouse the run filled, while a harvest loads
    web = subprocess.run(
        [sys.executable, "-m", "benchmarks.web", "--records", "300", "--workdir", str(tmp_path),
         "--data", str(tmp_path / "data-300-ours"), "--port", "8792", "--idle", "1"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    figures = json.loads(web.stdout.splitlines()[-1])
    assert figures["idle"]["item"]["queries"] > 0 and figures["idle"]["search"]["queries"] > 0
    assert figures["while_harvesting"]["search"]["median_ms"] > 0


def test_the_large_input_scenarios_work_at_a_tiny_scale(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.large_inputs", "--scale", "0.0005",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    results = {r["scenario"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert set(results) == {
        "redif-file", "redif-rerun", "redif-tree", "redif-line", "redif-garbage", "page",
        "page-over-cap", "window-none",
    }  # fmt: skip
    assert all(r["exit"] == 0 and r["peak_rss_mb"] > 0 for r in results.values()), results
    articles = {name: r["articles"] for name, r in results.items()}
    assert articles == {
        "redif-file": 500,
        "redif-rerun": 500,
        "redif-tree": 500,
        "redif-line": 3,
        "redif-garbage": 0,
        "page": 15,
        "page-over-cap": 20,
        "window-none": 300,
    }
    assert results["redif-garbage"]["quarantined"] == 1


@pytest.mark.prefect
def test_the_dask_and_politeness_benchmarks_work_at_a_tiny_size(tmp_path: Path) -> None:
    """(Pages of 2: each set's ten pages are written by its Dask worker itself, which may not
    start processes of its own.)"""
    pytest.importorskip("prefect_dask")
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.dask_sets", "--records", "160", "--delay", "0.02",
         "--page-size", "2", "--workers", "2", "--workdir", str(tmp_path / "dask")],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert report["dask_statuses"] == ["complete"] * 8 and report["same_rows"] is True
    assert report["content_dask"]["articles"][0]["n"] == 160
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.politeness", "--records", "200", "--delay", "0.05",
         "--workdir", str(tmp_path / "politeness")],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert report["seconds_parallel_1"] > 0 and len(report["busiest_second_parallel_4"]) == 4
