"""The command line as a user meets it: exit codes, one-line errors, output formats."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE_ITEMS, TALIBAN, query

from flows.cli import cli, main
from flows.datadir import DataDir
from harvesting.identity import HarvestSpec
from warehouse import database

README = Path(__file__).resolve().parents[1] / "README.md"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def harvested(capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str) -> DataDir:
    code, _, err = run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(data.root))
    assert code == 0, err
    return data


def test_run_prints_a_summary_and_exits_zero(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str
) -> None:
    code, out, _ = run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(data.root))
    assert code == 0
    assert re.search(rf"\(all\)\s+│\s+amf\s+│.*complete.*│\s+{SAMPLE_ITEMS}\s+│\s+1\s+│\s+0", out)
    assert f"Warehouse: {data.catalog.label}" in out


def test_demo_harvests_the_bundled_sample_offline(
    capsys: pytest.CaptureFixture[str], data: DataDir
) -> None:
    code, out, _ = run(capsys, "demo", "--data-dir", str(data.root), "--port", "0")
    assert code == 0
    assert "http://127.0.0.1:" in out
    assert "title = Embracing the Taliban: Deciphering Russia’s Afghan Policy" in out
    assert "authors_text = Tatiana Belousova; Raghav Sharma" in out
    assert "pages = 515-537" in out
    assert f"then open http://127.0.0.1:8000/{TALIBAN}" in out  # the seed item's web page


def test_sql_formats(capsys: pytest.CaptureFixture[str], harvested: DataDir) -> None:
    sql = f"SELECT handle, year, authors FROM article_authors WHERE handle = '{TALIBAN}'"
    base = ["sql", sql, "--data-dir", str(harvested.root)]

    code, out, _ = run(capsys, *base, "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {"handle": TALIBAN, "year": 2025, "authors": ["Tatiana Belousova", "Raghav Sharma"]}
    ]
    code, out, _ = run(capsys, *base, "--format", "csv")
    assert out.splitlines() == [
        "handle,year,authors",
        f"{TALIBAN},2025,Tatiana Belousova; Raghav Sharma",
    ]
    code, out, _ = run(capsys, *base)
    assert TALIBAN in out and "1 row" in out


def test_status_reports_each_harvest(
    capsys: pytest.CaptureFixture[str], harvested: DataDir
) -> None:
    code, out, _ = run(capsys, "status", "--data-dir", str(harvested.root))
    assert code == 0
    assert re.search(r"next from\s+2025-11-30", out)
    assert re.search(rf"records\s+{SAMPLE_ITEMS - 1}\b", out)
    assert re.search(r"deletions\s+1\b", out)
    assert re.search(r"quarantined\s+0\b", out)
    assert re.search(r"last error\s+-", out)


def test_rebuild_from_the_cli(capsys: pytest.CaptureFixture[str], harvested: DataDir) -> None:
    code, out, _ = run(capsys, "rebuild", "--data-dir", str(harvested.root))
    assert code == 0
    assert f"{SAMPLE_ITEMS} records (1 deleted, 0 quarantined), 8 series" in out


def test_data_dir_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    data: DataDir,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPEC_HARVEST_DATA_DIR", str(data.root))
    assert run(capsys, "run", "--endpoint", endpoint)[0] == 0
    assert data.catalog.sqlite_path.exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "--from", "yesterday"], 2,
         "Error: --from 'yesterday' is not a date: use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"),
        (["run", "--from", "2025-02-01", "--until", "2025-01-01"], 2,
         "Error: --from is after --until"),
        (["run", "--overlap", "soon"], 2,
         "Error: --overlap 'soon' is not a duration like 1d, 12h or 0"),
        (["run", "--endpoint", "ftp://example.org/"], 2,
         "Error: --endpoint 'ftp://example.org/' is not an http(s) URL"),
        (["run", "--window", "fortnight"], 2, "Error: Invalid value for '--window'"),
        (["frobnicate"], 2, "Error: No such command 'frobnicate'."),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str], data: DataDir, args: list[str], code: int, message: str
) -> None:
    result, _, err = run(capsys, *args, "--data-dir", str(data.root))
    assert result == code
    assert err.strip().startswith(message)
    assert len(err.strip().splitlines()) == 1


def test_errors_from_the_server_side(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str
) -> None:
    base = ["run", "--endpoint", endpoint, "--data-dir", str(data.root)]
    code, _, err = run(capsys, *base, "--metadata-prefix", "marcxml")
    assert code == 2
    assert err.strip() == (
        f"Error: {endpoint} does not offer metadata prefix 'marcxml'; it offers: amf, oai_dc"
    )
    code, _, err = run(capsys, *base, "--set", "RePEc:xxx:nothere")
    assert code == 2
    assert err.strip() == f"Error: {endpoint} does not have the set: RePEc:xxx:nothere"


def test_an_unreachable_endpoint(capsys: pytest.CaptureFixture[str], data: DataDir) -> None:
    url = f"http://127.0.0.1:{free_port()}/oai"
    code, _, err = run(capsys, "run", "--endpoint", url, "--data-dir", str(data.root))
    assert code == 2  # at once, not after retries: nothing listens there
    assert err.strip() == f"Error: cannot connect to {url}: is {url} an OAI-PMH base URL?"


def test_sql_errors(capsys: pytest.CaptureFixture[str], harvested: DataDir, tmp_path: Path) -> None:
    code, _, err = run(capsys, "sql", "SELEC 1", "--data-dir", str(harvested.root))
    assert code == 1
    assert err.startswith('Error: SQL error: Parser Error: syntax error at or near "SELEC"')
    code, _, err = run(capsys, "sql", "SELECT 1", "--data-dir", str(tmp_path / "empty"))
    assert code == 1
    assert "Error: no warehouse at" in err


def test_a_damaged_catalog_file(capsys: pytest.CaptureFixture[str], harvested: DataDir) -> None:
    _damage(harvested)
    code, _, err = run(capsys, "sql", "SELECT 1", "--data-dir", str(harvested.root))
    assert code == 1
    assert err.startswith(f"Error: cannot open the warehouse {harvested.catalog.label}")


def _damage(data: DataDir) -> None:
    catalog = data.catalog.sqlite_path
    for extra in ("-wal", "-shm"):
        catalog.with_name(catalog.name + extra).unlink(missing_ok=True)
    catalog.write_bytes(b"this is not a SQLite file" * 100)


def test_an_unwritable_data_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: str
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(blocker / "data"))
    assert code == 2
    assert err.startswith(f"Error: data dir {blocker / 'data'} is not writable")


def test_a_second_process_on_the_same_harvest_is_refused(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str
) -> None:
    spec = HarvestSpec(endpoint, "amf", None)
    with data.harvesting(spec.harvest_id, "a harvest"):
        code, _, err = run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(data.root))
    assert code == 3
    assert err.strip() == (
        f"Error: another repec-harvest process is running the harvest of all sets from "
        f"{endpoint}; wait for it to finish"
    )


def test_a_harvest_of_another_set_goes_ahead(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str
) -> None:
    busy = HarvestSpec(endpoint, "amf", "RePEc:sae:asseca")
    with data.harvesting(busy.harvest_id, "a harvest"):
        code, _, err = run(capsys, "run", "--endpoint", endpoint, "--set", "RePEc:nbr:nberwo",
                           "--data-dir", str(data.root))  # fmt: skip
    assert code == 0, err


def test_a_rebuild_waits_for_no_one_and_says_so(
    capsys: pytest.CaptureFixture[str], harvested: DataDir
) -> None:
    with harvested.writing():
        code, _, err = run(capsys, "rebuild", "--data-dir", str(harvested.root))
    assert code == 3
    assert err.strip() == (
        f"Error: another repec-harvest process is writing to {harvested.catalog.label}; "
        "wait for it to finish"
    )


def test_the_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "REPEC_HARVEST_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "from flows.cli import entry; entry()", "sql", "SELECT nope"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ")


def test_every_command_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"repec-harvest {name}" in readme, f"README does not show `repec-harvest {name}`"


def test_an_unknown_host(capsys: pytest.CaptureFixture[str], data: DataDir) -> None:
    url = "http://no-such-host.invalid/oai"
    code, _, err = run(capsys, "run", "--endpoint", url, "--retries", "0",
                       "--data-dir", str(data.root))  # fmt: skip
    assert code == 1
    assert err.strip() == f"Error: cannot resolve the host of {url}"


def test_a_damaged_catalog_stops_a_run_and_rebuild_recovers_it(
    capsys: pytest.CaptureFixture[str], harvested: DataDir, endpoint: str
) -> None:
    _damage(harvested)
    damaged = harvested.catalog.sqlite_path.read_bytes()
    code, _, err = run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(harvested.root))
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"Error: cannot open the warehouse {harvested.catalog.label}: ")
    assert line.endswith("; `repec-harvest rebuild` recreates it from the raw archive")
    assert harvested.catalog.sqlite_path.read_bytes() == damaged  # left for the user to see

    assert run(capsys, "rebuild", "--data-dir", str(harvested.root))[0] == 0
    code, out, _ = run(capsys, "sql", "SELECT count(*) AS n FROM articles", "--format", "csv",
                       "--data-dir", str(harvested.root))  # fmt: skip
    assert out.splitlines() == ["n", str(SAMPLE_ITEMS)]


def test_a_warehouse_from_an_older_version_gains_the_new_columns(
    capsys: pytest.CaptureFixture[str], harvested: DataDir, endpoint: str
) -> None:
    with harvested.warehouse().connect() as con:  # the tables an older version made
        con.execute("ALTER TABLE authors DROP COLUMN workplaces")
        con.execute("ALTER TABLE institutions DROP COLUMN part_of")
        for column in ("files", "number", "related_handles"):
            con.execute(f"ALTER TABLE articles DROP COLUMN {column}")
            con.execute(f"ALTER TABLE article_versions DROP COLUMN {column}")
        con.execute("ALTER TABLE series DROP COLUMN maintainer_name")
    assert run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(harvested.root))[0] == 0
    for view in ("live_articles", "article_authors", "live_authors", "series"):
        code, out, _ = run(capsys, "sql", f"SELECT count(*) AS n FROM {view}", "--format", "csv",
                           "--data-dir", str(harvested.root))  # fmt: skip
        assert code == 0 and int(out.splitlines()[1]) > 0, view
    code, out, _ = run(capsys, "sql", "SELECT count(*) AS n FROM authors WHERE workplaces IS NULL",
                       "--format", "csv", "--data-dir", str(harvested.root))  # fmt: skip
    assert (code, out.splitlines()[0]) == (0, "n")  # rows loaded before read it as NULL


def test_a_warehouse_whose_column_changed_type_asks_for_a_rebuild(
    capsys: pytest.CaptureFixture[str], harvested: DataDir, endpoint: str
) -> None:
    with harvested.warehouse().connect() as con:
        con.execute("ALTER TABLE authors DROP COLUMN workplace")
        con.execute("ALTER TABLE authors ADD COLUMN workplace INTEGER")
    code, _, err = run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(harvested.root))
    assert code == 1
    assert err.strip() == (
        "Error: the warehouse was made by another repec-harvest (column authors.workplace is "
        "INTEGER, not VARCHAR); `repec-harvest rebuild` recreates it"
    )
    assert run(capsys, "rebuild", "--data-dir", str(harvested.root))[0] == 0
    assert run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(harvested.root))[0] == 0


def test_schedule_needs_a_prefect_server(
    capsys: pytest.CaptureFixture[str], data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    code, _, err = run(capsys, "schedule", "--data-dir", str(data.root))
    assert code == 2
    assert err.startswith("Error: repec-harvest schedule and deploy need a Prefect server: "
                          "run `prefect server start` and set PREFECT_API_URL=")  # fmt: skip


def test_a_warehouse_that_runs_out_of_memory_is_one_line(
    capsys: pytest.CaptureFixture[str],
    data: DataDir,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(database, "MEMORY_LIMIT", "1MB")  # too little for any load

    code, _, err = run(capsys, "run", "--endpoint", endpoint, "--delay", "0",
                       "--data-dir", str(data.root))  # fmt: skip

    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith("Error: the warehouse") and "Out of Memory Error" in line


def test_status_says_next_from_with_the_overlap_the_run_used(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str
) -> None:
    from datetime import timedelta

    from harvesting.state import StateStore

    code, _, err = run(capsys, "run", "--endpoint", endpoint, "--overlap", "3d",
                       "--data-dir", str(data.root))  # fmt: skip
    assert code == 0, err
    state = StateStore(data.state_location)
    try:
        [record] = state.harvests()
    finally:
        state.close()
    assert record.last_complete_server_start is not None
    expected = (record.last_complete_server_start - timedelta(days=3)).strftime("%Y-%m-%d")
    code, out, _ = run(capsys, "status", "--data-dir", str(data.root))
    assert re.search(rf"next from\s+{expected}\s", out)
    assert query(data, "SELECT next_from FROM harvest_state") == [(expected,)]
