"""The dashboard's SVG charts: well-formed, escaped, accessible, deterministic, and honest
about their numbers."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from web.charts import bars, columns, timeline
from web.links import outside_href, safe_href

SVG = "http://www.w3.org/2000/svg"
NS = {"s": SVG}
EVIL = "<script>alert(1)</script>"
DAY = datetime(2025, 3, 1, 6, 0)
RUNS = [(DAY + timedelta(days=i), 100.0 * i) for i in range(7)]

CHARTS: dict[str, Callable[[], str]] = {
    "bars": lambda: bars([("Econometrica", 1234567), ("zero", 0), ("half", 0.5)], "Top series"),
    "bars with links": lambda: bars(
        [("a", 1), ("b", 2)], "Linked", links=["/series/a", "/series/b"]
    ),
    "columns": lambda: columns([(str(y), y % 5) for y in range(1990, 2026)], "Items per year"),
    "timeline": lambda: timeline(RUNS, "Records per run"),
    "empty bars": lambda: bars([], "Nothing"),
    "empty columns": lambda: columns([], "Nothing"),
    "empty timeline": lambda: timeline([], "Nothing"),
}


def parse(svg: str) -> etree._Element:
    root = etree.fromstring(svg.encode())
    assert root.tag == f"{{{SVG}}}svg"
    return root


def find(root: etree._Element, path: str) -> list[etree._Element]:
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [e for e in found if isinstance(e, etree._Element)]


def texts(root: etree._Element, path: str) -> list[str]:
    return ["".join(e.itertext()) for e in find(root, path)]


@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_is_one_well_formed_svg_element_that_scales(name: str) -> None:
    svg = CHARTS[name]()
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    root = parse(svg)
    assert root.get("width") == "100%"
    assert len(root.get("viewBox", "").split()) == 4
    assert not find(root, "//s:script | //s:image | //s:foreignObject | //s:style")


@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_is_labelled_by_its_title_and_described(name: str) -> None:
    root = parse(CHARTS[name]())
    assert root.get("role") == "img"
    (title,) = find(root, f"//s:title[@id='{root.get('aria-labelledby')}']")
    assert title.text in {"Top series", "Linked", "Items per year", "Records per run", "Nothing"}
    (desc,) = find(root, f"//s:desc[@id='{root.get('aria-describedby')}']")
    assert desc.text and len(desc.text) > 5


@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_is_the_same_text_for_the_same_input(name: str) -> None:
    assert CHARTS[name]() == CHARTS[name]()


def test_different_charts_get_different_ids_so_they_can_share_a_page() -> None:
    ids = {parse(make()).get("aria-labelledby") for make in CHARTS.values()}
    assert len(ids) == len(CHARTS)


@pytest.mark.parametrize("chart", [bars, columns, timeline])
def test_empty_input_draws_a_small_chart_that_says_no_data_yet(chart: Callable[..., str]) -> None:
    root = parse(chart([], "Harvest runs"))
    assert "No data yet" in texts(root, "//s:text")
    assert texts(root, "//s:desc") == ["No data yet"]
    assert texts(root, "//s:title") == ["Harvest runs"]


def test_bars_draw_one_bar_per_row_in_the_order_given_with_the_value_at_its_end() -> None:
    root = parse(bars([("b", 10), ("a", 1234567), ("c", 0)], "Top", unit="citations"))
    assert len(find(root, "//s:rect[@class='bar']")) == 3
    assert texts(root, "//s:text[@class='label']") == ["b", "a", "c"]
    assert texts(root, "//s:text[@class='value']") == ["10", "1,234,567", "0"]
    assert texts(root, "//s:g[@class='row']/s:title")[1] == "a: 1,234,567 citations"
    widths = [float(r.get("width", "")) for r in find(root, "//s:rect[@class='bar']")]
    assert widths[2] == 0 and widths[0] < widths[1]


def test_bars_shorten_a_long_label_and_keep_it_whole_in_the_tooltip() -> None:
    label = "Journal of the Royal Statistical Society Series B"
    root = parse(bars([(label, 3)], "Top"))
    (shown,) = texts(root, "//s:text[@class='label']")
    assert shown.endswith("…") and len(shown) <= 24 and label.startswith(shown[:-1])
    assert texts(root, "//s:g[@class='row']/s:title") == [f"{label}: 3 items"]


def test_bars_wrap_each_label_in_the_link_it_is_given() -> None:
    root = parse(
        bars([("RePEc:aaa", 1), ("RePEc:bbb", 2)], "Top", links=["/s/RePEc:aaa", "/s/RePEc:bbb"])
    )
    links = find(root, "//s:a")
    assert [a.get("href") for a in links] == ["/s/RePEc:aaa", "/s/RePEc:bbb"]
    assert [texts(a, "s:text[@class='label']") for a in links] == [["RePEc:aaa"], ["RePEc:bbb"]]


def test_two_bars_with_the_same_label_keep_their_own_links() -> None:
    root = parse(bars([("Editorial", 9), ("Editorial", 7)], "Top", links=["/a:1", "/b:2"]))
    assert [a.get("href") for a in find(root, "//s:a")] == ["/a:1", "/b:2"]


@pytest.mark.parametrize(
    "href",
    ["/series/x", "series/x?y=1&z=2", "?page=2", "#top", "https://ideas.repec.org/", "http://a/b"],
)
def test_a_relative_path_or_http_url_becomes_a_link(href: str) -> None:
    root = parse(bars([("x", 1)], "Top", links=[href]))
    assert [a.get("href") for a in find(root, "//s:a")] == [href]


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "RePEc:aaa:bbb",
        "//evil.example/",
        "\\\\evil.example/",
        "/\\evil.example/",
        "https:///nohost",
        "/a b",
        '/a"b',
        "/<script>",
        "",
    ],
)
def test_any_other_href_leaves_the_label_unlinked(href: str) -> None:
    root = parse(bars([("x", 1)], "Top", links=[href]))
    assert not find(root, "//s:a")
    assert texts(root, "//s:text[@class='label']") == ["x"]


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("ftp://ftp.repec.org/RePEc/a.pdf", "ftp://ftp.repec.org/RePEc/a.pdf"),
        (" http://x.org/my file.pdf ", "http://x.org/my%20file.pdf"),
        ('http://x.org/a"onmouseover=b', "http://x.org/a%22onmouseover=b"),
        ("https://x.org/%C3%A9?a=1&b=2#c", "https://x.org/%C3%A9?a=1&b=2#c"),
        ("https://x.org/é", "https://x.org/%C3%A9"),
    ],
)
def test_an_outside_url_is_a_link_with_its_unsafe_characters_encoded(url: str, href: str) -> None:
    """One rule for the charts and the templates (a harvested download URL)."""
    assert safe_href(url) == href


def test_a_script_label_title_or_unit_is_shown_as_text_never_as_markup() -> None:
    charts = [
        bars([(EVIL, 1)], EVIL, unit=EVIL, links=[EVIL]),
        columns([(EVIL, 1)], EVIL, unit=EVIL),
        timeline([(DAY, 1)], EVIL, unit=EVIL),
    ]
    for svg in charts:
        assert "<script" not in svg
        root = parse(svg)
        assert not find(root, "//s:script | //script | //s:a")
        assert EVIL in texts(root, "//s:title")
        assert any(EVIL in t for t in texts(root, "//s:title | //s:desc"))


def test_a_quote_in_a_link_cannot_break_out_of_its_attribute() -> None:
    root = parse(bars([('x" onclick="alert(1)', 1)], "T", links=['/s?q=x" onclick="alert(1)']))
    assert not find(root, "//*[@onclick]")


@given(label=st.text(), title=st.text(), unit=st.text(max_size=10))
def test_any_text_at_all_keeps_every_chart_well_formed(label: str, title: str, unit: str) -> None:
    parse(bars([(label, 1)], title, unit=unit, links=["/" + label]))
    parse(columns([(label, 1)], title, unit=unit))
    parse(timeline([(DAY, 1)], title, unit=unit))


def test_columns_draw_one_column_per_row_each_with_its_label_and_value() -> None:
    root = parse(columns([("2019", 3), ("2020", 0), ("2021", 1234.5)], "Per year"))
    assert len(find(root, "//s:g[@class='column']/s:rect[@class='bar']")) == 3
    assert texts(root, "//s:g[@class='column']/s:title") == [
        "2019: 3 items",
        "2020: 0 items",
        "2021: 1,234.5 items",
    ]
    assert texts(root, "//s:text[@class='label']") == ["2019", "2020", "2021"]


@pytest.mark.parametrize("count", [1, 12, 13, 40, 365])
def test_columns_show_at_most_twelve_labels_under_the_axis(count: int) -> None:
    root = parse(columns([(f"{i}", i) for i in range(count)], "Histogram"))
    shown = texts(root, "//s:text[@class='label']")
    assert len(find(root, "//s:g[@class='column']")) == count
    assert shown[0] == "0" and len(shown) <= 12
    assert len(shown) == count if count <= 12 else len(shown) >= 6


def test_the_value_axis_has_round_ticks_with_thousands_separators() -> None:
    root = parse(columns([("a", 1234567), ("b", 10)], "Big"))
    assert texts(root, "//s:text[@class='tick']") == ["0", "500,000", "1,000,000", "1,500,000"]


def test_the_value_axis_ticks_fractions_and_zeros_sensibly() -> None:
    small = parse(columns([("a", 0.3), ("b", 0.05)], "Small"))
    assert texts(small, "//s:text[@class='tick']") == ["0.0", "0.1", "0.2", "0.3"]
    zeros = parse(columns([("a", 0), ("b", 0)], "Zeros"))
    assert texts(zeros, "//s:text[@class='tick']") == ["0", "1"]
    heights = [float(r.get("height", "")) for r in find(zeros, "//s:rect[@class='bar']")]
    assert heights == [0, 0]


def test_the_tallest_column_stays_inside_the_chart() -> None:
    root = parse(columns([("a", 999), ("b", 1001)], "Tall"))
    for rect in find(root, "//s:rect[@class='bar']"):
        assert float(rect.get("y", "")) >= 0 and float(rect.get("height", "")) <= 224


def test_a_huge_value_renders_with_separators() -> None:
    root = parse(bars([("many", 10**15), ("few", 1)], "Huge"))
    assert texts(root, "//s:text[@class='value']") == ["1,000,000,000,000,000", "1"]


def test_a_value_near_the_largest_float_still_draws_inside_the_chart() -> None:
    for svg in (columns([("a", 1.7e308)], "Edge"), timeline([(DAY, 1.7e308)], "Edge")):
        assert "nan" not in svg and "inf" not in svg
        parse(svg)


def test_a_timeline_draws_a_line_and_one_dot_per_point_each_with_date_and_value() -> None:
    root = parse(timeline(RUNS, "Runs"))
    (line,) = find(root, "//s:polyline[@class='line']")
    assert len(line.get("points", "").split()) == len(RUNS)
    assert len(find(root, "//s:circle[@class='dot']")) == len(RUNS)
    assert texts(root, "//s:circle/s:title")[-1] == "2025-03-07 06:00: 600 records"
    ticks = [t for t in texts(root, "//s:text[@class='tick']") if t.startswith("2025")]
    assert 2 <= len(ticks) <= 5 and ticks[0] == "2025-03-01" and ticks[-1] == "2025-03-07"


def test_a_timeline_draws_its_points_in_time_order_whatever_the_input_order() -> None:
    assert timeline(list(reversed(RUNS)), "Runs") == timeline(RUNS, "Runs")


@pytest.mark.parametrize(
    "points",
    [[(DAY, 5.0)], [(DAY, 5.0), (DAY, 7.0), (DAY, 0.0)]],
    ids=["one point", "one instant"],
)
def test_a_timeline_of_a_single_instant_still_draws(points: list[tuple[datetime, float]]) -> None:
    root = parse(timeline(points, "Runs"))
    dots = find(root, "//s:circle[@class='dot']")
    assert len(dots) == len(points)
    assert all(0 < float(d.get("cx", "")) < 640 for d in dots)
    assert [t for t in texts(root, "//s:text[@class='tick']") if "-" in t] == ["2025-03-01 06:00"]


def test_a_timeline_reads_naive_times_as_utc_and_aware_ones_on_their_own_clock() -> None:
    naive = timeline([(DAY, 1), (DAY + timedelta(hours=2), 2)], "T")
    aware = timeline([(DAY.replace(tzinfo=UTC), 1), (DAY + timedelta(hours=2), 2)], "T")
    shifted = timezone(timedelta(hours=2))
    elsewhere = timeline([(DAY.replace(tzinfo=UTC), 1), (DAY.replace(tzinfo=shifted), 2)], "T")
    dots = [[d.get("cx") for d in find(parse(s), "//s:circle")] for s in (naive, aware, elsewhere)]
    assert dots[0] == dots[1] == dots[2]
    assert texts(parse(elsewhere), "//s:circle/s:title") == [
        "2025-03-01 06:00+02:00: 2 records",
        "2025-03-01 06:00+00:00: 1 records",
    ]


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf])
def test_a_negative_nan_or_infinite_value_is_a_caller_bug(bad: float) -> None:
    with pytest.raises(ValueError, match="finite and not negative"):
        bars([("a", 1), ("b", bad)], "T")
    with pytest.raises(ValueError, match="finite and not negative"):
        columns([("a", bad)], "T")
    with pytest.raises(ValueError, match="finite and not negative"):
        timeline([(DAY, bad)], "T")


def test_bars_and_text_carry_classes_and_inline_colours_for_pages_without_a_stylesheet() -> None:
    for svg in (CHARTS["bars"](), CHARTS["columns"](), CHARTS["timeline"]()):
        root = parse(svg)
        for element in find(root, "//s:rect | //s:text | //s:circle"):
            assert element.get("class") and element.get("fill", "").startswith("#")
        for element in find(root, "//s:line | //s:polyline"):
            assert element.get("class") and element.get("stroke", "").startswith("#")


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert is not installed")
@pytest.mark.parametrize("name", ["bars with links", "columns", "timeline", "empty bars"])
def test_a_chart_renders_to_a_png(name: str, tmp_path: Path) -> None:
    svg, png = tmp_path / "chart.svg", tmp_path / "chart.png"
    svg.write_text(CHARTS[name](), encoding="utf-8")
    subprocess.run(["rsvg-convert", "-w", "640", str(svg), "-o", str(png)], check=True)
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("url", ["paper.pdf", "www.x.org/p.pdf", "/etc/passwd", "#top", "?a=1"])
def test_a_harvested_url_without_a_scheme_is_no_link(url: str) -> None:
    """Harvested URLs (download links) link outside only: ``paper.pdf`` is no page here."""
    assert outside_href(url) is None
    assert outside_href("https://x.org/" + url.lstrip("/#?")) is not None
