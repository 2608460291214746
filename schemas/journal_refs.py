"""A journal reference written as one string (oai_dc's ``dc:source``) -> journal, volume,
issue, pages and year.

Providers write it in a handful of shapes, all read here:

- EconPapers': ``Journal of X, 2025, vol. 12, issue 4, 515-537``
- labelled: ``Journal of X, Vol. 12, No. 4 (2025), pp. 515-537``, ``Journal; Vol 12 No 4 (2025)``
- compact: ``Journal of X 12(4): 515-537``, ``Journal of X, 12 (4), 515-37``, ``Kyklos, 1990,
  43, (2), 225-44``, ``44:18, 2363-2372``
- Elsevier's: ``Journal of Monetary Economics 52 (2005) 1131-1153`` (the parenthesis holds the
  year, not the issue)

The journal is the text before the first part found. A string where no part can be found is
not structured: it is kept verbatim as the journal. A URL or an identifier (``ISSN: ...``) is
not a journal reference. A label needs a number after it (``Journal of Number Theory`` has no
issue), and a year is a year only where it stands alone or in parentheses, never inside a
page range or after a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.fields import clean, is_url

_DASH = "\\-\u2010-\u2015"
_PAGE = r"[A-Za-z]?\d+[A-Za-z]?"
_RANGE = rf"{_PAGE}\s*[{_DASH}]+\s*{_PAGE}"
_YEAR = r"(?:1[5-9]\d\d|20\d\d)"
#: A number, or a roman numeral, or a supplement (``S1``): what a label must be followed by.
_NUMBER = r"(?:\d[\w./-]*|[IVXLC]+\b|S\d+)"
_VOLUME = re.compile(rf"\b(?:vol(?:ume)?|v)\b\.?\s*:?\s*({_NUMBER})", re.IGNORECASE)
_ISSUE = re.compile(
    rf"(?:\b(?:issue|iss|no|nr|num|number|n|heft)\b\.?|\bn[°º]|#)\s*:?\s*({_NUMBER})",
    re.IGNORECASE,
)
_PAGES = re.compile(rf"\b(?:pages|page|pp|p|s)\b\.?\s*:?\s*({_RANGE}|{_PAGE})", re.IGNORECASE)
#: ``12(4): 515-537``, ``12 (4), 515-37``, ``43, (2)``, ``52 (2005) 1131-1153``
_COMPACT = re.compile(
    rf"(?<![\w.])(\d+)\s*,?\s*\(\s*([\w./-]+)\s*\)(?:\s*[:,]?\s*({_RANGE})(?![\w]))?"
)
#: ``44:18, 2363-2372``: volume:issue before a comma.
_COLON = re.compile(r"(?<![\w.:])(\d+)\s*:\s*(\d+)(?=\s*[,;])")
#: A page range closing the string (``..., 515-537``): EconPapers' shape writes no label.
_TRAILING_RANGE = re.compile(rf"[,;:]\s*({_RANGE})\s*\.?\s*$")
_LONE_YEAR = re.compile(rf"(?<![\w{_DASH}/.:])\(?({_YEAR})\)?(?![\w{_DASH}/:])")
_IDENTIFIER = re.compile(r"^(?:e?issn|isbn|doi|urn|hdl|handle)\b\s*:?", re.IGNORECASE)


@dataclass(frozen=True)
class JournalRef:
    journal: str | None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    year: int | None = None


def parse_journal_ref(text: str | None) -> JournalRef | None:
    """The parts of a journal reference string; None when the string is not one."""
    text = clean(text)
    if not text or is_url(text) or _IDENTIFIER.match(text):
        return None
    parts: dict[str, str] = {}
    taken: list[tuple[int, int]] = []  # spans of the parts found

    def take(name: str, match: re.Match[str] | None, group: int = 1) -> None:
        if match and match.group(group) and name not in parts:
            parts[name] = match.group(group)
            taken.append(match.span())

    take("volume", _VOLUME.search(text))
    take("issue", _ISSUE.search(text))
    take("pages", _PAGES.search(text))
    compact = _COMPACT.search(text)
    if compact and not _overlaps(compact.span(), taken):
        inside = compact.group(2)
        take("volume", compact)
        if re.fullmatch(_YEAR, inside):
            parts.setdefault("year", inside)
        else:
            take("issue", compact, 2)
        take("pages", compact, 3)
    colon = _COLON.search(text)
    if colon and not _overlaps(colon.span(), taken):
        take("volume", colon)
        take("issue", colon, 2)
    trailing = _TRAILING_RANGE.search(text)
    if trailing and not _overlaps(trailing.span(1), taken):
        take("pages", trailing)
    if "year" not in parts:
        for found in _LONE_YEAR.finditer(text):
            if not _overlaps(found.span(), taken):
                parts["year"] = found.group(1)
                taken.append(found.span())
                break
    if not parts:
        return JournalRef(journal=text)
    start = min(begin for begin, _ in taken)
    return JournalRef(
        journal=clean(text[:start].strip(" ,;:(")),
        volume=_tidy(parts.get("volume")),
        issue=_tidy(parts.get("issue")),
        pages=_tidy_pages(parts.get("pages")),
        year=int(parts["year"]) if "year" in parts else None,
    )


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and begin < span[1] for begin, end in taken)


def _tidy(value: str | None) -> str | None:
    return clean(value.rstrip(".,;:")) if value else None


def _tidy_pages(value: str | None) -> str | None:
    if not value:
        return None
    return re.sub(rf"\s*[{_DASH}]+\s*", "-", value.strip())
