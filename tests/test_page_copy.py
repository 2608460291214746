"""Item pages from the copy beside the search index: the same page the warehouse gives, for
every item the copy's snapshot still holds as it is; an item changed since (or its series) is
read from the warehouse, and so is every item when the changes are too many or the copy is
not of this warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from flows.datadir import DataDir
from tests.test_search import CORPUS, SERIES_A, Item, load, load_series, new_warehouse
from warehouse.database import Warehouse
from warehouse.items import ITEM_PAGE_TABLES, item_page
from warehouse.page_copy import ITEM_TABLES, SERIES_TABLES, ItemPages
from warehouse.search import SearchIndex
from warehouse.search_index import SOURCE_TABLES

LATER = datetime(2025, 3, 1)


@pytest.fixture
def copied(tmp_path: Path) -> Iterator[tuple[Warehouse, SearchIndex]]:
    """A warehouse of a few items in two series, and its index and page copy."""
    warehouse = new_warehouse(tmp_path)
    load_series(warehouse, tmp_path)
    load(warehouse, tmp_path / "staged", CORPUS[:8])
    index = SearchIndex(warehouse, tmp_path / "search")
    index.refresh()
    yield warehouse, index
    index.close()
    warehouse.close()


def title_shown(pages: ItemPages, handle: str) -> str:
    page = pages.page(handle)
    assert page is not None
    return str(page.item["title"])


def served_from(pages: ItemPages, handle: str) -> str:
    before = dict(pages.served)
    pages.page(handle)
    [source] = [k for k, n in pages.served.items() if n != before[k]]
    return source


def test_every_page_of_the_sample_from_the_copy_is_the_warehouse_page(
    web_sample: DataDir, tmp_path: Path
) -> None:
    warehouse = web_sample.warehouse()
    index = SearchIndex(warehouse, tmp_path / "search")
    try:
        index.refresh()
        pages = ItemPages(warehouse, index)
        with warehouse.reading() as con:
            handles = [r[0] for r in con.execute("SELECT handle FROM articles").fetchall()]
        assert len(handles) > 20
        with_citations = 0
        for handle in [*handles, "RePEc:xyz:nothing:1"]:
            page = pages.page(handle)
            assert page == item_page(warehouse, handle), handle
            with_citations += bool(page and (page.citing or page.references))
        assert with_citations  # the sample's citations and references are compared too
        assert pages.served == {"copy": len(handles) + 1, "warehouse": 0}
    finally:
        index.close()
        warehouse.close()


def test_an_item_changed_after_the_copy_is_read_from_the_warehouse(
    copied: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = copied
    pages = ItemPages(warehouse, index)
    changed, unchanged = CORPUS[0], CORPUS[1]
    load(warehouse, tmp_path / "staged", [Item(changed.handle, "A new title", datestamp=LATER)])
    assert title_shown(pages, changed.handle) == "A new title"
    assert served_from(pages, changed.handle) == "warehouse"
    assert served_from(pages, unchanged.handle) == "copy"


def test_an_item_new_or_deleted_after_the_copy_is_read_from_the_warehouse(
    copied: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = copied
    pages = ItemPages(warehouse, index)
    new = Item("RePEc:tst:aaa:brand-new", "Arrived after the copy", datestamp=LATER)
    gone = Item(CORPUS[2].handle, CORPUS[2].title, deleted=True, datestamp=LATER)
    assert pages.page(new.handle) is None  # unknown at the copy and since: no warehouse read
    load(warehouse, tmp_path / "staged", [new, gone])
    found, deleted = pages.page(new.handle), pages.page(gone.handle)
    assert found is not None and found.item["title"] == "Arrived after the copy"
    assert deleted is not None and deleted.deleted
    assert pages.served == {"copy": 1, "warehouse": 2}


def test_a_series_changed_after_the_copy_sends_its_items_to_the_warehouse(
    copied: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = copied
    pages = ItemPages(warehouse, index)
    in_a = next(i for i in CORPUS[:8] if i.series == SERIES_A)
    assert served_from(pages, in_a.handle) == "copy"
    load_series(warehouse, tmp_path / "again", names={SERIES_A: "Series A, renamed"})
    page = pages.page(in_a.handle)
    assert page is not None and page.series is not None
    assert page.series["name"] == "Series A, renamed"
    assert served_from(pages, in_a.handle) == "warehouse"


def test_too_many_changes_send_every_page_to_the_warehouse_until_the_next_copy(
    copied: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = copied
    pages = ItemPages(warehouse, index, max_changed=1)
    renamed = [Item(i.handle, f"{i.title}, again", datestamp=LATER) for i in CORPUS[:2]]
    load(warehouse, tmp_path / "staged", renamed)
    assert served_from(pages, CORPUS[5].handle) == "warehouse"
    assert index.refresh()  # the next copy holds the changes
    assert served_from(pages, CORPUS[5].handle) == "copy"
    assert title_shown(pages, CORPUS[0].handle) == renamed[0].title
    assert served_from(pages, CORPUS[0].handle) == "copy"


def test_a_copy_of_another_warehouse_is_never_served(
    copied: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    _, index = copied
    other = new_warehouse(tmp_path / "other")  # its snapshots have the same ids
    try:
        load_series(other, tmp_path / "other")
        load(other, tmp_path / "other" / "staged", CORPUS[:8])
        pages = ItemPages(other, index)
        assert served_from(pages, CORPUS[0].handle) == "warehouse"
        assert pages.page("RePEc:tst:aaa:not-there") is None
        assert pages.served["copy"] == 0
    finally:
        other.close()


def test_the_changes_followed_are_of_every_table_the_copy_is_made_of() -> None:
    assert {*ITEM_TABLES, *SERIES_TABLES} == set(SOURCE_TABLES)
    assert set(ITEM_PAGE_TABLES) == set(SOURCE_TABLES)


def test_a_rebuild_published_after_the_copy_sends_every_page_to_the_warehouse(
    copied: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    """A rebuild writes a new generation's tables, whose rows are not changes of the tables
    in use: a change of the catalog (tables made) ends the copy's use."""
    warehouse, index = copied
    pages = ItemPages(warehouse, index)
    changed, other = CORPUS[0], CORPUS[1]
    rebuilt = warehouse.beside()
    try:
        load_series(rebuilt, tmp_path / "s2")
        load(rebuilt, tmp_path / "r1", [Item(changed.handle, "Rebuilt", datestamp=LATER)])
        pages.page(other.handle)  # a look while the rebuild loads (its tables: from then on
        # every page comes from the warehouse; before, a rebuild's rows went unseen)
        load(rebuilt, tmp_path / "r2", CORPUS[1:8])
        rebuilt.publish()
    finally:
        rebuilt.close()
    assert title_shown(pages, changed.handle) == "Rebuilt"
    assert served_from(pages, other.handle) == "warehouse"


def test_a_catalog_made_again_after_the_copy_is_noticed_whatever_its_ids(
    copied: tuple[Warehouse, SearchIndex], tmp_path: Path
) -> None:
    warehouse, index = copied
    pages = ItemPages(warehouse, index)
    assert served_from(pages, CORPUS[0].handle) == "copy"
    other = new_warehouse(tmp_path / "again")  # the same ids, at other times
    try:
        load_series(other, tmp_path / "again")
        load(other, tmp_path / "again" / "staged", CORPUS[:8])
        load(other, tmp_path / "again" / "more", [Item(CORPUS[0].handle, "Made again")])
        pages.warehouse = other
        page = pages.page(CORPUS[0].handle)
        assert page is not None and page.item["title"] == "Made again"
        assert served_from(pages, CORPUS[1].handle) == "warehouse"
    finally:
        other.close()
