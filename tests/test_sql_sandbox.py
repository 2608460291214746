"""`repec-harvest sql` is read-only for real: no statement writes a file, reads a file outside
the warehouse, attaches a database, installs or loads an extension or changes a setting. Each
is refused with one line and a non-zero exit, and the data dir is left as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import SAMPLE_ITEMS

from flows.cli import main
from flows.datadir import DataDir


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    data = DataDir(tmp_path_factory.mktemp("sandbox") / "data")
    assert main(["demo", "--data-dir", str(data.root), "--port", "0"]) == 0
    return data


def fingerprint(root: Path) -> dict[str, str]:
    """Every file of the data dir but the catalog's own (readers may touch its -shm) and
    lock files, with a hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "catalog.sqlite" not in p.name and ".locks" not in p.parts
    }


def escapes(data: DataDir) -> list[str]:
    root = data.root
    [page] = sorted(root.glob("raw/*/*/w*/p*.xml.gz"))[:1]
    [parquet] = sorted((root / "warehouse").rglob("*.parquet"))[:1]
    return [
        f"COPY (SELECT 'x' AS a) TO '{root / 'state.sqlite'}' (FORMAT csv)",
        f"COPY (SELECT 'x' AS a) TO '{page}' (FORMAT csv)",
        f"COPY (SELECT 'x' AS a) TO '{parquet}' (FORMAT parquet)",
        f"COPY articles TO '{root / 'warehouse' / 'x.csv'}'",
        f"EXPORT DATABASE '{root / 'export'}'",
        "SELECT * FROM read_text('/etc/passwd')",
        f"SELECT * FROM read_csv('{root / 'state.sqlite'}')",
        f"SELECT * FROM read_text('{page}')",
        "SELECT * FROM glob('/etc/*')",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"ATTACH '{root / 'state.sqlite'}' AS s (TYPE sqlite)",
        "ATTACH ':memory:' AS m",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET lock_configuration",
        "PRAGMA enable_profiling",
        "CREATE TABLE memory.main.t AS SELECT 1",
        "DELETE FROM articles",
        "INSERT INTO citations SELECT * FROM citations",
        "DROP VIEW live_articles",
        "CALL ducklake_expire_snapshots('repec', older_than => now())",
        "CHECKPOINT",
        "SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'",
    ]


def test_every_escape_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], harvested: DataDir
) -> None:
    before = fingerprint(harvested.root)
    for statement in escapes(harvested):
        code = main(["sql", statement, "--data-dir", str(harvested.root)])
        err = capsys.readouterr().err.strip()
        assert code != 0, statement
        assert len(err.splitlines()) == 1 and err.startswith("Error: "), (statement, err)
        assert "Traceback" not in err and "internal error" not in err, statement
    assert fingerprint(harvested.root) == before
    assert not (harvested.root / "export").exists()


def test_a_write_or_a_setting_is_refused_before_it_runs(
    capsys: pytest.CaptureFixture[str], harvested: DataDir
) -> None:
    code = main(["sql", "COPY articles TO '/tmp/x.csv'", "--data-dir", str(harvested.root)])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "Error: `sql` is read-only: COPY statements are refused; only SELECT runs"
    )


def test_a_file_outside_the_warehouse_is_refused(
    capsys: pytest.CaptureFixture[str], harvested: DataDir
) -> None:
    code = main(["sql", "SELECT * FROM read_text('/etc/passwd')",
                 "--data-dir", str(harvested.root)])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "Error: `sql` reads the warehouse and nothing else: Permission Error"
    )


def test_queries_still_read_tables_views_and_the_warehouse_files(
    capsys: pytest.CaptureFixture[str], harvested: DataDir
) -> None:
    parquet = sorted((harvested.root / "warehouse").rglob("*.parquet"))[0]
    for statement, expected in (
        ("SELECT count(*) AS n FROM articles", f"n\n{SAMPLE_ITEMS}"),
        ("SELECT count(*) AS n FROM live_articles", f"n\n{SAMPLE_ITEMS - 1}"),
        ("SELECT count(*) > 0 AS n FROM article_citation_counts", "n\nTrue"),
        (f"SELECT count(*) > 0 AS n FROM read_parquet('{parquet}')", "n\nTrue"),
        ("DESCRIBE articles", None),
        ("SHOW TABLES", None),
    ):
        code = main(["sql", statement, "--format", "csv", "--data-dir", str(harvested.root)])
        out, err = capsys.readouterr()
        assert code == 0, (statement, err)
        if expected:
            assert out.strip() == expected
