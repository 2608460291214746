"""oai_dc as RePEc serves it -> article fields and people.

RePEc conventions: the bare handle is a ``dc:identifier``; other identifiers are URLs and
sometimes a doi.org URL; ``dc:creator`` is one author per element, in order; the first
``dc:description`` is the abstract; ``dc:subject`` mixes keywords and JEL codes; ``dc:date``
is often just a year; ``dc:type`` is ``article``, ``preprint``, ``book``, ...; ``dc:source``,
where a provider writes it, is the journal with its volume, issue and pages
(:mod:`schemas.journal_refs`), and wins over the handle's ``v:/i:/p:`` convention.
"""

from __future__ import annotations

from collections import defaultdict

from lxml import etree

from schemas import fields as f
from schemas.errors import RecordMappingError
from schemas.handles import Handle, is_repec_handle
from schemas.journal_refs import JournalRef, parse_journal_ref
from schemas.people import Mapped, Person

OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"


def find_handle(metadata: etree._Element) -> str | None:
    """The bare RePEc handle among the ``dc:identifier`` values, if any."""
    for element in metadata.iterfind(f"{{{DC_NS}}}identifier"):
        value = (element.text or "").strip()
        if is_repec_handle(value):
            return value
    return None


#: ``{dc namespace}title`` -> ``title``: one dict lookup per element instead of string work.
_DC_TAGS = {
    f"{{{DC_NS}}}{name}": name
    for name in ("title", "creator", "subject", "description", "publisher", "contributor",
                 "date", "type", "format", "identifier", "source", "language", "relation",
                 "coverage", "rights")
}  # fmt: skip
_DC_ROOT = f"{{{OAI_DC_NS}}}dc"
_NONE: tuple[str, ...] = ()


def map_oai_dc(metadata: etree._Element, handle: Handle) -> Mapped:
    """Map an ``oai_dc:dc`` element. This runs for every record of a harvest, so it walks the
    children once and keeps the per-element work to a dict lookup and ``clean``."""
    if metadata.tag != _DC_ROOT:
        raise RecordMappingError(f"metadata is not oai_dc:dc but {metadata.tag}")
    dc: defaultdict[str, list[str]] = defaultdict(list)
    clean, tags = f.clean, _DC_TAGS
    for child in metadata:
        name = tags.get(child.tag)
        if name is not None and (text := clean(child.text if len(child) == 0
                                               else "".join(child.itertext()))):  # fmt: skip
            dc[name].append(text)

    get = dc.get
    identifiers = get("identifier", _NONE)
    jel, keywords = f.split_subjects(get("subject", _NONE))
    dates = get("date")
    date = dates[0] if dates else None
    kind = f.item_type(get("type", _NONE))
    source = _journal_ref(get("source", _NONE), kind)
    if kind is None and (handle.follows_article_convention or source.volume or source.pages):
        kind = "article"
    article = kind == "article"
    people = [
        Person(name, role, given, family)
        for role, values in (("author", get("creator", _NONE)),
                             ("contributor", get("contributor", _NONE)))
        for name, given, family in map(f.name_parts, values)
    ]  # fmt: skip
    urls = [i for i in identifiers if f.is_url(i)]
    if "relation" in dc:
        urls.extend(i for i in dc["relation"] if f.is_url(i))
    return Mapped(
        fields={
            "item_type": kind,
            "title": _first(get("title")),
            "abstract": _first(get("description")),
            "journal": source.journal,
            "volume": source.volume or (handle.volume if article else None),
            "issue": source.issue or (handle.issue if article else None),
            "pages": source.pages or (handle.pages if article else None),
            "year": f.year_from(date) or source.year or (handle.year if article else None),
            "date": date,
            "doi": f.first_doi(identifiers),
            "keywords": keywords,
            "jel_codes": jel,
            "urls": list(dict.fromkeys(urls)),
            "language": _first(get("language")),
            "publisher": _first(get("publisher")),
        },
        people=people,
    )


_NO_REF = JournalRef(journal=None)


def _journal_ref(sources: tuple[str, ...] | list[str], kind: str | None) -> JournalRef:
    """The first ``dc:source`` that is a journal reference. A working paper's source names
    its series and number, not a journal: it is not read."""
    if kind == "paper":
        return _NO_REF
    for value in sources:
        ref = parse_journal_ref(value)
        if ref is not None:
            return ref
    return _NO_REF


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None
