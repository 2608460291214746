"""Arrow schemas of every table, and the one door rows go through to become Arrow.

``to_table`` validates rows before building a table: ``pa.Table.from_pylist`` silently drops
unknown keys and accepts nulls in non-nullable fields, so both are checked here first.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from schemas.errors import SchemaViolation

_str = pa.string()
_strs = pa.list_(pa.string())
#: A full-text link as the record page shows it: the URL, its format (``application/pdf``,
#: ``text/html``) and function (``Full text``, ``Correction``...).
FILE = pa.struct([pa.field("url", _str), pa.field("format", _str), pa.field("function", _str)])
_ts = pa.timestamp("s")


def _f(name: str, type_: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable)


ARTICLES = pa.schema(
    [
        _f("handle", _str, False),
        _f("handle_key", _str, False),
        _f("item_type", _str),
        _f("title", _str),
        _f("abstract", _str),
        _f("journal", _str),
        _f("volume", _str),
        _f("issue", _str),
        _f("pages", _str),
        _f("year", pa.int32()),
        _f("date", _str),
        _f("doi", _str),
        _f("keywords", _strs),
        _f("jel_codes", _strs),
        _f("urls", _strs),
        _f("language", _str),
        _f("publisher", _str),
        _f("publication_status", _str),
        _f("series_handle", _str),
        _f("archive_code", _str),
        _f("deleted", pa.bool_(), False),
        _f("datestamp", _ts, False),
        _f("set_specs", _strs),
        _f("oai_identifier", _str, False),
        _f("metadata_prefix", _str, False),
        _f("endpoint", _str, False),
        _f("harvest_id", _str, False),
        _f("harvested_at", _ts, False),
        _f("record_id", _str, False),
        _f("files", pa.list_(FILE)),  # urls with their formats, where the source gives them
        _f("number", _str),  # a working paper's number in its series
        _f("related_handles", _strs),  # other versions of the work (ReDIF *-Handle fields)
    ]
)

AUTHORS = pa.schema(
    [
        _f("handle", _str, False),
        _f("handle_key", _str, False),
        _f("role", _str, False),
        _f("position", pa.int32(), False),
        _f("name", _str, False),
        _f("given_name", _str),
        _f("family_name", _str),
        _f("short_id", _str),
        _f("email", _str),
        _f("workplace", _str),  # the first of workplaces
        _f("record_id", _str, False),
        _f("workplaces", _strs),
        _f("workplace_handles", _strs),  # EDIRC handles of the workplaces
    ]
)

SERIES = pa.schema(
    [
        _f("handle", _str, False),
        _f("handle_key", _str, False),
        _f("name", _str),
        _f("description", _str),
        _f("archive_code", _str),
        _f("endpoint", _str, False),
        _f("listed_at", _ts, False),
        # what only a ReDIF-Series template gives (ListSets names a set and no more)
        _f("series_type", _str),  # article, paper, book, chapter, software
        _f("issn", _str),
        _f("provider_name", _str),
        _f("provider_handle", _str),  # the provider's EDIRC handle
        _f("maintainer_name", _str),
        _f("maintainer_email", _str),
    ]
)
#: Entity table -> what a ListSets listing may lack (``setDescription`` is optional): a
#: listing without it leaves the value as it was.
LISTING_OPTIONAL = {"series": ("description",)}
#: Entity table -> the columns only a ReDIF template gives: a ListSets listing leaves them.
TEMPLATE_ONLY = {
    "series": ("series_type", "issn", "provider_name", "provider_handle", "maintainer_name",
               "maintainer_email"),
}  # fmt: skip

#: ReDIF-Archive, ReDIF-Person and ReDIF-Institution templates (and ReDIF-Series' extras).
ARCHIVES = pa.schema(
    [
        _f("handle", _str, False),
        _f("handle_key", _str, False),
        _f("archive_code", _str),
        _f("name", _str),
        _f("description", _str),
        _f("url", _str),
        _f("maintainer_name", _str),
        _f("maintainer_email", _str),
        _f("source", _str, False),
        _f("listed_at", _ts, False),
    ]
)
PERSONS = pa.schema(
    [
        _f("handle", _str, False),
        _f("handle_key", _str, False),
        _f("name", _str),
        _f("url", _str),
        _f("email", _str),
        _f("source", _str, False),
        _f("listed_at", _ts, False),
    ]
)
#: ReDIF-Institution (EDIRC) templates, named for the deepest unit the handle stands for.
INSTITUTIONS = pa.schema(
    [
        *PERSONS,
        _f("name_english", _str),
        _f("location", _str),
        _f("postal", _str),
        _f("part_of", _strs),  # the enclosing units' names, outermost first
    ]
)

QUARANTINE = pa.schema(
    [
        _f("record_id", _str, False),
        _f("harvest_id", _str, False),
        _f("endpoint", _str, False),
        _f("metadata_prefix", _str, False),
        _f("oai_identifier", _str),
        _f("reason", _str, False),
        _f("raw_xml", _str, False),
        _f("page_path", _str, False),
        _f("quarantined_at", _ts, False),
    ]
)

#: What every run of a harvest (a harvest run, a reconciliation) says of itself first.
_RUN = [
    _f("run_id", _str, False),
    _f("harvest_id", _str, False),
    _f("endpoint", _str, False),
    _f("metadata_prefix", _str, False),
    _f("set_spec", _str),
    _f("status", _str, False),
    _f("started_at", _ts, False),
    _f("finished_at", _ts),
]

HARVEST_RUNS = pa.schema(
    [
        *_RUN,
        _f("server_started_at", _ts),
        _f("from_date", _str),
        _f("until_date", _str),
        _f("windows", pa.int32(), False),
        _f("pages", pa.int64(), False),
        _f("records", pa.int64(), False),
        _f("deleted", pa.int64(), False),
        _f("quarantined", pa.int64(), False),
        _f("error", _str),
        _f("flow_run_id", _str),
        # requests retried after a transient failure (null: logged before they were counted)
        _f("retries", pa.int64()),
    ]
)

HARVEST_STATE = pa.schema(
    [
        _f("harvest_id", _str, False),
        _f("endpoint", _str, False),
        _f("metadata_prefix", _str, False),
        _f("set_spec", _str),
        _f("granularity", _str),
        _f("last_complete_run", _str),
        _f("last_complete_server_start", _ts),
        _f("next_from", _str),
        _f("current_run", _str),
        _f("window_index", pa.int32()),
        _f("resumption_token", _str),
        _f("last_error", _str),
    ]
)

#: One row per reconciliation (``repec-harvest reconcile``): a harvest's ListIdentifiers
#: compared with the warehouse, and what became of the items it no longer lists.
RECONCILIATIONS = pa.schema(
    [
        *_RUN,
        _f("listed_at", _ts),
        _f("listed", pa.int64()),
        _f("live", pa.int64()),
        _f("vanished", pa.int64()),
        _f("tombstoned", pa.int64()),
        _f("kept", pa.int64()),
        _f("not_loaded", pa.int64()),
        _f("fetched", pa.int64()),
        _f("error", _str),
        _f("flow_run_id", _str),
    ]
)

#: A ListIdentifiers listing on its way to the comparison (``flows.reconcile``).
LISTED = pa.schema(
    [
        _f("oai_identifier", _str, False),
        _f("datestamp", _ts, False),
        _f("deleted", pa.bool_(), False),
    ]
)

_ARTICLE_LISTS = tuple(f.name for f in ARTICLES if pa.types.is_list(f.type))
_ARTICLE_NULLS = dict.fromkeys(ARTICLES.names)


def empty_article() -> dict[str, Any]:
    """An ``articles`` row with nothing known: null, and an empty list for list columns."""
    row = _ARTICLE_NULLS.copy()
    for name in _ARTICLE_LISTS:
        row[name] = []
    return row


#: Tables produced from harvested records, by name.
RECORD_TABLES: dict[str, pa.Schema] = {
    "articles": ARTICLES,
    "authors": AUTHORS,
    "quarantine": QUARANTINE,
}

#: Sources of item metadata, best first: for structured fields ReDIF wins over amf, which
#: wins over oai_dc.
SOURCE_PRECEDENCE = ("redif", "amf", "oai_dc")
#: Columns merged field by field across sources (the first source that has a value wins).
MERGED_COLUMNS = (
    "item_type", "title", "abstract", "journal", "volume", "issue", "pages", "year", "date",
    "doi", "keywords", "jel_codes", "urls", "language", "publisher", "publication_status",
    "series_handle", "archive_code",
)  # fmt: skip

#: Merged field by field too, but without a ``field_sources`` entry (added after it; a new
#: entry would change that column's type in every warehouse).
MERGED_LATER = ("files", "number", "related_handles")

#: ``articles``: one row per handle, merged from the latest version of each source, with
#: the sources that contributed and, per field, the source its value came from.
MERGED_ARTICLES = ARTICLES.append(_f("sources", _strs)).append(
    _f("field_sources", pa.struct([pa.field(c, _str) for c in (*MERGED_COLUMNS, "authors")]))
)
#: Every source's latest version of every item (ARTICLES rows), and of its people.
AUTHOR_VERSIONS = AUTHORS.append(_f("metadata_prefix", _str, False))

#: One row per window of a harvest run loaded into the warehouse, written in the load's own
#: transaction: after a crash, the windows a run finished but did not load are found here.
WINDOW_LOADS = pa.schema(
    [
        _f("harvest_id", _str, False),
        _f("run_id", _str, False),
        _f("window_index", pa.int32(), False),
        _f("pages", pa.int32(), False),
        _f("loaded_at", _ts, False),
    ]
)

ALL_TABLES: dict[str, pa.Schema] = {
    "articles": MERGED_ARTICLES,
    "authors": AUTHORS,
    "quarantine": QUARANTINE,
    "article_versions": ARTICLES,
    "author_versions": AUTHOR_VERSIONS,
    "archives": ARCHIVES,
    "persons": PERSONS,
    "institutions": INSTITUTIONS,
    "series": SERIES,
    "harvest_runs": HARVEST_RUNS,
    "harvest_state": HARVEST_STATE,
    "reconciliations": RECONCILIATIONS,
    "window_loads": WINDOW_LOADS,
}


def to_table(
    rows: Iterable[Mapping[str, Any]],
    schema: pa.Schema,
    constants: Mapping[str, Any] | None = None,
) -> pa.Table:
    """Validate ``rows`` against ``schema`` and build an Arrow table. ``constants`` holds the
    columns whose value is the same in every row (a page's endpoint, when it was harvested):
    the rows leave them out.

    Raises ``SchemaViolation`` for a missing or unknown column or a null in a non-nullable
    field; never drops anything silently.
    """
    constants = constants or {}
    names = [name for name in schema.names if name not in constants]
    rows = list(rows)
    # every column there and nothing more: for a plain dict, its size and no KeyError below;
    # another mapping (one that may answer for a missing key) by its keys
    wanted = set(names)
    fits = all(len(row) == len(names) if type(row) is dict else row.keys() == wanted
               for row in rows)  # fmt: skip
    # one C call per row; a tuple even of one column
    pick = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    values: list[tuple[Any, ...]] = []
    if fits:
        try:
            values = [pick(row) for row in rows] if names else [()] * len(rows)
        except KeyError:
            fits = False
    if not fits:
        i, row = next((i, r) for i, r in enumerate(rows) if r.keys() != wanted)
        extra, missing = sorted(set(row) - wanted), sorted(wanted - set(row))
        raise SchemaViolation(f"row {i} does not fit the schema: unknown {extra}, "
                              f"missing {missing}")  # fmt: skip
    columns = dict(zip(names, zip(*values, strict=True), strict=True)) if rows else {}
    try:
        arrays = [
            pa.array([constants[f.name]] * len(rows), f.type) if f.name in constants
            else pa.array(columns.get(f.name, ()), f.type)
            for f in schema
        ]  # fmt: skip
        table = pa.Table.from_arrays(arrays, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise SchemaViolation(f"rows do not fit the schema: {exc}") from exc
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            i = table.column(field.name).to_pylist().index(None)
            raise SchemaViolation(f"row {i}: {field.name} must not be null")
    return table


#: Rows held as Python dicts before they become Arrow tables: a dict row weighs some ten
#: times its Arrow form, so a large page or file never holds all its rows as dicts.
GATHER_ROWS = 5_000


class TableBuffer:
    """Rows of several tables on their way to Arrow, validated (:func:`to_table`) and made
    Arrow tables :data:`GATHER_ROWS` rows at a time."""

    def __init__(
        self,
        schemas: Mapping[str, pa.Schema],
        constants: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._schemas = dict(schemas)
        #: table -> the columns its rows leave out, the same in every row (``to_table``)
        self._constants = dict(constants or {})
        self._rows: dict[str, list[Mapping[str, Any]]] = {name: [] for name in schemas}
        self._parts: dict[str, list[pa.Table]] = {name: [] for name in schemas}
        self._held = 0
        self.rows = 0  # rows of every table added

    def add(self, name: str, rows: Iterable[Mapping[str, Any]]) -> None:
        before = len(self._rows[name])
        self._rows[name].extend(rows)
        added = len(self._rows[name]) - before
        self._held += added
        self.rows += added
        if self._held >= GATHER_ROWS:
            self._gather()

    def _gather(self) -> None:
        for name, rows in self._rows.items():
            if rows:
                self._parts[name].append(
                    to_table(rows, self._schemas[name], self._constants.get(name))
                )
                self._rows[name] = []
        self._held = 0

    def tables(self) -> dict[str, pa.Table]:
        """Every table, whole (an empty table for one without rows)."""
        self._gather()
        return {name: pa.concat_tables(parts) if parts else self._schemas[name].empty_table()
                for name, parts in self._parts.items()}  # fmt: skip


CITATIONS = pa.schema(
    [
        _f("citing_handle", _str, False),
        _f("cited_handle", _str, False),
        _f("citing_key", _str, False),
        _f("cited_key", _str, False),
        _f("source", _str, False),
        _f("loaded_at", _ts, False),
    ]
)

CITATION_COUNTS = pa.schema(
    [
        _f("handle", _str, False),
        _f("handle_key", _str, False),
        _f("cited_by", pa.int64(), False),
        _f("cites", pa.int64(), False),
    ]
)

CITATION_LOADS = pa.schema(
    [
        _f("source", _str, False),
        _f("loaded_at", _ts, False),
        _f("lines", pa.int64(), False),
        _f("blank_lines", pa.int64(), False),
        _f("malformed_lines", pa.int64(), False),
        _f("malformed_parts", pa.int64(), False),
        _f("self_citations", pa.int64(), False),
        _f("edges_read", pa.int64(), False),
        _f("duplicates", pa.int64(), False),
        _f("edges", pa.int64(), False),
    ]
)

REFERENCES = pa.schema(
    [
        _f("handle", _str, False),
        _f("handle_key", _str, False),
        _f("position", pa.int32(), False),
        _f("matched", pa.bool_(), False),
        _f("cited_handle", _str),
        _f("cited_key", _str),
        _f("reference_text", _str),
        _f("source", _str, False),
        _f("fetched_at", _ts, False),
    ]
)

ALL_TABLES.update(
    {
        "citations": CITATIONS,
        "citation_counts": CITATION_COUNTS,
        "citation_loads": CITATION_LOADS,
        "references": REFERENCES,
    }
)
