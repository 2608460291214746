"""CitEc's AMF for one item (``<base>/amf/<handle>``) -> its references and citing items,
read as ACIS, RePEc's author service, reads them.

A matched reference is a ``<references>`` element holding the reference string
(``acis:referencestring``) and the cited item (``<text ref="...">``). CitEc has written the
string in two places, and both are read:

- beside the cited text, as ACIS documents it::

    <references><acis:referencestring>Kim (2025)...</acis:referencestring>
      <text ref="RePEc:..."/></references>

- inside the cited text (files ACIS reads through a work-around)::

    <references><text ref="RePEc:..."><acis:referencestring>...</acis:referencestring>
      </text></references>

ACIS's rules: only the first string/target pair of a ``<references>`` counts, and a
``<references>`` without a string gives nothing; both are counted as ``ignored`` here rather
than dropped unseen. A string without a target is kept as an unmatched reference, as is
every ``<reference><literal>`` (a reference CitEc could not match). ``<isreferencedby>``
lists the citing items. Positions follow the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from schemas.amf import element_text, local_name

_STRINGS = ("referencestring", "literal")


@dataclass
class References:
    handle: str
    matched: list[tuple[int, str, str]] = field(default_factory=list)  # position, cited, text
    unmatched: list[tuple[int, str]] = field(default_factory=list)  # position, text
    cited_by: list[str] = field(default_factory=list)
    #: targets without a string, and pairs after the first in one ``<references>``
    ignored: int = 0


def read_references(handle: str, root: etree._Element) -> References:
    """The references and citing items of one CitEc AMF document."""
    found = References(handle)
    position = 0
    for el in root.iter():
        name = local_name(el)
        if name not in ("references", "reference", "isreferencedby"):
            continue
        if any(local_name(a) == "isreferencedby" for a in el.iterancestors()):
            continue
        if name == "isreferencedby":
            found.cited_by.extend(t.get("ref", "") for t in el if _is_target(t))
        elif name == "references":
            string, target, ignored = _pair(el)
            found.ignored += ignored
            if string:
                position += 1
                if target:
                    found.matched.append((position, target, string))
                else:
                    found.unmatched.append((position, string))
        else:  # <reference>: literals CitEc did not match
            for literal in el:
                if local_name(literal) == "literal" and (string := element_text(literal)):
                    position += 1
                    found.unmatched.append((position, string))
    return found


def _is_target(el: etree._Element) -> bool:
    return local_name(el) == "text" and bool((el.get("ref") or "").strip())


def _pair(references: etree._Element) -> tuple[str | None, str | None, int]:
    """The first string and the first target of a ``<references>``, and how many further
    targets ACIS would ignore (all of them when there is no string)."""
    strings = [element_text(c) for c in references if local_name(c) in _STRINGS]
    targets = [c for c in references if _is_target(c)]
    string = next((s for s in strings if s), None)
    if string is None:  # the work-around layout: the string inside the cited text
        inside = (
            element_text(s) for t in targets[:1] for s in t.iter() if local_name(s) in _STRINGS
        )
        string = next((s for s in inside if s), None)
    if string is None:
        return None, None, len(targets)
    target = (targets[0].get("ref") or "").strip() if targets else None
    return string, target, max(len(targets) - 1, 0)
