"""ReDIF parsing: decoding, templates, clusters, errors and mapping to items.

The first part specifies the rules on small synthetic texts; the second checks them against
real sample files (skipped when the samples folder is absent); the third is property-based.
"""

from __future__ import annotations

import tarfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import redif_templates
from schemas.redif import institution, to_item
from schemas.redif_rows import HandleClaims, RedifContext, map_file
from schemas.redif_templates import Template, TemplateError, parse_lines, parse_templates
from schemas.redif_text import MAX_LINE, EncodingSniffer, LongLine, decode, text_lines

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "repec-samples"


def parse(text: str, source: str = "test.rdf") -> list[Template | TemplateError]:
    return list(parse_templates(text, source))


def templates(text: str) -> list[Template]:
    found = parse(text)
    assert all(isinstance(t, Template) for t in found), found
    return [t for t in found if isinstance(t, Template)]


def errors(text: str) -> list[TemplateError]:
    return [t for t in parse(text) if isinstance(t, TemplateError)]


def one(text: str) -> Template:
    (template,) = templates(text)
    return template


ARTICLE = """Template-Type: ReDIF-Article 1.0
Title: A title
Author-Name: Doe, Jane
Author-Person: pdo1
Author-Email: jane@example.org
Author-Workplace-Name: Some University
Author-Name: Richard Roe
Journal: Journal of Tests
Volume: 3
Issue: 2
Pages: 10-20
Year: 2001
Month: May
Keywords: alpha; beta, gamma; delta
Classification-JEL: C21, D12 E3;F1
File-URL: https://example.org/a.pdf
File-Format: application/pdf
Handle: RePEc:tst:journl:v:3:y:2001:i:2:p:10-20
"""


# --- decode ------------------------------------------------------------------------------


class TestDecode:
    def test_utf8_bom_is_removed(self) -> None:
        assert decode(b"\xef\xbb\xbfTitle: caf\xc3\xa9") == "Title: café"

    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
    def test_utf16_with_bom(self, encoding: str) -> None:
        bom = b"\xff\xfe" if encoding.endswith("le") else b"\xfe\xff"
        assert decode(bom + "Title: Sjöström\r\n".encode(encoding)) == "Title: Sjöström\n"

    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
    def test_utf16_without_bom_is_recognised_by_its_nul_bytes(self, encoding: str) -> None:
        assert decode("Name: Lévy\n".encode(encoding)) == "Name: Lévy\n"

    def test_valid_utf8_without_bom_is_utf8(self) -> None:
        assert decode("Title: Économie".encode()) == "Title: Économie"

    def test_invalid_utf8_falls_back_to_cp1252(self) -> None:
        # 0x93/0x94 are curly quotes and 0x80 the euro sign in CP1252, controls in latin-1
        assert decode(b"Title: \x93caf\xe9\x94 \x80") == "Title: \u201ccafé\u201d \u20ac"

    def test_bytes_undefined_in_cp1252_fall_back_to_latin1(self) -> None:
        assert decode(b"\xe9\x81\x8d\x8f\x90\x9d") == "é\x81\x8d\x8f\x90\x9d"

    def test_line_ends_are_normalised(self) -> None:
        assert decode(b"a\r\nb\rc\nd") == "a\nb\nc\nd"


# --- templates ---------------------------------------------------------------------------


class TestTemplates:
    def test_a_template_keeps_type_fields_lines_and_source(self) -> None:
        (t,) = parse("Template-Type: ReDIF-Paper 1.0\nTitle: T\nHandle: RePEc:a:b:c\n", "x.rdf")
        assert isinstance(t, Template)
        assert t.type == "redif-paper 1.0"
        assert t.kind == "paper"
        assert t.start_line == 1
        assert t.source == "x.rdf"
        assert t.fields == [
            ("template-type", "redif-paper 1.0", 1),
            ("title", "T", 2),
            ("handle", "RePEc:a:b:c", 3),
        ]

    def test_templates_come_in_file_order_each_running_to_the_next_type_line(self) -> None:
        text = (
            "Template-Type: ReDIF-Series 1.0\nName: S\nHandle: RePEc:a:b\n"
            "Template-Type: ReDIF-Paper 1.0\nTitle: P\nHandle: RePEc:a:b:1\n"
        )
        found = templates(text)
        assert [t.handle for t in found] == ["RePEc:a:b", "RePEc:a:b:1"]
        assert [t.start_line for t in found] == [1, 4]

    def test_field_names_are_case_insensitive(self) -> None:
        t = one("template-TYPE: redif-PAPER 1.0\nTITLE: T\nhandle: RePEc:a:b:c\n")
        assert t.type == "redif-paper 1.0"
        assert t.get("Title") == "T"

    def test_no_space_after_the_colon_is_fine(self) -> None:
        assert one("Template-Type: ReDIF-Paper 1.0\nPages:1-19\nHandle:RePEc:a:b:c").get(
            "pages"
        ) == ("1-19")

    def test_a_line_that_is_not_a_field_continues_the_previous_value(self) -> None:
        t = one(
            "Template-Type: ReDIF-Paper 1.0\nAbstract: first\n  second line\nthird\n"
            "Handle: RePEc:a:b:c\n"
        )
        assert t.get("abstract") == "first second line third"

    def test_a_continuation_that_looks_like_an_unknown_field_is_still_a_continuation(
        self,
    ) -> None:
        t = one(
            "Template-Type: ReDIF-Paper 1.0\nAuthor-Name: Jane Doe\n"
            "Author-Workplace-Name: University of\nMarburg: Philipps-University\n"
            "Handle: RePEc:a:b:c\n"
        )
        assert t.get("author-workplace-name") == "University of Marburg: Philipps-University"
        assert t.get("marburg") is None

    def test_x_fields_and_known_fields_are_fields(self) -> None:
        t = one("Template-Type: ReDIF-Paper 1.0\nX-Anything: 1\nNote: n\nHandle: RePEc:a:b:c")
        assert t.get("x-anything") == "1"
        assert t.get("note") == "n"

    def test_blank_lines_do_not_end_a_template(self) -> None:
        t = one("Template-Type: ReDIF-Paper 1.0\n\nTitle: T\n\n\nHandle: RePEc:a:b:c\n\n")
        assert t.get("title") == "T"

    def test_a_continuation_after_a_blank_line_still_continues(self) -> None:
        t = one("Template-Type: ReDIF-Paper 1.0\nAbstract: one\n\n two\nHandle: RePEc:a:b:c")
        assert t.get("abstract") == "one two"

    def test_comment_lines_and_a_lone_ctrl_z_are_ignored(self) -> None:
        t = one(
            "# comment\nTemplate-Type: ReDIF-Paper 1.0\nTitle: some\n# comment\ntitle\n"
            "Handle: RePEc:a:b:c\n\x1a\n"
        )
        assert t.get("title") == "some title"

    def test_trailing_white_space_is_stripped_and_empty_values_are_ignored(self) -> None:
        t = one("Template-Type: ReDIF-Paper 1.0  \nTitle: T  \t\nKeywords:\nHandle: RePEc:a:b:c")
        assert t.get("title") == "T"
        assert t.values("keywords") == []

    def test_an_empty_value_continued_on_the_next_line_is_kept(self) -> None:
        t = one("Template-Type: ReDIF-Paper 1.0\nAbstract:\n text below\nHandle: RePEc:a:b:c")
        assert t.get("abstract") == "text below"

    def test_a_bom_left_in_the_text_is_ignored(self) -> None:
        assert one("\ufeffTemplate-Type: ReDIF-Paper 1.0\nHandle: RePEc:a:b:c").kind == "paper"


# --- clusters ----------------------------------------------------------------------------


class TestClusters:
    def test_author_fields_attach_to_the_latest_author_name(self) -> None:
        item = to_item(one(ARTICLE))
        assert item["authors"] == [
            {
                "name": "Doe, Jane",  # as the file writes it; the parts are split out
                "given_name": "Jane",
                "family_name": "Doe",
                "short_id": "pdo1",
                "email": "jane@example.org",
                "workplace": "Some University",
                "workplaces": ["Some University"],
                "workplace_handles": [],
            },
            {
                "name": "Richard Roe",
                "given_name": None,
                "family_name": None,
                "short_id": None,
                "email": None,
                "workplace": None,
                "workplaces": [],
                "workplace_handles": [],
            },
        ]

    def test_name_first_and_last_win_over_guessing(self) -> None:
        t = one(
            "Template-Type: ReDIF-Book 1.0\nEditor-Name: Ann Lee Smith\n"
            "Editor-Name-First: Ann Lee\nEditor-Name-Last: Smith\nHandle: RePEc:a:b:c"
        )
        (editor,) = to_item(t)["editors"]
        assert (editor["name"], editor["given_name"], editor["family_name"]) == (
            "Ann Lee Smith",
            "Ann Lee",
            "Smith",
        )

    @pytest.mark.parametrize(
        "field",
        [
            "Author-Email: a@b.c",
            "Editor-Person: pxx1",
            "Provider-Homepage: http://x",
            "File-Format: pdf",
        ],
    )
    def test_a_cluster_field_without_its_key_is_an_error(self, field: str) -> None:
        text = f"Template-Type: ReDIF-Paper 1.0\nTitle: T\n{field}\nHandle: RePEc:a:b:c\n"
        (error,) = parse(text)
        assert isinstance(error, TemplateError)
        assert error.line == 3
        assert "without a preceding" in error.reason

    def test_the_key_of_another_cluster_does_not_count(self) -> None:
        text = "Template-Type: ReDIF-Paper 1.0\nAuthor-Name: A\nEditor-Email: e@x\nHandle: x"
        assert len(errors(text)) == 1

    def test_fields_of_a_cluster_whose_key_is_empty_are_dropped_not_errors(self) -> None:
        t = one(
            "Template-Type: ReDIF-Article 1.0\nFile-URL:\nFile-Format: Application/pdf\n"
            "File-URL: https://x.org/a\nFile-Format: text/html\nHandle: RePEc:a:b:c"
        )
        assert [(n, v) for n, v, _ in t.fields if n.startswith("file-")] == [
            ("file-url", "https://x.org/a"),
            ("file-format", "text/html"),
        ]

    def test_institution_handles_stand_alone(self) -> None:
        t = one("Template-Type: ReDIF-Series 1.0\nProvider-Institution: RePEc:edi:x\nHandle: h")
        assert t.get("provider-institution") == "RePEc:edi:x"


# --- errors ------------------------------------------------------------------------------


class TestErrors:
    def test_fields_before_any_template_type_are_reported(self) -> None:
        found = parse(
            "Title: orphan\nHandle: h\nTemplate-Type: ReDIF-Paper 1.0\nHandle: RePEc:a:b:c"
        )
        assert isinstance(found[0], TemplateError)
        assert (found[0].line, found[0].raw_text) == (1, "Title: orphan\nHandle: h")
        assert isinstance(found[1], Template)

    @pytest.mark.parametrize("value", ["ReDIF-Eries 1.0", "ReDIF-Articel 1.0", "Paper 1.0"])
    def test_an_unknown_template_type_is_an_error(self, value: str) -> None:
        (error,) = parse(f"Template-Type: {value}\nHandle: RePEc:a:b:c")
        assert isinstance(error, TemplateError)
        assert value in error.reason

    @pytest.mark.parametrize(
        "value", ["ReDIF-Article 1.", "ReDIF-Article", "ReDIF-Article 1.0 x", ""]
    )
    def test_a_truncated_or_garbled_template_type_is_an_error(self, value: str) -> None:
        (error,) = parse(f"Template-Type: {value}\nHandle: RePEc:a:b:c")
        assert isinstance(error, TemplateError)
        assert error.reason.startswith("malformed Template-Type")

    def test_html_residue_on_the_type_line_is_removed(self) -> None:
        t = one("Template-type: ReDIF-Archive 1.0<br />\nHandle: RePEc:ura<br />\n")
        assert t.type == "redif-archive 1.0"
        assert to_item(t)["handle"] == "RePEc:ura"
        assert to_item(t)["archive_code"] == "ura"

    def test_a_template_without_a_handle_is_an_error(self) -> None:
        (error,) = parse("Template-Type: ReDIF-Paper 1.0\nTitle: T\nHandle:\n")
        assert isinstance(error, TemplateError)
        assert error.reason == "template without a Handle"

    def test_two_different_handles_mean_two_templates_merged(self) -> None:
        text = "Template-Type: ReDIF-Paper 1.0\nHandle: RePEc:a:b:1\nHandle: RePEc:a:b:2\n"
        (error,) = parse(text)
        assert isinstance(error, TemplateError)
        assert error.line == 3

    def test_a_repeated_identical_handle_is_fine(self) -> None:
        assert one("Template-Type: ReDIF-Paper 1.0\nHandle: RePEc:a:b:1\nHandle: repec:a:b:1")

    def test_a_bad_template_is_skipped_and_the_next_one_parsed(self) -> None:
        text = (
            "Template-Type: ReDIF-Eries 1.0\nHandle: RePEc:a:b\n\n"
            "Template-Type: ReDIF-Paper 1.0\nFile-Format: pdf\nHandle: RePEc:a:b:1\n"
            "Template-Type: ReDIF-Paper 1.0\nHandle: RePEc:a:b:2\n"
        )
        found = parse(text, "f.rdf")
        assert [type(t).__name__ for t in found] == ["TemplateError", "TemplateError", "Template"]
        first = found[0]
        assert isinstance(first, TemplateError)
        assert (first.source, first.line) == ("f.rdf", 1)
        assert first.raw_text == "Template-Type: ReDIF-Eries 1.0\nHandle: RePEc:a:b"

    def test_empty_text_yields_nothing(self) -> None:
        assert parse("") == []
        assert parse("\n# only a comment\n\n") == []


# --- to_item -----------------------------------------------------------------------------


class TestToItem:
    def test_an_article_field_by_field(self) -> None:
        item = to_item(one(ARTICLE))
        assert item["handle"] == "RePEc:tst:journl:v:3:y:2001:i:2:p:10-20"
        assert item["item_type"] == "article"
        assert item["title"] == "A title"
        assert (item["journal"], item["volume"], item["issue"], item["pages"]) == (
            "Journal of Tests",
            "3",
            "2",
            "10-20",
        )
        assert (item["year"], item["month"]) == (2001, "May")
        assert item["keywords"] == ["alpha", "beta, gamma", "delta"]
        assert item["jel_codes"] == ["C21", "D12", "E3", "F1"]
        assert item["urls"] == ["https://example.org/a.pdf"]
        assert item["series_handle"] == "RePEc:tst:journl"
        assert item["archive_code"] == "tst"
        assert item["doi"] is None

    def test_keywords_split_on_commas_when_there_is_no_semicolon(self) -> None:
        t = one("Template-Type: ReDIF-Paper 1.0\nKeywords: a, b ,c\nHandle: RePEc:a:b:c")
        assert to_item(t)["keywords"] == ["a", "b", "c"]

    @pytest.mark.parametrize(
        ("fields", "year"),
        [
            ("Year: 1999\nCreation-Date: 2001-01", 1999),
            ("Creation-Date: 2001-05", 2001),
            ("Creation-Date: 199511", 1995),
            ("Creation-Date: 19951001", 1995),
            ("", None),
        ],
    )
    def test_year_from_year_else_creation_date(self, fields: str, year: int | None) -> None:
        t = one(f"Template-Type: ReDIF-Paper 1.0\n{fields}\nHandle: RePEc:a:b:c")
        assert to_item(t)["year"] == year

    @pytest.mark.parametrize(
        ("fields", "doi"),
        [
            ("DOI: 10.1000/xyz", "10.1000/xyz"),
            ("DOI: https://doi.org/10.1000/xyz", "10.1000/xyz"),
            ("File-URL: http://dx.doi.org/10.1287/isre.1.1.1", "10.1287/isre.1.1.1"),
            ("Note: doi:10.1000/abc", "10.1000/abc"),
            ("DOI: 10.1/a\nFile-URL: https://doi.org/10.2000/b", "10.2000/b"),
            ("File-URL: https://x.org/a.pdf", None),
        ],
    )
    def test_doi_from_the_doi_field_else_file_url_or_note(
        self, fields: str, doi: str | None
    ) -> None:
        t = one(f"Template-Type: ReDIF-Article 1.0\n{fields}\nHandle: RePEc:a:b:c")
        assert to_item(t)["doi"] == doi

    def test_html_residue_is_removed_and_entities_decoded(self) -> None:
        t = one(
            "Template-Type: ReDIF-Paper 1.0\nTitle: <i>Caf&eacute;</i> &amp; tea\n"
            "Abstract: <p>one<br/>two</p>  a &lt; b\nHandle: RePEc:a:b:c"
        )
        item = to_item(t)
        assert item["title"] == "Café & tea"
        assert item["abstract"] == "one two a < b"

    @pytest.mark.parametrize(
        ("kind", "item_type"),
        [
            ("Article", "article"),
            ("Paper", "paper"),
            ("Book", "book"),
            ("Chapter", "chapter"),
            ("Software", "software"),
        ],
    )
    def test_item_types(self, kind: str, item_type: str) -> None:
        t = one(f"Template-Type: ReDIF-{kind} 1.0\nHandle: RePEc:a:b:c")
        assert to_item(t)["item_type"] == item_type

    def test_a_series(self) -> None:
        t = one(
            "Template-Type: ReDIF-Series 1.0\nName: Working Papers\nDescription: d\n"
            "Maintainer-Name: M\nMaintainer-Email: m@x.org\nType: ReDIF-Paper\n"
            "Homepage: http://x.org\nHandle: RePEc:abc:wpaper\n"
        )
        assert to_item(t) == {
            "handle": "RePEc:abc:wpaper",
            "type": "series",
            "name": "Working Papers",
            "description": "d",
            "maintainer_name": "M",
            "maintainer_email": "m@x.org",
            "url": "http://x.org",
            "series_type": "paper",
            "issn": None,
            "provider_name": None,
            "provider_handle": None,
            "email": None,
            "archive_code": "abc",
        }

    def test_an_archive_gets_its_code_from_a_two_part_handle(self) -> None:
        t = one("Template-Type: ReDIF-Archive 1.0\nName: A\nURL: http://x/\nHandle: RePEc:abc\n")
        assert (to_item(t)["archive_code"], to_item(t)["url"]) == ("abc", "http://x/")


# --- property tests ----------------------------------------------------------------------

_FIELD_NAMES = ["Title", "Abstract", "Journal", "Volume", "Keywords", "Note", "X-Local-Thing"]
_VALUE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40
).map(str.strip)


def _random_case(draw: st.DrawFn, name: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(name, flips, strict=True))


@st.composite
def redif_files(draw: st.DrawFn) -> tuple[bytes, list[list[tuple[str, str]]]]:
    expected: list[list[tuple[str, str]]] = []
    lines: list[str] = []
    for number in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["Article", "Paper", "Series", "Book"]))
        lines.append(f"{_random_case(draw, 'Template-Type')}: ReDIF-{kind} 1.0")
        fields = [("template-type", f"redif-{kind.lower()} 1.0")]
        for name, value in draw(st.lists(st.tuples(st.sampled_from(_FIELD_NAMES), _VALUE))):
            lines.append(f"{_random_case(draw, name)}: {value}")
            if value:
                fields.append((name.lower(), value))
            if draw(st.booleans()):
                lines.append("")
        handle = f"RePEc:tst:s{number}:{draw(st.integers(0, 10**6))}"
        lines.append(f"{_random_case(draw, 'Handle')}: {handle}")
        fields.append(("handle", handle))
        expected.append(fields)
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ending.join(lines) + ending
    encoding, bom = draw(
        st.sampled_from(
            [
                ("utf-8", b""),
                ("utf-8", b"\xef\xbb\xbf"),
                ("utf-16-le", b"\xff\xfe"),
                ("utf-16-be", b"\xfe\xff"),
            ]
        )
    )
    return bom + text.encode(encoding), expected


@given(redif_files())
def test_generated_templates_parse_back_to_what_was_generated(
    case: tuple[bytes, list[list[tuple[str, str]]]],
) -> None:
    raw, expected = case
    found = list(parse_templates(decode(raw)))
    assert all(isinstance(t, Template) for t in found)
    assert [[(n, v) for n, v, _ in t.fields] for t in found if isinstance(t, Template)] == (
        expected
    )


@given(st.binary(max_size=300))
def test_any_bytes_decode_and_parse_without_raising(raw: bytes) -> None:
    text = decode(raw)
    assert "\r" not in text
    for found in parse_templates(text):
        assert isinstance(found, Template | TemplateError)
        if isinstance(found, Template):
            to_item(found)


def _chunked(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)] or [b""]


def _streamed(raw: bytes, size: int, max_line: int = MAX_LINE) -> list[str | LongLine]:
    sniffer = EncodingSniffer()
    for chunk in _chunked(raw, size):
        sniffer.feed(chunk)
    return list(text_lines(_chunked(raw, size), sniffer.encoding(), max_line))


@given(st.binary(max_size=300), st.integers(1, 40))
def test_lines_read_in_chunks_are_the_lines_of_the_whole_file(raw: bytes, size: int) -> None:
    """Chunk ends fall anywhere: inside a UTF-8 or UTF-16 character, between \r and \n."""
    assert _streamed(raw, size) == decode(raw).split("\n")


@given(redif_files(), st.integers(1, 64))
def test_generated_files_read_in_chunks_parse_as_when_read_whole(
    case: tuple[bytes, list[list[tuple[str, str]]]], size: int
) -> None:
    raw, expected = case
    found = list(parse_lines(_streamed(raw, size)))
    assert [[(n, v) for n, v, _ in t.fields] for t in found if isinstance(t, Template)] == (
        expected
    )


class TestCaps:
    def test_one_byte_past_the_first_chunk_makes_the_whole_file_cp1252(self) -> None:
        raw = "Title: Économie\n".encode() * 100 + b"Title: caf\xe9\n"
        lines = _streamed(raw, 64)
        assert lines[0] == "Title: Ã‰conomie" and lines[100] == "Title: café"

    def test_a_line_over_the_cap_comes_as_its_length_and_the_next_lines_whole(self) -> None:
        raw = b"Title: a\r\nAbstract: " + b"x" * 100 + b"\r\nYear: 2001\n"
        title, long, year, end = _streamed(raw, 7, max_line=50)
        assert (title, year, end) == ("Title: a", "Year: 2001", "")
        assert isinstance(long, LongLine) and long.chars == 110
        assert long.head.startswith("Abstract: xxx")

    def test_a_template_with_an_over_long_line_is_quarantined_and_the_next_one_read(
        self,
    ) -> None:
        long = LongLine("Abstract: xxx", 5_000_000)
        lines = ["Template-Type: ReDIF-Paper 1.0", "Title: T", long, "Handle: RePEc:a:b:1",
                 "Template-Type: ReDIF-Paper 1.0", "Title: U", "Handle: RePEc:a:b:2"]  # fmt: skip
        error, kept = parse_lines(lines, "x.rdf")
        assert isinstance(error, TemplateError) and isinstance(kept, Template)
        assert (error.line, error.reason) == (
            3,
            "line 3 has 5,000,000 characters, more than the 1,048,576 a line may hold",
        )
        assert "Abstract: xxx... (5,000,000 characters)" in error.raw_text
        assert kept.handle == "RePEc:a:b:2"

    def test_a_template_longer_than_the_cap_keeps_its_start_and_the_next_one_reads(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(redif_templates, "MAX_TEMPLATE", 500)
        text = ("Template-Type: ReDIF-Paper 1.0\nTitle: T\n" + "Note: n\n" * 200
                + "Handle: RePEc:a:b:1\n" + ARTICLE)  # fmt: skip
        error, kept = parse(text)
        assert isinstance(error, TemplateError) and isinstance(kept, Template)
        assert error.reason == "template longer than 500 characters (not read past that)"
        assert len(error.raw_text) <= 500 and error.raw_text.startswith("Template-Type:")
        assert kept.handle == "RePEc:tst:journl:v:3:y:2001:i:2:p:10-20"

    def test_endless_content_before_any_template_keeps_its_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(redif_templates, "MAX_TEMPLATE", 500)
        (error, kept) = parse("junk\n" * 1000 + ARTICLE)
        assert isinstance(error, TemplateError) and isinstance(kept, Template)
        assert error.reason == (
            "content before any Template-Type (5,000 characters; the first 500 kept)"
        )
        assert len(error.raw_text) <= 500


# --- real sample files -------------------------------------------------------------------

REDIF = SAMPLES / "redif"
PERL_T = "redif-perl-2.69_t"


@pytest.fixture(scope="module")
def samples() -> Path:
    if not REDIF.is_dir():
        pytest.skip(f"sample files not found at {REDIF}")
    return REDIF


def parse_sample(samples: Path, relative: str) -> list[Template | TemplateError]:
    return list(parse_templates(decode((samples / relative).read_bytes()), relative))


def sample_templates(samples: Path, relative: str) -> list[Template]:
    found = parse_sample(samples, relative)
    assert all(isinstance(t, Template) for t in found), [
        t for t in found if isinstance(t, TemplateError)
    ]
    return [t for t in found if isinstance(t, Template)]


# (file, Template-Type lines per PROVENANCE.md, templates parsed, errors)
SAMPLE_COUNTS = [
    (f"{PERL_T}/eeaart22_3.rdf", 20, 20, 0),
    (f"{PERL_T}/montde.2003.mont.rdf", 24, 24, 0),
    (f"{PERL_T}/bad_template.rdf", 4, 3, 1),
    (f"{PERL_T}/sloppy_test.rdf", 4, 4, 0),
    (f"{PERL_T}/ctrl-z.rdf", 1, 1, 0),
    (f"{PERL_T}/comments.rdf", 1, 1, 0),
    (f"{PERL_T}/1995.rdf", 5, 5, 0),  # one template repeats its Handle
    (f"{PERL_T}/1996.rdf", 9, 9, 0),
    (f"{PERL_T}/unicode/test_4_16LE.rdf", 4, 4, 0),
    (f"{PERL_T}/unicode/test_4_16BE.rdf", 4, 4, 0),
    ("repec-org_Scripts__isre-0101-1704-BOM.rdf", 811, 811, 0),
    ("bulletinofpe/prova.rdf", 156, 155, 1),
    ("ber_cxs/wpaper.rdf", 30, 30, 0),
    ("repec_all_archive_series/bocodex.rdf", 511, 511, 0),
    ("repec_all_archive_series/sprseri.redif", 184, 184, 0),
    ("utk_ten/RePEc__ten__tenarch.rdf", 1, 1, 0),
    ("ceu/metadata__econwp__2025_1.rdf", 1, 1, 0),
]


@pytest.mark.parametrize(("relative", "type_lines", "parsed", "failed"), SAMPLE_COUNTS)
def test_template_counts_per_sample_file(
    samples: Path, relative: str, type_lines: int, parsed: int, failed: int
) -> None:
    found = parse_sample(samples, relative)
    counts = Counter(type(t).__name__ for t in found)
    assert (counts["Template"], counts["TemplateError"]) == (parsed, failed)
    assert parsed + failed == type_lines


def test_eeaart_first_article_field_by_field(samples: Path) -> None:
    """CP1252 file, CRLF, ``Pages:1-19`` with no space, JEL ``C21 ;C50; R15``."""
    item = to_item(sample_templates(samples, f"{PERL_T}/eeaart22_3.rdf")[0])
    assert item["handle"] == "RePEc:lrk:eeaart:22_3_1"
    assert item["item_type"] == "article"
    assert item["title"] == "Econometría espacial: más luces que sombras"
    assert [(a["name"], a["email"], a["short_id"]) for a in item["authors"]] == [
        ("PAELINCK, J.", "j.paelinck@planet.nl", None),
        ("MUR, J.", "jmur@unizar.es", None),
        ("TRÍVEZ, J.", "fjtrivez@unizar.es", None),
    ]
    assert item["authors"][0]["workplace"].startswith("Departamento de Análisis Económico.")
    assert item["journal"] == "Estudios de Economía Aplicada"
    assert (item["volume"], item["issue"], item["number"], item["pages"]) == (
        "22",
        None,
        "3",
        "1-19",
    )
    assert (item["year"], item["month"]) == (2004, "Diciembre")
    assert item["jel_codes"] == ["C21", "C50", "R15"]
    assert item["keywords"] == ["Econometrics", "Space", "Methodology"]
    assert item["urls"] == ["Http://www.revista-eea.net"]
    # the abstract runs over a blank line and an indented continuation
    assert item["abstract"].startswith("La Econometría espacial es una disciplina joven")
    assert (
        "investigación futuro en Econometría espacial. Spatial Econometrics is"
        in (item["abstract"])
    )


def test_montde_cp1252_names_and_titles(samples: Path) -> None:
    found = sample_templates(samples, f"{PERL_T}/montde.2003.mont.rdf")
    first = to_item(found[0])
    assert first["handle"] == "RePEc:mtl:montde:2003-01"
    assert [a["name"] for a in first["authors"]] == ["GONÇALVES, Silvia", "KILIAN, Lutz"]
    assert [a["family_name"] for a in first["authors"]] == ["GONÇALVES", "KILIAN"]
    assert first["urls"] == ["http://www.sceco.umontreal.ca/publications/etext/2003-01.pdf"]
    assert first["year"] == 2003
    assert to_item(found[2])["title"] == "Les cycles économiques et la science économique"
    assert to_item(found[3])["jel_codes"] == ["J1", "J2", "D9"]


def test_bom_file_first_article(samples: Path) -> None:
    item = to_item(sample_templates(samples, "repec-org_Scripts__isre-0101-1704-BOM.rdf")[0])
    assert item["handle"] == "RePEc:inm:orisre:v:1:y:1990:i:1:p:1-22"
    assert item["title"] == "Can Software Influence Creativity?"
    assert [a["name"] for a in item["authors"]] == ["Joyce J. Elam", "Melissa Mead"]
    assert (item["volume"], item["issue"], item["pages"], item["year"]) == ("1", "1", "1-22", 1990)
    assert item["doi"] == "10.1287/isre.1.1.1"  # from File-URL http://dx.doi.org/...
    assert "“big eight”" in item["abstract"]


@pytest.mark.parametrize("name", ["test_4_16LE.rdf", "test_4_16BE.rdf", "test_utf8_4.rdf"])
def test_utf16_and_utf8_files_read_the_same(samples: Path, name: str) -> None:
    found = sample_templates(samples, f"{PERL_T}/unicode/{name}")
    assert [t.type for t in found] == ["redif-paper 1.0"] * 3 + ["redif-article 1.0"]
    first = to_item(found[0])
    assert first["title"] == "Республика БЕЛАРУСЬ"
    assert [a["name"] for a in first["authors"]] == ["Петр МИХНИЦКИЙ", "Tomas Sjöström"]
    assert first["handle"] == "RePEc:uni:unicod:"
    assert to_item(found[3])["year"] == 2001


@pytest.mark.parametrize(
    "name", ["DOMINIQUE_16LE.rdf", "DOMINIQUE_16BE.rdf", "DOMINIQUE_2.rdf", "DOMINIQUE_utf8.rdf"]
)
def test_person_in_bomless_utf16_latin1_and_utf8(samples: Path, name: str) -> None:
    (person,) = sample_templates(samples, f"{PERL_T}/unicode/{name}")
    item = to_item(person)
    assert (item["type"], item["name"]) == ("person", "LéVY, DOMINIQUE")
    assert item["handle"] == "RePEc:per:1946-07-11:DOMINIQUE_LEVY"
    assert len(person.values("author-paper")) == 4


def test_ctrl_z_file(samples: Path) -> None:
    (t,) = sample_templates(samples, f"{PERL_T}/ctrl-z.rdf")
    item = to_item(t)
    assert item["handle"] == "RePEc:cep:cepdps:0060"
    assert [a["name"] for a in item["authors"]] == ["D. Acemoglu"]
    assert (item["year"], item["creation_date"]) == (1992, "1992-01")
    assert item["keywords"] == [] and item["jel_codes"] == []  # empty KeyWords: and JEL


def test_comments_file(samples: Path) -> None:
    (t,) = sample_templates(samples, f"{PERL_T}/comments.rdf")
    item = to_item(t)
    assert item["title"] == "some title"  # "title" on its own line, after a comment
    assert [a["name"] for a in item["authors"]] == ["Vasya PUPKIN", "Gena ZHUHKIN"]
    assert item["year"] == 2002  # Creation-Date: 20020817
    assert item["handle"] == "RePEc:zzz:series:paper09090"


def test_bad_template_file(samples: Path) -> None:
    found = parse_sample(samples, f"{PERL_T}/bad_template.rdf")
    error = found[0]
    assert isinstance(error, TemplateError)
    assert (error.line, error.source) == (1, f"{PERL_T}/bad_template.rdf")
    assert "ReDIF-eries" in error.reason
    parsed = [t for t in found[1:] if isinstance(t, Template)]
    assert [(t.kind, t.handle) for t in parsed] == [
        ("series", "RePEc:tst:tests2"),
        ("paper", "RePEc:cep:cepops"),
        ("series", "RePEc:cep:cepwps"),
    ]


def test_sloppy_test_file_joins_continuation_lines(samples: Path) -> None:
    found = sample_templates(samples, f"{PERL_T}/sloppy_test.rdf")
    assert [to_item(t)["description"] for t in found] == [
        "Discussion papers on Macroeconomics and Labour Economics",
        "Discussion papers on Macroeconomics and Labour Economics",
        "Occasional papers on Macroeconomics and Labour Economics",
        "Papers on Macroeconomics and Labour Economics",
    ]
    assert found[0].get("editor-workplace-name") == "Centre for Economic Performance and ESRC"
    assert found[0].get("publisher-name") == "Centre for Economic Performance and ESRC"


def test_prova_merged_template_is_reported(samples: Path) -> None:
    """A ``late-Type:`` line (``Template-Type`` cut short) glues two articles together."""
    found = parse_sample(samples, "bulletinofpe/prova.rdf")
    (error,) = [t for t in found if isinstance(t, TemplateError)]
    assert "several Handle" in error.reason
    assert "\nlate-Type: ReDIF-Article 1.0\n" in error.raw_text


def test_prova_empty_file_url_drops_its_format(samples: Path) -> None:
    """Most prova.rdf articles have ``File-URL:`` (empty) then ``File-Format: Application/pdf``."""
    found = parse_sample(samples, "bulletinofpe/prova.rdf")
    items = [to_item(t) for t in found if isinstance(t, Template)]
    assert len(items) == len(found) - 1
    formats = [v for t in found if isinstance(t, Template) for v in t.values("file-format")]
    assert len(formats) == sum(len(item["urls"]) for item in items)
    # real data: one File-URL holds a book title, not a URL; it is kept as written
    odd = [url for item in items for url in item["urls"] if not url.startswith("http")]
    assert odd == ["Economic Phenomena in Antiquity, by Theodoros P. Lianos & George C. Bitros"]


def test_utk_ten_series_and_archive(samples: Path) -> None:
    (archive,) = sample_templates(samples, "utk_ten/RePEc__ten__tenarch.rdf")
    (series,) = sample_templates(samples, "utk_ten/RePEc__ten__tenseri.rdf")
    assert (to_item(archive)["type"], to_item(archive)["archive_code"]) == ("archive", "ten")
    assert (to_item(series)["type"], to_item(series)["handle"]) == ("series", "RePEc:ten:wpaper")


def test_archive_and_series_master_list_with_html_residue(samples: Path) -> None:
    tarball = samples / "repec_all_archive_series" / "repec_all_arch_seri_templates.tar.gz"
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("uraarch.rdf")
        assert member is not None
        (archive,) = list(parse_templates(decode(member.read()), "uraarch.rdf"))
    assert isinstance(archive, Template)
    assert archive.type == "redif-archive 1.0"
    item = to_item(archive)
    assert (item["handle"], item["archive_code"]) == ("RePEc:ura", "ura")
    assert item["maintainer_email"] == "uralces@mail.ru"


# --- as real archives write them: JEL lists, person spellings, workplaces, institutions ----


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("E24, F50, F55.", ["E24", "F50", "F55"]),  # the closing period
        ("I14, I32, I38.", ["I14", "I32", "I38"]),
        ("D, D1, D14, J14,", ["D", "D1", "D14", "J14"]),  # every level of the hierarchy
        ("C21 ;C50; R15", ["C21", "C50", "R15"]),  # eeaart22_3.rdf
        ("c12, d4; E:C120", ["C12", "D4", "E"]),  # ReDIF-perl: ':' separates, C120 is C12
    ],
)
def test_jel_lists_as_real_files_end_them(value: str, codes: list[str]) -> None:
    item = to_item(one(f"Template-Type: ReDIF-Paper 1.0\nClassification-JEL: {value}\n"
                       "Handle: RePEc:a:b:c"))  # fmt: skip
    assert item["jel_codes"] == codes


_JEL = st.builds(lambda letter, digits: letter + digits, st.sampled_from("ABCDEFGHIJKLMNOPQRZ"),
                 st.sampled_from(["", "1", "9", "12", "50", "99"]))  # fmt: skip


@given(st.lists(_JEL, min_size=1, max_size=8),
       st.lists(st.sampled_from([", ", ",", "; ", ";", " ", "  ", ". ", " , "]), min_size=8,
                max_size=8),
       st.sampled_from(["", ".", ",", ";", " .", ". "]))  # fmt: skip
def test_any_jel_list_reads_back_in_order_whatever_its_separators_and_ending(
    codes: list[str], separators: list[str], ending: str
) -> None:
    text = codes[0] + "".join(s + c for s, c in zip(separators, codes[1:], strict=False)) + ending
    item = to_item(one(f"Template-Type: ReDIF-Paper 1.0\nClassification-JEL: {text}\n"
                       "Handle: RePEc:a:b:c"))  # fmt: skip
    assert item["jel_codes"] == list(dict.fromkeys(codes))


# The spellings real archives use for name parts (ReDIF-perl accepts ``Author-X-...`` after an
# ``Author-Name`` as a local field of that author; generators write them there).
X_NAMES = """Template-Type: ReDIF-Paper 1.0
Title: A title
Author-Name: Jean-Pierre de la Fontaine
Author-X-Name-First: Jean-Pierre
Author-X-Name-Last: de la Fontaine
Author-Name: Maria Ruiz
X-Author-Name-First: Maria
Author-X-Name-Middle: Luisa
X-Author-Name-Last: Ruiz Gomez
Author-Name: Ann Lee
Author-Name-First: Ann
Author-Name-Last: Lee
Handle: RePEc:tst:wpaper:1
"""


def test_every_spelling_of_name_parts_fills_given_and_family_names() -> None:
    authors = to_item(one(X_NAMES))["authors"]
    assert [(a["name"], a["given_name"], a["family_name"]) for a in authors] == [
        ("Jean-Pierre de la Fontaine", "Jean-Pierre", "de la Fontaine"),
        ("Maria Ruiz", "Maria Luisa", "Ruiz Gomez"),  # the middle name is part of the given
        ("Ann Lee", "Ann", "Lee"),
    ]


def test_an_x_name_part_outside_an_author_is_a_local_field_not_an_error() -> None:
    t = one("Template-Type: ReDIF-Paper 1.0\nAuthor-X-Name-First: Lone\nAuthor-Name: A B\n"
            "Handle: RePEc:a:b:c")  # fmt: skip
    (author,) = to_item(t)["authors"]
    assert (author["given_name"], author["family_name"]) == (None, None)


def test_an_author_keeps_every_workplace_in_order(samples: Path) -> None:
    """bocodex.rdf (Boston College's software archive): Stanislav Kolenikov lists two
    workplaces, each with its EDIRC handle."""
    found = sample_templates(samples, "repec_all_archive_series/bocodex.rdf")
    author = next(a for t in found for a in to_item(t)["authors"]
                  if a["name"] == "Stanislav Kolenikov" and len(a["workplaces"]) == 2)  # fmt: skip
    assert author["workplaces"] == [
        "University of North Carolina, Chapel Hill",
        "Centre for Economic and Financial Research",
    ]
    assert author["workplace"] == "University of North Carolina, Chapel Hill"
    assert author["workplace_handles"] == ["RePEc:edi:cpuncus", "RePEc:edi:cefirru"]


# An EDIRC template four units deep (the shape of RePEc:edi:... templates; Quaternary- is in
# ReDIF-perl's redif.spec).
DEEP_INSTITUTION = """Template-Type: ReDIF-Institution 1.0
Primary-Name: Universität Wien
Primary-Name-English: University of Vienna
Primary-Location: Wien, Austria
Primary-Homepage: https://www.univie.ac.at/
Secondary-Name: Fakultät für Wirtschaftswissenschaften
Secondary-Homepage: https://wiwi.univie.ac.at/
Tertiary-Name: Institut für Volkswirtschaftslehre
Tertiary-Name-English: Department of Economics
Quaternary-Name: Vienna Center for Experimental Economics
Quaternary-Homepage: https://vcee.univie.ac.at/
Quaternary-Email: vcee@univie.ac.at
Handle: RePEc:edi:vcewiat
"""


def test_an_institution_is_its_deepest_unit() -> None:
    unit = institution(one(DEEP_INSTITUTION))
    assert unit == {
        "handle": "RePEc:edi:vcewiat",
        "name": "Vienna Center for Experimental Economics",
        "name_english": None,
        "url": "https://vcee.univie.ac.at/",
        "email": "vcee@univie.ac.at",
        "postal": None,
        "location": "Wien, Austria",  # the nearest location going outwards
        "part_of": ["Universität Wien", "Fakultät für Wirtschaftswissenschaften",
                    "Institut für Volkswirtschaftslehre"],
    }  # fmt: skip


def test_institutions_sample_names_the_department_with_its_homepage(samples: Path) -> None:
    found = sample_templates(samples, f"{PERL_T}/institutions.rdf")
    units = [institution(t) for t in found]
    assert [(u["handle"], u["name"], u["url"]) for u in units] == [
        ("RePEc:edi:abokuat", "Institut für Agrarökonomik", "http://www.boku.ac.at:80/iao/"),
        ("RePEc:edi:aawaunl", "Algemene Agrarische Economie", "http://www.sls.wau.nl/aae/"),
        ("RePEc:edi:absgvau", "Australian Bureau of Statistics", "http://www.abs.gov.au/"),
    ]
    assert units[0]["name_english"] == "Institute for Agricultural Economics"
    assert units[0]["part_of"] == ["Universität für Bodenkultur"]
    assert units[0]["location"] == "Wien"
    assert units[2]["email"] == "client.services@abs.gov.au"


def test_an_institution_naming_no_unit_is_quarantined() -> None:
    rows = map_file(CONTEXT, parse("Template-Type: ReDIF-Institution 1.0\nHandle: RePEc:edi:x"),
                    {})  # fmt: skip
    assert rows.institutions == []
    [row] = rows.quarantine
    assert (
        row["reason"] == "test.rdf:1: cannot be mapped: RecordMappingError: institution "
        "template names no unit (no Primary-Name)"
    )


# --- duplicate handles ---------------------------------------------------------------------

CONTEXT = RedifContext("file:///mirror", "redif-test", "test.rdf", datetime(2025, 1, 1),
                       datetime(2025, 1, 2))  # fmt: skip


def test_a_handle_met_again_in_a_file_is_quarantined_and_the_first_kept(samples: Path) -> None:
    """prova.rdf (Bulletin of Political Economy) holds two different papers under
    RePEc:awu:journl:v:2:y:2008:i:2:p:165-174 (lines 3032 and 3051) and one paper twice."""
    relative = "bulletinofpe/prova.rdf"
    context = RedifContext("file:///mirror", "redif-test", relative, datetime(2025, 1, 1),
                           datetime(2025, 1, 2))  # fmt: skip
    rows = map_file(context, parse_sample(samples, relative), {})
    handle = "RePEc:awu:journl:v:2:y:2008:i:2:p:165-174"
    [kept] = [a for a in rows.articles if a["handle"] == handle]
    assert kept["title"] == "Marx after Sraffa and the Open Economy"
    reasons = [q["reason"] for q in rows.quarantine]
    assert (
        f"{relative}:3051: duplicate handle {handle}: the template at {relative}:3032 "
        "holds it already (the first template keeps a handle)" in reasons
    )
    assert any(r.startswith(f"{relative}:266: duplicate handle RePEc:awu:journl:v:16:y:2022:"
                            f"i:2:p:103-132: an identical copy of the template at {relative}:245")
               for r in reasons)  # fmt: skip
    assert rows.duplicates == 3
    assert len({a["handle_key"] for a in rows.articles}) == len(rows.articles)
    quarantined = next(q for q in rows.quarantine if "3051" in q["reason"])
    assert "George Argitis" in quarantined["raw_xml"]  # the other paper, kept whole


def test_a_handle_held_by_another_file_is_a_duplicate_too() -> None:
    claims = HandleClaims()
    claims.hold("old.rdf", ["RePEc:tst:wpaper:1"], [])
    text = "Template-Type: ReDIF-Paper 1.0\nTitle: T\nHandle: repec:TST:wpaper:1\n"
    rows = map_file(CONTEXT, parse(text), {}, claims)
    assert rows.articles == []
    assert rows.quarantine[0]["reason"] == ("test.rdf:1: duplicate handle repec:TST:wpaper:1: the "
        "template at old.rdf holds it already (the first template keeps a handle)")  # fmt: skip


@pytest.mark.parametrize("field", ["Notification", "Followup", "Predecessor"])
def test_every_series_field_of_the_specification_is_a_field(field: str) -> None:
    """redif.spec's Series fields; read as continuations they glued themselves onto the
    handle (``RePEc:kap:geneva Followup: RePEc:pal:genrir`` in the master list)."""
    t = one(f"Template-Type: ReDIF-Series 1.0\nName: N\nHandle: RePEc:kap:geneva\n"
            f"{field}: RePEc:pal:genrir\n")  # fmt: skip
    assert (t.handle, to_item(t)["name"]) == ("RePEc:kap:geneva", "N")


def test_every_handle_of_the_master_list_is_one_token(samples: Path) -> None:
    """The 3,814 archive and series files of RePEc's master list: a field the parser did not
    know would be read as a continuation and glued onto the value before it (32 handles
    were, through ``Followup:``/``Predecessor:``)."""
    tarball = samples / "repec_all_archive_series" / "repec_all_arch_seri_templates.tar.gz"
    handles = []
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            raw = tar.extractfile(member)
            if raw is not None:
                found = parse_templates(decode(raw.read()), member.name)
                handles += [t.handle for t in found if isinstance(t, Template)]
    assert len(handles) > 10_000
    assert [h for h in handles if len(h.split()) != 1] == []


def test_a_copy_that_cannot_be_mapped_leaves_the_handle_to_the_next_one() -> None:
    text = (
        "Template-Type: ReDIF-Institution 1.0\nHandle: RePEc:edi:xyzabcd\n\n"
        "Template-Type: ReDIF-Institution 1.0\nPrimary-Name: U\nHandle: RePEc:edi:xyzabcd\n"
    )
    rows = map_file(CONTEXT, parse(text), {})
    assert [u["name"] for u in rows.institutions] == ["U"]
    assert rows.duplicates == 0 and len(rows.quarantine) == 1
