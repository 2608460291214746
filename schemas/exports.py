"""Citation export formats, as an EconPapers page offers them: BibTeX, RIS and CSL-JSON.

Input: one dict per item with the columns of ``live_articles`` plus ``people``, a list of
(role, name, given_name, family_name) in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

_BIBTEX_TYPES = {"article": "article", "paper": "techreport", "book": "book",
                 "chapter": "incollection", "software": "misc"}  # fmt: skip
_RIS_TYPES = {"article": "JOUR", "paper": "RPRT", "book": "BOOK", "chapter": "CHAP",
              "software": "COMP"}  # fmt: skip
_CSL_TYPES = {"article": "article-journal", "paper": "report", "book": "book",
              "chapter": "chapter", "software": "software"}  # fmt: skip
_LATEX_SPECIAL = re.compile(r"([&%$#_{}])")
FORMATS = ("bibtex", "ris", "csl-json")


def _people(item: dict[str, Any], role: str) -> list[tuple[str, str | None, str | None]]:
    return [(name, given, family) for r, name, given, family in item.get("people") or []
            if r == role]  # fmt: skip


def _pages(item: dict[str, Any]) -> tuple[str | None, str | None]:
    pages = item.get("pages")
    if not pages:
        return None, None
    first, _, last = str(pages).partition("-")
    return first or None, last or None


def _latex(value: Any) -> str:
    return _LATEX_SPECIAL.sub(r"\\\1", str(value))


def bibtex(item: dict[str, Any]) -> str:
    kind = item.get("item_type") or "misc"
    entry = _BIBTEX_TYPES.get(kind, "misc")
    names = [f"{family}, {given}" if family and given else name
             for name, given, family in _people(item, "author")]  # fmt: skip
    editors = [name for name, _, _ in _people(item, "editor")]
    container = "journal" if entry == "article" else (
        "institution" if entry == "techreport" else "booktitle")  # fmt: skip
    fields = [
        ("author", " and ".join(names)),
        ("editor", " and ".join(editors)),
        ("title", item.get("title")),
        (container, item.get("journal") or item.get("series_name")),
        ("year", item.get("year")),
        ("volume", item.get("volume")),
        ("number", item.get("issue")),
        ("pages", (item.get("pages") or "").replace("-", "--") or None),
        ("publisher", item.get("publisher")),
        ("doi", item.get("doi")),
        ("url", (item.get("urls") or [None])[0]),
        ("keywords", ", ".join(item.get("keywords") or [])),
        ("abstract", item.get("abstract")),
    ]
    body = ",\n".join(f"  {name} = {{{_latex(value)}}}" for name, value in fields if value)
    return f"@{entry}{{{item['handle']},\n{body}\n}}\n"


def ris(item: dict[str, Any]) -> str:
    lines: list[tuple[str, Any]] = [("TY", _RIS_TYPES.get(item.get("item_type") or "", "GEN"))]
    lines += [("AU", f"{f}, {g}" if f and g else n) for n, g, f in _people(item, "author")]
    lines += [("ED", n) for n, _, _ in _people(item, "editor")]
    first, last = _pages(item)
    journal = item.get("journal") or item.get("series_name")
    lines += [
        ("TI", item.get("title")),
        ("JO" if item.get("item_type") == "article" else "T2", journal),
        ("PY", item.get("year")),
        ("VL", item.get("volume")),
        ("IS", item.get("issue")),
        ("SP", first),
        ("EP", last),
        ("PB", item.get("publisher")),
        ("DO", item.get("doi")),
        *[("UR", url) for url in item.get("urls") or []],
        *[("KW", keyword) for keyword in item.get("keywords") or []],
        ("AB", item.get("abstract")),
        ("ID", item["handle"]),
        ("ER", ""),
    ]
    return "".join(f"{tag}  - {value}\n" for tag, value in lines if value is not None and (
        value != "" or tag == "ER"))  # fmt: skip


def csl(item: dict[str, Any]) -> dict[str, Any]:
    def person(name: str, given: str | None, family: str | None) -> dict[str, str]:
        return {"family": family, "given": given} if family and given else {"literal": name}

    record: dict[str, Any] = {
        "id": item["handle"],
        "type": _CSL_TYPES.get(item.get("item_type") or "", "document"),
        "title": item.get("title"),
        "author": [person(*p) for p in _people(item, "author")],
        "editor": [person(*p) for p in _people(item, "editor")],
        "container-title": item.get("journal") or item.get("series_name"),
        "issued": {"date-parts": [[item["year"]]]} if item.get("year") else None,
        "volume": item.get("volume"),
        "issue": item.get("issue"),
        "page": item.get("pages"),
        "publisher": item.get("publisher"),
        "DOI": item.get("doi"),
        "URL": (item.get("urls") or [None])[0],
        "abstract": item.get("abstract"),
        "keyword": ", ".join(item.get("keywords") or []) or None,
    }
    return {k: v for k, v in record.items() if v not in (None, [], "")}


def export(items: Iterable[dict[str, Any]], fmt: str) -> str:
    items = list(items)
    if fmt == "bibtex":
        return "\n".join(bibtex(i) for i in items)
    if fmt == "ris":
        return "\n".join(ris(i) for i in items)
    if fmt == "csl-json":
        return json.dumps([csl(i) for i in items], ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown export format {fmt!r}")
