"""The dashboard's charts, drawn from its numbers (``warehouse.health``): per harvest, records
and deletions per run over time; for the corpus, items per year, per series and per JEL letter,
the most cited items and how citations spread. Each bar links where its row leads."""

from __future__ import annotations

from markupsafe import Markup

from warehouse.health import Health
from web import charts
from web.links import item_url, search_url, series_url

#: Per harvest: (column of its runs, chart title, unit).
RUN_CHARTS = (
    ("records", "Records per run", "records"),
    ("deleted", "Deletions per run", "deletions"),
)


def dashboard_charts(report: Health) -> tuple[dict[str, list[Markup]], dict[str, Markup]]:
    """harvest_id -> its run charts, and the corpus charts by name."""
    runs = {
        harvest_id: [
            Markup(charts.timeline([(r["started_at"], r[column]) for r in rows if r["started_at"]],
                                   title, unit=unit))
            for column, title, unit in RUN_CHARTS
        ]
        for harvest_id, rows in report.runs.items()
    }  # fmt: skip
    corpus = {
        "per_year": charts.columns(
            [(str(r["year"]), r["items"]) for r in report.per_year], "Items per year"
        ),
        "per_series": charts.bars(
            [(r["name"], r["items"]) for r in report.per_series], "Items per series",
            links=[series_url(r["series_handle"]) for r in report.per_series],
        ),
        "per_jel": charts.bars(
            [(r["letter"], r["items"]) for r in report.per_jel], "Items per JEL letter",
            links=[search_url(jel=r["letter"]) for r in report.per_jel],
        ),
        "most_cited": charts.bars(
            [(r["title"] or r["handle"], r["cited_by"]) for r in report.most_cited],
            "Most cited items", unit="citations",
            links=[item_url(r["handle"]) for r in report.most_cited],
        ),
        "citation_spread": charts.columns(
            [(r["bucket"], r["items"]) for r in report.citation_spread],
            "Cited items by number of citations",
        ),
    }  # fmt: skip
    return runs, {name: Markup(svg) for name, svg in corpus.items()}
