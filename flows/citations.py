"""Citations: the CitEc graph (``repec-harvest citations``), per-item references
(``repec-harvest references``) and exports (``repec-harvest export``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from flows.datadir import DataDir
from harvesting.citec import DEFAULT_API, CitecClient, iscited_lines, resolve_source
from schemas import tables
from schemas.citations import CitationStats, parse_iscited
from schemas.dates import utc_now
from schemas.errors import RequestBudgetExhausted
from schemas.handles import handle_key
from warehouse.citations import export_text, load_citation_graph, replace_references

log = logging.getLogger(__name__)


def load_citations(
    data: DataDir, source: str, contact: str | None = None, allow_empty: bool = False,
    on_lines: Callable[[int], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Replace the citation graph with ``source`` (a path or URL of iscited.txt[.gz]); a source
    with no citation, or mostly malformed lines, is refused unless ``allow_empty``.
    ``on_lines`` is told how many lines are read, every 100,000."""
    with data.writing(), data.harvesting("citations", "a citation load"):
        path, label = resolve_source(source, data.root / "citec", contact)
        stats = CitationStats()
        with iscited_lines(path) as lines, data.warehouse() as warehouse:
            return load_citation_graph(
                warehouse,
                parse_iscited(_counted(lines, on_lines) if on_lines else lines, stats),
                staging=data.root / "citec" / "staging.parquet",
                source=label,
                loaded_at=utc_now(),
                stats=stats,
                allow_empty=allow_empty,
            )


def _counted(lines: Iterator[str | None], tell: Callable[[int], None]) -> Iterator[str | None]:
    for number, line in enumerate(lines, start=1):
        if number % 100_000 == 0:
            tell(number)
        yield line


@dataclass
class ReferencesReport:
    fetched: int = 0
    cached: int = 0
    matched: int = 0
    unmatched: int = 0
    ignored: int = 0  # pairs ACIS ignores: no reference string, or not the first of a group
    missing: list[str] = field(default_factory=list)
    stopped: str | None = None


def fetch_references(
    data: DataDir,
    handles: list[str],
    base_url: str = DEFAULT_API,
    budget: int = 500,
    refresh: bool = False,
    contact: str | None = None,
    delay: float | None = None,
    sleep: Callable[[float], None] | None = None,
) -> ReferencesReport:
    """References of each handle from CitEc's AMF service into ``references``."""
    report = ReferencesReport()
    with ExitStack() as stack:
        stack.enter_context(data.writing())
        stack.enter_context(data.harvesting("references", "a references fetch"))
        client = CitecClient(
            data.root / "citec" / "amf", base_url, budget=budget, contact=contact, delay=delay,
            sleep=sleep or time.sleep,
        )  # fmt: skip
        warehouse = stack.enter_context(data.warehouse())
        for handle in dict.fromkeys(h.strip() for h in handles if h.strip()):
            try:
                found, cached = client.references(handle, refresh=refresh)
            except RequestBudgetExhausted as exc:
                report.stopped = str(exc)
                break
            report.cached += cached
            report.fetched += not cached
            now = utc_now()
            rows = [
                _reference(handle, position, True, cited, text, client.base_url, now)
                for position, cited, text in found.matched
            ] + [
                _reference(handle, position, False, None, text, client.base_url, now)
                for position, text in found.unmatched
            ]
            rows.sort(key=lambda r: r["position"])
            report.matched += len(found.matched)
            report.unmatched += len(found.unmatched)
            report.ignored += found.ignored
            replace_references(
                warehouse, handle_key(handle), tables.to_table(rows, tables.REFERENCES)
            )
    return report


def _reference(handle: str, position: int, matched: bool, cited: str | None, text: str | None,
               source: str, fetched_at: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "handle": handle,
        "handle_key": handle_key(handle),
        "position": position,
        "matched": matched,
        "cited_handle": cited,
        "cited_key": handle_key(cited) if cited else None,
        "reference_text": text,
        "source": source,
        "fetched_at": fetched_at,
    }


def export_items(data: DataDir, handles: list[str], fmt: str) -> tuple[str, list[str]]:
    """The export text of the handles found, and the handles not in the warehouse."""
    with data.warehouse() as warehouse:
        return export_text(warehouse, handles, fmt)
