"""A journal reference written as one string (oai_dc's ``dc:source``) -> journal, volume,
issue, pages and year.

Providers write it in a handful of shapes, all read here:

- EconPapers': ``Journal of X, 2025, vol. 12, issue 4, 515-537``
- labelled: ``Journal of X, Vol. 12, No. 4 (2025), pp. 515-537``, ``Journal; Vol 12 No 4 (2025)``
- compact: ``Journal of X 12(4): 515-537``, ``Journal of X, 12 (4), 515-37``

A string where none of volume, issue and pages can be found is not structured: it is kept
verbatim as the journal. A URL or an identifier (``ISSN: ...``) is not a journal reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.fields import clean, is_url, year_from

_PAGE = r"[A-Za-z]?\d+[A-Za-z]?"
_RANGE = rf"{_PAGE}(?:\s*[-\u2010-\u2015]+\s*{_PAGE})?"
_VOLUME = re.compile(r"\b(?:vol(?:ume)?|v)\b\.?\s*:?\s*([0-9][\w./-]*|[IVXLC]+\b)", re.IGNORECASE)
_ISSUE = re.compile(
    r"(?:\b(?:issue|iss|no|nr|num|number|n|heft)\b\.?|\bn[°º]|#)\s*:?\s*([\w][\w./-]*)",
    re.IGNORECASE,
)
_PAGES = re.compile(rf"\b(?:pages|page|pp|p|s)\b\.?\s*:?\s*({_RANGE})", re.IGNORECASE)
#: ``12(4): 515-537``, ``12 (4), 515-37``, ``12(4)``
_COMPACT = re.compile(rf"(?<![\w.])(\d+)\s*\(\s*([\w./-]+)\s*\)(?:\s*[:,]\s*({_RANGE})(?!\w))?")
#: A page range closing the string (``..., 515-537``): EconPapers' shape writes no label.
_TRAILING_RANGE = re.compile(rf"[,;:]\s*({_PAGE}\s*[-\u2010-\u2015]+\s*{_PAGE})\s*\.?\s*$")
_IDENTIFIER = re.compile(r"^(?:e?issn|isbn|doi|urn|hdl|handle)\b\s*:?", re.IGNORECASE)
#: Where the journal's name ends: the first label or number group after it.
_NAME_END = re.compile(
    r"[,;]\s*(?:\(?\d{4}\)?\s*(?:[,;]|$)|vol|v\.|no\b|issue|pp?\b|pages|\d)"
    r"|\s+(?:vol(?:ume)?\b|v\.\s*\d|\d+\s*\()",
    re.IGNORECASE,
)


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
    volume = issue = pages = None
    compact = _COMPACT.search(text)
    if compact:
        volume, issue, pages = compact.group(1), compact.group(2), compact.group(3)
    if found := _VOLUME.search(text):
        volume = found.group(1)
    if found := _ISSUE.search(text):
        issue = found.group(1)
    found = _PAGES.search(text) or (None if pages else _TRAILING_RANGE.search(text))
    if found:
        pages = found.group(1)
    if volume is None and issue is None and pages is None:
        return JournalRef(journal=text)
    end = _NAME_END.search(text)
    journal = text[: end.start()] if end else None
    return JournalRef(
        journal=clean((journal or "").strip(" ,;:.")),
        volume=_tidy(volume),
        issue=_tidy(issue),
        pages=_tidy_pages(pages),
        year=year_from(text),
    )


def _tidy(value: str | None) -> str | None:
    return clean(value.rstrip(".,;:")) if value else None


def _tidy_pages(value: str | None) -> str | None:
    if not value:
        return None
    return re.sub(r"\s*[-\u2010-\u2015]+\s*", "-", value.strip())
