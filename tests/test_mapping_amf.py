"""AMF (``http://amf.openlib.org``) ``text`` records -> article rows and author rows (through
``map_page``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from harvesting.responses import parse_xml
from schemas.records import PageContext, PageRows, map_page

OAI = "http://www.openarchives.org/OAI/2.0/"
AMF = "http://amf.openlib.org"
PROVIDER_SAMPLE = Path(__file__).resolve().parents[1] / "provider" / "sample"

REAL = "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"
REAL_DOI = "10.1177/23477970251383994"
HANDLE = "RePEc:cep:cepdps:dp2081"


def context() -> PageContext:
    return PageContext(
        endpoint="https://oai.repec.org/",
        harvest_id="oai.repec.org-amf-all-0123456789",
        metadata_prefix="amf",
        harvested_at=datetime(2025, 11, 20, 10, 11, 12),
        page_id="p1",
        page_path="/raw/p1.xml",
    )


def page_of(handle: str, metadata: str) -> list[etree._Element]:
    raw = (
        f'<ListRecords xmlns="{OAI}"><record><header><identifier>oai:{handle}</identifier>'
        f"<datestamp>2025-06-05</datestamp></header><metadata>{metadata}</metadata></record>"
        "</ListRecords>"
    )
    return list(parse_xml(raw.encode()))


def map_amf_text(
    inner: str, handle: str = HANDLE, *, text_id: str | None = None, namespace: str = AMF
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Map one record whose AMF ``<text>`` holds ``inner``; fail if it is quarantined."""
    ident = handle if text_id is None else text_id
    id_attr = f' id="{ident}"' if ident else ""
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    rows = map_page(context(), page_of(handle, f"<amf{xmlns}><text{id_attr}>{inner}</text></amf>"))
    assert rows.quarantine == [], rows.quarantine
    [article] = rows.articles
    return article, rows.authors


def quarantined(handle: str, metadata: str) -> str:
    rows = map_page(context(), page_of(handle, metadata))
    assert rows.articles == []
    [q] = rows.quarantine
    assert q["oai_identifier"] == f"oai:{handle}"
    return str(q["reason"])


# --- the real article of the bundled sample corpus -------------------------------------------


def sample_record(identifier: str) -> etree._Element:
    root = parse_xml((PROVIDER_SAMPLE / "amf.xml").read_bytes())
    for record in root.iterfind(f"{{{OAI}}}record"):
        if record.findtext(f"{{{OAI}}}header/{{{OAI}}}identifier") == identifier:
            return record
    raise AssertionError(f"{identifier} is not in the sample corpus")


@pytest.fixture(scope="module")
def real() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = map_page(context(), [sample_record(f"oai:{REAL}")])
    assert rows.quarantine == []
    [article] = rows.articles
    return article, rows.authors


def test_real_article_identity(real: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    article, _ = real
    assert article["handle"] == REAL
    assert article["handle_key"] == REAL.lower()
    assert article["series_handle"] == "RePEc:sae:asseca"
    assert article["archive_code"] == "sae"
    assert article["metadata_prefix"] == "amf"
    assert article["datestamp"] == datetime(2025, 11, 3)
    assert article["deleted"] is False


def test_real_article_title(real: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    article, _ = real
    assert article["title"] == "Embracing the Taliban: Deciphering Russia\u2019s Afghan Policy"


def test_real_article_journal_comes_from_the_serial(
    real: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    article, _ = real
    assert article["journal"] == "Journal of Asian Security and International Affairs"
    assert article["item_type"] == "article"
    assert article["volume"] == "12"
    assert article["issue"] == "4"
    assert article["pages"] == "515-537"
    assert article["year"] == 2025
    assert article["date"] == "2025"


def test_real_article_identifiers_and_subjects(
    real: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    article, _ = real
    assert article["doi"] == REAL_DOI
    assert article["urls"] == [f"https://journals.sagepub.com/doi/{REAL_DOI}"]
    assert article["keywords"] == [
        "Russia",
        "Afghanistan",
        "Taliban",
        "security",
        "Islamic State Khorasan Province",
    ]
    assert article["jel_codes"] == []
    assert article["publisher"] == "SAGE Publications"
    assert article["language"] == "en"
    assert article["abstract"].startswith("In what represents a radical departure")


def test_real_article_authors(real: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    _, authors = real
    assert [
        (a["role"], a["position"], a["name"], a["given_name"], a["family_name"]) for a in authors
    ] == [
        ("author", 1, "Tatiana Belousova", "Tatiana", "Belousova"),
        ("author", 2, "Raghav Sharma", "Raghav", "Sharma"),
    ]
    assert all(a["short_id"] is None and a["email"] is None for a in authors)


def test_the_whole_sample_corpus_maps_without_quarantine() -> None:
    root = parse_xml((PROVIDER_SAMPLE / "amf.xml").read_bytes())
    rows = map_page(context(), root.iterfind(f"{{{OAI}}}record"))
    assert len(rows.articles) == 54
    assert rows.quarantine == []
    assert rows.deleted == 1
    rows.tables()


def test_sample_formats_agree_on_the_shared_facts() -> None:
    by_prefix = {}
    for prefix in ("oai_dc", "amf"):
        root = parse_xml((PROVIDER_SAMPLE / f"{prefix}.xml").read_bytes())
        ctx = PageContext("https://x/", "h", prefix, datetime(2025, 12, 1), "p", "/p")
        by_prefix[prefix] = map_page(ctx, root.iterfind(f"{{{OAI}}}record"))
    dc_rows, amf_rows = by_prefix["oai_dc"], by_prefix["amf"]
    for a, b in zip(dc_rows.articles, amf_rows.articles, strict=True):
        for column in ("handle", "deleted", "title", "abstract", "item_type", "year", "doi",
                       "keywords", "jel_codes", "publisher", "series_handle"):  # fmt: skip
            assert a[column] == b[column], (a["handle"], column)

    def people(rows: PageRows, role: str) -> list[tuple[str, int, str]]:
        return [(a["handle"], a["position"], a["name"]) for a in rows.authors if a["role"] == role]

    assert people(dc_rows, "author") == people(amf_rows, "author")
    # oai_dc has no editor element: the sample's editors are dc:contributor there
    assert people(dc_rows, "contributor") == people(amf_rows, "editor")


# --- serial: journal, volume, issue, pages ---------------------------------------------------


def test_start_and_end_pages_make_a_range() -> None:
    article, _ = map_amf_text(
        "<serial><journaltitle>J</journaltitle><volume>3</volume><issue>Q1</issue>"
        "<startpage>10</startpage><endpage>25</endpage></serial>"
    )
    assert (article["journal"], article["volume"], article["issue"], article["pages"]) == (
        "J",
        "3",
        "Q1",
        "10-25",
    )


def test_a_pages_element_wins() -> None:
    article, _ = map_amf_text(
        "<serial><pages>651-675</pages><startpage>1</startpage><endpage>2</endpage></serial>"
    )
    assert article["pages"] == "651-675"


def test_a_start_page_alone_is_the_pages() -> None:
    article, _ = map_amf_text("<serial><startpage>e1021</startpage></serial>")
    assert article["pages"] == "e1021"


def test_serial_values_win_over_the_handle_convention() -> None:
    article, _ = map_amf_text(
        "<serial><volume>233</volume><issue>C</issue><startpage>651</startpage>"
        "<endpage>675</endpage><issuedate>2025-07</issuedate></serial>",
        "RePEc:eee:jeborg:v:233:y:2025:i:c:p:651-75",
    )
    assert (article["volume"], article["issue"], article["pages"]) == ("233", "C", "651-675")
    assert article["date"] == "2025-07"
    assert article["year"] == 2025


def test_the_handle_fills_what_the_serial_lacks() -> None:
    article, _ = map_amf_text(
        "<serial><journaltitle>Energy Economics</journaltitle></serial>",
        "RePEc:eee:eneeco:v:143:y:2025:i:pb:p:1021-1040",
    )
    assert article["item_type"] == "article"
    assert (article["volume"], article["issue"], article["pages"]) == ("143", "pb", "1021-1040")
    assert article["year"] == 2025


def test_a_serial_makes_an_untyped_text_an_article() -> None:
    article, _ = map_amf_text("<serial><journaltitle>J</journaltitle></serial>")
    assert article["item_type"] == "article"


def test_an_article_outside_the_handle_convention_takes_its_position_from_the_serial() -> None:
    article, _ = map_amf_text(
        "<type>article</type><serial><journaltitle>Journal of Economic Behavior &amp; "
        "Organization</journaltitle><volume>221</volume><issue>C</issue>"
        "<startpage>412</startpage><endpage>431</endpage><issuedate>2024</issuedate></serial>",
        "RePEc:eee:jeborg:s0167268124001234",
    )
    assert article["journal"] == "Journal of Economic Behavior & Organization"
    assert (article["volume"], article["issue"], article["pages"]) == ("221", "C", "412-431")
    assert article["year"] == 2024


def test_a_paper_without_serial_or_convention() -> None:
    article, _ = map_amf_text("<type>preprint</type><title>WP</title>")
    assert article["item_type"] == "paper"
    assert article["journal"] is None
    assert (article["volume"], article["issue"], article["pages"]) == (None, None, None)


def test_a_non_article_ignores_the_handle_convention() -> None:
    article, _ = map_amf_text("<type>book</type>", "RePEc:aaa:bbbbbb:v:3:y:2020")
    assert article["item_type"] == "book"
    assert (article["volume"], article["year"]) == (None, None)


# --- dates -----------------------------------------------------------------------------------


def test_text_level_issue_date() -> None:
    article, _ = map_amf_text("<type>book</type><issuedate>2025-10</issuedate>")
    assert article["date"] == "2025-10"
    assert article["year"] == 2025


def test_a_date_element_when_there_is_no_issue_date() -> None:
    article, _ = map_amf_text("<type>preprint</type><date>2023-04-01</date>")
    assert article["year"] == 2023


def test_the_serial_issue_date_wins_over_the_text_date() -> None:
    article, _ = map_amf_text(
        "<issuedate>2020</issuedate><serial><issuedate>2021-03</issuedate></serial>"
    )
    assert article["date"] == "2021-03"
    assert article["year"] == 2021


# --- subjects --------------------------------------------------------------------------------


def test_keywords_text_is_split_on_semicolons() -> None:
    article, _ = map_amf_text(
        "<keywords>sovereign debt; climate risk; debt sustainability</keywords>"
    )
    assert article["keywords"] == ["sovereign debt", "climate risk", "debt sustainability"]


def test_keywords_text_without_semicolons_is_split_on_commas() -> None:
    article, _ = map_amf_text("<keywords>trade, tariffs</keywords>")
    assert article["keywords"] == ["trade", "tariffs"]


def test_nested_keyword_elements_are_taken_whole() -> None:
    article, _ = map_amf_text(
        "<keywords><keyword>growth, convergence</keyword><keyword>trade</keyword>"
        "<keyword/></keywords><keyword>trade</keyword>"
    )
    assert article["keywords"] == ["growth, convergence", "trade"]


def test_classification_gives_jel_codes() -> None:
    article, _ = map_amf_text(
        "<classification>F34; Q54; H63</classification><classification>JEL: c21</classification>"
    )
    assert article["jel_codes"] == ["F34", "Q54", "H63", "C21"]


# --- identifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doi",
    [REAL_DOI, f"doi:{REAL_DOI}", f"https://doi.org/{REAL_DOI}", f" {REAL_DOI} "],
)
def test_the_doi_element_is_normalized(doi: str) -> None:
    article, _ = map_amf_text(f"<doi>{doi}</doi>")
    assert article["doi"] == REAL_DOI


def test_a_doi_element_that_is_no_doi_is_kept_as_given() -> None:
    article, _ = map_amf_text("<doi>pending</doi>")
    assert article["doi"] == "pending"


def test_doi_from_file_urls_when_there_is_no_doi_element() -> None:
    article, _ = map_amf_text(
        f"<file><url>https://journals.sagepub.com/doi/{REAL_DOI}</url>"
        "<format>text/html</format></file>"
    )
    assert article["doi"] == REAL_DOI


def test_urls_from_files_then_url_and_displaypage_without_duplicates() -> None:
    article, _ = map_amf_text(
        "<file><url>https://a.example/1.pdf</url><format>application/pdf</format></file>"
        "<file><url>https://a.example/landing</url></file>"
        "<url>https://a.example/landing</url>"
        "<displaypage>https://b.example/page</displaypage>"
        "<file><format>application/pdf</format></file>"
    )
    assert article["urls"] == [
        "https://a.example/1.pdf",
        "https://a.example/landing",
        "https://b.example/page",
    ]
    assert article["doi"] is None


# --- people ----------------------------------------------------------------------------------


def test_person_details() -> None:
    _, authors = map_amf_text(
        "<hasauthor><person><name>Laleh Farahani</name><givenname>Laleh</givenname>"
        "<familyname>Farahani</familyname><shortid>pfa902</shortid>"
        "<email>laleh@example.org</email></person></hasauthor>"
    )
    [a] = authors
    assert (a["name"], a["given_name"], a["family_name"], a["short_id"], a["email"]) == (
        "Laleh Farahani",
        "Laleh",
        "Farahani",
        "pfa902",
        "laleh@example.org",
    )
    assert (a["role"], a["position"]) == ("author", 1)


def test_a_name_is_built_from_its_parts_when_missing() -> None:
    _, authors = map_amf_text(
        "<hasauthor><person><givenname>Kofi</givenname>"
        "<familyname>Asante-Darko</familyname></person></hasauthor>"
    )
    assert [a["name"] for a in authors] == ["Kofi Asante-Darko"]


def test_a_person_without_any_name_is_skipped() -> None:
    _, authors = map_amf_text(
        "<hasauthor><person><email>x@example.org</email></person></hasauthor>"
        "<hasauthor><person><name>A B</name></person></hasauthor>"
    )
    assert [(a["name"], a["position"]) for a in authors] == [("A B", 1)]


def test_short_id_from_a_ref_attribute_or_an_extension_namespace() -> None:
    _, authors = map_amf_text(
        '<hasauthor><person ref="pab123"><name>A</name></person></hasauthor>'
        '<hasauthor><person><name>B</name><acis:shortid xmlns:acis="http://acis.openlib.org">'
        "pcd456</acis:shortid></person></hasauthor>"
    )
    assert [a["short_id"] for a in authors] == ["pab123", "pcd456"]


def test_editors_of_an_edited_book() -> None:
    article, authors = map_amf_text(
        "<type>book</type>"
        "<haseditor><person><name>Timur Abdullaev</name></person></haseditor>"
        "<haseditor><person><name>Ana Luísa Carvalho</name></person></haseditor>",
        "RePEc:spr:sprbok:978-3-031-79530-5",
    )
    assert article["item_type"] == "book"
    assert [(a["role"], a["position"], a["name"]) for a in authors] == [
        ("editor", 1, "Timur Abdullaev"),
        ("editor", 2, "Ana Luísa Carvalho"),
    ]


def test_authors_and_editors_are_numbered_separately() -> None:
    _, authors = map_amf_text(
        "<hasauthor><person><name>A1</name></person></hasauthor>"
        "<haseditor><person><name>E1</name></person></haseditor>"
        "<hasauthor><person><name>A2</name></person></hasauthor>"
    )
    positions = {(a["role"], a["name"]): a["position"] for a in authors}
    assert positions == {("author", "A1"): 1, ("author", "A2"): 2, ("editor", "E1"): 1}


# --- publisher, series, language -------------------------------------------------------------


@pytest.mark.parametrize(
    "publisher",
    [
        "<publisher><organization><name>Springer</name></organization></publisher>",
        "<publisher><name>Springer</name></publisher>",
        "<haspublisher><organization><name>Springer</name></organization></haspublisher>",
    ],
)
def test_publisher(publisher: str) -> None:
    article, _ = map_amf_text(publisher)
    assert article["publisher"] == "Springer"


def test_series_handle_from_ispartof_wins_over_the_handle() -> None:
    article, _ = map_amf_text('<ispartof><collection ref="RePEc:cep:cepops"/></ispartof>')
    assert article["series_handle"] == "RePEc:cep:cepops"


def test_series_handle_falls_back_to_the_handle() -> None:
    article, _ = map_amf_text("<title>T</title>")
    assert article["series_handle"] == "RePEc:cep:cepdps"


def test_language_and_title_and_abstract() -> None:
    article, _ = map_amf_text(
        "<title>  A\n  title </title><abstract>Rates &lt; 5% &amp; rising</abstract>"
        "<language>de</language>"
    )
    assert article["title"] == "A title"
    assert article["abstract"] == "Rates < 5% & rising"
    assert article["language"] == "de"


# --- namespaces and text ids -----------------------------------------------------------------


def test_elements_without_a_namespace_map_the_same() -> None:
    inner = (
        "<title>T</title><serial><journaltitle>J</journaltitle><volume>1</volume></serial>"
        "<hasauthor><person><name>A B</name></person></hasauthor>"
    )
    with_ns = map_amf_text(inner)
    without_ns = map_amf_text(inner, namespace="")
    assert with_ns[0]["journal"] == without_ns[0]["journal"] == "J"
    assert with_ns[0]["volume"] == without_ns[0]["volume"] == "1"
    assert [a["name"] for a in with_ns[1]] == [a["name"] for a in without_ns[1]] == ["A B"]


def test_the_text_id_is_compared_case_insensitively() -> None:
    article, _ = map_amf_text("<title>T</title>", text_id=HANDLE.upper())
    assert article["title"] == "T"


def test_a_text_without_an_id_is_accepted() -> None:
    article, _ = map_amf_text("<title>T</title>", text_id="")
    assert article["title"] == "T"


def test_amf_without_a_text_is_quarantined() -> None:
    reason = quarantined(HANDLE, f'<amf xmlns="{AMF}"><person><name>X</name></person></amf>')
    assert "text" in reason


def test_metadata_that_is_not_amf_is_quarantined() -> None:
    reason = quarantined(
        HANDLE,
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"></oai_dc:dc>',
    )
    assert "amf" in reason


# --- AMF as it is written outside the OAI gateway, and as ACIS reads it ----------------------

#: A real AMF text record with an ``info:lib/`` id (AuthorProfile's tooling, quoted from the
#: code index; see docs/field-mapping.md).
INFO_LIB = f"""<amf xmlns="{AMF}">
 <text xmlns="{AMF}" id="info:lib/RePEc:aaa:wpaper:5">
  <title>The impact of sales promotions on store performance: a structural vector autoregressive (SVAR) approach.</title>
  <displaypage>http://econpapers.repec.org/RePEc:aaa:wpaper:5</displaypage>
  <hasauthor><person><name>Marzia Freo</name></person></hasauthor>
 </text></amf>"""  # noqa: E501


def test_an_info_lib_text_id_gives_the_handle_and_its_series() -> None:
    rows = map_page(context(), page_of("repository.example:5", INFO_LIB))
    assert rows.quarantine == []
    [article] = rows.articles
    assert (article["handle"], article["handle_key"]) == (
        "RePEc:aaa:wpaper:5",
        "repec:aaa:wpaper:5",
    )
    assert (article["series_handle"], article["archive_code"]) == ("RePEc:aaa:wpaper", "aaa")
    assert article["oai_identifier"] == "oai:repository.example:5"
    assert [a["name"] for a in rows.authors] == ["Marzia Freo"]


def test_an_info_lib_collection_ref_is_a_series_handle() -> None:
    article, _ = map_amf_text('<ispartof><collection ref="info:lib/RePEc:cep:cepops"/></ispartof>')
    assert article["series_handle"] == "RePEc:cep:cepops"


def test_the_issue_comes_from_serial_part_as_acis_reads_it() -> None:
    article, _ = map_amf_text(
        "<serial><journaltitle>J</journaltitle><volume>7</volume><part>3</part>"
        "<startpage>1</startpage><endpage>9</endpage></serial>"
    )
    assert (article["journal"], article["volume"], article["issue"], article["pages"]) == (
        "J", "7", "3", "1-9")  # fmt: skip


@pytest.mark.parametrize(
    "serial", ["<issue>2</issue><part>Q1</part>", "<part>Q1</part><issue>2</issue>"]
)
def test_serial_issue_wins_over_part_wherever_it_stands(serial: str) -> None:
    article, _ = map_amf_text(f"<serial>{serial}</serial>")
    assert article["issue"] == "2"


def test_the_journal_title_wins_over_its_abbreviation() -> None:
    article, _ = map_amf_text(
        "<serial><journalabbreviatedtitle>J. T.</journalabbreviatedtitle>"
        "<journaltitle>Journal of Testing</journaltitle></serial>"
    )
    assert article["journal"] == "Journal of Testing"


def test_status_is_the_publication_status() -> None:
    article, _ = map_amf_text("<status>Published in: Journal of Testing, 2024, 3(1), 1-9</status>")
    assert article["publication_status"] == "Published in: Journal of Testing, 2024, 3(1), 1-9"


@pytest.mark.parametrize(
    ("person", "name", "given", "family"),
    [
        ("<name>Freo, Marzia</name>", "Freo, Marzia", "Marzia", "Freo"),
        ("<name>Marzia Freo</name>", "Marzia Freo", None, None),  # no guess at the order
        ("<givenname>John</givenname><additionalname>Q.</additionalname>"
         "<familyname>Smith</familyname>", "John Q. Smith", "John Q.", "Smith"),
    ],
)  # fmt: skip
def test_person_names_are_split_as_oai_dc_creators_are(
    person: str, name: str, given: str | None, family: str | None
) -> None:
    _, [author] = map_amf_text(f"<hasauthor><person>{person}</person></hasauthor>")
    assert (author["name"], author["given_name"], author["family_name"]) == (name, given, family)
