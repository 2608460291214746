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
from typing import Any, NamedTuple

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


class Header(NamedTuple):
    """A record's header (a named tuple: one is made for every record)."""

    identifier: str
    datestamp: datetime
    deleted: bool
    set_specs: list[str]


_IDENTIFIER = f"{{{OAI_NS}}}identifier"
_DATESTAMP = f"{{{OAI_NS}}}datestamp"
_SET_SPEC = f"{{{OAI_NS}}}setSpec"


def read_header(record: etree._Element) -> Header:
    """The header of a ``<record>``."""
    return read_header_element(_parts(record)[0])


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


class RecordRows(NamedTuple):
    """What one record of a page becomes: an ``articles`` row and its ``authors`` rows, or a
    ``quarantine`` row; rows leave out the columns every row of the page shares
    (:func:`page_constants`)."""

    article: dict[str, Any] | None
    authors: list[dict[str, Any]]
    quarantine: dict[str, Any] | None
    #: the record's identifier and datestamp when that was after the server's clock
    clamped: tuple[str, datetime] | None = None


#: The ``articles`` columns every row of a page shares: where the page came from (each is the
#: ``PageContext`` attribute of the same name).
_PAGE_COLUMNS = ("metadata_prefix", "endpoint", "harvest_id", "harvested_at")


def page_constants(context: PageContext) -> dict[str, dict[str, Any]]:
    """The columns of each page table whose value is the same in every row of the page:
    where the page came from. ``map_records`` leaves them out of its rows."""
    return {
        "articles": {name: getattr(context, name) for name in _PAGE_COLUMNS},
        "authors": {},
        "quarantine": {},
    }


def map_page(context: PageContext, records: Iterable[etree._Element | DamagedRecord]) -> PageRows:
    """Map every record of a page (:func:`map_records`, gathered, every row whole); never
    raises for a bad record."""
    rows = PageRows()
    shared = page_constants(context)["articles"]
    for one in map_records(context, records):
        if one.article is not None:
            rows.articles.append({**one.article, **shared})
        rows.authors.extend(one.authors)
        if one.quarantine is not None:
            rows.quarantine.append(one.quarantine)
        if one.clamped is not None:
            rows.clamped.append(one.clamped)
    return rows


class PageTables(NamedTuple):
    """A page of records as Arrow tables (:data:`PAGE_TABLES`), and what it held."""

    tables: dict[str, pa.Table]
    records: int
    deleted: int
    quarantined: int
    clamped: int  # records dated after the server's clock (``clamp_datestamp``)
    first_clamped: tuple[str, datetime] | None  # the first of them: identifier, datestamp


def page_tables(
    context: PageContext, records: Iterable[etree._Element | DamagedRecord]
) -> PageTables:
    """Map every record of a page (:func:`map_records`) into Arrow tables; the rows become
    Arrow as they come (``TableBuffer``), so a large page never holds all its rows as
    dicts. Never raises for a bad record."""
    buffer = tables.TableBuffer(PAGE_TABLES, page_constants(context))
    received = deleted = quarantined = clamped = 0
    first_clamped: tuple[str, datetime] | None = None
    for rows in map_records(context, records):
        received += 1
        if rows.article is not None:
            deleted += rows.article["deleted"]
            buffer.add("articles", (rows.article,))
            buffer.add("authors", rows.authors)
        if rows.quarantine is not None:
            quarantined += 1
            buffer.add("quarantine", (rows.quarantine,))
        if rows.clamped is not None:
            clamped += 1
            first_clamped = first_clamped or rows.clamped
    return PageTables(buffer.tables(), received, deleted, quarantined, clamped, first_clamped)


def map_records(
    context: PageContext, records: Iterable[etree._Element | DamagedRecord]
) -> Iterator[RecordRows]:
    """The rows of each record of a page, one record at a time; never raises for a bad
    record. A record that is not well-formed XML (``DamagedRecord``: its bytes and the
    parser's error) goes to quarantine."""
    metadata_format = format_for(context.metadata_prefix)
    for ordinal, record in enumerate(records, start=1):
        record_id = f"{context.page_id}#{ordinal:05d}"
        if not isinstance(record, etree._Element):
            yield RecordRows(None, [], _damaged(context, record, record_id))
            continue
        header: Header | None = None
        try:
            header_element, metadata = _parts(record)
            header = read_header_element(header_element)
            article, authors = _map_record(context, metadata_format, metadata, header,
                                           record_id)  # fmt: skip
        except RecordMappingError as exc:
            yield RecordRows(None, [], _quarantine(context, record, header, record_id, str(exc)))
            continue
        clamped = None
        if article["datestamp"] != header.datestamp:
            clamped = (header.identifier, header.datestamp)
        yield RecordRows(article, authors, None, clamped)


def _parts(record: etree._Element) -> tuple[etree._Element, etree._Element | None]:
    """A ``<record>``'s first ``<header>`` and first ``<metadata>``, in one walk."""
    header = metadata = None
    for child in record:
        tag = child.tag
        if tag == _HEADER:
            header = child if header is None else header
        elif tag == _METADATA:
            metadata = child if metadata is None else metadata
    if header is None:
        raise RecordMappingError("record has no header")
    return header, metadata


def _map_record(
    context: PageContext,
    metadata_format: MetadataFormat,
    metadata: etree._Element | None,
    header: Header,
    record_id: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    handle = parse_handle(handle_from_oai_identifier(header.identifier))
    payload = None
    if not header.deleted:
        if metadata is not None:
            for child in metadata:
                if isinstance(child.tag, str):  # not a comment
                    payload = child
                    break
        if payload is None:
            raise RecordMappingError("record is not deleted but has no metadata")
        if not is_repec_handle(handle.handle):
            # an endpoint whose OAI identifiers are not RePEc handles: use the metadata's
            found = metadata_format.find_handle(payload)
            handle = parse_handle(found) if found else handle
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
    key = row["handle_key"]
    positions: dict[str, int] = {}
    authors = []
    for person in mapped.people:
        position = positions[person.role] = positions.get(person.role, 0) + 1
        authors.append({
            "handle": handle.handle, "handle_key": key, "role": person.role,
            "position": position, "name": person.name, "given_name": person.given_name,
            "family_name": person.family_name, "short_id": person.short_id,
            "email": person.email, "workplace": None, "record_id": record_id,
            "workplaces": [], "workplace_handles": [],
        })  # fmt: skip
    return row, authors


#: An ``articles`` row's columns that no header and no page gives: null, or an empty list.
_ARTICLE_NOTHING = {
    name: value for name, value in tables.empty_article().items()
    if name not in ("handle", "handle_key", "series_handle", "archive_code", "deleted",
                    "datestamp", "set_specs", "oai_identifier", "record_id", *_PAGE_COLUMNS)
}  # fmt: skip
_ARTICLE_LISTS = [name for name, value in _ARTICLE_NOTHING.items() if value == []]


def _article_row(
    context: PageContext, handle: Handle, header: Header, record_id: str
) -> dict[str, Any]:
    """An ``articles`` row with what the header says (no metadata yet, and none of the
    :func:`page_constants`)."""
    row = {
        **_ARTICLE_NOTHING,
        "handle": handle.handle,
        "handle_key": handle.key,
        "series_handle": handle.series_handle,
        "archive_code": handle.archive_code,
        "deleted": header.deleted,
        "datestamp": clamp_datestamp(header.datestamp, context.harvested_at),
        "set_specs": header.set_specs,
        "oai_identifier": header.identifier,
        "record_id": record_id,
    }
    for name in _ARTICLE_LISTS:  # a list of its own for each row
        row[name] = []
    return row


def tombstone_row(
    context: PageContext, handle: str, header: Header, record_id: str
) -> dict[str, Any]:
    """The deletion of the item ``handle`` (stored under ``header.identifier``) that its
    source no longer lists (``flows.reconcile``): a row like that of a deleted record,
    without the :func:`page_constants`."""
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
