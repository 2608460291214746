"""``to_table``: the one door rows go through to become Arrow; it never drops anything
silently."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from schemas.errors import SchemaViolation
from schemas.tables import (
    ALL_TABLES,
    ARTICLES,
    AUTHORS,
    QUARANTINE,
    RECORD_TABLES,
    SERIES,
    to_table,
)

HANDLE = "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"


def article_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "handle": HANDLE,
        "handle_key": HANDLE.lower(),
        "item_type": "article",
        "title": "Embracing the Taliban: Deciphering Russia’s Afghan Policy",
        "abstract": None,
        "journal": "Journal of Asian Security and International Affairs",
        "volume": "12",
        "issue": "4",
        "pages": "515-537",
        "year": 2025,
        "date": "2025",
        "doi": "10.1177/23477970251383994",
        "keywords": ["Russia", "Afghanistan"],
        "jel_codes": [],
        "urls": ["https://doi.org/10.1177/23477970251383994"],
        "language": "en",
        "publisher": "SAGE Publications",
        "publication_status": None,
        "series_handle": "RePEc:sae:asseca",
        "archive_code": "sae",
        "deleted": False,
        "datestamp": datetime(2025, 11, 3),
        "set_specs": ["RePEc:sae:asseca"],
        "oai_identifier": f"oai:{HANDLE}",
        "metadata_prefix": "oai_dc",
        "endpoint": "https://oai.repec.org/",
        "harvest_id": "oai.repec.org-oai_dc-all-0123456789",
        "harvested_at": datetime(2025, 11, 20, 10, 11, 12),
        "record_id": "page-1#00001",
        "files": [
            {
                "url": "https://doi.org/10.1177/23477970251383994",
                "format": "text/html",
                "function": None,
            }
        ],
        "number": None,
        "related_handles": [],
    }
    row.update(overrides)
    return row


def author_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "handle": HANDLE,
        "handle_key": HANDLE.lower(),
        "role": "author",
        "position": 1,
        "name": "Tatiana Belousova",
        "given_name": "Tatiana",
        "family_name": "Belousova",
        "short_id": None,
        "email": None,
        "workplace": None,
        "workplaces": [],
        "workplace_handles": [],
        "record_id": "page-1#00001",
    }
    row.update(overrides)
    return row


def test_a_valid_article_row_round_trips() -> None:
    row = article_row()
    table = to_table([row], ARTICLES)
    assert table.schema == ARTICLES
    assert table.num_rows == 1
    assert table.to_pylist() == [row]


def test_a_valid_author_row_round_trips() -> None:
    rows = [author_row(), author_row(position=2, name="Raghav Sharma", given_name="Raghav")]
    table = to_table(rows, AUTHORS)
    assert table.schema == AUTHORS
    assert table.to_pylist() == rows


def test_no_rows_is_an_empty_table_with_the_schema() -> None:
    for schema in ALL_TABLES.values():
        table = to_table([], schema)
        assert table.num_rows == 0
        assert table.schema == schema


def test_nullable_columns_accept_nulls_and_empty_lists() -> None:
    nullable = [f.name for f in ARTICLES if f.nullable]
    row = article_row(**dict.fromkeys(nullable))
    row.update(keywords=[], jel_codes=[], urls=[])
    assert to_table([row], ARTICLES).to_pylist() == [row]


def test_unknown_key_raises() -> None:
    with pytest.raises(SchemaViolation, match="surprise"):
        to_table([article_row(surprise="!")], ARTICLES)


def test_missing_key_raises() -> None:
    row = article_row()
    del row["doi"]
    with pytest.raises(SchemaViolation, match="doi"):
        to_table([row], ARTICLES)


def test_a_mapping_that_answers_for_missing_keys_is_still_refused() -> None:
    row = defaultdict(lambda: None, author_row())
    del row["email"]
    with pytest.raises(SchemaViolation, match=r"row 0 .*missing \['email'\]"):
        to_table([row], AUTHORS)
    assert "email" not in row  # and the row is left as it was


def test_missing_nullable_key_raises_rather_than_defaulting_to_null() -> None:
    row = author_row()
    del row["email"]
    with pytest.raises(SchemaViolation):
        to_table([row], AUTHORS)


@pytest.mark.parametrize("column", [f.name for f in ARTICLES if not f.nullable])
def test_null_in_a_non_nullable_article_column_raises(column: str) -> None:
    with pytest.raises(SchemaViolation, match=column):
        to_table([article_row(**{column: None})], ARTICLES)


@pytest.mark.parametrize("column", [f.name for f in AUTHORS if not f.nullable])
def test_null_in_a_non_nullable_author_column_raises(column: str) -> None:
    with pytest.raises(SchemaViolation, match=column):
        to_table([author_row(**{column: None})], AUTHORS)


def test_the_offending_row_is_named() -> None:
    with pytest.raises(SchemaViolation, match="row 1"):
        to_table([author_row(), author_row(name=None)], AUTHORS)


def test_a_value_of_the_wrong_type_raises() -> None:
    with pytest.raises(SchemaViolation):
        to_table([article_row(year="two thousand")], ARTICLES)


def test_an_out_of_range_int32_raises() -> None:
    with pytest.raises(SchemaViolation):
        to_table([author_row(position=2**31)], AUTHORS)


def test_rows_may_be_any_iterable_of_mappings() -> None:
    table = to_table((author_row(position=i) for i in (1, 2, 3)), AUTHORS)
    assert table.column("position").to_pylist() == [1, 2, 3]


def test_record_tables_and_all_tables() -> None:
    assert RECORD_TABLES == {"articles": ARTICLES, "authors": AUTHORS, "quarantine": QUARANTINE}
    assert ALL_TABLES["series"] == SERIES
    assert set(RECORD_TABLES) <= set(ALL_TABLES)


def test_timestamps_are_second_precision() -> None:
    assert ARTICLES.field("datestamp").type == pa.timestamp("s")
    assert QUARANTINE.field("quarantined_at").type == pa.timestamp("s")
