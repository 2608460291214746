"""ReDIF templates -> plain dicts: a bibliographic item with its people, or a series,
archive, person or institution. The field-by-field rules are in docs/field-mapping.md."""

from __future__ import annotations

from typing import Any

from schemas.errors import RecordMappingError
from schemas.fields import (
    clean,
    doi_from,
    first_doi,
    name_parts,
    split_jel,
    split_keywords,
    unique,
    year_from,
)
from schemas.handles import parse_handle
from schemas.redif_templates import (
    CLUSTER_OF,
    ITEM_KINDS,
    LOOSE_ATTACHMENTS,
    Template,
    text_of,
)

__all__ = ["UNIT_LEVELS", "institution", "to_item"]


def to_item(template: Template) -> dict[str, Any]:
    """A template as a plain dict: a bibliographic item, or a series/archive/person/institution."""
    if template.kind in ITEM_KINDS:
        return _item(template)
    return _entity(template)


def _first(template: Template, *names: str) -> str | None:
    for name in names:
        for value in template.values(name):
            cleaned = text_of(value)
            if cleaned:
                return cleaned
    return None


def _all(template: Template, name: str) -> list[str]:
    return unique(text_of(value) for value in template.values(name))


def _item(template: Template) -> dict[str, Any]:
    handle = template.handle
    parsed = parse_handle(handle)
    year = (
        year_from(_first(template, "year"))
        or year_from(_first(template, "creation-date"))
        or parsed.year
    )
    keywords = unique(k for v in _all(template, "keywords") for k in split_keywords(v))
    jel = split_jel(" ".join(_all(template, "classification-jel")))
    urls = _all(template, "file-url")
    doi = None
    for value in _all(template, "doi"):
        doi = doi_from(value)
        if doi:
            break
    if doi is None:
        doi = first_doi([*urls, *_all(template, "note")])
    return {
        "handle": handle,
        "item_type": template.kind,
        "title": _first(template, "title"),
        "abstract": _first(template, "abstract"),
        "journal": _first(template, "journal"),
        "volume": _first(template, "volume"),
        "issue": _first(template, "issue"),
        "pages": _first(template, "pages"),
        "year": year,
        "month": _first(template, "month"),
        "number": _first(template, "number"),
        "keywords": keywords,
        "jel_codes": jel,
        "doi": doi,
        "language": _first(template, "language"),
        "publication_status": _first(template, "publication-status"),
        "creation_date": _first(template, "creation-date"),
        "urls": urls,
        "files": _files(template),
        "related_handles": unique(text_of(v) for name in _RELATED for v in template.values(name)),
        "authors": _people(template, "author"),
        "editors": _people(template, "editor"),
        "series_handle": parsed.series_handle,
        "archive_code": parsed.archive_code,
    }


#: Fields that name another version or part of the work (ReDIF-perl's ``*-Handle``).
_RELATED = ("article-handle", "paper-handle", "book-handle", "chapter-handle",
            "software-handle", "in-book", "haschapter")  # fmt: skip


def _files(template: Template) -> list[dict[str, str | None]]:
    """The ``File-URL`` clusters, in order, with their format and function."""
    files: list[dict[str, str | None]] = []
    for name, value, _ in template.fields:
        if name == "file-url" and (url := text_of(value)):
            files.append({"url": url, "format": None, "function": None})
        elif files and name in ("file-format", "file-function"):
            part = name.removeprefix("file-")
            files[-1][part] = files[-1][part] or text_of(value)
    return files


def _people(template: Template, role: str) -> list[dict[str, Any]]:
    """The persons of one role, in file order: each ``<role>-Name`` opens one, the fields of
    its cluster fill it (the first value of each, every workplace)."""
    prefix = f"{role}-"
    raw: list[dict[str, list[str]]] = []
    for name, value, _ in template.fields:
        if name == f"{role}-name":
            raw.append({"name": [value]})
        elif raw and name.startswith(prefix) and (name in CLUSTER_OF or name in LOOSE_ATTACHMENTS):
            raw[-1].setdefault(name.removeprefix(prefix), []).append(value)
    return [_person(person) for person in raw]


def _person(fields: dict[str, list[str]]) -> dict[str, Any]:
    def first(part: str) -> str | None:
        return next((v for v in map(text_of, fields.get(part, ())) if v), None)

    written = text_of(fields["name"][0]) or ""
    given_first, middle, last = first("name-first"), first("name-middle"), first("name-last")
    if given_first or middle or last:
        given, family = clean(f"{given_first or ''} {middle or ''}"), last
    else:  # parts from "Family, Given"; the name stays as the file writes it
        _, given, family = name_parts(written)
    workplaces = unique(map(text_of, fields.get("workplace-name", ())))
    return {
        "name": written,
        "given_name": given,
        "family_name": family,
        "short_id": first("person"),
        "email": first("email"),
        "workplace": workplaces[0] if workplaces else None,
        "workplaces": workplaces,
        "workplace_handles": unique(map(text_of, fields.get("workplace-institution", ()))),
    }


#: The nested units of a ReDIF-Institution (EDIRC) template, outermost first.
UNIT_LEVELS = ("primary", "secondary", "tertiary", "quaternary")


def institution(template: Template) -> dict[str, Any]:
    """An EDIRC template: its handle stands for the deepest unit it names (a department of a
    university is ``Secondary-``), so the name, English name, homepage, e-mail and postal
    address are that unit's; the location is the nearest one given going outwards;
    ``part_of`` names the enclosing units, outermost first."""
    units = [level for level in UNIT_LEVELS
             if _first(template, f"{level}-name", f"{level}-name-english")]  # fmt: skip
    if not units:
        raise RecordMappingError("institution template names no unit (no Primary-Name)")
    deepest = units[-1]

    def own(field: str) -> str | None:
        return _first(template, f"{deepest}-{field}")

    return {
        "handle": template.handle,
        "name": own("name") or own("name-english"),
        "name_english": own("name-english"),
        "url": own("homepage"),
        "email": own("email"),
        "postal": own("postal"),
        "location": next(
            (loc for level in reversed(units) if (loc := _first(template, f"{level}-location"))),
            None,
        ),
        "part_of": [
            _first(template, f"{level}-name", f"{level}-name-english") for level in units[:-1]
        ],
    }


def _series_type(value: str | None) -> str | None:
    """A series' ``Type`` (``ReDIF-Article``) -> the kind of its items (``article``)."""
    if not value:
        return None
    kind = value.lower().removeprefix("redif-").split()[0] if value.strip() else ""
    return kind or None


def _entity(template: Template) -> dict[str, Any]:
    handle = template.handle
    archive_code = parse_handle(handle).archive_code
    if archive_code is None and handle.lower().startswith("repec:"):
        archive_code = clean(handle.split(":")[1]) if template.kind == "archive" else None
    return {
        "handle": handle,
        "type": template.kind,
        "name": _first(template, "name", "name-full")
        or clean(
            " ".join(
                filter(
                    None, (_first(template, f"name-{part}") for part in ("first", "middle", "last"))
                )
            )
        ),
        "description": _first(template, "description"),
        "maintainer_name": _first(template, "maintainer-name"),
        "maintainer_email": _first(template, "maintainer-email"),
        "url": _first(template, "url", "homepage", "publisher-homepage"),
        "series_type": _series_type(_first(template, "type")),
        "issn": _first(template, "issn"),
        "provider_name": _first(template, "provider-name"),
        "provider_handle": _first(template, "provider-institution"),
        "email": _first(template, "email"),
        "archive_code": archive_code,
    }
