"""Parsed ReDIF templates -> rows of ``articles`` (source ``redif``), ``authors``, ``series``,
``archives``, ``persons``, ``institutions``, and ``quarantine`` for templates that were
skipped (with file and line)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from schemas import tables
from schemas.handles import handle_key
from schemas.redif import institution, to_item
from schemas.redif_templates import ITEM_KINDS, Template, TemplateError
from schemas.tables import TableBuffer

SOURCE = "redif"
#: The version of this mapping. Files read by another version are read again (their rows
#: would otherwise keep what an older mapping made of them); change it with the mapping.
MAPPING_VERSION = "2"


@dataclass(frozen=True)
class RedifContext:
    """Where a file's rows come from."""

    root: str  # the mirror or folder, as a file:// URL (the rows' endpoint)
    harvest_id: str
    relative: str  # the file, relative to the root
    file_time: datetime  # the file's mtime: the version time of its items
    loaded_at: datetime


@dataclass
class FileRows:
    articles: list[dict[str, Any]] = field(default_factory=list)
    authors: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    archives: list[dict[str, Any]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    institutions: list[dict[str, Any]] = field(default_factory=list)
    #: Item handles met again after the template that holds them (each one quarantined).
    duplicate_handles: list[str] = field(default_factory=list)
    duplicate_entities: int = 0  # series, archive, person or institution templates likewise
    #: (table, handle) of the series, archives, persons and institutions loaded
    entity_claims: list[tuple[str, str]] = field(default_factory=list)
    text_size: int = 0  # characters of the templates the rows come from

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_handles) + self.duplicate_entities

    def extend(self, other: FileRows) -> None:
        for name in (*REDIF_TABLES, "duplicate_handles", "entity_claims"):
            getattr(self, name).extend(getattr(other, name))
        self.duplicate_entities += other.duplicate_entities
        self.text_size += other.text_size

    def __len__(self) -> int:
        """The rows held (for the tables)."""
        return sum(len(getattr(self, name)) for name in REDIF_TABLES)

    def tables(self) -> dict[str, pa.Table]:
        return {name: tables.to_table(getattr(self, name), schema)
                for name, schema in REDIF_TABLES.items()}  # fmt: skip

    def add_to(self, buffer: TableBuffer) -> None:
        """Its rows into ``buffer`` (one of :data:`REDIF_TABLES`)."""
        for name in REDIF_TABLES:
            buffer.add(name, getattr(self, name))


#: The tables a ReDIF file has rows for.
REDIF_TABLES = {"articles": tables.ARTICLES, "authors": tables.AUTHORS,
           "quarantine": tables.QUARANTINE, "series": tables.SERIES,
           "archives": tables.ARCHIVES, "persons": tables.PERSONS,
           "institutions": tables.INSTITUTIONS}  # fmt: skip


class HandleClaims:
    """Which template holds each handle. RePEc's central check reports a handle met again,
    in another file or in the same one, as a duplicate: the first template keeps it, a later
    one is quarantined (never merged into the first, never its replacement). Handles are
    claimed per table: a series and a paper under one handle do not collide."""

    def __init__(self, places: Places | None = None) -> None:
        #: (table, handle key) -> (place, content hash): in memory unless given (a whole
        #: RePEc mirror's handles go to disk, ``harvesting.redif_ledger``)
        self._places: Places = places if places is not None else _DictPlaces()

    def hold(
        self, relative: str, items: Iterable[str], entities: Iterable[tuple[str, str]]
    ) -> None:
        """The handles a file holds (loaded by an earlier run, unchanged since): its items,
        and its series, archives, persons and institutions as (table, handle)."""
        held = [*((_ITEMS, h) for h in items), *entities]
        self._places.fill(((table, handle_key(handle)), (relative, None)) for table, handle in held)

    def holder(self, template: Template, relative: str) -> str | None:
        """Who holds the template's handle already, if another template does."""
        found = self._places.get(claim_of(template))
        if found is None or found[0] == relative:  # none, or this file's own (read again)
            return None
        place, content = found
        if content == _content(template):
            return f"an identical copy of the template at {place}"
        return f"the template at {place} holds it already"

    def take(self, template: Template, relative: str) -> None:
        self._places.setdefault(
            claim_of(template), (f"{relative}:{template.start_line}", _content(template))
        )


#: Where a handle is held and the hash of the template holding it (None: a file not read).
Claim = tuple[str, int | None]


class Places(Protocol):
    """Where :class:`HandleClaims` keeps its claims."""

    def get(self, key: tuple[str, str]) -> Claim | None: ...

    def setdefault(self, key: tuple[str, str], claim: Claim) -> Any: ...

    def fill(self, claims: Iterable[tuple[tuple[str, str], Claim]]) -> None:
        """``setdefault`` for each."""


class _DictPlaces(dict[tuple[str, str], Claim]):
    def fill(self, claims: Iterable[tuple[tuple[str, str], Claim]]) -> None:
        for key, claim in claims:
            self.setdefault(key, claim)


def claim_of(template: Template) -> tuple[str, str]:
    """The (table, handle key) a template claims: items share one table."""
    return (_ITEMS if template.kind in ITEM_KINDS else template.kind), handle_key(template.handle)


#: The one table of claims that articles, papers, books, chapters and software share.
_ITEMS = "item"


def _content(template: Template) -> int:
    return hash(tuple((name, value) for name, value, _ in template.fields))


def map_file(
    context: RedifContext,
    templates: Iterable[Template | TemplateError],
    series_names: dict[str, str],
    claims: HandleClaims | None = None,
) -> FileRows:
    """All the rows of one file (:func:`map_templates`, gathered)."""
    rows = FileRows()
    for part in map_templates(context, templates, series_names, claims):
        rows.extend(part)
    return rows


def map_templates(
    context: RedifContext,
    templates: Iterable[Template | TemplateError],
    series_names: dict[str, str],
    claims: HandleClaims | None = None,
) -> Iterator[FileRows]:
    """The rows of one file, template by template. ``series_names`` (series handle key ->
    name) gives the journal of an article without ``Journal``; series templates met here are
    added to it. ``claims`` holds the handles of the other files (a file of its own when not
    given); a template claims its handle once it is mapped, so a copy that cannot be mapped
    leaves it to the next one."""
    claims = claims or HandleClaims()
    for index, template in enumerate(templates, start=1):
        rows = FileRows()
        if isinstance(template, TemplateError):
            rows.text_size = len(template.raw_text)
            rows.quarantine.append(_error_row(context, template))
            yield rows
            continue
        rows.text_size = template.size
        held = claims.holder(template, context.relative)
        if held is not None:
            if template.kind in ITEM_KINDS:
                rows.duplicate_handles.append(template.handle)
            else:
                rows.duplicate_entities += 1
            error = TemplateError(context.relative, template.start_line,
                                  f"duplicate handle {template.handle}: {held} (the first "
                                  "template keeps a handle)", _render(template))  # fmt: skip
            rows.quarantine.append(_error_row(context, error))
            yield rows
            continue
        record_id = f"{SOURCE}/{context.relative}#{index:05d}"
        try:
            _map_template(context, template, record_id, series_names, rows)
        except Exception as exc:  # a template we cannot map must not stop the file
            error = TemplateError(context.relative, template.start_line,
                                  f"cannot be mapped: {type(exc).__name__}: {exc}",
                                  _render(template))  # fmt: skip
            yield FileRows(quarantine=[_error_row(context, error)], text_size=template.size)
            continue
        claims.take(template, context.relative)
        if template.kind not in ITEM_KINDS:
            rows.entity_claims.append((claim_of(template)[0], template.handle))
        yield rows


def _render(template: Template) -> str:
    return "\n".join(f"{name}: {value}" for name, value, _ in template.fields)


def _map_template(
    context: RedifContext,
    template: Template,
    record_id: str,
    series_names: dict[str, str],
    rows: FileRows,
) -> None:
    """Append the rows of one template (an item, a series, an archive, a person...)."""
    if template.kind in ITEM_KINDS:
        article, people = _item_rows(context, template, record_id, series_names)
        rows.articles.append(article)
        rows.authors.extend(people)
    elif template.kind == "series":
        row = _series_row(context, template)
        rows.series.append(row)
        if row["name"]:
            series_names[row["handle_key"]] = row["name"]
    elif template.kind == "archive":
        rows.archives.append(_archive_row(context, template))
    elif template.kind == "person":
        rows.persons.append(_entity_row(context, template))
    elif template.kind == "institution":
        rows.institutions.append(_institution_row(context, template))


def tombstones(
    context: RedifContext, handles: Iterable[str], when: datetime
) -> list[dict[str, Any]]:
    """Rows marking items that disappeared from a file (or with their file) as deleted."""
    out = []
    for handle in sorted(handles):
        record_id = f"{SOURCE}/{context.relative}#gone:{handle_key(handle)}"
        row = _empty_article(context, handle, record_id)
        row.update(deleted=True, datestamp=when)
        out.append(row)
    return out


def _empty_article(context: RedifContext, handle: str, record_id: str) -> dict[str, Any]:
    return {
        **tables.empty_article(),
        "handle": handle, "handle_key": handle_key(handle), "deleted": False,
        "datestamp": context.file_time, "set_specs": [], "oai_identifier": f"redif:{handle}",
        "metadata_prefix": SOURCE, "endpoint": context.root, "harvest_id": context.harvest_id,
        "harvested_at": context.loaded_at, "record_id": record_id,
    }  # fmt: skip


def _item_rows(
    context: RedifContext, template: Template, record_id: str, series_names: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    item = to_item(template)
    row = _empty_article(context, item["handle"], record_id)
    series = item["series_handle"]
    journal = item["journal"]
    if journal is None and item["item_type"] == "article" and series:
        journal = series_names.get(handle_key(series))
    row.update(
        item_type=item["item_type"], title=item["title"], abstract=item["abstract"],
        journal=journal, volume=item["volume"], issue=item["issue"], pages=item["pages"],
        year=item["year"], date=item["creation_date"] or item["month"], doi=item["doi"],
        keywords=item["keywords"], jel_codes=item["jel_codes"], urls=item["urls"],
        files=item["files"], number=item["number"], related_handles=item["related_handles"],
        language=item["language"], publication_status=item["publication_status"],
        series_handle=series, archive_code=item["archive_code"],
        set_specs=[series] if series else [],
    )  # fmt: skip
    people = []
    for role, key in (("author", "authors"), ("editor", "editors")):
        for position, person in enumerate(item[key], start=1):
            people.append({
                "handle": item["handle"], "handle_key": row["handle_key"], "role": role,
                "position": position, **person, "record_id": record_id,
            })  # fmt: skip
    return row, people


def _series_row(context: RedifContext, template: Template) -> dict[str, Any]:
    entity = to_item(template)
    return {
        "handle": entity["handle"], "handle_key": handle_key(entity["handle"]),
        "name": entity["name"], "description": entity["description"],
        "archive_code": entity["archive_code"], "endpoint": context.root,
        "listed_at": context.loaded_at, "series_type": entity["series_type"],
        "issn": entity["issn"], "provider_name": entity["provider_name"],
        "provider_handle": entity["provider_handle"],
        "maintainer_name": entity["maintainer_name"],
        "maintainer_email": entity["maintainer_email"],
    }  # fmt: skip


def _archive_row(context: RedifContext, template: Template) -> dict[str, Any]:
    entity = to_item(template)
    return {
        "handle": entity["handle"], "handle_key": handle_key(entity["handle"]),
        "archive_code": entity["archive_code"], "name": entity["name"],
        "description": entity["description"], "url": entity["url"],
        "maintainer_name": entity["maintainer_name"],
        "maintainer_email": entity["maintainer_email"], "source": context.root,
        "listed_at": context.loaded_at,
    }  # fmt: skip


def _entity_row(context: RedifContext, template: Template) -> dict[str, Any]:
    entity = to_item(template)
    return {
        "handle": entity["handle"], "handle_key": handle_key(entity["handle"]),
        "name": entity["name"], "url": entity["url"],
        "email": entity["email"] or entity["maintainer_email"],
        "source": context.root, "listed_at": context.loaded_at,
    }  # fmt: skip


def _institution_row(context: RedifContext, template: Template) -> dict[str, Any]:
    unit = institution(template)
    return {**unit, "handle_key": handle_key(unit["handle"]), "source": context.root,
            "listed_at": context.loaded_at}  # fmt: skip


def _error_row(context: RedifContext, error: TemplateError) -> dict[str, Any]:
    return {
        "record_id": f"{SOURCE}/{context.relative}#L{error.line:06d}",
        "harvest_id": context.harvest_id,
        "endpoint": context.root,
        "metadata_prefix": SOURCE,
        "oai_identifier": None,
        "reason": f"{context.relative}:{error.line}: {error.reason}",
        "raw_xml": error.raw_text,
        "page_path": context.relative,
        "quarantined_at": context.loaded_at,
    }
