"""AMF (Academic Metadata Format, ``http://amf.openlib.org``) ``text`` records -> article
fields and people.

Elements are matched by local name, so the AMF namespace, a missing namespace and the
``repec:``/``acis:`` extension namespaces for short-ids all map the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from schemas import fields as f
from schemas.errors import RecordMappingError
from schemas.handles import Handle, handle_from_text_id
from schemas.people import Mapped, Person

AMF_NS = "http://amf.openlib.org"


def local_name(el: etree._Element) -> str | None:
    """An element's name without its namespace (None for comments and processing instructions)."""
    return etree.QName(el).localname if isinstance(el.tag, str) else None


def _children(el: etree._Element, *names: str) -> Iterator[etree._Element]:
    for child in el:
        if local_name(child) in names:
            yield child


def element_text(el: etree._Element | None) -> str | None:
    """An element's text, nested elements included, white space folded; empty is None."""
    return None if el is None else f.clean("".join(el.itertext()))


def _first(el: etree._Element, *names: str) -> str | None:
    for child in _children(el, *names):
        value = element_text(child)
        if value:
            return value
    return None


def _person(el: etree._Element, role: str) -> Person | None:
    """A person noun: ``givenname`` and ``additionalname`` make the given name,
    ``familyname`` the family name; a ``name`` alone is split as oai_dc's creators are
    (``Family, Given``)."""
    given = f.clean(f"{_first(el, 'givenname') or ''} {_first(el, 'additionalname') or ''}")
    family = _first(el, "familyname")
    name = _first(el, "name") or f.clean(f"{given or ''} {family or ''}")
    if not name:
        return None
    if not given and not family:
        _, given, family = f.name_parts(name)
    return Person(
        name=name,
        role=role,
        given_name=given,
        family_name=family,
        short_id=_first(el, "shortid", "short-id", "identifier", "id") or el.get("ref"),
        email=_first(el, "email"),
    )


def _pages(serial: etree._Element | None) -> str | None:
    if serial is None:
        return None
    pages = _first(serial, "pages")
    if pages:
        return pages
    start, end = _first(serial, "startpage"), _first(serial, "endpage")
    if start and end:
        return f"{start}-{end}"
    return start


def find_handle(metadata: etree._Element) -> str | None:
    """The RePEc handle an amf record carries (its ``text`` id), if any."""
    text = next(_children(metadata, "text"), None)
    if text is None:
        return None
    return handle_from_text_id(text.get("id") or "") or handle_from_text_id(text.get("ref") or "")


def map_amf(metadata: etree._Element, handle: Handle) -> Mapped:
    """Map an ``amf`` element holding one ``text`` noun."""
    if local_name(metadata) != "amf":
        raise RecordMappingError(f"metadata is not amf but {metadata.tag}")
    text = next(_children(metadata, "text"), None)
    if text is None:
        raise RecordMappingError("amf record has no <text> element")

    serial = next(_children(text, "serial"), None)
    kind = f.item_type(element_text(t) for t in _children(text, "type"))
    if kind is None:
        kind = "article" if serial is not None or handle.follows_article_convention else None
    article = kind == "article"
    date = (serial is not None and _first(serial, "issuedate")) or _first(text, "issuedate", "date")

    keywords: list[str] = []
    for el in _children(text, "keywords", "keyword"):
        nested = [element_text(k) for k in _children(el, "keyword")]
        keywords.extend(k for k in nested if k) if nested else keywords.extend(
            f.split_keywords(element_text(el))
        )
    jel: list[str] = []
    for el in _children(text, "classification"):
        jel.extend(f.split_jel(element_text(el)))

    doi = _first(text, "doi")
    files = [
        {"url": url, "format": _first(file, "format"), "function": _first(file, "function")}
        for file in _children(text, "file")
        if (url := _first(file, "url"))
    ]
    urls = f.unique(file["url"] for file in files)
    urls += [
        u
        for u in f.unique(element_text(u) for u in _children(text, "url", "displaypage"))
        if u not in urls
    ]
    if doi is None:
        doi = f.first_doi(urls)

    people = [
        p
        for role, tag in (("author", "hasauthor"), ("editor", "haseditor"))
        for holder in _children(text, tag)
        for el in _children(holder, "person")
        if (p := _person(el, role)) is not None
    ]
    publisher = None
    for holder in _children(text, "publisher", "haspublisher"):
        publisher = _first(holder, "name") or next(
            (_first(o, "name") for o in _children(holder, "organization")), None
        )
        if publisher:
            break
    series_ref = next(
        (
            c.get("ref") or c.get("id")
            for p in _children(text, "ispartof")
            for c in _children(p, "collection")
        ),
        None,
    )
    return Mapped(
        fields={
            "item_type": kind,
            "title": _first(text, "title"),
            "abstract": _first(text, "abstract"),
            "journal": (_first(serial, "journaltitle") or _first(serial, "journalabbreviatedtitle"))
            if serial is not None
            else None,
            "volume": (serial is not None and _first(serial, "volume"))
            or (handle.volume if article else None),
            "issue": (serial is not None and (_first(serial, "issue") or _first(serial, "part")))
            or (handle.issue if article else None),
            "pages": _pages(serial) or (handle.pages if article else None),
            "year": f.year_from(date) or (handle.year if article else None),
            "date": date,
            "doi": f.doi_from(doi) or doi if doi else None,
            "keywords": f.unique(keywords),
            "jel_codes": f.unique(jel),
            "urls": urls,
            "files": files,
            "language": _first(text, "language"),
            "publisher": publisher,
            "publication_status": _first(text, "status"),
            "series_handle": (handle_from_text_id(series_ref) or series_ref)
            if series_ref
            else None,
        },
        people=people,
    )
