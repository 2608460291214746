"""ReDIF files into the warehouse: a mirror tree or a folder, incrementally, merged with the
OAI harvest (ReDIF wins for structured fields), bad templates quarantined with file and line."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, TALIBAN, harvest, query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flows.redif
from flows.cli import main
from flows.datadir import DataDir
from flows.redif import load_redif, redif_harvest_id
from harvesting.redif_files import RedifFileState
from schemas import tables
from schemas.dates import utc_now
from schemas.errors import ConfigError
from schemas.redif_rows import MAPPING_VERSION
from schemas.redif_templates import MAX_TEMPLATE
from schemas.redif_text import MAX_LINE
from warehouse.database import Warehouse
from warehouse.staging import write_parquet

SERIES = """Template-Type: ReDIF-Series 1.0
Name: Journal of Testing Economics
Provider-Name: Test Press
Handle: RePEc:tst:jotest

Template-Type: ReDIF-Archive 1.0
Handle: RePEc:tst
Name: Test Archive
URL: https://example.org/RePEc/tst/
Maintainer-Email: repec@example.org
"""

ARTICLES = """Template-Type: ReDIF-Article 1.0
Author-Name: Doe, Jane
Author-Name-First: Jane
Author-Name-Last: Doe
Author-Person: pdo12
Author-Workplace-Name: University of Examples
Author-Name: Roe, Richard
Title: Prices and <i>Wages</i> &amp; Everything
Abstract: A first line
  continued here.
Classification-JEL: E31; J31, C22
Keywords: prices; wages
Volume: 7
Issue: 2
Pages: 101-120
Year: 2024
File-URL: https://doi.org/10.1234/jote.2024.7.2.101
File-Format: text/html
Handle: RePEc:tst:jotest:v:7:y:2024:i:2:p:101-120

Template-Type: ReDIF-Article 1.0
Title: Second
Author-Name: Solo Author
Creation-Date: 202312
Handle: RePEc:tst:jotest:v:7:y:2024:i:1:p:1-20
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "RePEc"
    (root / "tst" / "jotest").mkdir(parents=True)
    (root / "tst" / "tstseri.rdf").write_text(SERIES)
    (root / "tst" / "jotest" / "2024.rdf").write_text(ARTICLES, encoding="cp1252")
    return root


def test_a_tree_loads_items_series_and_archives(data: DataDir, tree: Path) -> None:
    report = load_redif(data, tree)

    assert (report.files, report.read, report.items, report.series, report.archives) == (
        2, 2, 2, 1, 1)  # fmt: skip
    [row] = query(
        data,
        "SELECT item_type, title, abstract, journal, volume, issue, pages, year, jel_codes, "
        "keywords, doi, urls, sources FROM articles "
        "WHERE handle = 'RePEc:tst:jotest:v:7:y:2024:i:2:p:101-120'",
    )
    assert row == (
        "article", "Prices and Wages & Everything", "A first line continued here.",
        "Journal of Testing Economics",  # no Journal field: the series' name
        "7", "2", "101-120", 2024, ["E31", "J31", "C22"], ["prices", "wages"],
        "10.1234/jote.2024.7.2.101", ["https://doi.org/10.1234/jote.2024.7.2.101"], ["redif"],
    )  # fmt: skip
    assert query(
        data,
        "SELECT position, name, given_name, family_name, short_id, workplace FROM authors "
        "WHERE handle = 'RePEc:tst:jotest:v:7:y:2024:i:2:p:101-120' ORDER BY position",
    ) == [
        (1, "Doe, Jane", "Jane", "Doe", "pdo12", "University of Examples"),
        (2, "Roe, Richard", "Richard", "Roe", None, None),
    ]  # fmt: skip
    assert query(data, "SELECT year FROM articles WHERE title = 'Second'") == [(2023,)]
    assert query(data, "SELECT name FROM series") == [("Journal of Testing Economics",)]
    assert query(data, "SELECT archive_code, name, maintainer_email FROM archives") == [
        ("tst", "Test Archive", "repec@example.org")
    ]


def test_a_rerun_reads_only_what_changed_and_tombstones_what_went(
    data: DataDir, tree: Path
) -> None:
    load_redif(data, tree)
    again = load_redif(data, tree)
    assert (again.read, again.unchanged) == (0, 2)

    items = tree / "tst" / "jotest" / "2024.rdf"
    stat = items.stat()
    os.utime(items, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes
    assert load_redif(data, tree).read == 0

    first, second = ARTICLES.split("\nTemplate-Type:")
    items.write_text(first, encoding="cp1252")  # the second article is gone from the file
    report = load_redif(data, tree)
    assert (report.read, report.tombstones) == (1, 1)
    assert query(data, "SELECT title, deleted FROM articles ORDER BY title") == [
        ("Prices and Wages & Everything", False), ("Second", True),
    ]  # fmt: skip

    (tree / "tst" / "jotest" / "more.rdf").write_text("Template-Type:" + second)
    assert load_redif(data, tree).tombstones == 0
    assert query(data, "SELECT deleted FROM articles WHERE title = 'Second'") == [(False,)]

    (tree / "tst" / "jotest" / "more.rdf").unlink()
    report = load_redif(data, tree)
    assert (report.removed, report.tombstones) == (1, 1)
    assert query(data, "SELECT deleted FROM articles WHERE title = 'Second'") == [(True,)]


def test_an_item_moving_between_files_is_not_deleted(data: DataDir, tree: Path) -> None:
    load_redif(data, tree)
    items = tree / "tst" / "jotest" / "2024.rdf"
    first, second = ARTICLES.split("\nTemplate-Type:")
    items.write_text(first, encoding="cp1252")
    (tree / "tst" / "jotest" / "2025.rdf").write_text("Template-Type:" + second)

    assert load_redif(data, tree).tombstones == 0
    assert query(data, "SELECT count(*) FROM articles WHERE deleted") == [(0,)]


def test_redif_wins_over_amf_field_by_field(data: DataDir, endpoint: str, tmp_path: Path) -> None:
    harvest(data, endpoint)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "asseca.redif").write_text(
        "Template-Type: ReDIF-Article 1.0\n"
        "Title: Embracing the Taliban: Deciphering Russia’s Afghan Policy\n"
        "Author-Name: Belousova, Tatiana\nAuthor-Name: Sharma, Raghav\n"
        "Journal: J. Asian Security & Int. Aff.\nVolume: 12\nIssue: 4\nPages: 515-537\n"
        "Year: 2025\nClassification-JEL: F51\n"
        f"Handle: {TALIBAN}\n",
        encoding="utf-8",
    )
    load_redif(data, folder)

    [row] = query(
        data,
        "SELECT journal, jel_codes, abstract IS NOT NULL, sources, field_sources.journal, "
        f"field_sources.abstract, field_sources.authors FROM articles WHERE handle = '{TALIBAN}'",
    )
    assert row == (
        "J. Asian Security & Int. Aff.", ["F51"], True, ["redif", "amf"], "redif", "amf", "redif",
    )  # fmt: skip
    # the ReDIF template has no File-URL: links and their formats come from amf alike
    [(urls, files)] = query(data, f"SELECT urls, files FROM articles WHERE handle = '{TALIBAN}'")
    assert urls and [f["url"] for f in files] == urls
    assert query(data, "SELECT count(*) FROM articles WHERE handle_key = lower(?)".replace(
        "?", f"'{TALIBAN}'")) == [(1,)]  # fmt: skip


def test_bad_templates_are_quarantined_with_file_and_line(data: DataDir, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.rdf").write_text(
        "Title: before any template\n\n"
        "Template-Type: ReDIF-Paper 1.0\nTitle: fine\nHandle: RePEc:tst:wpaper:1\n\n"
        "Template-Type: ReDIF-Paper 1.0\nTitle: no handle\n\n"
        "Template-Type: ReDIF-Eries 1.0\nName: typo\nHandle: RePEc:tst:wpaper\n\n"
        "Template-Type: ReDIF-Paper 1.0\nFile-Format: application/pdf\n"
        "Handle: RePEc:tst:wpaper:2\n"
    )
    report = load_redif(data, folder)
    assert (report.items, report.quarantined) == (1, 4)
    reasons = [r[0] for r in query(data, "SELECT reason FROM quarantine ORDER BY record_id")]
    # the line of the offending field where there is one, else of the template
    assert [r.split(": ", 1)[0] for r in reasons] == ["x.rdf:1", "x.rdf:7", "x.rdf:10", "x.rdf:15"]
    assert query(data, "SELECT count(*) FROM quarantine WHERE raw_xml <> ''") == [(4,)]


def test_the_redif_command(capsys: pytest.CaptureFixture[str], data: DataDir, tree: Path) -> None:
    assert main(["redif", str(tree), "--data-dir", str(data.root)]) == 0
    assert capsys.readouterr().out.startswith(
        "ReDIF: 2 files (2 read, 0 unchanged, 0 removed): 2 items, 1 series, 1 archives"
    )
    assert main(["redif", str(tree / "nothing"), "--data-dir", str(data.root)]) == 2
    empty = tree.parent / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no \.rdf or \.redif files under"):
        load_redif(data, empty)


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is not available")
    return SAMPLES / "redif"


def test_the_real_samples_load_with_every_skip_accounted_for(
    data: DataDir, samples: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "samples"
    shutil.copytree(samples, copy)
    report = load_redif(data, copy)

    # 1,834 item templates, 1,810 distinct handles: the first template of each handle loads,
    # every later one is quarantined (24 item, 10 series and 3 person templates; ReDIF-perl's
    # test files repeat each other, and two real archives repeat a handle)
    assert (report.items, report.series, report.persons) == (1810, 254, 2)
    assert query(data, "SELECT count(*) FROM articles") == [(1810,)]
    assert query(data, "SELECT count(*) FROM series") == [(254,)]
    assert query(data, "SELECT count(*) FROM archives") == [(5,)]
    assert query(data, "SELECT count(*) FROM persons") == [(2,)]
    assert query(data, "SELECT count(*) FROM institutions") == [(3,)]
    reasons = sorted(r[0] for r in query(data, "SELECT reason FROM quarantine"))
    assert [r for r in reasons if "duplicate handle" not in r] == [
        "bulletinofpe/prova.rdf:2870: several Handle fields (two templates merged?)",
        "redif-perl-2.69_t/bad_template.rdf:1: unknown Template-Type 'ReDIF-eries 1.0'",
    ]
    assert report.duplicates == len(reasons) - 2 == 37
    assert report.quarantined == len(reasons)
    assert ("bulletinofpe/prova.rdf:3051: duplicate handle RePEc:awu:journl:v:2:y:2008:i:2:"
            "p:165-174: the template at bulletinofpe/prova.rdf:3032 holds it already (the "
            "first template keeps a handle)") in reasons  # fmt: skip
    [row] = query(
        data,
        "SELECT title, journal, volume, issue, pages, year, jel_codes FROM articles "
        "WHERE handle = 'RePEc:lrk:eeaart:22_3_1'",
    )
    assert row[:2] == ("Econometría espacial: más luces que sombras",
                       "Estudios de Economía Aplicada")  # fmt: skip
    assert row[6] == ["C21", "C50", "R15"]
    assert query(
        data, "SELECT name FROM authors WHERE handle = 'RePEc:lrk:eeaart:22_3_1' ORDER BY position"
    ) == [("PAELINCK, J.",), ("MUR, J.",), ("TRÍVEZ, J.",)]
    assert load_redif(data, copy).read == 0


def test_rebuild_keeps_what_redif_loaded(data: DataDir, endpoint: str, tree: Path) -> None:
    from conftest import snapshot

    from flows.rebuild import rebuild

    harvest(data, endpoint)
    load_redif(data, tree)
    before = snapshot(data)
    archives = query(data, "SELECT * FROM archives")

    report = rebuild(data)

    assert (
        report.redif_items
        == query(data, "SELECT count(*) FROM article_versions WHERE metadata_prefix = 'redif'")[0][
            0
        ]
        > 0
    )
    assert snapshot(data) == before
    assert query(data, "SELECT * FROM archives") == archives


LINES = st.sampled_from([
    "Template-Type: ReDIF-Article 1.0", "Template-Type: ReDIF-Paper 1.0",
    "Template-Type: ReDIF-Series 1.0", "Template-Type: ReDIF-Bogus 1.0", "Template-Type: ReDIF-",
    "Handle: RePEc:tst:jotest:v:1:y:2020:i:1:p:1-2", "Handle: RePEc:tst:wpaper:9",
    "Title: A <b>title</b> &amp; more", "Author-Name: Doe, Jane", "Author-Email: x@y.z",
    "File-Format: application/pdf", "File-URL: https://doi.org/10.1/x", "Year: 99999999",
    "Pages: 1-", "Classification-JEL: ZZZ; E1", "continued text", "", "# comment", "\x1a",
    "Creation-Date: 0000", "Volume: " + "9" * 40,
])  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(LINES, max_size=40), st.sampled_from(["\n", "\r\n", "\r"]))
def test_any_file_loads_without_a_crash_and_every_template_is_accounted_for(
    tmp_path: Path, lines: list[str], newline: str
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "x.rdf").write_bytes(newline.join(lines).encode("cp1252"))
    data = DataDir(folder / "data")
    report = load_redif(data, folder / "x.rdf")
    templates = sum(1 for line in lines if line.startswith("Template-Type:"))
    first = next((i for i, line in enumerate(lines) if line.startswith("Template-Type:")),
                 len(lines))  # fmt: skip
    orphan = any(line.strip() not in ("", "\x1a") and not line.startswith("#")
                 for line in lines[:first])  # fmt: skip
    # every template loaded (one item or series each) or quarantined, never dropped
    assert report.items + report.series + report.quarantined == templates + orphan
    assert query(data, "SELECT count(*) FROM quarantine") == [(report.quarantined,)]


def test_what_the_record_page_shows_comes_from_the_warehouse(
    data: DataDir, endpoint: str, tmp_path: Path
) -> None:
    """The EconPapers record page (../shared/seed/) shows the download's format and who
    maintains the series: both come from the ReDIF templates, and a later ListSets listing
    (names only) does not erase them."""
    folder = tmp_path / "sae"
    folder.mkdir()
    (folder / "saeseri.rdf").write_text(
        "Template-Type: ReDIF-Series 1.0\n"
        "Name: Journal of Asian Security and International Affairs\n"
        "Provider-Name: SAGE Publications\nProvider-Institution: RePEc:edi:sagepus\n"
        "Maintainer-Name: SAGE Publications\nMaintainer-Email: repec@example.org\n"
        "ISSN: 2347-7970\nType: ReDIF-Article\nDescription: Security studies\n"
        "Handle: RePEc:sae:asseca\n"
    )
    (folder / "asseca.rdf").write_text(
        "Template-Type: ReDIF-Article 1.0\nTitle: Embracing the Taliban\n"
        "Author-Name: Tatiana Belousova\nAuthor-Name: Raghav Sharma\n"
        "File-URL: https://journals.sagepub.com/doi/10.1177/23477970251383994\n"
        "File-Format: text/html\nFile-Function: Full text\n"
        f"Handle: {TALIBAN}\n"
    )
    load_redif(data, folder)
    harvest(data, endpoint)
    # a ListSets listing newer than the template names the series again, and no more
    listing = tmp_path / "listing.parquet"
    write_parquet(listing, tables.to_table([{
        **dict.fromkeys(tables.SERIES.names), "handle": "RePEc:sae:asseca",
        "handle_key": "repec:sae:asseca", "name": "J. Asian Security", "endpoint": endpoint,
        "listed_at": utc_now()}], tables.SERIES))  # fmt: skip
    with data.warehouse() as warehouse:
        warehouse.load_series(listing)

    assert query(data, f"SELECT files FROM articles WHERE handle = '{TALIBAN}'") == [(
        [{"url": "https://journals.sagepub.com/doi/10.1177/23477970251383994",
          "format": "text/html", "function": "Full text"}],
    )]  # fmt: skip
    assert query(data, "SELECT name, description, series_type, issn, provider_name, "
                 "provider_handle, maintainer_name, maintainer_email, endpoint LIKE 'http%' "
                 "FROM series WHERE handle = 'RePEc:sae:asseca'") == [(
        "J. Asian Security", "Security studies", "article", "2347-7970",
        "SAGE Publications", "RePEc:edi:sagepus", "SAGE Publications", "repec@example.org",
        True,
    )]  # fmt: skip

    # a template read again replaces the row: what it no longer says is gone
    (folder / "saeseri.rdf").write_text(
        "Template-Type: ReDIF-Series 1.0\nName: JASIA\nMaintainer-Email: new@example.org\n"
        "Handle: RePEc:sae:asseca\n"
    )
    load_redif(data, folder)
    assert query(data, "SELECT name, issn, maintainer_name, maintainer_email FROM series "
                 "WHERE handle = 'RePEc:sae:asseca'") == [
        ("JASIA", None, None, "new@example.org")]  # fmt: skip


PAPER = "Template-Type: ReDIF-Paper 1.0\nTitle: {}\nAuthor-Name: A B\nHandle: RePEc:tst:wpaper:1\n"


def test_duplicate_handles_across_files_keep_the_first_and_are_counted(
    data: DataDir, tmp_path: Path
) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    paper = (
        "Template-Type: ReDIF-Paper 1.0\nTitle: {}\nAuthor-Name: A B\nHandle: RePEc:tst:wpaper:1\n"
    )
    (folder / "a.rdf").write_text(paper.format("First"))
    load_redif(data, folder)
    (folder / "b.rdf").write_text(PAPER.format("Another paper"))
    report = load_redif(data, folder)  # a.rdf is unchanged: it still holds the handle
    assert (report.read, report.items, report.duplicates, report.quarantined) == (1, 0, 1, 1)
    assert query(data, "SELECT title FROM articles") == [("First",)]
    assert query(data, "SELECT reason FROM quarantine") == [(
        "b.rdf:1: duplicate handle RePEc:tst:wpaper:1: the template at a.rdf holds it already "
        "(the first template keeps a handle)",
    )]  # fmt: skip


def test_files_read_by_an_older_mapping_are_read_again(data: DataDir, tree: Path) -> None:
    load_redif(data, tree)
    state = RedifFileState(data.state_location)
    root = tree.resolve().as_uri()
    records = state.files(root)
    assert {r.mapping for r in records.values()} == {MAPPING_VERSION}
    older = [replace(r, mapping="1") for r in records.values()][:1]  # an older version read it
    state.save(root, older, [], "2025-01-01T00:00:00")
    state.close()

    report = load_redif(data, tree)
    assert (report.reread, report.read, report.unchanged, report.tombstones) == (1, 1, 1, 0)
    again = load_redif(data, tree)
    assert (again.reread, again.read, again.unchanged) == (0, 0, 2)


def test_a_quarantined_copy_takes_over_when_the_keeper_goes(data: DataDir, tmp_path: Path) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "a.rdf").write_text(PAPER.format("First"))
    (folder / "z.rdf").write_text(PAPER.format("Copy"))
    assert load_redif(data, folder).duplicates == 1
    (folder / "a.rdf").write_text("Template-Type: ReDIF-Paper 1.0\nTitle: Other\n"
                                  "Handle: RePEc:tst:wpaper:2\n")  # fmt: skip
    report = load_redif(data, folder)  # z.rdf is unchanged, yet read again
    assert (report.read, report.tombstones, report.duplicates) == (2, 0, 0)
    assert query(data, "SELECT title, deleted FROM articles ORDER BY title") == [
        ("Copy", False), ("Other", False)]  # fmt: skip


def test_a_touched_keeper_still_keeps_its_handle(data: DataDir, tmp_path: Path) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "z.rdf").write_text(PAPER.format("First"))
    load_redif(data, folder)
    (folder / "a.rdf").write_text(PAPER.format("Newcomer"))
    stat = (folder / "z.rdf").stat()
    os.utime(folder / "z.rdf", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes
    report = load_redif(data, folder)
    assert (report.read, report.unchanged, report.duplicates) == (1, 1, 1)
    assert query(data, "SELECT title FROM articles") == [("First",)]


def _papers(count: int, start: int = 0) -> str:
    return "".join(
        f"Template-Type: ReDIF-Paper 1.0\nTitle: Paper {n}\nAuthor-Name: Doe, Jane\n"
        f"Handle: RePEc:tst:wpaper:{n}\n\n"
        for n in range(start, start + count)
    )


def test_a_big_file_loads_in_batches_and_counts_as_read_only_with_its_last(
    data: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows go into the warehouse inside a file (each paper is two rows: four batches of
    ten); a load that fails after some of them leaves the file unread, and the next load
    reads it again: every item once, one version each."""
    monkeypatch.setattr(flows.redif, "BATCH_ROWS", 10)
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "w.rdf").write_text(_papers(20))
    real, commits = Warehouse.load_windows, []

    def failing_third(self: Warehouse, *args: Any, **kwargs: Any) -> None:
        commits.append(1)
        if len(commits) == 3:
            raise OSError(28, "No space left on device")
        real(self, *args, **kwargs)

    monkeypatch.setattr(Warehouse, "load_windows", failing_third)
    with pytest.raises(OSError):
        load_redif(data, folder)
    assert query(data, "SELECT count(*) FROM articles") == [(10,)]  # two batches of ten rows
    state = RedifFileState(data.state_location)
    assert state.files((folder.resolve()).as_uri()) == {}
    state.close()

    monkeypatch.setattr(Warehouse, "load_windows", real)
    report = load_redif(data, folder)
    assert (report.read, report.items) == (1, 20)
    assert query(data, "SELECT count(*), count(DISTINCT handle_key) FROM articles") == [(20, 20)]
    assert query(data, "SELECT count(*), count(DISTINCT handle_key) FROM article_versions") == [
        (20, 20)
    ]
    assert load_redif(data, folder).unchanged == 1


def test_an_over_long_line_or_template_quarantines_one_template(
    data: DataDir, tmp_path: Path
) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    (folder / "w.rdf").write_text(
        _papers(2) + "Template-Type: ReDIF-Paper 1.0\nAbstract: " + "x" * (MAX_LINE + 1)
        + "\nHandle: RePEc:tst:wpaper:long\n\n" + _papers(2, start=2)
        + "Template-Type: ReDIF-Paper 1.0\nTitle: T\n" + "Note: n\n" * (MAX_TEMPLATE // 8)
        + "Handle: RePEc:tst:wpaper:endless\n\n" + _papers(1, start=4)
    )  # fmt: skip
    report = load_redif(data, folder)
    assert (report.items, report.quarantined) == (5, 2)
    assert query(data, "SELECT reason FROM quarantine ORDER BY record_id") == [
        ("w.rdf:12: line 12 has 1,048,587 characters, more than the 1,048,576 a line may hold",),
        ("w.rdf:25: template longer than 4,194,304 characters (not read past that)",),
    ]


def test_a_load_leaves_no_ledger_behind_even_after_a_killed_one(data: DataDir, tree: Path) -> None:
    """What a load knows of every handle is kept in a scratch file while it runs (a mirror's
    millions of handles never all in memory); the next load of the root replaces one that a
    killed load left."""
    root = tree.resolve().as_uri()
    left = data.scratch / f"{redif_harvest_id(root)}-ledger.sqlite"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"what a killed load left")
    assert load_redif(data, tree).items == 2
    assert list(data.scratch.glob("*ledger*")) == []
