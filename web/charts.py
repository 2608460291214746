"""Charts for the health dashboard: plain SVG text drawn on the server, no script, no assets.

Each function takes rows and returns one ``<svg>`` element to inline in HTML. Every piece of
text is escaped; links are kept only for relative paths and http(s) URLs; sizes come from a
viewBox with ``width="100%"``; colours are CSS classes with inline fill fallbacks, which a
page stylesheet overrides. Negative, NaN or infinite values are a caller bug: ValueError.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from web.links import safe_href

WIDTH = 640
INK, MUTED, GRID, FILL = "#222", "#555", "#ddd", "#3b6ea5"
#: characters XML 1.0 does not allow in a document at all, not even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    """Escape for element text and attribute values alike."""
    return html.escape(_NOT_XML.sub("\ufffd", str(value)), quote=True)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _shorten(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: max(limit - 1, 1)].rstrip() + "…"


def _number(value: float, decimals: int | None = None) -> str:
    """1234567 -> '1,234,567'; 2.5 -> '2.5'; with decimals, exactly that many."""
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) < 1:
        return f"{value:.3g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _checked(values: Sequence[float]) -> list[float]:
    for value in values:
        if math.isnan(value) or math.isinf(value) or value < 0:
            raise ValueError(f"chart values must be finite and not negative, got {value!r}")
    return [float(v) for v in values]


def _ticks(top: float) -> tuple[list[float], int]:
    """Round axis ticks from 0 to at least top (four or five steps) and their decimals."""
    if top <= 0:
        return [0.0, 1.0], 0
    raw = top / 4
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-12))
    count = max(math.ceil(top / step - 1e-9), 1)
    ticks = [min(i * step, sys.float_info.max) for i in range(count + 1)]  # no inf at the top
    return ticks, max(0, -math.floor(math.log10(step)))


def _svg(kind: str, key: object, title: str, desc: str, height: int, body: list[str]) -> str:
    ident = "chart-" + hashlib.blake2s(repr((kind, key)).encode(), digest_size=5).hexdigest()
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
            f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
            f'aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" '
            'font-family="system-ui, sans-serif" font-size="12">',
            f'<title id="{ident}-title">{_text(title)}</title>',
            f'<desc id="{ident}-desc">{_text(desc)}</desc>',
            f'<text class="title" x="0" y="16" font-size="14" font-weight="bold" fill="{INK}">'
            f"{_text(title)}</text>",
            *body,
            "</svg>",
        ]
    )


def _empty(kind: str, title: str) -> str:
    note = f'<text class="empty" x="0" y="44" fill="{MUTED}">No data yet</text>'
    return _svg(kind, (title, "empty"), title, "No data yet", 60, [note])


def _y_axis(
    left: float, top: float, bottom: float, right: float, peak: float
) -> tuple[float, list[str]]:
    """Grid lines and tick labels from 0 to a round top; returns that top and the elements."""
    ticks, decimals = _ticks(peak)
    body = []
    for tick in ticks:
        y = bottom - (bottom - top) * (tick / ticks[-1])
        body.append(
            f'<line class="grid" x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}"/>'
            f'<text class="tick" x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="{MUTED}">{_number(tick, decimals)}</text>'
        )
    body.append(
        f'<line class="axis" x1="{left:.1f}" y1="{bottom:.1f}" x2="{right:.1f}" '
        f'y2="{bottom:.1f}" stroke="{MUTED}"/>'
    )
    return ticks[-1], body


def bars(
    rows: Sequence[tuple[str, float]],
    title: str,
    *,
    unit: str = "items",
    links: Sequence[str | None] | None = None,
) -> str:
    """Horizontal bars, one per (label, value) in the order given, the value at each end;
    ``links``: each row's label links there (an unsafe one is left out)."""
    if not rows:
        return _empty("bars", title)
    labels, values = [str(r[0]) for r in rows], _checked([r[1] for r in rows])
    left, pitch = 184.0, 22
    span = WIDTH - left - 84
    peak = max(values) or 1.0
    body = [
        f'<line class="axis" x1="{left}" y1="28" x2="{left}" y2="{32 + pitch * len(rows)}" '
        f'stroke="{MUTED}"/>'
    ]
    hrefs = list(links) if links is not None else [None] * len(rows)
    for i, (label, value, link) in enumerate(zip(labels, values, hrefs, strict=True)):
        y, shown = 32 + pitch * i, _number(value)
        width = span * (value / peak)
        text = (
            f'<text class="label" x="{left - 6}" y="{y + 13}" text-anchor="end" fill="{INK}">'
            f"{_text(_shorten(label, 24))}</text>"
        )
        href = safe_href(link)
        if href is not None:
            text = f'<a href="{_text(href)}">{text}</a>'
        if left + width + 6 + 7 * len(shown) <= WIDTH or width < 8 + 7 * len(shown):
            at, anchor, colour = left + width + 4, "start", INK
        else:
            at, anchor, colour = left + width - 4, "end", "#fff"
        body.append(
            f'<g class="row"><title>{_text(f"{label}: {shown} {unit}")}</title>{text}'
            f'<rect class="bar" x="{left}" y="{y + 2}" width="{width:.1f}" height="16" '
            f'fill="{FILL}"/><text class="value" x="{at:.1f}" y="{y + 14}" '
            f'text-anchor="{anchor}" fill="{colour}">{shown}</text></g>'
        )
    top = values.index(max(values))
    desc = (
        f"Horizontal bars, {_count(len(rows), 'row')}, in {unit}; "
        f"largest: {labels[top]} with {_number(values[top])}."
    )
    return _svg("bars", (title, unit, labels, values), title, desc, 40 + pitch * len(rows), body)


def columns(rows: Sequence[tuple[str, float]], title: str, *, unit: str = "items") -> str:
    """Vertical columns along an ordered axis, at most about twelve labels shown under it."""
    if not rows:
        return _empty("columns", title)
    labels, values = [str(r[0]) for r in rows], _checked([r[1] for r in rows])
    left, top, bottom, right = 64.0, 32.0, 200.0, WIDTH - 8.0
    axis_top, body = _y_axis(left, top, bottom, right, max(values))
    band = (right - left) / len(rows)
    every = math.ceil(len(rows) / 12)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = (bottom - top) * (value / axis_top)
        x = left + band * i
        body.append(
            f'<g class="column"><title>{_text(f"{label}: {_number(value)} {unit}")}</title>'
            f'<rect class="bar" x="{x + band * 0.1:.1f}" y="{bottom - height:.1f}" '
            f'width="{band * 0.8:.1f}" height="{height:.1f}" fill="{FILL}"/></g>'
        )
        if i % every == 0:
            body.append(
                f'<text class="label" x="{x + band / 2:.1f}" y="{bottom + 16}" '
                f'text-anchor="middle" fill="{INK}">'
                f"{_text(_shorten(label, max(int(band * every / 7), 4)))}</text>"
            )
    peak = values.index(max(values))
    desc = (
        f"Columns for {_count(len(rows), 'label')} from {labels[0]} to {labels[-1]}, in {unit}; "
        f"highest: {labels[peak]} with {_number(values[peak])}."
    )
    return _svg("columns", (title, unit, labels, values), title, desc, 224, body)


def _utc(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is read as UTC, not as the local clock."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def timeline(points: Sequence[tuple[datetime, float]], title: str, *, unit: str = "records") -> str:
    """Values over time: a line with a dot per point and a few date ticks."""
    if not points:
        return _empty("timeline", title)
    ordered = sorted(points, key=lambda p: _utc(p[0]))
    moments, values = [p[0] for p in ordered], _checked([p[1] for p in ordered])
    seconds = [_utc(m) for m in moments]
    left, top, bottom, right = 64.0, 32.0, 200.0, WIDTH - 64.0
    axis_top, body = _y_axis(left, top, bottom, right, max(values))
    first, span = seconds[0], seconds[-1] - seconds[0]

    def x_of(second: float) -> float:
        return (left + right) / 2 if span == 0 else left + (right - left) * (second - first) / span

    step = span / 4 or 60  # one instant: one tick, to the minute
    fmt = "%Y-%m-%d" if step >= 86400 else "%Y-%m-%d %H:%M" if step >= 60 else "%Y-%m-%d %H:%M:%S"
    shown: set[str] = set()
    for tick in [first] if span == 0 else [first + step * i for i in range(5)]:
        label = datetime.fromtimestamp(tick, UTC).strftime(fmt)
        if label not in shown:
            shown.add(label)
            body.append(
                f'<text class="tick" x="{x_of(tick):.1f}" y="{bottom + 16}" '
                f'text-anchor="middle" fill="{MUTED}">{label}</text>'
            )
    xy = [
        (x_of(s), bottom - (bottom - top) * (v / axis_top))
        for s, v in zip(seconds, values, strict=True)
    ]
    body.append(
        f'<polyline class="line" fill="none" stroke="{FILL}" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        + '"/>'
    )
    for (x, y), moment, value in zip(xy, moments, values, strict=True):
        when = moment.isoformat(sep=" ", timespec="minutes")
        body.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{FILL}">'
            f"<title>{_text(f'{when}: {_number(value)} {unit}')}</title></circle>"
        )
    desc = (
        f"Line over time, {_count(len(ordered), 'point')} in {unit}, from "
        f"{moments[0]:%Y-%m-%d} to {moments[-1]:%Y-%m-%d}; latest: {_number(values[-1])}."
    )
    key = (title, unit, seconds, values)
    return _svg("timeline", key, title, desc, 224, body)
