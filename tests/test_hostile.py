"""Hostile input and rude interruptions (issue 13): nothing harvested is lost, nothing is
silently smaller, every failure is one line and a non-zero exit.

Each test is a case that lost data, hung, grew without bound or crashed before; each runs the
real command against a real server on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_ITEMS, Clock, harvest, query
from faults import Faults, send

from flows.citations import load_citations
from flows.datadir import DataDir
from harvesting.archive import MANIFEST
from harvesting.statedb import StateDB
from provider.server import SECONDS, Provider, serve
from provider.store import RecordStore
from schemas.citations import MAX_LINE

SAMPLE_CITATIONS = Path(__file__).parents[1] / "provider" / "sample" / "iscited.txt"
SAMPLE_EDGES = 78

COMMAND = [sys.executable, "-c", "from flows.cli import entry; entry()"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)  # fmt: skip


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error of a failed command: a non-zero exit, one error line (warnings about
    retries may come before it), no traceback, no internal error."""
    assert done.returncode not in (0, 70), (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def archived_pages(data: DataDir) -> int:
    return sum(
        sum(1 for line in m.read_text().splitlines() if '"ListRecords"' in line)
        for m in data.raw.glob(f"*/*/{MANIFEST}")
    )


def interrupted_run(data: DataDir, url: str, pages: int, how: signal.Signals) -> None:
    """Start `run --window year` and interrupt it once ``pages`` pages are archived."""
    command = [*COMMAND, "run", "--endpoint", url, "--delay", "0", "--window", "year",
               "--data-dir", str(data.root)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 120
    while archived_pages(data) < pages and process.poll() is None:
        assert time.monotonic() < deadline, "the run never got that far"
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(how)
    process.wait(60)
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read().decode()
    process.stderr.close()


def slow_pages(provider: Provider) -> Faults:
    return Faults(provider).on("slow", seconds=0.15)


#: Every item and every version of it, once each.
WHOLE = """SELECT (SELECT list((handle, deleted) ORDER BY handle) FROM articles),
                  (SELECT list((handle, datestamp) ORDER BY handle, datestamp)
                   FROM article_versions),
                  (SELECT count(DISTINCT record_id) = count(*) FROM article_versions)"""


# -- 1. rebuild after an interrupted run -------------------------------------------------------


def test_rebuild_after_an_interrupted_run_loses_nothing(tmp_path: Path) -> None:
    store, clock = RecordStore.sample(), Clock(datetime(2025, 12, 1, 12))
    provider = Provider(store, page_size=2, clock=clock)
    clean = DataDir(tmp_path / "clean")
    with serve(Provider(store, page_size=2, clock=clock)) as url:
        harvest(clean, url, window="year")
    expected = query(clean, WHOLE)
    assert len(expected[0][0]) == SAMPLE_ITEMS
    for how, pages in ((signal.SIGKILL, 5), (signal.SIGINT, 9), (signal.SIGKILL, 14)):
        data = DataDir(tmp_path / f"{how.name}-{pages}")
        with serve(provider, before_response=slow_pages(provider)) as url:
            interrupted_run(data, url, pages=pages, how=how)
            rebuilt = cli("rebuild", "--data-dir", str(data.root))
            assert rebuilt.returncode == 0, rebuilt.stderr
            again = cli("run", "--endpoint", url, "--delay", "0", "--window", "year",
                        "--data-dir", str(data.root))  # fmt: skip
            assert again.returncode == 0, again.stderr
        assert query(data, WHOLE) == expected, (how.name, pages)


# -- 3. a citation load of junk ---------------------------------------------------------------


@contextmanager
def static(body: bytes, content_type: str = "text/html") -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering every GET with ``body`` and HTTP 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            send(self, 200, body, content_type)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/iscited.txt.gz"
    finally:
        server.shutdown()
        server.server_close()


JUNK = {
    "empty.txt": b"",
    "random.bin": os.urandom(4096),
    "plain-text.gz": b"this is not gzip\njust some words\n",
    "error.html": b"<html><body><h1>Service unavailable</h1><p>Try later</p></body></html>\n",
    "mostly-junk.txt": b"RePEc:a:b:1 RePEc:c:d:2\n" + b"garbage line\n" * 10,
}


@pytest.mark.parametrize("name", sorted(JUNK))
def test_a_citation_load_of_junk_keeps_the_graph(tmp_path: Path, name: str) -> None:
    data = DataDir(tmp_path / "data")
    load_citations(data, str(SAMPLE_CITATIONS))
    junk = tmp_path / name
    junk.write_bytes(JUNK[name])
    error = one_line_error(cli("citations", str(junk), "--data-dir", str(data.root)))
    assert "previous graph is kept" in error, error
    assert query(data, "SELECT count(*) FROM citations") == [(SAMPLE_EDGES,)]


def test_an_html_error_page_served_with_200_keeps_the_graph(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    load_citations(data, str(SAMPLE_CITATIONS))
    with static(JUNK["error.html"]) as url:
        error = one_line_error(cli("citations", url, "--data-dir", str(data.root)))
    assert "previous graph is kept" in error, error
    assert query(data, "SELECT count(*) FROM citations") == [(SAMPLE_EDGES,)]


def test_an_empty_graph_loads_only_when_asked(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    load_citations(data, str(SAMPLE_CITATIONS))
    empty = tmp_path / "iscited.txt"
    empty.write_text("")
    done = cli("citations", str(empty), "--allow-empty", "--data-dir", str(data.root))
    assert done.returncode == 0, done.stderr
    assert query(data, "SELECT count(*) FROM citations") == [(0,)]


def test_an_endless_line_is_skipped_unread_and_counted(tmp_path: Path) -> None:
    """A line longer than MAX_LINE (here a gzip of one line of MAX_LINE + 1 MiB) is a
    malformed line: the others load, memory never holds it (measured in BENCHMARKS.md)."""
    import gzip

    source = tmp_path / "iscited.txt.gz"
    with gzip.open(source, "wb", compresslevel=1) as out:
        out.write(SAMPLE_CITATIONS.read_bytes())
        out.write(b"RePEc:a:b:1 " + b"RePEc:c:d:2#" * (MAX_LINE // 12 + 65536) + b"\n")
        out.write(b"RePEc:x:y:1 RePEc:z:w:2\n")
    data = DataDir(tmp_path / "data")
    log = load_citations(data, str(source))
    assert log["edges"] == SAMPLE_EDGES + 1
    assert log["malformed_lines"] == 1


@pytest.mark.parametrize("source", ["gopher://example.org/iscited.txt", "DIRECTORY"])
def test_a_source_that_is_no_file_says_what_it_is(tmp_path: Path, source: str) -> None:
    source = str(tmp_path) if source == "DIRECTORY" else source
    error = one_line_error(cli("citations", source, "--data-dir", str(tmp_path / "data")))
    assert ("is a directory" in error) if source == str(tmp_path) else ("gopher" in error), error


# -- 4. a trial run with --until ---------------------------------------------------------------


def test_a_bounded_trial_run_does_not_limit_later_runs(tmp_path: Path) -> None:
    store, clock = RecordStore.sample(), Clock(datetime(2025, 12, 1, 12))
    data = DataDir(tmp_path / "data")
    with serve(Provider(store, page_size=5, clock=clock)) as url:
        trial = cli("run", "--endpoint", url, "--delay", "0", "--until", "2025-07-01",
                    "--data-dir", str(data.root))  # fmt: skip
        assert trial.returncode == 0, trial.stderr
        some = query(data, "SELECT count(*) FROM articles")[0][0]
        assert 0 < some < SAMPLE_ITEMS
        status = cli("status", "--data-dir", str(data.root))
        assert "last bounded run" in status.stdout and "to 2025-07-01" in status.stdout
        assert "2025-06-30" in status.stdout, status.stdout  # next from: --until - overlap
        plain = cli("run", "--endpoint", url, "--delay", "0", "--data-dir", str(data.root))
        assert plain.returncode == 0, plain.stderr
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


# -- 6 and 10. clocks in the future ------------------------------------------------------------


def test_a_record_dated_in_the_future_does_not_outrank_its_correction(tmp_path: Path) -> None:
    store, clock = RecordStore.sample(), Clock(datetime(2025, 12, 1, 12))
    data = DataDir(tmp_path / "data")
    record = store.records()[5]
    record.datestamp = "2999-01-01"
    with serve(Provider(store, page_size=10, clock=clock)) as url:
        first = cli("run", "--endpoint", url, "--delay", "0", "--data-dir", str(data.root))
        assert first.returncode == 0, first.stderr
        assert "dated after the server's clock" in first.stderr, first.stderr
        record.metadata["amf"] = record.metadata["amf"].replace("<title>", "<title>Fixed: ", 1)
        record.datestamp, clock.now = "2025-12-02", datetime(2025, 12, 3, 12)
        again = cli("run", "--endpoint", url, "--delay", "0", "--data-dir", str(data.root))
        assert again.returncode == 0, again.stderr
    titles = query(data, f"SELECT title, datestamp FROM articles WHERE oai_identifier = "
                         f"'{record.identifier}'")  # fmt: skip
    assert titles[0][0].startswith("Fixed: "), titles
    assert titles[0][1] == datetime(2025, 12, 2)


def test_a_server_whose_clock_says_2999_is_harvested_in_a_few_windows(tmp_path: Path) -> None:
    store = RecordStore.sample()
    data = DataDir(tmp_path / "data")
    provider = Provider(store, page_size=10, clock=Clock(datetime(2999, 1, 1)))
    with serve(provider) as url:
        done = cli("run", "--endpoint", url, "--delay", "0", "--window", "year",
                   "--data-dir", str(data.root), timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "ahead of this machine's clock" in done.stderr, done.stderr
        requests = sum(1 for r in provider.requests if r.get("verb") == "ListRecords")
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]
    assert requests < 40, requests  # years up to today, not to 2999
    status = cli("status", "--data-dir", str(data.root))
    assert "2999" not in status.stdout, status.stdout


# -- 9. a server trickling a byte at a time ----------------------------------------------------


def test_a_trickling_server_hits_a_deadline_per_request(tmp_path: Path) -> None:
    """--timeout is per read; a whole response gets four times that (harvesting/bodies.py)."""
    store = RecordStore.sample()
    provider = Provider(store, page_size=10, clock=Clock(datetime(2025, 12, 1, 12)))
    faults = Faults(provider).on("trickle", interval=0.3, seconds=60, verbs=("Identify",))
    started = time.monotonic()
    with serve(provider, before_response=faults) as url:
        done = cli("run", "--endpoint", url, "--delay", "0", "--timeout", "1",
                   "--retries", "1", "--backoff", "0.1", "--data-dir", str(tmp_path / "data"),
                   timeout=120)  # fmt: skip
    error = one_line_error(done)
    assert "did not send its whole response within 4 s" in error, error
    assert time.monotonic() - started < 30


# -- 2. rebuild never publishes less than the archive holds ------------------------------------


def _harvested(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data")
    with serve(Provider(RecordStore.sample(), page_size=10,
                        clock=Clock(datetime(2025, 12, 1, 12)))) as url:  # fmt: skip
        harvest(data, url)
    return data


def _manifest(data: DataDir) -> Path:
    return next(m for m in data.raw.glob(f"*/*/{MANIFEST}") if "_endpoints" not in str(m))


@pytest.mark.parametrize("damage", ["deleted", "garbled line", "lost lines"])
def test_rebuild_refuses_to_publish_less_than_was_harvested(tmp_path: Path, damage: str) -> None:
    data = _harvested(tmp_path)
    manifest = _manifest(data)
    lines = manifest.read_bytes().splitlines(keepends=True)
    if damage == "deleted":
        manifest.unlink()
    elif damage == "garbled line":
        manifest.write_bytes(b"".join([lines[0], b'{"path": "w0000/p00\\x00\n', *lines[2:]]))
    else:
        manifest.write_bytes(b"".join(lines[:2]))
    error = one_line_error(cli("rebuild", "--data-dir", str(data.root)))
    assert str(manifest) in error, error
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]
    if damage != "garbled line":  # said, and done when the user says so
        allowed = cli("rebuild", "--allow-missing", "--data-dir", str(data.root))
        assert allowed.returncode == 0, allowed.stderr


def test_a_rebuild_killed_midway_leaves_nothing_behind_the_next_one(tmp_path: Path) -> None:
    data = _harvested(tmp_path)
    with data.warehouse() as warehouse:
        stale = warehouse.beside()  # what a killed rebuild leaves: a generation half built
        with stale.connect() as con:
            con.execute("SELECT 1").fetchall()
        stale.close()
    done = cli("rebuild", "--data-dir", str(data.root))
    assert done.returncode == 0, done.stderr
    schemas = query(data, "SELECT schema_name FROM duckdb_schemas() WHERE "
                          "regexp_full_match(schema_name, 'g[0-9]+')")  # fmt: skip
    assert len(schemas) == 1, schemas
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


# -- 5. one bad byte in one record -------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"\x00", b"\x0b", b"\xff\xfe"], ids=["NUL", "control", "utf8"])
def test_one_bad_byte_quarantines_one_record_and_the_harvest_goes_on(
    tmp_path: Path, bad: bytes
) -> None:
    store = RecordStore.sample()
    provider = Provider(store, page_size=10, clock=Clock(datetime(2025, 12, 1, 12)))
    # the third record of every page of the first window that has a third record
    faults = Faults(provider).on("bad_bytes", bytes=bad, record=3, times=1)
    data = DataDir(tmp_path / "data")
    with serve(provider, before_response=faults) as url:
        done = cli("run", "--endpoint", url, "--delay", "0", "--data-dir", str(data.root))
        assert done.returncode == 0, done.stderr
        again = cli("run", "--endpoint", url, "--delay", "0", "--data-dir", str(data.root))
        assert again.returncode == 0, again.stderr
    assert faults.injected["bad_bytes"] == 1
    (reason, raw), *rest = query(data, "SELECT reason, raw_xml FROM quarantine")
    assert not rest and "not well-formed" in reason
    escaped = bad.decode("latin-1").encode("unicode_escape").decode()  # \x00, \x0b, \xff\xfe
    assert escaped in raw or bad.decode("utf-8", "ignore") in raw, raw[:300]
    # every other record is there: one item short of a clean run, until the next correction
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS - 1,)]


# -- 11 and 13. long tokens, other hosts -------------------------------------------------------


def test_a_megabyte_resumption_token_goes_by_post(tmp_path: Path) -> None:
    store = RecordStore.sample()
    provider = Provider(store, page_size=10, clock=Clock(datetime(2025, 12, 1, 12)),
                        token_padding=1 << 20)  # fmt: skip
    data = DataDir(tmp_path / "data")
    with serve(provider) as url:
        done = cli("run", "--endpoint", url, "--delay", "0", "--window", "none",
                   "--data-dir", str(data.root))  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


def test_a_redirect_to_another_host_is_refused(tmp_path: Path) -> None:
    store = RecordStore.sample()
    provider = Provider(store, page_size=10, clock=Clock(datetime(2025, 12, 1, 12)))
    with serve(provider) as real:
        elsewhere = real.replace("127.0.0.1", "localhost")

        class Redirect(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", elsewhere + self.path[self.path.index("?") :])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/oai"
            error = one_line_error(cli("run", "--endpoint", url, "--delay", "0",
                                       "--data-dir", str(tmp_path / "data")))  # fmt: skip
        finally:
            server.shutdown()
            server.server_close()
    assert "redirects to another host" in error and "localhost" in error, error


# -- crashes that must be one line, or no error at all ----------------------------------------

REDIF = """Template-Type: ReDIF-Article 1.0
Title: A File Whose Name Is Not UTF-8
Author-Name: Byte, Ann
Journal: Journal of Names
Year: 2025
Handle: RePEc:tst:jonam:v:1:y:2025:i:1:p:1-2
"""


def test_a_redif_file_whose_name_is_not_utf8_loads(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    Path(os.fsdecode(os.fsencode(tree) + b"/\xffname.rdf")).write_text(REDIF)
    data = DataDir(tmp_path / "data")
    done = cli("redif", str(tree), "--data-dir", str(data.root))
    assert done.returncode == 0, done.stderr
    assert query(data, "SELECT title FROM articles") == [("A File Whose Name Is Not UTF-8",)]


def test_a_contact_beyond_latin1_is_sent_percent_encoded(tmp_path: Path) -> None:
    store = RecordStore.sample()
    provider = Provider(store, page_size=20, clock=Clock(datetime(2025, 12, 1, 12)))
    with serve(provider) as url:
        done = cli("run", "--endpoint", url, "--delay", "0", "--contact", "José 李 <a@b.c>",
                   "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_demo_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with serve(Provider(RecordStore.sample())) as url:
        port = url.split(":")[2].split("/")[0]
        for serve_only in ([], ["--serve"]):
            error = one_line_error(cli("demo", "--port", port, *serve_only,
                                       "--data-dir", str(tmp_path / "data")))  # fmt: skip
            assert f"port {port} is taken" in error, error


# -- 12. a server that claims seconds but takes only days ---------------------------------------


def test_a_server_refusing_times_of_day_is_asked_by_day(tmp_path: Path) -> None:
    store = RecordStore.sample()
    provider = Provider(store, page_size=10, clock=Clock(datetime(2025, 12, 1, 12)),
                        granularity=SECONDS, accepts_times=False)  # fmt: skip
    data = DataDir(tmp_path / "data")
    with serve(provider) as url:
        for _ in range(2):  # the first run and an incremental one
            done = cli("run", "--endpoint", url, "--delay", "0", "--data-dir", str(data.root))
            assert done.returncode == 0, done.stderr
            assert "asking by day" in done.stderr
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


# -- interruptions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signals", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["ctrl-c", "sigterm", "ctrl-c-twice"],
)  # fmt: skip
def test_an_interrupted_run_says_so_and_records_where_it_stopped(
    tmp_path: Path, signals: list[signal.Signals]
) -> None:
    store = RecordStore.sample()
    provider = Provider(store, page_size=2, clock=Clock(datetime(2025, 12, 1, 12)))
    data = DataDir(tmp_path / "data")
    with serve(provider, before_response=slow_pages(provider)) as url:
        command = [*COMMAND, "run", "--endpoint", url, "--delay", "0",
                   "--data-dir", str(data.root)]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=ENV)  # fmt: skip
        deadline = time.monotonic() + 60
        while archived_pages(data) < 3:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        for number, sig in enumerate(signals):
            if number:
                time.sleep(0.1)
            process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Interrupted: every committed page is kept" in stderr.decode(), stderr
    status = cli("status", "--data-dir", str(data.root)).stdout
    assert "(failed)" in status and "interrupted" in status, status


def test_an_endpoint_with_a_query_string_is_refused(tmp_path: Path) -> None:
    error = one_line_error(cli("run", "--endpoint", "http://127.0.0.1:9/oai?verb=Identify",
                               "--data-dir", str(tmp_path / "data")))  # fmt: skip
    assert "has a query string" in error and "?verb=Identify" in error, error


def test_an_html_page_at_identify_is_a_configuration_error_said_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    with static(JUNK["error.html"]) as url:
        error = one_line_error(cli("run", "--endpoint", url.rsplit("/", 1)[0] + "/oai",
                                   "--data-dir", str(tmp_path / "data")))  # fmt: skip
    assert "html" in error.lower() and "OAI-PMH base URL" in error, error
    assert time.monotonic() - started < 15  # no retries (they took 21 s)


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` mounted read-only over itself (root only), as a data dir on read-only media."""
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True,
                          check=False)  # fmt: skip
    if bind.returncode != 0:
        pytest.skip(f"a read-only bind mount needs root: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_status_works_on_a_read_only_data_dir(tmp_path: Path) -> None:
    """The harvest state is read read-only. (DuckLake's SQLite catalog, in WAL mode, cannot
    be opened where SQLite cannot make its shared-memory file: status says so and shows
    the rest.)"""
    data = _harvested(tmp_path)
    with read_only(data.root):
        status = cli("status", "--data-dir", str(data.root))
    assert status.returncode == 0, status.stderr
    assert "last complete harvest" in status.stdout and "never" not in status.stdout


# -- rough edges of the command line ----------------------------------------------------------


def test_the_command_alone_prints_its_help_without_calling_it_an_error() -> None:
    done = cli()
    assert done.returncode == 2
    assert done.stderr.startswith("Usage: repec-harvest") and "Error" not in done.stderr


def test_a_data_dir_before_the_command_gets_a_hint(tmp_path: Path) -> None:
    error = one_line_error(cli("--data-dir", str(tmp_path), "status"))
    assert "goes after the command" in error, error


def test_sql_shows_long_values_whole_and_huge_results_without_waiting(tmp_path: Path) -> None:
    data = _harvested(tmp_path)
    long = "x" * 300
    table = cli("sql", f"SELECT '{long}' AS v, * FROM range(5000)", "--data-dir", str(data.root))
    assert table.returncode == 0, table.stderr
    assert "".join(line.strip("│ ") for line in table.stdout.splitlines()[3:8]).count("x") >= 300
    assert "the first 1,000 rows" in table.stdout
    csv_out = cli("sql", "--format", "csv", "SELECT * FROM range(300000)",
                  "--data-dir", str(data.root))  # fmt: skip
    assert csv_out.returncode == 0 and len(csv_out.stdout.splitlines()) == 300_001


def test_verbose_says_what_each_run_and_window_did(tmp_path: Path) -> None:
    with serve(Provider(RecordStore.sample(), page_size=10,
                        clock=Clock(datetime(2025, 12, 1, 12)))) as url:  # fmt: skip
        done = cli("-v", "run", "--endpoint", url, "--delay", "0",
                   "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "starting run" in done.stderr and "harvested: 2 pages, 12 records" in done.stderr
    assert "urllib3" not in done.stderr and "connectionpool" not in done.stderr


def test_status_tells_a_killed_run_from_a_running_one(tmp_path: Path) -> None:
    store = RecordStore.sample()
    provider = Provider(store, page_size=2, clock=Clock(datetime(2025, 12, 1, 12)))
    data = DataDir(tmp_path / "data")
    with serve(provider, before_response=slow_pages(provider)) as url:
        interrupted_run(data, url, pages=3, how=signal.SIGKILL)
    status = cli("status", "--data-dir", str(data.root))
    assert "stopped without recording why" in status.stdout, status.stdout


def test_a_garbled_state_is_one_line_and_rebuild_recovers(tmp_path: Path) -> None:
    data = _harvested(tmp_path)
    raw = bytearray(data.state_path.read_bytes())
    raw[100:4096] = os.urandom(3996)  # the header's tail and the first page: garbled
    data.state_path.write_bytes(bytes(raw))
    error = one_line_error(cli("status", "--data-dir", str(data.root)))
    assert "rebuild` sets it aside" in error, error
    with serve(Provider(RecordStore.sample(), clock=Clock(datetime(2025, 12, 1, 12)))) as url:
        error = one_line_error(cli("run", "--endpoint", url, "--data-dir", str(data.root)))
        assert "rebuild` sets it aside" in error, error
        rebuilt = cli("rebuild", "--data-dir", str(data.root))
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "state.sqlite.damaged" in rebuilt.stderr
        assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]
        again = cli("run", "--endpoint", url, "--delay", "0", "--data-dir", str(data.root))
        assert again.returncode == 0, again.stderr
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


@pytest.mark.parametrize("after", ["BEGIN IMMEDIATE", "COMMIT"])
def test_an_interrupt_right_after_begin_or_commit_leaves_no_transaction_open(
    tmp_path: Path, after: str
) -> None:
    """Ctrl-C may land on the instruction after BEGIN (or COMMIT) returned: the state must
    still take the next transaction, the one that records where the run stopped."""
    db = StateDB(tmp_path / "state.sqlite", "CREATE TABLE t (x INTEGER)")
    execute = db.execute

    def interrupted(statement: str, params: Sequence[Any] = ()) -> Any:
        result = execute(statement, params)
        if statement == after:
            raise KeyboardInterrupt
        return result

    db.execute = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt), db.transaction():
        db.execute("INSERT INTO t VALUES (1)")
    db.execute = execute  # type: ignore[method-assign]
    with db.transaction():  # "cannot start a transaction within a transaction" before
        db.execute("INSERT INTO t VALUES (2)")
    expected = [1, 2] if after == "COMMIT" else [2]
    assert [r["x"] for r in db.execute("SELECT x FROM t ORDER BY x").fetchall()] == expected
