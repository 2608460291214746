"""OAI-PMH ``<record>`` elements -> rows of ``articles``, ``authors`` and ``quarantine``.

One record that cannot be mapped becomes a quarantine row with its raw XML and the reason;
the rest of the page is unaffected. A deleted record becomes a tombstone row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import pyarrow as pa
from lxml import etree

from schemas import amf, oai_dc, tables
from schemas.dates import parse_datestamp
from schemas.errors import ConfigError, RecordMappingError
from schemas.handles import Handle, handle_from_oai_identifier, is_repec_handle, parse_handle
from schemas.people import Mapped

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
_HEADER = f"{{{OAI_NS}}}header"
_METADATA = f"{{{OAI_NS}}}metadata"

Mapper = Callable[[etree._Element, Handle], Mapped]
HandleFinder = Callable[[etree._Element], str | None]


@dataclass(frozen=True)
class MetadataFormat:
    """How one metadata format becomes rows: its mapper, and where it keeps the handle."""

    map: Mapper
    find_handle: HandleFinder


#: Metadata prefix -> format. A prefix not listed here cannot be harvested into rows.
FORMATS: dict[str, MetadataFormat] = {
    "oai_dc": MetadataFormat(oai_dc.map_oai_dc, oai_dc.find_handle),
    "amf": MetadataFormat(amf.map_amf, amf.find_handle),
}


def format_for(prefix: str) -> MetadataFormat:
    """The format of a metadata prefix; a clear error for one we cannot map."""
    try:
        return FORMATS[prefix]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise ConfigError(
            f"metadata prefix {prefix!r} cannot be mapped to rows; supported: {known}"
        ) from None


@dataclass(frozen=True)
class PageContext:
    """Where a page came from: stamped on every row it produces."""

    endpoint: str
    harvest_id: str
    metadata_prefix: str
    harvested_at: datetime
    page_id: str
    page_path: str


@dataclass(frozen=True)
class DamagedRecord:
    """A record of a salvaged page that is not well-formed XML: its bytes, and why
    (``harvesting.responses`` finds them)."""

    raw: bytes
    error: str


@dataclass
class PageRows:
    articles: list[dict[str, Any]] = field(default_factory=list)
    authors: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    #: records dated after the server's clock, their datestamp clamped (``clamp_datestamp``)
    clamped: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return sum(1 for a in self.articles if a["deleted"])

    def tables(self) -> dict[str, pa.Table]:
        return {name: tables.to_table(getattr(self, name), schema)
                for name, schema in PAGE_TABLES.items()}  # fmt: skip


#: The tables a page of records has rows for.
PAGE_TABLES = {"articles": tables.ARTICLES, "authors": tables.AUTHORS,
               "quarantine": tables.QUARANTINE}  # fmt: skip


@dataclass(frozen=True)
class Header:
    identifier: str
    datestamp: datetime
    deleted: bool
    set_specs: list[str]


_IDENTIFIER = f"{{{OAI_NS}}}identifier"
_DATESTAMP = f"{{{OAI_NS}}}datestamp"
_SET_SPEC = f"{{{OAI_NS}}}setSpec"


def read_header(record: etree._Element) -> Header:
    """The header of a ``<record>``."""
    header = record.find(_HEADER)
    if header is None:
        raise RecordMappingError("record has no header")
    return read_header_element(header)


def read_header_element(header: etree._Element) -> Header:
    """A ``<header>`` (of a record, or an item of a ListIdentifiers page)."""
    identifier = stamp = None
    sets = []
    for child in header:  # one walk instead of three searches: this runs for every record
        tag = child.tag
        if tag == _IDENTIFIER:
            identifier = child.text if identifier is None else identifier
        elif tag == _DATESTAMP:
            stamp = child.text if stamp is None else stamp
        elif tag == _SET_SPEC and (spec := (child.text or "").strip()):
            sets.append(spec)
    identifier = (identifier or "").strip()
    if not identifier:
        raise RecordMappingError("record header has no identifier")
    stamp = (stamp or "").strip()
    try:
        datestamp = _datestamp(stamp)
    except ValueError:
        raise RecordMappingError(f"record datestamp {stamp!r} is not a date") from None
    return Header(identifier, datestamp, header.get("status") == "deleted", sets)


#: Records of a page share few datestamps: parse each once.
_datestamp = lru_cache(maxsize=4096)(parse_datestamp)


#: How far a datestamp may run ahead of the server's own clock (its responseDate): time
#: zones of day-granularity datestamps, a clock a little fast.
FUTURE_TOLERANCE = timedelta(days=1)


def clamp_datestamp(datestamp: datetime, response_date: datetime) -> datetime:
    """A record's datestamp as the merge compares it: one after the server's clock (plus the
    tolerance) becomes the responseDate, so that a record once dated 2999 cannot outrank
    every later correction of it."""
    return response_date if datestamp > response_date + FUTURE_TOLERANCE else datestamp


def map_page(context: PageContext, records: Iterable[etree._Element | DamagedRecord]) -> PageRows:
    """Map every record of a page (:func:`map_records`, gathered); never raises for a bad
    record."""
    rows = PageRows()
    for one in map_records(context, records):
        rows.articles.extend(one.articles)
        rows.authors.extend(one.authors)
        rows.quarantine.extend(one.quarantine)
        rows.clamped.extend(one.clamped)
    return rows


def map_records(
    context: PageContext, records: Iterable[etree._Element | DamagedRecord]
) -> Iterator[PageRows]:
    """The rows of each record of a page, one record at a time; never raises for a bad
    record. A record that is not well-formed XML (``DamagedRecord``: its bytes and the
    parser's error) goes to quarantine."""
    metadata_format = format_for(context.metadata_prefix)
    for ordinal, record in enumerate(records, start=1):
        rows = PageRows()
        record_id = f"{context.page_id}#{ordinal:05d}"
        if not isinstance(record, etree._Element):
            rows.quarantine.append(_damaged(context, record, record_id))
            yield rows
            continue
        header: Header | None = None
        try:
            header = read_header(record)
            article, authors = _map_record(context, metadata_format, record, header, record_id)
        except RecordMappingError as exc:
            rows.quarantine.append(_quarantine(context, record, header, record_id, str(exc)))
            yield rows
            continue
        if article["datestamp"] != header.datestamp:
            rows.clamped.append((header.identifier, header.datestamp))
        rows.articles.append(article)
        rows.authors.extend(authors)
        yield rows


def _map_record(
    context: PageContext,
    metadata_format: MetadataFormat,
    record: etree._Element,
    header: Header,
    record_id: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    handle = parse_handle(handle_from_oai_identifier(header.identifier))
    payload = None
    if not header.deleted:
        metadata = record.find(_METADATA)
        if metadata is not None:
            payload = next((c for c in metadata if isinstance(c.tag, str)), None)
        if payload is None:
            raise RecordMappingError("record is not deleted but has no metadata")
        if not is_repec_handle(handle.handle):
            # an endpoint whose OAI identifiers are not RePEc handles: use the metadata's
            found = metadata_format.find_handle(payload)
            handle = parse_handle(found) if found else handle
    key = handle.key
    row = _article_row(context, handle, header, record_id)
    if payload is None:
        return row, []
    mapped = metadata_format.map(payload, handle)
    series = mapped.fields.pop("series_handle", None)
    row.update(mapped.fields)
    if series:
        row["series_handle"] = series
    year = row["year"]
    if year is not None and not -(2**31) <= year < 2**31:
        raise RecordMappingError(f"year {year} out of range")
    authors = []
    positions: dict[str, int] = {}
    for person in mapped.people:
        positions[person.role] = positions.get(person.role, 0) + 1
        authors.append(
            {
                "handle": handle.handle,
                "handle_key": key,
                "role": person.role,
                "position": positions[person.role],
                "name": person.name,
                "given_name": person.given_name,
                "family_name": person.family_name,
                "short_id": person.short_id,
                "email": person.email,
                "workplace": None,
                "record_id": record_id,
                "workplaces": [],
                "workplace_handles": [],
            }
        )
    return row, authors


def _article_row(
    context: PageContext, handle: Handle, header: Header, record_id: str
) -> dict[str, Any]:
    """An ``articles`` row with what the header and the page say (and no metadata yet)."""
    return {
        **tables.empty_article(),
        "handle": handle.handle,
        "handle_key": handle.key,
        "series_handle": handle.series_handle,
        "archive_code": handle.archive_code,
        "deleted": header.deleted,
        "datestamp": clamp_datestamp(header.datestamp, context.harvested_at),
        "set_specs": header.set_specs,
        "oai_identifier": header.identifier,
        "metadata_prefix": context.metadata_prefix,
        "endpoint": context.endpoint,
        "harvest_id": context.harvest_id,
        "harvested_at": context.harvested_at,
        "record_id": record_id,
    }


def tombstone_row(
    context: PageContext, handle: str, header: Header, record_id: str
) -> dict[str, Any]:
    """The deletion of the item ``handle`` (stored under ``header.identifier``) that its
    source no longer lists (``flows.reconcile``): a row like that of a deleted record."""
    if not header.deleted:
        raise ValueError("a tombstone's header is a deleted one")
    return _article_row(context, parse_handle(handle), header, record_id)


_IDENTIFIER_TEXT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?identifier>([^<]{1,1000})<")


def _damaged(context: PageContext, record: DamagedRecord, record_id: str) -> dict[str, Any]:
    """A quarantine row for a damaged record: its bytes as text, every byte that is not
    UTF-8 written as \\xNN and NUL as \\x00, so nothing of it is lost."""
    found = _IDENTIFIER_TEXT.search(record.raw)
    identifier = found.group(1).decode("utf-8", "replace").strip() if found else None
    raw_xml = record.raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    reason = f"record is not well-formed XML: {record.error}"
    return _quarantine_row(context, record_id, identifier or None, reason, raw_xml)


def _quarantine(
    context: PageContext,
    record: etree._Element,
    header: Header | None,
    record_id: str,
    reason: str,
) -> dict[str, Any]:
    identifier = header.identifier if header else None
    if identifier is None:
        found = record.findtext(f"{_HEADER}/{{{OAI_NS}}}identifier")
        identifier = found.strip() if found and found.strip() else None
    raw_xml = etree.tostring(record, encoding="unicode")
    return _quarantine_row(context, record_id, identifier, reason, raw_xml)


def _quarantine_row(
    context: PageContext, record_id: str, identifier: str | None, reason: str, raw_xml: str
) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "harvest_id": context.harvest_id,
        "endpoint": context.endpoint,
        "metadata_prefix": context.metadata_prefix,
        "oai_identifier": identifier,
        "reason": reason,
        "raw_xml": raw_xml,
        "page_path": context.page_path,
        "quarantined_at": context.harvested_at,
    }
