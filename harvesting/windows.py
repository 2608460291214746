"""Date windows: a harvest is split into consecutive ``[from, until]`` windows (both ends
inclusive, as OAI-PMH defines them), each with its own resumption-token loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.dates import SECONDS, format_datestamp, parse_datestamp
from schemas.errors import ConfigError

SIZES = ("day", "week", "month", "year", "none")


@dataclass(frozen=True)
class Window:
    index: int
    start: str | None
    end: str | None

    def params(self) -> dict[str, str]:
        params = {}
        if self.start:
            params["from"] = self.start
        if self.end:
            params["until"] = self.end
        return params

    def label(self) -> str:
        return f"{self.start or '…'} → {self.end or 'now'}"


def _next_boundary(moment: datetime, size: str) -> datetime:
    day = datetime(moment.year, moment.month, moment.day)
    if size == "day":
        return day + timedelta(days=1)
    if size == "week":
        return day + timedelta(days=7 - day.weekday())
    if size == "month":
        return datetime(day.year + (day.month == 12), day.month % 12 + 1, 1)
    if size == "year":
        return datetime(day.year + 1, 1, 1)
    raise ConfigError(f"window size {size!r} is not one of {', '.join(SIZES)}")


def split_windows(
    start: datetime | None,
    until: datetime | None,
    server_now: datetime,
    granularity: str,
    size: str = "month",
) -> list[Window]:
    """Consecutive windows covering ``start`` .. ``until`` (or, with no ``until``, up to
    whatever the server holds: the last window is then open-ended).

    Boundaries fall on calendar days/weeks/months/years; a window ends one granularity unit
    before the next begins, so no datestamp belongs to two windows.
    """
    if size not in SIZES:
        raise ConfigError(f"window size {size!r} is not one of {', '.join(SIZES)}")
    if start is not None and until is not None and start > until:
        raise ConfigError("--from is after --until")
    unit = timedelta(seconds=1) if granularity == SECONDS else timedelta(days=1)

    def fmt(moment: datetime | None) -> str | None:
        return None if moment is None else format_datestamp(moment, granularity)

    limit = until or server_now
    if start is None or size == "none" or start > limit:
        return [Window(0, fmt(start), fmt(until))]
    windows: list[Window] = []
    current = start
    while True:
        boundary = _next_boundary(current, size)
        if boundary > limit:
            windows.append(Window(len(windows), fmt(current), fmt(until)))
            return windows
        windows.append(Window(len(windows), fmt(current), fmt(boundary - unit)))
        current = boundary


def windows_from_json(items: list[list[str | None]]) -> list[Window]:
    return [Window(i, start, end) for i, (start, end) in enumerate(items)]


def windows_to_json(windows: list[Window]) -> list[list[str | None]]:
    return [[w.start, w.end] for w in windows]


#: A duration as ``parse_duration`` reads it, for checks made before it is read (a flow
#: parameter's schema): ``1d``, ``12h``, ``30m``, ``45s``, ``0``.
DURATION_PATTERN = r"^\s*\+?(\d+(\.\d*)?|\.\d+)\s*[dhmsDHMS]?\s*$"
NOT_A_DURATION = "is not a duration like 1d, 12h or 0"


def parse_duration(text: str) -> timedelta:
    """``1d``, ``12h``, ``30m``, ``45s`` or ``0``."""
    text = text.strip().lower()
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    try:
        if text in ("0", ""):
            return timedelta(0)
        if text[-1] in units:
            duration = timedelta(**{units[text[-1]]: float(text[:-1])})
        else:
            duration = timedelta(days=float(text))
    except (ValueError, IndexError, OverflowError):
        duration = timedelta(-1)
    if duration < timedelta(0):
        raise ConfigError(f"overlap {text!r} {NOT_A_DURATION}")
    return duration


__all__ = [
    "DURATION_PATTERN",
    "NOT_A_DURATION",
    "SIZES",
    "Window",
    "parse_datestamp",
    "parse_duration",
    "split_windows",
]
