"""Field-level rules shared by every metadata format: text, DOIs, JEL codes, keywords, dates,
item types and person names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote

_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")
_DOI_PREFIXED = re.compile(
    r"^(?:doi:\s*|info:doi/|https?://(?:dx\.)?doi\.org/)(10\.\d{4,9}/\S+)$", re.IGNORECASE
)
_DOI_IN_URL_PATH = re.compile(r"/doi/(?:abs/|full/|pdf/|epdf/|epub/)?(10\.\d{4,9}/[^?#\s]+)")
_JEL_CODE = re.compile(r"^[A-Z]\d{0,2}$")
#: What separates JEL codes, as ReDIF-perl splits them: ``;``, ``,``, ``:``, white space and
#: the period or comma that ends many real lists (``E24, F50, F55.``, ``D, D1, D14, J14,``).
_JEL_SEPARATORS = re.compile(r"[\s,;:.]+")
#: ``C120`` is ``C12`` written with a trailing zero (ReDIF-perl drops it the same way).
_JEL_TRAILING_ZERO = re.compile(r"^([A-Z]\d\d)0$")
#: What may follow the letter of a subject that is a JEL list: a digit, a separator, or
#: nothing (``G``, ``D, D1, D14``, ``E24.``).
_AFTER_JEL_LETTER = frozenset("0123456789,;. ") | {""}
_JEL_PREFIX = re.compile(r"^JEL(?:\s+(?:codes?|classifications?))?\s*[:\-]?\s*", re.IGNORECASE)
_JEL_WITH_LABEL = re.compile(r"^([A-Z]\d{1,2})\s*[-–—:]\s*\S")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d|2100)(?!\d)")
_URL_SCHEMES = ("http://", "https://", "ftp://")


def clean(value: str | None) -> str | None:
    """Trim and fold white space; empty becomes None."""
    if value is None:
        return None
    if value.isprintable() and "  " not in value:
        # the common case, checked in C: no white space but single spaces (no printable
        # character other than the space is white space), so only the ends can change
        return value.strip(" ") or None
    return " ".join(value.split()) or None


def unique(values: Iterable[str | None]) -> list[str]:
    """Cleaned, non-empty values, first occurrence kept, order preserved."""
    return list(dict.fromkeys(c for v in values if (c := clean(v))))


def is_url(value: str) -> bool:
    return value[:8].lower().startswith(_URL_SCHEMES)


def _may_hold_doi(value: str) -> bool:
    """Every form ``doi_from`` reads holds "10." literally or percent-encoded: a cheap test
    that spares the regexes for most identifiers."""
    return "10." in value or "%" in value


def doi_from(value: str) -> str | None:
    """The DOI in an identifier (``doi:``, ``info:doi/``, a doi.org URL, a bare ``10.x/y``,
    or a publisher URL with ``/doi/10.x/y`` in its path), else None."""
    if not _may_hold_doi(value):
        return None
    value = value.strip()
    match = _DOI_PREFIXED.match(unquote(value))
    if match:
        return _tidy_doi(re.split(r"[?#]", match.group(1))[0])
    if value.startswith("10.") and _DOI.fullmatch(value):
        return _tidy_doi(value)
    match = _DOI_IN_URL_PATH.search(value)
    if match and is_url(value):
        return _tidy_doi(unquote(match.group(1)))
    return None


def first_doi(values: Iterable[str]) -> str | None:
    """Explicit DOI identifiers win over DOIs found inside publisher URLs."""
    values = [v for v in values if _may_hold_doi(v)]
    if not values:
        return None
    explicit = [v for v in values if not is_url(v) or "doi.org/" in v.lower()]
    for value in [*explicit, *values]:
        doi = doi_from(value)
        if doi:
            return doi
    return None


def _tidy_doi(doi: str) -> str:
    return doi.rstrip(".,;)]")


def jel_codes_in(subject: str) -> list[str] | None:
    """The JEL codes a subject holds, or None when it is not a JEL subject.

    Accepts ``C21``, ``JEL: C21, D12``, ``C21 D12``, ``C21; D12`` and the labelled form
    ``O14 - Industrialization ; Manufacturing ...`` some repositories use.
    """
    text = subject.strip()
    if _one_code(text):
        return [text]  # the common case, one bare code
    if not _may_be_jel(text):
        return None  # fast path: most subjects are keywords
    prefixed = _JEL_PREFIX.match(text)
    if prefixed and prefixed.end() > 0:
        text = text[prefixed.end() :]
    labelled = _JEL_WITH_LABEL.match(text)
    if labelled:
        return [labelled.group(1)]
    # a keyword in lower case is no code: only tokens written in capitals are read
    codes = [_jel_code(t) if t[0].isupper() else None for t in _JEL_SEPARATORS.split(text) if t]
    if not codes or None in codes:
        return None
    if prefixed or any(len(c) > 1 for c in codes if c):
        return [c for c in codes if c]
    return None


def _one_code(text: str) -> bool:
    """``C21``: one bare JEL code, the commonest subject of all."""
    return 2 <= len(text) <= 3 and "A" <= text[0] <= "Z" and text[1:].isdecimal()


def _may_be_jel(text: str) -> bool:
    """Whether a (stripped) subject may hold JEL codes at all: a capital followed by a digit,
    a separator or nothing, or ``JEL``. Most keywords are told apart by this alone."""
    return (
        bool(text)
        and text[0].isupper()
        and (text[1:2] in _AFTER_JEL_LETTER or text[:3].upper() == "JEL")
    )


def _jel_code(token: str) -> str | None:
    """A JEL code as ReDIF-perl reads one (upper case; ``C120`` is ``C12``), else None."""
    code = _JEL_TRAILING_ZERO.sub(r"\1", token.upper())
    return code if _JEL_CODE.match(code) else None


def split_subjects(subjects: Iterable[str]) -> tuple[list[str], list[str]]:
    """Separate JEL codes from keywords (of cleaned subjects); keywords inside one subject are
    split on ``;``."""
    jel: list[str] = []
    keywords: list[str] = []
    for subject in subjects:
        if _one_code(subject):
            jel.append(subject)
            continue
        # subjects are cleaned (stripped): most keywords are told apart without the regexes
        codes = jel_codes_in(subject) if _may_be_jel(subject) else None
        if codes is not None:
            jel.extend(codes)
        elif ";" in subject:
            keywords.extend(k for piece in subject.split(";") if (k := piece.strip()))
        else:
            keywords.append(subject)
    return (jel if len(jel) < 2 else list(dict.fromkeys(jel)),
            keywords if len(keywords) < 2 else list(dict.fromkeys(keywords)))  # fmt: skip


def split_keywords(text: str | None) -> list[str]:
    """Keywords separated by ``;`` (or by ``,`` when there is no ``;``)."""
    if not text:
        return []
    separator = ";" if ";" in text else ","
    return unique(text.split(separator))


def split_jel(text: str | None) -> list[str]:
    """JEL codes as written, in order, once each: separated by ``;``, ``,``, ``:`` or white
    space, with the list's closing period or comma ignored; every level of a hierarchy is
    kept (``E``, ``E1``, ``E12``). Anything that is not a code is ignored."""
    if not text:
        return []
    text = _JEL_PREFIX.sub("", text.strip())
    return unique(_jel_code(t) for t in _JEL_SEPARATORS.split(text) if t)


def year_from(date: str | None) -> int | None:
    """The first plausible four-digit year in a date string."""
    if not date:
        return None
    compact = date.strip()
    if compact.isdigit() and len(compact) in (6, 8):  # yyyymm, yyyymmdd
        return year_from(compact[:4])
    match = _YEAR.search(date)
    return int(match.group(1)) if match else None


_TYPE_WORDS = (
    ("chapter", "chapter"),
    ("article", "article"),
    ("book", "book"),
    ("software", "software"),
    ("preprint", "paper"),
    ("paper", "paper"),
    ("report", "paper"),
)
#: The item types a type is normalized to.
ITEM_TYPES = tuple(dict.fromkeys(kind for _, kind in _TYPE_WORDS))


def item_type(values: Iterable[str | None]) -> str | None:
    """Normalize a type (``dc:type``, AMF ``type``) to article/paper/book/chapter/software."""
    raw: str | None = None
    for value in values:
        kind, lowered = _type_of(value)
        if kind:
            return kind
        raw = raw or lowered
    return raw


@lru_cache(maxsize=1024)  # a repository writes few distinct types
def _type_of(value: str | None) -> tuple[str | None, str | None]:
    """The type a value names, if a known word is in it, and the value cleaned and lowered."""
    cleaned = clean(value)
    if not cleaned:
        return None, None
    lowered = cleaned.lower()
    return next((kind for word, kind in _TYPE_WORDS if word in lowered), None), lowered


#: What follows the comma of ``"W. Dale Plummer, Jr."``: a suffix, not a given name.
_NAME_SUFFIX = re.compile(r"^(?:jr|sr|ii|iii|iv|phd|esq)\.?$", re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^()]*\)")


def name_parts(name: str) -> tuple[str, str | None, str | None]:
    """``"Family, Given"`` -> (``"Given Family"``, given, family); other forms are kept whole
    with no guess at the parts (name order varies too much across cultures to guess): a comma
    inside parentheses (``"Evaluator 1 (Unjournal, anonymous)"``) or before a suffix
    (``"W. Dale Plummer, Jr."``) does not split a name."""
    name = clean(name) or ""
    if name.count(",") == 1 and ("(" not in name or "," in _PARENTHESES.sub("", name)):
        family, given = (p.strip() for p in name.split(","))
        if family and given and not _NAME_SUFFIX.match(given):
            return f"{given} {family}", given, family
    return name, None, None
