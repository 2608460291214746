"""What the health dashboard shows, read from the warehouse in one snapshot: each harvest's
freshness, runs, errors and quarantine (the harvest log the pipeline mirrors into the
warehouse), and what the corpus holds (items per year, series, JEL letter, citations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warehouse.catalog import ALIAS
from warehouse.database import Warehouse
from warehouse.statements import dict_rows

#: How many runs per harvest, series, most cited items, quarantined records and recent
#: changes the dashboard lists.
RUNS = 60
TOP = 15
QUARANTINED = 20
CHANGES = 20

Row = dict[str, Any]


@dataclass
class Health:
    snapshot: Row | None
    harvests: list[Row] = field(default_factory=list)
    #: harvest_id -> its runs, oldest first
    runs: dict[str, list[Row]] = field(default_factory=dict)
    quarantine_reasons: list[Row] = field(default_factory=list)
    #: harvest_id -> its quarantined records by reason, the most first
    harvest_quarantine: dict[str, list[Row]] = field(default_factory=dict)
    quarantined: list[Row] = field(default_factory=list)
    totals: Row = field(default_factory=dict)
    per_year: list[Row] = field(default_factory=list)
    per_series: list[Row] = field(default_factory=list)
    per_jel: list[Row] = field(default_factory=list)
    most_cited: list[Row] = field(default_factory=list)
    #: (bucket label, items) of the citation counts of cited items
    citation_spread: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)
    changes_total: int = 0
    citation_load: Row | None = None


_SNAPSHOT = f"""
SELECT snapshot_id, timezone('UTC', snapshot_time) AS snapshot_time
FROM {ALIAS}.snapshots() ORDER BY snapshot_id DESC LIMIT 1
"""
_HARVESTS = """
SELECT s.*, r.status AS last_status, r.started_at AS last_started, r.finished_at AS last_finished,
       r.error AS last_run_error, c.records AS last_complete_records
FROM harvest_state s
LEFT JOIN (SELECT * FROM harvest_runs
           QUALIFY row_number() OVER (PARTITION BY harvest_id ORDER BY started_at DESC) = 1) r
       USING (harvest_id)
LEFT JOIN harvest_runs c ON c.run_id = s.last_complete_run AND c.harvest_id = s.harvest_id
ORDER BY s.endpoint, s.metadata_prefix, s.set_spec NULLS FIRST
"""
_RUNS = f"""
SELECT * FROM (
    SELECT *,  -- (retries: absent from a warehouse no harvest wrote since they were counted)
           row_number() OVER (PARTITION BY harvest_id ORDER BY started_at DESC) AS recent
    FROM harvest_runs)
WHERE recent <= {RUNS}
ORDER BY harvest_id, started_at
"""
_QUARANTINE_REASONS = f"""
SELECT reason, count(*) AS records, max(quarantined_at) AS latest
FROM quarantine GROUP BY reason ORDER BY records DESC, reason LIMIT {TOP}
"""
_HARVEST_QUARANTINE = f"""
SELECT * FROM (
    SELECT harvest_id, reason, count(*) AS records,
           row_number() OVER (PARTITION BY harvest_id ORDER BY count(*) DESC, reason) AS rank
    FROM quarantine WHERE harvest_id IS NOT NULL GROUP BY harvest_id, reason)
WHERE rank <= {TOP}
ORDER BY harvest_id, rank
"""
_QUARANTINED = f"""
SELECT oai_identifier, reason, quarantined_at, harvest_id, page_path FROM quarantine
ORDER BY quarantined_at DESC, oai_identifier LIMIT {QUARANTINED}
"""
_TOTALS = """
SELECT count(*) FILTER (WHERE NOT deleted) AS items,
       count(*) FILTER (WHERE deleted) AS deleted,
       count(DISTINCT lower(series_handle)) FILTER (WHERE NOT deleted) AS series,
       (SELECT count(*) FROM citations) AS citations,
       (SELECT count(*) FROM quarantine) AS quarantined,
       (SELECT count(DISTINCT lower(coalesce(short_id, name))) FROM live_authors
        WHERE role = 'author') AS authors
FROM articles
"""
_PER_YEAR = "SELECT year, items FROM counts_by_year WHERE year IS NOT NULL ORDER BY year"
_PER_SERIES = f"""
SELECT series_handle, coalesce(series_name, series_handle) AS name, items
FROM counts_by_series WHERE series_handle IS NOT NULL LIMIT {TOP}
"""
#: Each item counted once per letter of its codes (no set of handles held per letter).
_PER_JEL = """
SELECT letter, count(*) AS items
FROM (SELECT unnest(list_distinct([upper(left(c, 1)) FOR c IN jel_codes])) AS letter
      FROM live_articles WHERE len(jel_codes) > 0)
WHERE regexp_full_match(letter, '[A-Z]')
GROUP BY letter ORDER BY letter
"""
_MOST_CITED = f"""
SELECT handle, title, year, cited_by FROM article_citation_counts
WHERE cited_by > 0 ORDER BY cited_by DESC, handle LIMIT {TOP}
"""
#: Cited items by how often they are cited, in buckets that stay readable at any size.
_CITATION_SPREAD = """
SELECT CASE WHEN cited_by = 1 THEN '1' WHEN cited_by = 2 THEN '2'
            WHEN cited_by <= 5 THEN '3-5' WHEN cited_by <= 10 THEN '6-10'
            WHEN cited_by <= 50 THEN '11-50' WHEN cited_by <= 100 THEN '51-100'
            ELSE '>100' END AS bucket,
       min(cited_by) AS low, count(*) AS items
FROM article_citation_counts WHERE cited_by > 0
GROUP BY bucket ORDER BY low
"""
_CHANGES = f"SELECT * FROM changes_this_week LIMIT {CHANGES}"
_CHANGES_TOTAL = "SELECT count(*) AS n FROM changes_this_week"
_CITATION_LOAD = "SELECT * FROM citation_loads ORDER BY loaded_at DESC LIMIT 1"


def health(warehouse: Warehouse) -> Health:
    """The dashboard's numbers, all from the same snapshot."""
    with warehouse.reading() as con:
        snapshot = dict_rows(con, _SNAPSHOT)
        report = Health(snapshot=snapshot[0] if snapshot else None)
        report.harvests = dict_rows(con, _HARVESTS)
        for run in dict_rows(con, _RUNS):
            run.setdefault("retries", None)
            report.runs.setdefault(run["harvest_id"], []).append(run)
        report.quarantine_reasons = dict_rows(con, _QUARANTINE_REASONS)
        for reason in dict_rows(con, _HARVEST_QUARANTINE):
            report.harvest_quarantine.setdefault(reason["harvest_id"], []).append(reason)
        report.quarantined = dict_rows(con, _QUARANTINED)
        report.totals = dict_rows(con, _TOTALS)[0]
        report.per_year = dict_rows(con, _PER_YEAR)
        report.per_series = dict_rows(con, _PER_SERIES)
        report.per_jel = dict_rows(con, _PER_JEL)
        report.most_cited = dict_rows(con, _MOST_CITED)
        report.citation_spread = dict_rows(con, _CITATION_SPREAD)
        report.changes = dict_rows(con, _CHANGES)
        report.changes_total = int(dict_rows(con, _CHANGES_TOTAL)[0]["n"])
        loads = dict_rows(con, _CITATION_LOAD)
        report.citation_load = loads[0] if loads else None
    return report


def freshness(last_complete: datetime | None, now: datetime) -> str:
    """How long ago a harvest last completed, in words ("never" if it has not)."""
    if last_complete is None:
        return "never"
    seconds = max(0, int((now - last_complete).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"
