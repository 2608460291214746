"""The warehouse as a lakehouse: attach from any DuckDB client, time travel, the change feed,
maintenance, and the conversion of a data dir made by an earlier version."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE_ITEMS, TALIBAN, Clock, harvest, query

from flows.citations import load_citations
from flows.cli import main
from flows.datadir import DataDir
from flows.demo import SAMPLE_CITATIONS
from flows.rebuild import rebuild
from provider.server import Provider, serve
from provider.store import RecordStore
from schemas import tables
from warehouse.maintenance import file_count, fragmented, maintain


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def latest_snapshot(data: DataDir) -> int:
    with data.warehouse() as warehouse, warehouse.connect(read_only=True) as con:
        row = con.execute("SELECT max(snapshot_id) FROM repec.snapshots()").fetchone()
    assert row is not None
    return int(row[0])


def test_attach_prints_what_any_duckdb_client_runs(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str
) -> None:
    harvest(data, endpoint)
    code, out, _ = run(capsys, "attach", "--data-dir", str(data.root))
    assert code == 0
    statements = out.splitlines()
    assert statements and all(s.endswith(";") for s in statements)
    con = duckdb.connect()  # a fresh client: no setting of ours
    for statement in statements:
        con.execute(statement)
    assert con.execute("SELECT count(*) FROM articles").fetchall() == [(SAMPLE_ITEMS,)]
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("CREATE TABLE scratch AS SELECT 1 AS x")


def test_attach_without_a_warehouse_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "attach", "--data-dir", str(tmp_path / "none"))
    assert code == 1
    assert err.startswith("Error: no warehouse at ")


def test_sql_at_a_snapshot_sees_the_warehouse_as_it_was(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str, store: RecordStore
) -> None:
    harvest(data, endpoint)
    before = latest_snapshot(data)
    record = store.get(f"oai:{TALIBAN}")
    assert record is not None
    record.datestamp = "2025-12-05"
    record.metadata["amf"] = record.metadata["amf"].replace("<title>", "<title>New: ", 1)
    harvest(data, endpoint, from_date="2025-12-01")

    sql = f"SELECT title FROM articles WHERE handle = '{TALIBAN}'"
    code, out, err = run(capsys, "sql", sql, "--at", str(before), "--format", "csv",
                         "--data-dir", str(data.root))  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[1].startswith("Embracing the Taliban")
    assert query(data, sql)[0][0].startswith("New: Embracing")

    code, _, err = run(capsys, "sql", "SELECT 1", "--at", "not-a-time", "--data-dir",
                       str(data.root))  # fmt: skip
    assert code == 2 and "neither a snapshot id nor a date" in err


def test_changes_lists_items_inserted_updated_and_deleted_since_a_snapshot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: RecordStore, clock: Clock
) -> None:
    data = DataDir(tmp_path / "data")
    with serve(Provider(store, page_size=10, clock=clock)) as url:
        harvest(data, url)
        since = latest_snapshot(data)
        taliban, other = store.get(f"oai:{TALIBAN}"), store.records()[0]
        assert taliban is not None and other.identifier != taliban.identifier
        taliban.deleted, taliban.datestamp = True, "2025-12-03"
        other.datestamp = "2025-12-03"
        other.metadata = {k: v.replace("<title>", "<title>Revised: ", 1)
                          for k, v in other.metadata.items()}  # fmt: skip
        clock.now = datetime(2025, 12, 4)
        harvest(data, url)
        harvest(data, url)  # the same versions again: no change to report

    code, out, err = run(capsys, "changes", "--since", str(since), "--format", "csv",
                         "--data-dir", str(data.root))  # fmt: skip
    assert code == 0, err
    rows = {(line.split(",")[0], line.split(",")[1]) for line in out.splitlines()[1:]}
    assert (TALIBAN, "deleted") in rows
    assert any(change == "updated" for _, change in rows)
    assert len(rows) == 2

    code, out, _ = run(capsys, "changes", "--since", "0", "--format", "csv",
                       "--data-dir", str(data.root))  # fmt: skip
    assert code == 0
    changes = [line.split(",")[1] for line in out.splitlines()[1:]]
    assert (changes.count("inserted"), changes.count("deleted")) == (SAMPLE_ITEMS - 2, 2)


def test_maintenance_keeps_the_file_count_bounded_and_the_content(
    tmp_path: Path, store: RecordStore, clock: Clock
) -> None:
    data = DataDir(tmp_path / "data")
    with serve(Provider(store, page_size=5, clock=clock)) as url:
        for day in range(1, 9):  # small incremental runs, one change each
            record = store.records()[day]
            record.datestamp = f"2025-12-{day:02d}"
            clock.now = datetime(2025, 12, day, 12)
            harvest(data, url)
    content = query(data, "SELECT * EXCLUDE (field_sources) FROM articles ORDER BY handle_key")
    with data.warehouse() as warehouse:
        with warehouse.connect() as con:
            before = file_count(con)
        report = maintain(warehouse)
        with warehouse.connect() as con:
            after = file_count(con)
            assert fragmented(con) == [], "every table is left in large files, no deletes"
    assert report.files_before == before and report.files_after == after
    assert after < before
    assert query(data, "SELECT * EXCLUDE (field_sources) FROM articles ORDER BY handle_key") == (
        content
    )


def _legacy(data: DataDir, endpoint: str) -> None:
    """A data dir as repec-harvest made it before the lakehouse: raw archive and state, the
    DuckDB file with the citation graph, and the Parquet lake with a ReDIF batch."""
    harvest(data, endpoint)
    load_citations(data, str(SAMPLE_CITATIONS))
    with data.warehouse() as warehouse:  # not query(): its reader would outlive the catalog
        edges = warehouse.query("SELECT count(*) FROM citations")[1][0][0]
    con = duckdb.connect(str(data.legacy_warehouse))
    for name in ("citations", "citation_counts", "citation_loads", "references"):
        con.register("empty", tables.ALL_TABLES[name].empty_table())
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM empty')
        con.unregister("empty")
    con.execute(
        "INSERT INTO citations SELECT 'RePEc:a:b:' || i, 'RePEc:c:d:' || i, 'repec:a:b:' || i,"
        f" 'repec:c:d:' || i, 'old', TIMESTAMP '2025-01-01' FROM range({edges}) t(i)"
    )
    con.close()
    row = {name: None for name in tables.ARTICLES.names}
    row.update(handle="RePEc:tst:old:1", handle_key="repec:tst:old:1", title="From the old lake",
               deleted=False, datestamp=datetime(2024, 1, 1), oai_identifier="RePEc:tst:old:1",
               metadata_prefix="redif", endpoint="file:///old", harvest_id="redif-old-0",
               harvested_at=datetime(2024, 1, 1), record_id="redif/old#1")  # fmt: skip
    batch = Path("harvest=redif-old-0") / "run=r1" / "w0001.parquet"
    for name, rows in (("articles", [row]), ("authors", []), ("quarantine", [])):
        path = data.legacy_lake / name / batch
        path.parent.mkdir(parents=True)
        pq.write_table(tables.to_table(rows, tables.RECORD_TABLES[name]), path)
    catalog = data.catalog.sqlite_path
    for path in (catalog, catalog.with_name(catalog.name + "-wal"),
                 catalog.with_name(catalog.name + "-shm")):  # fmt: skip
        path.unlink(missing_ok=True)
    import shutil

    shutil.rmtree(data.root / "warehouse")


def test_an_earlier_versions_data_dir_is_converted_by_rebuild_and_nothing_is_lost(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str
) -> None:
    _legacy(data, endpoint)
    for command in (["sql", "SELECT 1"], ["status"], ["attach"],
                    ["run", "--endpoint", endpoint]):  # fmt: skip
        code, _, err = run(capsys, *command, "--data-dir", str(data.root))
        assert code == 1, command
        assert err.strip() == (
            f"Error: {data.root} holds a warehouse made by an earlier repec-harvest "
            "(warehouse.duckdb): `repec-harvest rebuild` converts it, nothing is lost"
        ), command

    report = rebuild(data)

    assert report.records == SAMPLE_ITEMS and report.citations_kept and report.redif_items == 1
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS + 1,)]
    assert query(data, "SELECT title FROM articles WHERE handle = 'RePEc:tst:old:1'") == [
        ("From the old lake",)
    ]
    assert query(data, "SELECT count(*) FROM citations WHERE source = 'old'")[0][0] > 0
    assert not data.legacy_warehouse.exists() and not data.legacy_lake.exists()
    assert (data.root / "warehouse.duckdb.converted").exists()
    assert run(capsys, "run", "--endpoint", endpoint, "--data-dir", str(data.root))[0] == 0
    _ = pa  # the Arrow schemas wrote the old lake's files


def test_duckdb_spills_to_a_folder_that_exists(data: DataDir, endpoint: str) -> None:
    """A load larger than DuckDB's memory limit spills there (DuckDB makes only the last
    folder of the path itself)."""
    harvest(data, endpoint)
    with data.warehouse() as warehouse, warehouse.connect() as con:
        row = con.execute("SELECT current_setting('temp_directory')").fetchone()
    assert row is not None and Path(row[0]).is_dir()
    assert Path(row[0]).is_relative_to(data.root)


def test_a_catalog_file_left_empty_by_a_kill_is_set_up_by_the_next_run(
    data: DataDir, endpoint: str
) -> None:
    """A writer killed between creating the catalog file and DuckLake setting it up."""
    import sqlite3

    data.prepare()
    con = sqlite3.connect(data.catalog.sqlite_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    [result] = harvest(data, endpoint)
    assert result.run is not None and result.run.status == "complete"
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]
