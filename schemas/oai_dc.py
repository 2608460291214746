"""oai_dc as RePEc serves it -> article fields and people.

RePEc conventions: the bare handle is a ``dc:identifier``; other identifiers are URLs and
sometimes a doi.org URL; ``dc:creator`` is one author per element, in order; the first
``dc:description`` is the abstract; ``dc:subject`` mixes keywords and JEL codes; ``dc:date``
is often just a year; ``dc:type`` is ``article``, ``preprint``, ``book``, ...
"""

from __future__ import annotations

from collections import defaultdict

from lxml import etree

from schemas import fields as f
from schemas.errors import RecordMappingError
from schemas.handles import Handle, is_repec_handle
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


def map_oai_dc(metadata: etree._Element, handle: Handle) -> Mapped:
    """Map an ``oai_dc:dc`` element."""
    if metadata.tag != f"{{{OAI_DC_NS}}}dc":
        raise RecordMappingError(f"metadata is not oai_dc:dc but {metadata.tag}")
    dc: dict[str, list[str]] = defaultdict(list)
    prefix = f"{{{DC_NS}}}"
    for child in metadata:
        tag = child.tag
        if not isinstance(tag, str) or not tag.startswith(prefix):
            continue
        raw = child.text if len(child) == 0 else "".join(child.itertext())
        text = f.clean(raw)
        if text:
            dc[tag[len(prefix) :]].append(text)

    identifiers = dc["identifier"]
    jel, keywords = f.split_subjects(dc["subject"])
    date = dc["date"][0] if dc["date"] else None
    kind = f.item_type(dc["type"])
    if kind is None and handle.follows_article_convention:
        kind = "article"
    article = kind == "article"
    people = []
    for role, values in (("author", dc["creator"]), ("contributor", dc["contributor"])):
        for value in values:
            name, given, family = f.name_parts(value)
            people.append(Person(name=name, role=role, given_name=given, family_name=family))
    return Mapped(
        fields={
            "item_type": kind,
            "title": dc["title"][0] if dc["title"] else None,
            "abstract": dc["description"][0] if dc["description"] else None,
            "journal": None,
            "volume": handle.volume if article else None,
            "issue": handle.issue if article else None,
            "pages": handle.pages if article else None,
            "year": f.year_from(date) or (handle.year if article else None),
            "date": date,
            "doi": f.first_doi(identifiers),
            "keywords": keywords,
            "jel_codes": jel,
            "urls": f.unique(i for i in [*identifiers, *dc["relation"]] if f.is_url(i)),
            "language": dc["language"][0] if dc["language"] else None,
            "publisher": dc["publisher"][0] if dc["publisher"] else None,
        },
        people=people,
    )
