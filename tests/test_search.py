"""Full-text search over the warehouse's live items: ranking, filters, sorting, pages, words in
any script, and an index kept on the warehouse's latest snapshot while searches go on."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from schemas.errors import BadParameter, WarehouseError
from schemas.tables import ARTICLES, AUTHORS, HARVEST_RUNS, QUARANTINE, SERIES, to_table
from warehouse.catalog import Catalog, extension_file
from warehouse.database import Warehouse
from warehouse.search import SearchIndex, SearchQuery, SearchResults

SERIES_A, SERIES_B = "RePEc:tst:aaa", "RePEc:tst:bbb"


@dataclass
class Item:
    handle: str
    title: str
    abstract: str | None = None
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    year: int | None = 2020
    date: str | None = None
    item_type: str = "article"
    series: str = SERIES_A
    jel: tuple[str, ...] = ()
    deleted: bool = False
    datestamp: datetime = field(default_factory=lambda: datetime(2025, 1, 1))


FILLER = " ".join(["a study of prices and quantities in several regional settings"] * 2)
#: Items every test of the shared warehouse knows: the rows the assertions are checked against.
CORPUS = [
    Item("RePEc:tst:aaa:oil-title", "Oil and the Ruble", FILLER, year=2021),
    Item(
        "RePEc:tst:aaa:oil-abstract",
        "Exchange Rates in Transition",
        FILLER + " oil exports fell",
        year=2022,
    ),
    Item(
        "RePEc:tst:aaa:market",
        "The Market for Lemons Revisited",
        FILLER,
        year=2019,
        authors=("Tatiana Belousova", "George Akerlof"),
        keywords=("regime switching", "asymmetric information"),
    ),
    Item("RePEc:tst:aaa:accents", "Économie des marchés financiers", year=2018),
    Item("RePEc:tst:aaa:cyrillic", "Рынки труда в России", year=2017),
    Item("RePEc:tst:aaa:sql", "Why We Drop Table Manners: Docs of Etiquette", year=2016),
    *(
        Item(
            f"RePEc:tst:{'aaa' if n % 2 else 'bbb'}:growth-{n:02d}",
            f"Growth economics note {n:02d}",
            FILLER,
            year=2000 + n % 7,
            date=f"{2000 + n % 7}-{1 + n % 12:02d}" if n % 3 else None,
            item_type="paper" if n % 3 == 0 else "article",
            series=SERIES_A if n % 2 else SERIES_B,
            jel=("F51", "E32") if n % 4 == 0 else ("F14",) if n % 4 == 1 else ("O47",),
        )
        for n in range(23)
    ),
]
GONE = Item("RePEc:tst:aaa:gone", "Zeppelin economics", FILLER, year=2023)


def load(warehouse: Warehouse, folder: Path, items: list[Item]) -> None:
    """Load ``items`` into ``warehouse`` as a harvest's window would (deleted ones as
    tombstones)."""
    articles, authors = [], []
    for item in items:
        record = f"{item.handle}@{item.datestamp.isoformat()}"
        row: dict[str, Any] = {name: None for name in ARTICLES.names}
        row.update(handle=item.handle, handle_key=item.handle.lower(), item_type=item.item_type,
                   title=item.title, abstract=item.abstract, year=item.year, date=item.date,
                   keywords=list(item.keywords), jel_codes=list(item.jel), urls=[],
                   series_handle=item.series, deleted=item.deleted, datestamp=item.datestamp,
                   set_specs=[item.series], oai_identifier=f"oai:{item.handle}",
                   metadata_prefix="oai_dc", endpoint="http://127.0.0.1/oai",
                   harvest_id="test-oai_dc", harvested_at=item.datestamp, record_id=record,
                   files=[], related_handles=[])  # fmt: skip
        articles.append(row)
        for position, name in enumerate(item.authors, start=1):
            author: dict[str, Any] = {name: None for name in AUTHORS.names}
            author.update(handle=item.handle, handle_key=item.handle.lower(), role="author",
                          position=position, name=name, record_id=record, workplaces=[],
                          workplace_handles=[])  # fmt: skip
            authors.append(author)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows, schema in (("articles", articles, ARTICLES), ("authors", authors, AUTHORS),
                               ("quarantine", [], QUARANTINE)):  # fmt: skip
        files[name] = folder / f"{name}-{len(list(folder.iterdir()))}.parquet"
        pq.write_table(to_table(rows, schema), files[name])
    warehouse.load_window(files)


def load_series(warehouse: Warehouse, folder: Path, names: dict[str, str] | None = None) -> None:
    """Load SERIES_A and SERIES_B, named "Series A" and "Series B" unless ``names`` says."""
    rows = []
    for handle, name in ((SERIES_A, "Series A"), (SERIES_B, "Series B")):
        row: dict[str, Any] = {column: None for column in SERIES.names}
        row.update(handle=handle, handle_key=handle.lower(), name=(names or {}).get(handle, name),
                   endpoint="http://127.0.0.1/oai", listed_at=datetime(2025, 1, 1))  # fmt: skip
        rows.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "series.parquet"
    pq.write_table(to_table(rows, SERIES), path)
    warehouse.load_series(path)


def new_warehouse(root: Path) -> Warehouse:
    return Warehouse(Catalog.at(root / "catalog.sqlite", root / "warehouse"), root / "scratch")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchIndex]:
    """The index of a warehouse holding CORPUS, and GONE loaded and then deleted."""
    root = tmp_path_factory.mktemp("corpus")
    warehouse = new_warehouse(root)
    load_series(warehouse, root)
    load(warehouse, root / "staged", [*CORPUS, GONE])
    gone = Item(GONE.handle, GONE.title, deleted=True, datestamp=datetime(2025, 2, 1))
    load(warehouse, root / "staged", [gone])
    index = SearchIndex(warehouse, root / "search")
    yield index
    index.close()
    warehouse.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Warehouse, SearchIndex]]:
    """A warehouse of two items and its index, for tests that change the warehouse."""
    warehouse = new_warehouse(tmp_path)
    load(warehouse, tmp_path / "staged", CORPUS[:2])
    index = SearchIndex(warehouse, tmp_path / "search")
    yield warehouse, index
    index.close()
    warehouse.close()


def handles(results: SearchResults) -> list[str]:
    return [hit.handle for hit in results.hits]


def everything(index: SearchIndex, **query: Any) -> list[str]:
    """Every hit of a query, through all its pages."""
    return handles(index.search(SearchQuery(per_page=100, **query)))


def by_handle(handle: str) -> Item:
    return next(item for item in CORPUS if item.handle == handle)


# -- finding and ranking ----------------------------------------------------------------------


def test_a_title_match_outranks_an_abstract_only_match(index: SearchIndex) -> None:
    results = index.search(SearchQuery("oil"))
    assert handles(results) == ["RePEc:tst:aaa:oil-title", "RePEc:tst:aaa:oil-abstract"]
    scores = [hit.score for hit in results.hits]
    assert scores[0] is not None and scores[1] is not None and scores[0] > scores[1] > 0


def test_a_hit_says_what_a_result_list_shows(index: SearchIndex) -> None:
    [hit] = index.search(SearchQuery("lemons")).hits
    assert (hit.handle, hit.title, hit.year, hit.item_type) == (
        "RePEc:tst:aaa:market",
        "The Market for Lemons Revisited",
        2019,
        "article",
    )
    assert (hit.series_handle, hit.series_name) == (SERIES_A, "Series A")
    assert hit.authors == "Tatiana Belousova; George Akerlof"  # in their order


def test_words_match_their_other_forms_through_their_stems(index: SearchIndex) -> None:
    assert handles(index.search(SearchQuery("markets"))) == ["RePEc:tst:aaa:market"]
    assert handles(index.search(SearchQuery("MARKETING revisit"))) == ["RePEc:tst:aaa:market"]


def test_an_item_must_have_every_word_of_the_query(index: SearchIndex) -> None:
    assert handles(index.search(SearchQuery("oil ruble"))) == ["RePEc:tst:aaa:oil-title"]
    assert index.search(SearchQuery("oil zebra")).total == 0


def test_authors_and_keywords_are_searchable(index: SearchIndex) -> None:
    assert handles(index.search(SearchQuery("belousova"))) == ["RePEc:tst:aaa:market"]
    assert handles(index.search(SearchQuery("Akerlof"))) == ["RePEc:tst:aaa:market"]
    assert handles(index.search(SearchQuery("regime switching"))) == ["RePEc:tst:aaa:market"]


@pytest.mark.parametrize("text", ["économie", "economie", "ÉCONOMIE", "marches", "marchés"])
def test_accented_words_are_found_with_or_without_their_accents(
    index: SearchIndex, text: str
) -> None:
    assert handles(index.search(SearchQuery(text))) == ["RePEc:tst:aaa:accents"]


@pytest.mark.parametrize("text", ["рынки", "РЫНКИ труда", "России"])
def test_cyrillic_words_are_found(index: SearchIndex, text: str) -> None:
    assert handles(index.search(SearchQuery(text))) == ["RePEc:tst:aaa:cyrillic"]


def test_deleted_items_are_never_found(index: SearchIndex) -> None:
    assert index.search(SearchQuery("zeppelin")).total == 0
    assert GONE.handle not in everything(index, text="economics")
    assert index.search(SearchQuery()).total == len(CORPUS)  # browsing: only live items


def test_sql_in_the_words_is_just_words(index: SearchIndex) -> None:
    results = index.search(SearchQuery("'; DROP TABLE docs; --"))
    assert handles(results) == ["RePEc:tst:aaa:sql"]  # "drop", "table" and "docs", as words
    assert index.search(SearchQuery("oil")).total == 2  # nothing was dropped
    assert index.search(SearchQuery("x' OR '1'='1")).total == 0


@pytest.mark.parametrize("text", ["the of and", "  ", "!!! ... ---", "'", "— « » ·"])
def test_a_query_of_stopwords_or_punctuation_finds_nothing(index: SearchIndex, text: str) -> None:
    results = index.search(SearchQuery(text))
    expected = len(CORPUS) if not text.strip() else 0  # blank words: a browse
    assert (results.total, len(results.hits) > 0) == (expected, expected > 0)


def test_a_query_of_stopwords_with_a_filter_browses_by_the_filter(index: SearchIndex) -> None:
    results = everything(index, text="the of", year_from=2021, year_to=2022)
    assert sorted(results) == sorted(i.handle for i in CORPUS if 2021 <= i.year <= 2022)


def test_results_name_the_snapshot_the_index_was_built_from(index: SearchIndex) -> None:
    results = index.search(SearchQuery("oil"))
    with index.warehouse.connect(read_only=True) as con:
        row = con.execute("SELECT max(snapshot_id) FROM repec.snapshots()").fetchone()
    assert row is not None and results.snapshot == row[0]
    assert results.built_at.tzinfo is not None
    assert abs(datetime.now(results.built_at.tzinfo) - results.built_at) < timedelta(hours=1)


# -- filters, sorting, pages -----------------------------------------------------------------

GROWTH = [item for item in CORPUS if "growth" in item.handle]


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ({"year_from": 2003}, lambda i: i.year >= 2003),
        ({"year_to": 2002}, lambda i: i.year <= 2002),
        ({"year_from": 2002, "year_to": 2004}, lambda i: 2002 <= i.year <= 2004),
        ({"series": SERIES_B.upper()}, lambda i: i.series == SERIES_B),
        ({"item_type": "paper"}, lambda i: i.item_type == "paper"),
        ({"jel": "F"}, lambda i: any(c.startswith("F") for c in i.jel)),
        ({"jel": "F5"}, lambda i: "F51" in i.jel),
        ({"jel": "f14"}, lambda i: "F14" in i.jel),
        ({"jel": "E", "item_type": "paper", "year_to": 2003},
         lambda i: "E32" in i.jel and i.item_type == "paper" and i.year <= 2003),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else "",
)  # fmt: skip
def test_each_filter_keeps_exactly_the_items_it_names(
    index: SearchIndex, query: dict[str, Any], wanted: Any
) -> None:
    expected = sorted(i.handle for i in GROWTH if wanted(i))
    assert expected, "the corpus has items of each filter"
    assert sorted(everything(index, text="economics", **query)) == expected
    browsed = index.search(SearchQuery(per_page=100, **query))  # no words: the filters alone
    assert sorted(handles(browsed)) == sorted(i.handle for i in CORPUS if wanted(i))
    assert browsed.total == len(browsed.hits)


def test_date_sort_puts_the_newest_first_then_orders_by_handle(index: SearchIndex) -> None:
    hits = everything(index, text="economics", sort="date")
    newest_first = sorted(GROWTH, key=lambda i: i.handle)
    newest_first.sort(key=lambda i: i.date or "", reverse=True)  # no date: after those with one
    newest_first.sort(key=lambda i: i.year, reverse=True)
    assert hits == [i.handle for i in newest_first]
    browsed = handles(index.search(SearchQuery(sort="date", per_page=3)))
    assert browsed == [i.handle for i in sorted(CORPUS, key=lambda i: -i.year)[:3]]


def test_equal_scores_are_ordered_by_handle(index: SearchIndex) -> None:
    hits = index.search(SearchQuery("economics note", per_page=100)).hits
    assert len({hit.score for hit in hits}) < len(hits), "the notes' titles score alike"
    for a, b in itertools.pairwise(hits):
        assert (a.score or 0) > (b.score or 0) or a.handle < b.handle


@pytest.mark.parametrize("sort", ["relevance", "date"])
def test_pages_are_disjoint_and_together_hold_every_hit_once(index: SearchIndex, sort: str) -> None:
    whole = everything(index, text="economics", sort=sort)
    pages = []
    for page in range(1, 6):
        results = index.search(SearchQuery("economics", sort=sort, page=page, per_page=5))
        assert results.total == len(whole)
        pages.append(handles(results))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [h for p in pages for h in p] == whole
    assert index.search(SearchQuery("economics", page=9, per_page=5)).hits == []


@pytest.mark.parametrize(
    "query",
    [{"sort": "newest"}, {"page": 0}, {"per_page": 0}, {"per_page": 101}],
    ids=str,
)
def test_a_query_out_of_bounds_is_a_bad_parameter(query: dict[str, Any]) -> None:
    with pytest.raises(BadParameter):
        SearchQuery("oil", **query)


# -- keeping the index on the warehouse's latest snapshot ------------------------------------


def test_the_first_search_builds_the_index(fresh: tuple[Warehouse, SearchIndex]) -> None:
    _, index = fresh
    assert not list(index.folder.glob("search-*.duckdb"))
    assert index.search(SearchQuery("oil")).total == 2
    assert len(list(index.folder.glob("search-*.duckdb"))) == 1


def test_a_refresh_after_a_load_finds_the_new_item(
    fresh: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = fresh
    before = index.search(SearchQuery("zebra"))
    assert before.total == 0
    load(warehouse, tmp_path / "staged", [Item("RePEc:tst:aaa:zebra", "Zebra Crossings")])
    assert index.search(SearchQuery("zebra")).total == 0  # the index in use is the old one
    assert index.refresh() is True
    after = index.search(SearchQuery("zebra"))
    assert handles(after) == ["RePEc:tst:aaa:zebra"] and after.snapshot > before.snapshot


def test_a_refresh_without_a_change_rebuilds_nothing(fresh: tuple[Warehouse, SearchIndex]) -> None:
    _, index = fresh
    assert index.refresh() is True  # the first index
    built = index.search(SearchQuery("oil")).built_at
    assert index.refresh() is False
    assert index.search(SearchQuery("oil")).built_at == built


def test_a_commit_of_the_harvest_log_only_rebuilds_nothing(
    fresh: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = fresh
    assert index.refresh() is True
    built = index.search(SearchQuery("oil")).built_at
    warehouse.replace_harvest_log({"harvest_runs": HARVEST_RUNS.empty_table()})
    assert index.refresh() is False  # a new snapshot, but none of the index's tables moved
    assert index.search(SearchQuery("oil")).built_at == built
    load(warehouse, tmp_path / "staged", [Item("RePEc:tst:aaa:more-oil", "More oil")])
    assert index.refresh() is True
    assert index.search(SearchQuery("oil")).total == 3


def test_searches_during_refreshes_never_fail(
    fresh: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = fresh
    index.refresh()
    errors: list[BaseException] = []
    totals: list[int] = []
    done = threading.Event()

    def searching() -> None:
        while not done.is_set():
            try:
                totals.append(index.search(SearchQuery("oil")).total)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=searching) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(3):
            load(warehouse, tmp_path / "staged", [Item(f"RePEc:tst:aaa:oil-{n}", f"Oil well {n}")])
            assert index.refresh() is True
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(totals) > 3 and set(totals) <= {2, 3, 4, 5}
    assert index.search(SearchQuery("oil")).total == 5
    assert len(list(index.folder.glob("search-*.duckdb"))) == 1, "old files are gone"


def test_an_old_index_file_is_deleted_once_unused(
    fresh: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = fresh
    index.refresh()
    [old] = index.folder.glob("search-*.duckdb")
    load(warehouse, tmp_path / "staged", [Item("RePEc:tst:aaa:new", "New")])
    index.refresh()
    [new] = index.folder.glob("search-*.duckdb")
    assert new != old and not old.exists()
    assert sorted(p.name for p in index.folder.iterdir()) == [".search.lock", new.name]


def test_the_leftovers_of_a_killed_build_are_cleaned_at_start(
    fresh: tuple[Warehouse, SearchIndex],
) -> None:
    warehouse, index = fresh
    index.close()
    killed = index.folder / ".build-0123abcd"
    killed.with_name(killed.name + ".duckdb").write_bytes(b"half a database")
    killed.with_name(killed.name + ".duckdb.wal").write_bytes(b"")
    spill = killed.with_name(killed.name + ".spill")
    spill.mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"")
    SearchIndex(warehouse, index.folder).close()
    assert not list(index.folder.glob(".build-*"))


def test_indexes_sharing_a_folder_build_each_snapshot_once(
    fresh: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, first = fresh
    second = SearchIndex(new_warehouse(tmp_path), first.folder)  # another process would
    try:
        built = first.search(SearchQuery("oil")).built_at
        assert second.search(SearchQuery("oil")).built_at == built  # the same file
        load(warehouse, tmp_path / "staged", [Item("RePEc:tst:aaa:oil-new", "Oil again")])
        assert first.refresh() is True
        # the second one's file is deleted by the first, and it still searches it
        assert second.search(SearchQuery("oil")).total == 2
        assert second.refresh() is True
        after = second.search(SearchQuery("oil"))
        assert after.total == 3 and after.built_at == first.search(SearchQuery("oil")).built_at
    finally:
        second.close()
        second.warehouse.close()


def test_a_damaged_index_file_is_built_again(fresh: tuple[Warehouse, SearchIndex]) -> None:
    warehouse, index = fresh
    index.refresh()
    index.close()
    [path] = index.folder.glob("search-*.duckdb")
    path.write_bytes(b"not a database at all")
    again = SearchIndex(warehouse, index.folder)
    try:
        assert again.search(SearchQuery("oil")).total == 2
    finally:
        again.close()


def test_the_stemmer_comes_from_the_signed_fts_wheel() -> None:
    assert extension_file("fts") is not None, "pyproject.toml pins duckdb-ext-fts"


def test_searching_without_a_warehouse_says_so(tmp_path: Path) -> None:
    warehouse = new_warehouse(tmp_path / "none")
    index = SearchIndex(warehouse, tmp_path / "search")
    with pytest.raises(WarehouseError, match="no warehouse at"):
        index.search(SearchQuery("oil"))
    with pytest.raises(WarehouseError, match="no warehouse at"):
        index.refresh()
