"""The reads behind the record, author and series pages, on a warehouse of a few items:
what the HTTP tests of ``test_web`` cannot reach with the sample."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_search import SERIES_A, Item, load, load_series, new_warehouse
from warehouse.database import Warehouse
from warehouse.items import author_page, series_page

NAMES = {
    "RePEc:tst:aaa:turkish": "İsmail Yılmaz",
    "RePEc:tst:aaa:greek": "ΟΔΥΣΣΕΑΣ ΠΑΠΑΣ",
    "RePEc:tst:aaa:spaced": "Anna  Maria\t Rossi",
    "RePEc:tst:aaa:nbsp": "José\u00a0García",
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("items")
    warehouse = new_warehouse(root)
    load_series(warehouse, root)
    items = [Item(handle, f"Paper by {name}", authors=(name,)) for handle, name in NAMES.items()]
    items.append(Item("RePEc:tst:aaa:undated", "An item without a year", year=None))
    load(warehouse, root / "staged", items)
    yield warehouse
    warehouse.close()


@pytest.mark.parametrize("handle", list(NAMES))
def test_an_author_is_found_by_the_name_as_written_lowered_or_respaced(
    warehouse: Warehouse, handle: str
) -> None:
    """The name links of item pages carry the name as written: Python's lower() of a Turkish
    İ or a Greek final sigma differs from DuckDB's, so both sides are lowered by DuckDB."""
    written = NAMES[handle]
    cased = (written.lower(), written.upper()) if written.isascii() else ()
    for asked in (written, " ".join(written.split()), *cased):
        page = author_page(warehouse, name=asked)
        assert page is not None, asked
        assert [i["handle"] for i in page.items] == [handle]


def test_an_unknown_or_blank_author_is_none(warehouse: Warehouse) -> None:
    assert author_page(warehouse, name="Nobody Here") is None
    assert author_page(warehouse, name="   ") is None
    assert author_page(warehouse, short_id=" ") is None


def test_a_series_lists_its_items_without_a_year_too(warehouse: Warehouse) -> None:
    page = series_page(warehouse, SERIES_A)
    assert page is not None and (None, 1) in page.years
    undated = series_page(warehouse, SERIES_A, year=None, undated=True)
    assert undated is not None and [i["handle"] for i in undated.items] == ["RePEc:tst:aaa:undated"]
