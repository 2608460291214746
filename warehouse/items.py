"""What a record page shows, read from the warehouse: an item with its people, references,
citations, series and neighbours; an author's items; a series' items by year.

Every function reads one snapshot (``Warehouse.reading``), so a page never mixes two states
of a warehouse that a harvest is loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from schemas.handles import handle_key
from warehouse.database import Warehouse
from warehouse.statements import dict_rows

#: How many other items of its series an item page lists, and how many items of one year a
#: series page lists.
NEIGHBOURS = 10
SERIES_YEAR_ITEMS = 500
#: How many citing items an item page lists (its count is always the full one).
CITING_ITEMS = 200

Row = dict[str, Any]


@dataclass
class ItemPage:
    """One item as its record page shows it (``item`` is None for an unknown handle)."""

    item: Row
    people: list[Row] = field(default_factory=list)
    references: list[Row] = field(default_factory=list)
    #: items it cites, from the citation graph (shown where CitEc gave no reference list)
    cites: list[Row] = field(default_factory=list)
    citing: list[Row] = field(default_factory=list)
    cited_by: int = 0
    series: Row | None = None
    neighbours: list[Row] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return bool(self.item["deleted"])

    def authors(self) -> list[Row]:
        return [p for p in self.people if p["role"] == "author"]

    def editors(self) -> list[Row]:
        return [p for p in self.people if p["role"] == "editor"]


#: The columns a record page shows (the others, provenance kept for rebuilds and merges,
#: are left unread: each column read costs a row group of it).
_SHOWN = """handle, handle_key, item_type, title, abstract, journal, volume, issue, pages, year,
date, doi, keywords, jel_codes, urls, files, language, publisher, publication_status, number,
series_handle, deleted, datestamp, endpoint, metadata_prefix, harvested_at, sources"""
_ITEM = f"SELECT {_SHOWN}, series_name FROM live_articles WHERE handle_key = $key"
_TOMBSTONE = (
    f"SELECT {_SHOWN}, NULL AS series_name FROM articles WHERE handle_key = $key AND deleted"
)
#: Everything around an item, in one statement: on a DuckLake each statement pays for its
#: planning (reading which files hold what), so one statement instead of six saves a fifth
#: of a page's time at a million items. The other ends of references and citations are
#: looked up afterwards, once, and only if there are any (``_OTHER_ENDS``).
_AROUND = """
SELECT
  (SELECT list(p ORDER BY p.role, p.position)
   FROM (SELECT role, position, name, given_name, family_name, short_id, email, workplace
         FROM authors WHERE handle_key = $key) p) AS people,
  (SELECT list(r ORDER BY r.position)
   FROM (SELECT position, matched, cited_handle, cited_key, reference_text
         FROM "references" WHERE handle_key = $key) r) AS "references",
  (SELECT list(e)
   FROM (SELECT true AS citing, citing_handle AS handle, citing_key AS other_key
         FROM citations WHERE cited_key = $key
         UNION ALL
         SELECT false, cited_handle, cited_key
         FROM {outgoing} WHERE citing_key = $key AND cited_key <> $key) e) AS edges,
  (SELECT cited_by FROM citation_counts WHERE handle_key = $key) AS cited_by,
  (SELECT list(s) FROM series s WHERE handle_key = $series) AS series,
  (SELECT list(n ORDER BY n.year DESC NULLS LAST, n.datestamp DESC, n.handle_key)
   FROM (SELECT handle, handle_key, title, year, datestamp FROM live_articles
         -- the series' items whose handles start with its handle, as RePEc names them: a
         -- range of keys, found in one row group of files in key order
         WHERE handle_key > $series || ':' AND handle_key < $series || ';'
           AND lower(series_handle) = $series AND handle_key <> $key
         ORDER BY year DESC NULLS LAST, datestamp DESC, handle_key
         LIMIT {neighbours}) n) AS neighbours
"""
_OTHER_ENDS = """
SELECT handle_key, handle, title, year FROM articles
WHERE handle_key IN (SELECT unnest($keys)) AND NOT deleted
"""


#: The tables ``read_item_page`` reads, as copied into a native DuckDB file from the attached
#: warehouse schema ``{source}`` (``warehouse.search_index`` copies, ``warehouse.page_copy``
#: serves): table -> (the SELECT of its rows, the key they are looked up by, kept in its order
#: so that a lookup reads one row group). ``articles`` holds the live items as
#: ``live_articles`` shows them and the deleted ones; ``live_articles`` is a view of it.
ITEM_PAGE_TABLES = {
    "articles": (
        f"""SELECT {_SHOWN}, series_name FROM {{source}}.live_articles
        UNION ALL
        SELECT {_SHOWN}, NULL AS series_name FROM {{source}}.articles WHERE deleted""",
        "handle_key",
    ),
    "authors": (
        """SELECT handle_key, role, position, name, given_name, family_name, short_id, email,
        workplace FROM {source}.authors""",
        "handle_key",
    ),
    "references": (
        "SELECT handle_key, position, matched, cited_handle, cited_key, reference_text FROM "
        '{source}."references"',
        "handle_key",
    ),
    "citations": (
        "SELECT cited_key, citing_key, cited_handle, citing_handle FROM {source}.citations",
        "cited_key",
    ),
    "citation_counts": ("SELECT handle_key, cited_by FROM {source}.citation_counts", "handle_key"),
    "series": ("SELECT * FROM {source}.series", "handle_key"),
}
#: Tables copied a second time in another key's order: table -> (the table, its key). The
#: edges in the citing item's order are ``outgoing`` of ``read_item_page``.
ITEM_PAGE_TABLES_REORDERED = {"citations_out": ("citations", "citing_key")}
ITEM_PAGE_VIEWS = ("CREATE VIEW live_articles AS SELECT * FROM articles WHERE NOT deleted",)


def item_page(warehouse: Warehouse, handle: str) -> ItemPage | None:
    """Everything the record page of ``handle`` shows, read from the warehouse; None when
    the warehouse never had it."""
    with warehouse.reading() as con:
        return read_item_page(con, handle_key(handle))


def read_item_page(
    con: duckdb.DuckDBPyConnection, key: str, outgoing: str = "citations"
) -> ItemPage | None:
    """The record page of the item keyed ``key``, read through ``con``: the warehouse in one
    read transaction, or a copy of its tables (``ITEM_PAGE_TABLES``; ``outgoing``: its table of
    citations in the citing item's order); None when it has no such item."""
    rows = dict_rows(con, _ITEM, {"key": key}) or dict_rows(con, _TOMBSTONE, {"key": key})
    if not rows:
        return None
    page = ItemPage(item=rows[0])
    if page.deleted:
        return page
    series = handle_key(page.item["series_handle"] or "")
    [around] = dict_rows(
        con,
        _AROUND.format(neighbours=NEIGHBOURS, outgoing=outgoing),
        {"key": key, "series": series},
    )
    references, edges = around["references"] or [], around["edges"] or []
    keys = [r["cited_key"] for r in references if r["cited_key"]]
    keys += [e["other_key"] for e in edges]
    ends = {r["handle_key"]: r for r in dict_rows(con, _OTHER_ENDS, {"keys": keys})} if keys else {}
    page.people = around["people"] or []
    page.series = (around["series"] or [None])[0]
    page.neighbours = around["neighbours"] or []
    page.references = [_with_end(r, ends.get(r["cited_key"] or "")) for r in references]
    edges = sorted((_with_end(e, ends.get(e["other_key"])) for e in edges),
                   key=lambda e: (-(e["year"] or 0), e["handle"]))  # fmt: skip
    citing = [e for e in edges if e["citing"]]
    page.citing = citing[:CITING_ITEMS]
    page.cites = [e for e in edges if not e["citing"]][:CITING_ITEMS]
    # CitEc's count over all of RePEc; the edges loaded where it has none
    page.cited_by = around["cited_by"] if around["cited_by"] is not None else len(citing)
    return page


def _with_end(row: Row, end: Row | None) -> Row:
    """A reference or an edge with the item at its other end, where it is harvested."""
    return {**row, "item": end and end["handle"], "title": end and end["title"],
            "year": end and end["year"]}  # fmt: skip


@dataclass
class AuthorPage:
    """An author's items: by RePEc short-id where known, else by the name as written."""

    name: str
    short_id: str | None
    items: list[Row]
    #: other spellings of the name on these items
    names: list[str]


_AUTHOR_ITEMS = """
SELECT l.handle, l.title, l.year, l.item_type, coalesce(l.journal, l.series_name) AS venue,
       l.series_handle, any_value(au.name) AS as_written
FROM authors au JOIN live_articles l USING (handle_key)
WHERE {match}
GROUP BY ALL
ORDER BY l.year DESC NULLS LAST, l.handle
"""


def author_page(
    warehouse: Warehouse, short_id: str | None = None, name: str | None = None
) -> AuthorPage | None:
    """The items of the author with ``short_id`` (case-insensitive), or else of everyone
    written exactly ``name`` (case and spacing aside); None when there are none."""
    # both sides lowered by DuckDB (Python's lower differs for a Turkish İ or a final sigma)
    if short_id and short_id.strip():
        match, params = "lower(au.short_id) = lower($value)", {"value": short_id.strip()}
    elif name and name.strip():
        match = "lower(trim(regexp_replace(au.name, '[\\s\\p{Z}]+', ' ', 'g'))) = lower($value)"
        params = {"value": " ".join(name.split())}
    else:
        return None
    with warehouse.reading() as con:
        items = dict_rows(con, _AUTHOR_ITEMS.format(match=match), params)
    if not items:
        return None
    spellings = sorted({i["as_written"] for i in items if i["as_written"]})
    shown = max(spellings, key=lambda s: sum(i["as_written"] == s for i in items),
                default=short_id or "(no name)")  # fmt: skip
    return AuthorPage(name=shown, short_id=short_id, items=items, names=spellings)


@dataclass
class SeriesPage:
    """A series (or journal) with its items counted by year, and the items of one year."""

    series: Row
    years: list[tuple[int | None, int]]
    year: int | None
    items: list[Row]
    total: int
    #: the items listed are those without a year (``year`` is None then)
    undated: bool = False

    @property
    def year_total(self) -> int:
        """How many items the shown year has (more than ``items`` lists, for a big year)."""
        return dict(self.years).get(self.year, 0)


_SERIES = "SELECT * FROM series WHERE handle_key = $key"
_SERIES_YEARS = """
SELECT year, count(*) AS n FROM live_articles WHERE lower(series_handle) = $series
GROUP BY year ORDER BY year DESC NULLS LAST
"""
_SERIES_YEAR_ITEMS = """
SELECT handle, title, year, volume, issue, pages, item_type,
       (SELECT list(name ORDER BY position) FROM authors au
        WHERE au.handle_key = l.handle_key AND au.role = 'author') AS authors
FROM live_articles l
WHERE lower(series_handle) = $series AND year IS NOT DISTINCT FROM $year
ORDER BY try_cast(volume AS INTEGER) DESC NULLS LAST, try_cast(issue AS INTEGER) DESC NULLS LAST,
         pages, handle_key
LIMIT {limit}
"""


def series_page(
    warehouse: Warehouse, handle: str, year: int | None = None, undated: bool = False
) -> SeriesPage | None:
    """A series' counts by year and the items of ``year`` (default: its latest), or with
    ``undated`` those without a year; None for a series the warehouse neither lists nor has
    items of."""
    key = handle_key(handle)
    with warehouse.reading() as con:
        found = dict_rows(con, _SERIES, {"key": key})
        years = [(r["year"], r["n"]) for r in dict_rows(con, _SERIES_YEARS, {"series": key})]
        if not found and not years:
            return None
        series = found[0] if found else {"handle": handle, "handle_key": key, "name": None}
        shown = None if undated else year if year is not None else (years[0][0] if years else None)
        items = dict_rows(
            con, _SERIES_YEAR_ITEMS.format(limit=SERIES_YEAR_ITEMS), {"series": key, "year": shown}
        )
    return SeriesPage(series, years, shown, items, sum(n for _, n in years), undated)
