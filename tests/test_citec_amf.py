"""CitEc's AMF for one item -> references and citing items, read by ACIS's rules
(kurmanka/acis.r: doc/citations.text and lib/RePEc/Index/Collection/CitationsAMF.pm)."""

from __future__ import annotations

from harvesting.responses import parse_xml
from schemas.citec_amf import References, read_references

HEAD = '<amf xmlns="http://amf.openlib.org" xmlns:acis="http://acis.openlib.org/">'
ITEM = "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"


def read(body: str) -> References:
    return read_references(
        ITEM, parse_xml(f'{HEAD}<text ref="{ITEM}">{body}</text></amf>'.encode())
    )


def test_the_documented_layout_string_beside_the_cited_text() -> None:
    """doc/citations.text, "Citations data input"."""
    found = read("<references><acis:referencestring> text of citation </acis:referencestring>"
                 '<text ref="RePEc:a:b:2"/></references>')  # fmt: skip
    assert found.matched == [(1, "RePEc:a:b:2", "text of citation")]
    assert (found.unmatched, found.ignored) == ([], 0)


def test_the_work_around_layout_string_inside_the_cited_text() -> None:
    """The 2006 work-around in CitationsAMF.pm: the string inside the cited <text>."""
    found = read('<references><text ref="RePEc:a:b:2">'
                 "<acis:referencestring>S</acis:referencestring></text></references>")  # fmt: skip
    assert found.matched == [(1, "RePEc:a:b:2", "S")]


def test_only_the_first_pair_of_a_references_counts() -> None:
    """doc/citations.text: "ACIS will only accept the first one ... will ignore citation 2"."""
    found = read("<references><acis:referencestring>one</acis:referencestring>"
                 '<text ref="RePEc:a:b:1"/><acis:referencestring>two</acis:referencestring>'
                 '<text ref="RePEc:a:b:2"/></references>')  # fmt: skip
    assert found.matched == [(1, "RePEc:a:b:1", "one")]
    assert found.ignored == 1


def test_a_references_without_a_string_gives_nothing_and_is_counted() -> None:
    """doc/citations.text: "then nothing is being done with it"."""
    found = read('<references><text ref="RePEc:a:b:2"/></references>')
    assert (found.matched, found.unmatched, found.ignored) == ([], [], 1)


def test_unmatched_strings_are_kept_in_document_order() -> None:
    found = read("<reference><literal> unidentified citation </literal></reference>"
                 "<references><acis:referencestring>matched</acis:referencestring>"
                 '<text ref="RePEc:a:b:2"/></references>'
                 "<references><acis:referencestring>no target</acis:referencestring>"
                 "</references>")  # fmt: skip
    assert found.unmatched == [(1, "unidentified citation"), (3, "no target")]
    assert found.matched == [(2, "RePEc:a:b:2", "matched")]


def test_citing_items_come_from_isreferencedby_and_are_not_references() -> None:
    found = read('<isreferencedby><text ref="RePEc:c:d:1"/><text ref="RePEc:c:d:2"/>'
                 "</isreferencedby>")  # fmt: skip
    assert found.cited_by == ["RePEc:c:d:1", "RePEc:c:d:2"]
    assert (found.matched, found.unmatched) == ([], [])
