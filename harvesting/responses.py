"""Parsing OAI-PMH responses, once each, with a parser that cannot be turned against us.

The parser resolves no entities, loads no DTD, touches no network and does not "recover"
damaged XML. A ListRecords page that is not well-formed is salvaged record by record when the
damage is inside records (a NUL, a control character, a byte that is not UTF-8): the page
around them must parse on its own, each record is parsed in the page's namespaces, and a record
that does not parse comes out as a ``DamagedRecord`` (its raw bytes and the parser's error) in
its place among the items, for quarantine. Damage outside records (a truncated page) rejects
the page as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from schemas.dates import parse_datestamp, server_clock
from schemas.errors import OAI_ERRORS_BY_CODE, HostileXML, HTMLPage, NotOAIResponse, OAIError
from schemas.records import DamagedRecord

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
_Q = f"{{{OAI_NS}}}"
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_HTML = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!DOCTYPE\s+html|html)\b", re.I | re.S
)

#: A verb's list element and item element.
LIST_ITEMS = {
    "ListRecords": "record",
    "ListIdentifiers": "header",
    "ListSets": "set",
    "ListMetadataFormats": "metadataFormat",
    "GetRecord": "record",
}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(raw: bytes) -> etree._Element:
    """Parse bytes into an element tree, refusing DTDs, entity declarations and damage."""
    if not raw.strip():
        raise NotOAIResponse("empty response body")
    if _HTML.match(raw[:4096]):
        raise HTMLPage("an HTML page, not OAI-PMH XML")
    if _DOCTYPE.search(raw):
        raise HostileXML()
    try:
        root = etree.fromstring(raw, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise NotOAIResponse(f"response is not well-formed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. a DTD in UTF-16 bytes
        raise HostileXML()
    return root


_RECORD = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?record\b[^>]*>.*?</(?:[A-Za-z_][\w.-]*:)?record\s*>",
                     re.S)  # fmt: skip
_ROOT = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?OAI-PMH)\b[^>]*>")


def _salvage(raw: bytes) -> tuple[etree._Element, list[etree._Element | DamagedRecord]] | None:
    """The root of the page without its records, and each record parsed on its own (or
    damaged); None when the damage is not inside records."""
    spans = [m.span() for m in _RECORD.finditer(raw)]
    root_tag = _ROOT.search(raw)
    if not spans or root_tag is None:
        return None
    kept, at = [], 0
    for start, end in spans:
        kept.append(raw[at:start])
        at = end
    kept.append(raw[at:])
    try:
        root = parse_xml(b"".join(kept))
    except NotOAIResponse:
        return None
    opening, closing = root_tag.group(0), b"</" + root_tag.group(1) + b">"
    items: list[etree._Element | DamagedRecord] = []
    for start, end in spans:
        chunk = raw[start:end]
        try:
            items.append(parse_xml(opening + chunk + closing)[0])
        except (NotOAIResponse, IndexError) as exc:
            items.append(DamagedRecord(chunk, str(exc) or "record is not well-formed XML"))
    return root, items


@dataclass
class Page:
    """One OAI-PMH response, parsed once."""

    verb: str
    raw: bytes
    root: etree._Element
    response_date: datetime
    items: list[etree._Element | DamagedRecord] = field(default_factory=list)

    @property
    def elements(self) -> list[etree._Element]:
        """The items that parsed (all of them, except on a salvaged ListRecords page)."""
        return [i for i in self.items if isinstance(i, etree._Element)]

    token: str | None = None
    complete_list_size: int | None = None
    cursor: int | None = None
    no_records_match: bool = False
    #: the responseDate the server said, when its clock ran too far ahead of ours to be used
    clock_ahead: datetime | None = None


def parse_response(raw: bytes, verb: str) -> Page:
    """Parse and check an OAI-PMH response to ``verb``.

    ``noRecordsMatch`` is an empty page; every other OAI error is raised as its exception
    class; a response that is not OAI-PMH at all is ``NotOAIResponse``.
    """
    salvaged: list[etree._Element | DamagedRecord] | None = None
    try:
        root = parse_xml(raw)
    except NotOAIResponse:
        rescue = _salvage(raw) if verb == "ListRecords" else None
        if rescue is None:
            raise
        root, salvaged = rescue
    if root.tag != f"{_Q}OAI-PMH":
        raise NotOAIResponse(f"response root is {root.tag}, not OAI-PMH")
    stamp = root.findtext(f"{_Q}responseDate")
    try:
        said = parse_datestamp(stamp or "")
    except ValueError:
        raise NotOAIResponse(f"responseDate {stamp!r} is not a date") from None
    response_date = server_clock(said)
    page = Page(verb=verb, raw=raw, root=root, response_date=response_date,
                clock_ahead=said if said != response_date else None)  # fmt: skip

    for error in root.iterfind(f"{_Q}error"):
        code = error.get("code", "unknown")
        if code == "noRecordsMatch":
            page.no_records_match = True
            return page
        message = (error.text or "").strip() or code
        cls = OAI_ERRORS_BY_CODE.get(code, OAIError)
        raise cls(f"OAI-PMH error {code}: {message}", code=code)

    body = root.find(f"{_Q}{verb}")
    if body is None:
        raise NotOAIResponse(f"response has no <{verb}> element")
    item = LIST_ITEMS.get(verb)
    if item is None:
        return page
    page.items = salvaged if salvaged is not None else list(body.iterfind(f"{_Q}{item}"))
    token = body.find(f"{_Q}resumptionToken")
    if token is not None:
        page.token = (token.text or "").strip() or None
        page.complete_list_size = _int(token.get("completeListSize"))
        page.cursor = _int(token.get("cursor"))
    return page


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Identity:
    """What Identify says about an endpoint."""

    repository_name: str | None
    base_url: str | None
    granularity: str
    earliest_datestamp: datetime | None
    deleted_record: str | None
    response_date: datetime


def read_identity(page: Page) -> Identity:
    body = page.root.find(f"{_Q}Identify")
    assert body is not None  # parse_response guarantees it
    granularity = (body.findtext(f"{_Q}granularity") or "YYYY-MM-DD").strip()
    earliest = (body.findtext(f"{_Q}earliestDatestamp") or "").strip()
    try:
        earliest_dt = parse_datestamp(earliest) if earliest else None
    except ValueError:
        earliest_dt = None
    return Identity(
        repository_name=(body.findtext(f"{_Q}repositoryName") or "").strip() or None,
        base_url=(body.findtext(f"{_Q}baseURL") or "").strip() or None,
        granularity=granularity,
        earliest_datestamp=earliest_dt,
        deleted_record=(body.findtext(f"{_Q}deletedRecord") or "").strip() or None,
        response_date=page.response_date,
    )


def read_formats(page: Page) -> list[str]:
    return [
        prefix.strip() for item in page.elements if (prefix := item.findtext(f"{_Q}metadataPrefix"))
    ]


@dataclass(frozen=True)
class SetInfo:
    spec: str
    name: str | None
    description: str | None


def read_sets(page: Page) -> list[SetInfo]:
    sets = []
    for item in page.elements:
        spec = (item.findtext(f"{_Q}setSpec") or "").strip()
        if not spec:
            continue
        description = item.find(f"{_Q}setDescription")
        text = " ".join(" ".join(description.itertext()).split()) if description is not None else ""
        sets.append(
            SetInfo(spec, (item.findtext(f"{_Q}setName") or "").strip() or None, text or None)
        )
    return sets
