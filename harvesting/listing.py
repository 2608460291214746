"""What a source lists now, for reconciliation (``flows.reconcile``): every header of one
harvest's ListIdentifiers, page by page, each page archived before its headers are handed on;
and GetRecord, to ask about one item the listing left out before it is called deleted.

A listing proves an absence only when it is whole: a page that fails, a header without an
identifier, a resumption token that does not move or fewer headers than the server's
``completeListSize`` stop it with an error, and nothing is concluded from it. Even a whole
listing can miss an item (a server paging by offset, an item removed while it lists), so an
item is called gone only once GetRecord says so too (``flows.reconcile``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from harvesting.archive import RawArchive
from harvesting.client import Fetched, OAIClient
from harvesting.identity import HarvestSpec
from schemas.errors import (
    CannotDisseminateFormat,
    IdDoesNotExist,
    PageIntegrityError,
    RecordMappingError,
)
from schemas.files import page_name
from schemas.records import Header, read_header, read_header_element

#: Where a reconciliation's ListIdentifiers pages go inside its folder of the raw archive.
IDENTIFIERS = "identifiers"


@dataclass
class Listing:
    """What a whole ListIdentifiers said: when it began (the first page's responseDate),
    its pages, and its headers (``deleted`` of them with status deleted)."""

    listed_at: datetime | None = None
    pages: int = 0
    headers: int = 0
    deleted: int = 0


def list_identifiers(
    client: OAIClient,
    archive: RawArchive,
    spec: HarvestSpec,
    folder: str,
    take: Callable[[list[Header]], None],
    stop: threading.Event | None = None,
) -> Listing:
    """Every header the source lists for ``spec``, handed to ``take`` a page at a time."""
    listing = Listing()
    token: str | None = None
    seen: set[bytes] = set()  # digests: a long listing of long tokens stays small
    expected: int | None = None
    while True:
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        params = {"resumptionToken": token} if token else {"metadataPrefix": spec.metadata_prefix}
        if spec.set_spec and not token:
            params["set"] = spec.set_spec
        fetched = client.request("ListIdentifiers", **params)
        page = fetched.page
        listing.listed_at = listing.listed_at or page.response_date
        if page.no_records_match:
            if token:
                raise PageIntegrityError("noRecordsMatch in the middle of a ListIdentifiers list")
            return listing
        if page.token and (page.token == token or _digest(page.token) in seen):
            raise PageIntegrityError(f"resumption token {page.token!r} did not change")
        listing.pages += 1
        archive.store(
            folder, f"{IDENTIFIERS}/p{listing.pages:06d}", fetched, endpoint=spec.endpoint,
            metadata_prefix=spec.metadata_prefix, set_spec=spec.set_spec,
            harvest_id=spec.harvest_id, page=listing.pages,
        )  # fmt: skip
        headers = [_header(item, listing.pages) for item in page.elements]
        listing.headers += len(headers)
        listing.deleted += sum(1 for h in headers if h.deleted)
        take(headers)
        expected = page.complete_list_size if page.complete_list_size is not None else expected
        if not page.token:
            break
        seen.add(_digest(page.token))
        token = page.token
    if expected is not None and listing.headers < expected:
        raise PageIntegrityError(
            f"ListIdentifiers gave {listing.headers:,} headers of the {expected:,} its "
            "completeListSize announced"
        )
    return listing


def _digest(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=16).digest()


def _header(item: etree._Element, page: int) -> Header:
    """A listed header; one that cannot be read stops the listing (the item it stands for
    could be any of those the warehouse holds)."""
    try:
        return read_header_element(item)
    except RecordMappingError as exc:
        raise PageIntegrityError(
            f"a header of ListIdentifiers page {page} cannot be read ({exc}): the listing "
            "cannot tell which items are gone"
        ) from None


def fetch_record(
    client: OAIClient, archive: RawArchive, spec: HarvestSpec, folder: str, identifier: str,
    page: PageName,
) -> tuple[str, Fetched, Header] | None:  # fmt: skip
    """GetRecord ``identifier`` now, archived as ``page`` of the reconciliation: its path,
    the response and the record's header; None when the source no longer has it in this
    format."""
    try:
        fetched = client.request(
            "GetRecord", identifier=identifier, metadataPrefix=spec.metadata_prefix
        )
    except (IdDoesNotExist, CannotDisseminateFormat):
        return None
    records = fetched.page.elements
    if len(records) != 1:
        raise PageIntegrityError(f"GetRecord {identifier} answered with {len(records)} records")
    header = read_header(records[0])
    if header.identifier != identifier:
        raise PageIntegrityError(f"GetRecord {identifier} answered with {header.identifier}")
    path = archive.store(
        folder, page_name(page.window, page.number), fetched, endpoint=spec.endpoint,
        metadata_prefix=spec.metadata_prefix, set_spec=spec.set_spec,
        harvest_id=spec.harvest_id, run_id=page.run_id, window=page.window, page=page.number,
    )  # fmt: skip
    return path, fetched, header


@dataclass(frozen=True)
class PageName:
    """Where a response goes among a run's pages."""

    run_id: str
    window: int
    number: int


def in_set(header: Header, set_spec: str | None) -> bool:
    """Whether a header puts its item in ``set_spec`` (or in a set below it)."""
    if set_spec is None:
        return True
    return any(s == set_spec or s.startswith(set_spec + ":") for s in header.set_specs)
