"""Smoke tests: the third-party OAI-PMH server fixture, harvested with plain ``sickle``."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from interop_server import independent_oai_server
from sickle import Sickle
from sickle.oaiexceptions import NoRecordsMatch

OAI_NS = "{http://www.openarchives.org/OAI/2.0/}"
SETS = [("RePEc:sae:asseca", "Asian Economic Papers"), ("RePEc:sae:ecolab", "Economic and Labour")]
PAGE_SIZE = 5
DELETED_INDEX = 3


def make_record(i: int) -> dict[str, Any]:
    """A RePEc-like record; even records in asseca, odd in ecolab, day i+1 of Nov 2025."""
    series = SETS[i % 2][0]
    handle = f"{series}:v:12:y:2025:i:4:p:{100 + i}-{110 + i}"
    return {
        "identifier": f"oai:{handle}",
        "datestamp": f"2025-11-{i + 1:02d}",
        "sets": [series],
        "deleted": i == DELETED_INDEX,
        "dc": {
            "title": [f"Article {i}"],
            "creator": ["Doe, Jane", "Roe, Richard"],
            "subject": ["economics"],
            "description": [f"Abstract {i} with <markup> & ampersand"],
            "date": ["2025"],
            "type": ["article"],
            "identifier": [handle, f"https://doi.org/10.1177/{i:04d}"],
            "publisher": ["SAGE"],
        },
    }


@pytest.fixture
def records() -> list[dict[str, Any]]:
    """Twelve records: three ListRecords pages at PAGE_SIZE=5."""
    return [make_record(i) for i in range(12)]


@pytest.fixture
def base_url(records: list[dict[str, Any]]) -> Iterator[str]:
    """Base URL of a running server over ``records``."""
    with independent_oai_server(records, SETS, page_size=PAGE_SIZE) as url:
        yield url


def harvest_ids(url: str, **params: str) -> list[str]:
    """Identifiers from a full ListRecords harvest (deleted records included)."""
    return [r.header.identifier for r in Sickle(url).ListRecords(metadataPrefix="oai_dc", **params)]


def test_identify(base_url: str) -> None:
    identify = Sickle(base_url).Identify()
    assert identify.baseURL == base_url
    assert identify.protocolVersion == "2.0"
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.earliestDatestamp == "2025-11-01T00:00:00Z"
    assert identify.deletedRecord == "transient"


def test_metadata_formats_and_sets(base_url: str) -> None:
    sickle = Sickle(base_url)
    assert [f.metadataPrefix for f in sickle.ListMetadataFormats()] == ["oai_dc"]
    assert [(s.setSpec, s.setName) for s in sickle.ListSets()] == SETS


def test_multi_page_listing_returns_all_records(
    base_url: str, records: list[dict[str, Any]]
) -> None:
    first_page = Sickle(base_url).harvest(verb="ListRecords", metadataPrefix="oai_dc").xml
    assert len(first_page.findall(f".//{OAI_NS}record")) == PAGE_SIZE
    assert first_page.findtext(f".//{OAI_NS}resumptionToken")

    expected = [r["identifier"] for r in records]
    assert harvest_ids(base_url) == expected
    headers = Sickle(base_url).ListIdentifiers(metadataPrefix="oai_dc")
    assert [h.identifier for h in headers] == expected

    record = next(iter(Sickle(base_url).ListRecords(metadataPrefix="oai_dc")))
    assert record.metadata == records[0]["dc"]
    assert record.header.datestamp == "2025-11-01T00:00:00Z"
    assert record.header.setSpecs == ["RePEc:sae:asseca"]


def test_set_filter(base_url: str, records: list[dict[str, Any]]) -> None:
    assert harvest_ids(base_url, set="RePEc:sae:ecolab") == [r["identifier"] for r in records[1::2]]
    assert harvest_ids(base_url, set="RePEc:sae") == [r["identifier"] for r in records]
    with pytest.raises(NoRecordsMatch):
        harvest_ids(base_url, set="RePEc:nope")


def test_from_until_filter(base_url: str, records: list[dict[str, Any]]) -> None:
    window = [r["identifier"] for r in records[4:7]]  # 2025-11-05 .. 2025-11-07
    assert harvest_ids(base_url, **{"from": "2025-11-05", "until": "2025-11-07"}) == window
    seconds = {"from": "2025-11-05T00:00:00Z", "until": "2025-11-07T00:00:00Z"}
    assert harvest_ids(base_url, **seconds) == window
    assert harvest_ids(base_url, **{"from": "2025-11-12"}) == [records[11]["identifier"]]
    with pytest.raises(NoRecordsMatch):
        harvest_ids(base_url, **{"from": "2025-12-01"})


def test_deleted_record(base_url: str, records: list[dict[str, Any]]) -> None:
    deleted = [r for r in Sickle(base_url).ListRecords(metadataPrefix="oai_dc") if r.deleted]
    assert [r.header.identifier for r in deleted] == [records[DELETED_INDEX]["identifier"]]
    assert deleted[0].header.deleted
    assert deleted[0].xml.find(f"{OAI_NS}metadata") is None


def test_mutation_between_harvests_is_visible(base_url: str, records: list[dict[str, Any]]) -> None:
    assert len(harvest_ids(base_url)) == len(records)
    for record in (records[2], records[7]):
        record["dc"]["title"] = [f"Revised: {record['dc']['title'][0]}"]
        record["datestamp"] = "2025-12-01"

    since = {"from": "2025-12-01"}
    changed = list(Sickle(base_url).ListRecords(metadataPrefix="oai_dc", **since))
    assert [r.header.identifier for r in changed] == [records[i]["identifier"] for i in (2, 7)]
    assert [r.metadata["title"][0] for r in changed] == ["Revised: Article 2", "Revised: Article 7"]
    assert {r.header.datestamp for r in changed} == {"2025-12-01T00:00:00Z"}


def test_clean_shutdown(records: list[dict[str, Any]]) -> None:
    threads_before = set(threading.enumerate())
    with independent_oai_server(records, SETS) as url:
        assert Sickle(url).Identify().granularity
        port = urlsplit(url).port
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass
