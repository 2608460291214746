"""oai_dc as RePEc serves it -> article rows and author rows (through ``map_page``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from harvesting.responses import parse_response, parse_xml
from schemas.records import PageContext, map_page

OAI = "http://www.openarchives.org/OAI/2.0/"
DC = (
    'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)
PROVIDER_SAMPLE = Path(__file__).resolve().parents[1] / "provider" / "sample"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "repec-samples"
MPRA = SAMPLES / "oai" / "mpra_oai2_ListRecords_2016-07-12__from_SHARE_docstring.xml"

REAL = "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"
REAL_DOI = "10.1177/23477970251383994"


def context(page_id: str = "p1") -> PageContext:
    return PageContext(
        endpoint="https://oai.repec.org/",
        harvest_id="oai.repec.org-oai_dc-all-0123456789",
        metadata_prefix="oai_dc",
        harvested_at=datetime(2025, 11, 20, 10, 11, 12),
        page_id=page_id,
        page_path=f"/raw/{page_id}.xml",
    )


def map_dc(
    elements: str, handle: str = "RePEc:cep:cepdps:dp2081"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Map one oai_dc record holding ``elements``; fail if it is quarantined."""
    raw = (
        f'<ListRecords xmlns="{OAI}"><record><header><identifier>oai:{handle}</identifier>'
        "<datestamp>2025-06-05</datestamp></header>"
        f"<metadata><oai_dc:dc {DC}>{elements}</oai_dc:dc></metadata></record></ListRecords>"
    )
    rows = map_page(context(), list(parse_xml(raw.encode())))
    assert rows.quarantine == []
    [article] = rows.articles
    return article, rows.authors


# --- the real article of the bundled sample corpus -------------------------------------------


def sample_record(identifier: str) -> etree._Element:
    root = parse_xml((PROVIDER_SAMPLE / "oai_dc.xml").read_bytes())
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
    assert article["oai_identifier"] == f"oai:{REAL}"
    assert article["series_handle"] == "RePEc:sae:asseca"
    assert article["archive_code"] == "sae"
    assert article["datestamp"] == datetime(2025, 11, 3)
    assert article["set_specs"] == ["RePEc:sae:asseca"]
    assert article["deleted"] is False


def test_real_article_title_keeps_its_typographic_apostrophe(
    real: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    article, _ = real
    assert article["title"] == "Embracing the Taliban: Deciphering Russia\u2019s Afghan Policy"


def test_real_article_bibliographic_fields(
    real: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    article, _ = real
    assert article["item_type"] == "article"
    assert article["year"] == 2025
    assert article["date"] == "2025"
    # oai_dc has no volume/issue/pages: they come from the handle convention
    assert article["volume"] == "12"
    assert article["issue"] == "4"
    assert article["pages"] == "515-537"
    # and no journal title
    assert article["journal"] is None
    assert article["doi"] == REAL_DOI
    assert article["publisher"] == "SAGE Publications"
    assert article["language"] == "en"


def test_real_article_subjects_and_urls(real: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    article, _ = real
    assert article["keywords"] == [
        "Russia",
        "Afghanistan",
        "Taliban",
        "security",
        "Islamic State Khorasan Province",
    ]
    assert article["jel_codes"] == []
    assert article["urls"] == [
        f"https://journals.sagepub.com/doi/{REAL_DOI}",
        f"https://doi.org/{REAL_DOI}",
    ]


def test_real_article_abstract(real: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    article, _ = real
    assert article["abstract"].startswith(
        "In what represents a radical departure from the Kremlin\u2019s past trajectory"
    )
    assert article["abstract"].endswith("withdrawal of the United States from Afghanistan.")


def test_real_article_authors(real: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    _, authors = real
    assert [(a["position"], a["role"], a["name"]) for a in authors] == [
        (1, "author", "Tatiana Belousova"),
        (2, "author", "Raghav Sharma"),
    ]
    # "Given Family" order is not guessed at
    assert all(a["given_name"] is None and a["family_name"] is None for a in authors)
    assert all(a["short_id"] is None and a["email"] is None for a in authors)
    assert all(a["handle"] == REAL for a in authors)


def test_the_whole_sample_corpus_maps_without_quarantine() -> None:
    root = parse_xml((PROVIDER_SAMPLE / "oai_dc.xml").read_bytes())
    rows = map_page(context(), root.iterfind(f"{{{OAI}}}record"))
    assert len(rows.articles) == 54
    assert rows.quarantine == []
    assert rows.deleted == 1
    [tombstone] = [a for a in rows.articles if a["deleted"]]
    assert tombstone["handle"] == "RePEc:pra:mprapa:126702"
    tables = rows.tables()
    assert tables["articles"].num_rows == 54


# --- mapping rules on small records ----------------------------------------------------------


def test_first_title_and_first_description_win() -> None:
    article, _ = map_dc(
        "<dc:title>First</dc:title><dc:title>Second</dc:title>"
        "<dc:description>The abstract.</dc:description><dc:description>A note.</dc:description>"
    )
    assert article["title"] == "First"
    assert article["abstract"] == "The abstract."


def test_white_space_is_folded_and_markup_characters_decoded() -> None:
    article, _ = map_dc(
        "<dc:title>\n   Prices &amp;\n   Markups   </dc:title>"
        "<dc:description>  a &lt; b &gt; c\r\n  d </dc:description>"
    )
    assert article["title"] == "Prices & Markups"
    assert article["abstract"] == "a < b > c d"


def test_empty_elements_are_ignored() -> None:
    article, authors = map_dc(
        "<dc:title>  </dc:title><dc:title>Real title</dc:title><dc:creator/>"
        "<dc:creator>A B</dc:creator><dc:date></dc:date><dc:subject> </dc:subject>"
    )
    assert article["title"] == "Real title"
    assert [a["name"] for a in authors] == ["A B"]
    assert article["date"] is None
    assert article["keywords"] == []


def test_missing_elements_give_nulls_and_empty_lists() -> None:
    article, authors = map_dc("")
    for column in ("item_type", "title", "abstract", "journal", "date", "doi", "language"):
        assert article[column] is None, column
    assert article["year"] is None
    assert (article["keywords"], article["jel_codes"], article["urls"]) == ([], [], [])
    assert authors == []


def test_elements_outside_the_dc_namespace_are_ignored() -> None:
    article, _ = map_dc(
        '<x:title xmlns:x="http://example.org/x">Not me</x:title><dc:title>Me</dc:title>'
    )
    assert article["title"] == "Me"


def test_creators_in_family_comma_given_form_are_split() -> None:
    _, authors = map_dc(
        "<dc:creator>Motkuri, Venkatanarayana</dc:creator><dc:creator>Elif Şahin</dc:creator>"
    )
    assert [(a["name"], a["given_name"], a["family_name"]) for a in authors] == [
        ("Venkatanarayana Motkuri", "Venkatanarayana", "Motkuri"),
        ("Elif Şahin", None, None),
    ]
    assert [a["position"] for a in authors] == [1, 2]
    assert {a["role"] for a in authors} == {"author"}


def test_subjects_are_split_into_keywords_and_jel_codes() -> None:
    article, _ = map_dc(
        "<dc:subject>remote work; job postings; urban wage premium</dc:subject>"
        "<dc:subject>JEL: J61</dc:subject><dc:subject>R12</dc:subject>"
        "<dc:subject>O14 - Industrialization ; Manufacturing and Service Industries</dc:subject>"
    )
    assert article["keywords"] == ["remote work", "job postings", "urban wage premium"]
    assert article["jel_codes"] == ["J61", "R12", "O14"]


def test_identifiers_give_urls_and_the_doi_but_not_the_handle() -> None:
    article, _ = map_dc(
        "<dc:identifier>RePEc:cep:cepdps:dp2081</dc:identifier>"
        "<dc:identifier>https://cep.lse.ac.uk/pubs/download/dp2081.pdf</dc:identifier>"
        "<dc:identifier>https://doi.org/10.1016/j.eneco.2025.108214</dc:identifier>"
        "<dc:identifier>https://cep.lse.ac.uk/pubs/download/dp2081.pdf</dc:identifier>"
    )
    assert article["urls"] == [
        "https://cep.lse.ac.uk/pubs/download/dp2081.pdf",
        "https://doi.org/10.1016/j.eneco.2025.108214",
    ]
    assert article["doi"] == "10.1016/j.eneco.2025.108214"


def test_doi_from_a_publisher_url_when_there_is_no_explicit_doi() -> None:
    article, _ = map_dc(
        "<dc:identifier>https://journals.sagepub.com/doi/10.1177/2347797024128774</dc:identifier>"
    )
    assert article["doi"] == "10.1177/2347797024128774"


def test_no_doi() -> None:
    article, _ = map_dc(
        "<dc:identifier>http://www.sciencedirect.com/science/article/pii/S0140988325000387"
        "</dc:identifier>"
    )
    assert article["doi"] is None


@pytest.mark.parametrize(
    ("date", "year"),
    [("2025", 2025), ("2025-05", 2025), ("1991-08-15", 1991), ("n.d.", None)],
)
def test_year_comes_from_the_date(date: str, year: int | None) -> None:
    article, _ = map_dc(f"<dc:date>{date}</dc:date><dc:type>preprint</dc:type>")
    assert article["date"] == date
    assert article["year"] == year


def test_an_undated_working_paper_has_no_year() -> None:
    article, _ = map_dc("<dc:type>preprint</dc:type>", "RePEc:cep:cepdps:dp2081")
    assert article["item_type"] == "paper"
    assert article["year"] is None
    assert article["date"] is None


@pytest.mark.parametrize(
    ("types", "kind"),
    [
        ("<dc:type>article</dc:type>", "article"),
        ("<dc:type>preprint</dc:type>", "paper"),
        ("<dc:type>book</dc:type>", "book"),
        ("<dc:type>MPRA Paper</dc:type><dc:type>NonPeerReviewed</dc:type>", "paper"),
    ],
)
def test_types_are_normalized(types: str, kind: str) -> None:
    article, _ = map_dc(types)
    assert article["item_type"] == kind


def test_untyped_convention_handle_is_an_article_with_its_position() -> None:
    article, _ = map_dc("<dc:title>T</dc:title>", "RePEc:eee:eneeco:v:143:y:2025:i:pb:p:1021-1040")
    assert article["item_type"] == "article"
    assert (article["volume"], article["issue"], article["pages"]) == ("143", "pb", "1021-1040")
    assert article["year"] == 2025  # no dc:date: the handle's year


def test_the_date_wins_over_the_handle_year() -> None:
    article, _ = map_dc("<dc:type>article</dc:type><dc:date>2024</dc:date>", REAL)
    assert article["year"] == 2024


def test_abbreviated_pages_in_the_handle_are_kept() -> None:
    article, _ = map_dc("<dc:type>article</dc:type>", "RePEc:eee:jeborg:v:233:y:2025:i:c:p:651-75")
    assert article["pages"] == "651-75"


def test_an_article_outside_the_convention_has_no_position() -> None:
    article, _ = map_dc("<dc:type>article</dc:type>", "RePEc:eee:jeborg:s0167268124001234")
    assert article["item_type"] == "article"
    assert (article["volume"], article["issue"], article["pages"], article["year"]) == (
        None,
        None,
        None,
        None,
    )
    assert article["series_handle"] == "RePEc:eee:jeborg"


def test_a_non_article_does_not_take_a_position_from_its_handle() -> None:
    article, _ = map_dc("<dc:type>preprint</dc:type>", "RePEc:aaa:wpaper:v:3:y:2020")
    assert article["item_type"] == "paper"
    assert (article["volume"], article["year"]) == (None, None)


def test_untyped_item_outside_the_convention_has_no_type() -> None:
    article, _ = map_dc("<dc:title>T</dc:title>", "RePEc:cep:cepdps:dp2081")
    assert article["item_type"] is None


def test_language_and_publisher_are_the_first_given() -> None:
    article, _ = map_dc(
        "<dc:language>en</dc:language><dc:language>fr</dc:language>"
        "<dc:publisher>Elsevier</dc:publisher>"
    )
    assert article["language"] == "en"
    assert article["publisher"] == "Elsevier"


# --- a real page from MPRA's own endpoint ----------------------------------------------------


@pytest.fixture(scope="module")
def mpra() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not MPRA.is_file():
        pytest.skip(f"{MPRA} is not available")
    page = parse_response(MPRA.read_bytes(), "ListRecords")
    rows = map_page(context("mpra-1"), page.items)
    assert rows.quarantine == []
    return rows.articles, rows.authors


def test_mpra_page_maps_all_eight_records(
    mpra: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    articles, _ = mpra
    assert len(articles) == 8
    # MPRA's own identifiers are not RePEc handles: kept whole, no series or archive
    assert [a["handle"] for a in articles] == [
        "oai::48082",
        "oai::48590",
        "oai::48716",
        "oai::48954",
        "oai::49108",
        "oai::49397",
        "oai::49614",
        "oai::49685",
    ]
    assert all(a["series_handle"] is None and a["archive_code"] is None for a in articles)
    assert all(a["item_type"] == "paper" for a in articles)
    assert all(a["language"] == "en" for a in articles)
    assert all(a["doi"] is None for a in articles)


def test_mpra_first_record(mpra: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    articles, authors = mpra
    first = articles[0]
    assert first["title"] == "Prospects of Rural Industry in Andhra Pradesh"
    assert first["datestamp"] == datetime(2016, 7, 11, 9, 52, 28)
    assert first["set_specs"][0] == "7374617475733D756E707562"
    assert len(first["set_specs"]) == 7
    assert first["date"] == "2012-02"
    assert first["year"] == 2012
    assert first["jel_codes"] == ["O14", "O18", "R10", "R11", "R12"]
    assert first["keywords"] == []  # the JEL labels are not keywords
    assert first["urls"] == [  # dc:identifier, then the dc:relation landing page
        "https://mpra.ub.uni-muenchen.de/48082/1/MPRA_paper_48082.pdf",
        "https://mpra.ub.uni-muenchen.de/48082/",
    ]
    assert first["abstract"].startswith("Given the negative effects of regional imbalance")
    [author] = [a for a in authors if a["handle"] == "oai::48082"]
    assert author["name"] == "Venkatanarayana Motkuri"
    assert author["given_name"] == "Venkatanarayana"
    assert author["family_name"] == "Motkuri"
    assert author["position"] == 1
    assert author["record_id"] == "mpra-1#00001"


def test_mpra_jel_codes_of_every_record(
    mpra: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    articles, _ = mpra
    assert [a["jel_codes"] for a in articles] == [
        ["O14", "O18", "R10", "R11", "R12"],
        ["C58", "E44", "G14"],
        ["E12", "E51"],
        ["O15", "O17", "O20", "O31", "O33", "Q16", "Q28"],
        ["O15", "O21", "O33", "O38", "Q16"],
        ["R20", "R22"],
        ["M14", "N85", "Z1", "Z13"],
        ["O15", "O17", "O31", "O32", "O33", "Q13", "Q16"],
    ]


def test_mpra_years_and_multi_author_records(
    mpra: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    articles, authors = mpra
    assert [a["year"] for a in articles] == [2012, 2011, 2013, 2013, 2013, 1991, 2002, 2013]
    second = [
        (a["position"], a["name"], a["given_name"], a["family_name"])
        for a in authors
        if a["handle"] == "oai::48590"
    ]
    assert second == [
        (1, "Raveesh Krishnankutty", "Raveesh", "Krishnankutty"),
        (2, "Aviral Kumar Tiwari", "Aviral Kumar", "Tiwari"),
    ]
    fourth = [a["name"] for a in authors if a["handle"] == "oai::48716"]
    assert fourth == ["Sabri Nayan", "Mahyudin Ahmad", "Norsiah Kadir", "Mat Saad Abdullah"]
    assert len(authors) == 1 + 2 + 4 + 2 + 3 + 3 + 1 + 2


def test_mpra_abstract_line_breaks_are_folded(
    mpra: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    articles, _ = mpra
    abstract = articles[2]["abstract"]
    assert "\r" not in abstract and "\n" not in abstract
    assert abstract.startswith(
        "Post Keynesian economics is actually macroeconomics in a world of uncertainty "
        "and endogenous money. Post Keynesians posit"
    )


# --- dc:source: the journal reference some providers write ------------------------------------


def test_dc_source_gives_journal_volume_issue_and_pages() -> None:
    article, _ = map_dc(
        "<dc:title>T</dc:title><dc:type>article</dc:type>"
        "<dc:source>Journal of Asian Security and International Affairs, 2025, vol. 12, "
        "issue 4, 515-537</dc:source>",
        handle="RePEc:sae:asseca:2025:515",
    )
    assert (article["journal"], article["volume"], article["issue"], article["pages"],
            article["year"]) == ("Journal of Asian Security and International Affairs", "12",
                                 "4", "515-537", 2025)  # fmt: skip


def test_dc_source_wins_over_the_handle_convention_and_makes_an_article() -> None:
    article, _ = map_dc(
        "<dc:source>Economics Letters, Vol. 5, No. 2 (1999), pp. 33-40</dc:source>",
        handle="RePEc:eee:ecolet:v:5:y:1999:i:2:p:33-39",
    )
    assert article["item_type"] == "article"
    assert (article["journal"], article["pages"]) == ("Economics Letters", "33-40")


def test_an_unstructured_dc_source_is_the_journal_verbatim() -> None:
    article, _ = map_dc("<dc:type>article</dc:type><dc:source>Revue économique</dc:source>")
    assert (article["journal"], article["volume"]) == ("Revue économique", None)


@pytest.mark.parametrize("source", ["CEP Discussion Papers", "Working Papers, No 2045"])
def test_a_working_papers_source_is_not_a_journal(source: str) -> None:
    article, _ = map_dc(f"<dc:type>preprint</dc:type><dc:source>{source}</dc:source>")
    assert (article["journal"], article["issue"], article["year"]) == (None, None, None)


def test_identifiers_in_dc_source_are_skipped() -> None:
    article, _ = map_dc(
        "<dc:type>article</dc:type><dc:source>ISSN: 0928-0987</dc:source>"
        "<dc:source>Ecology Letters, vol. 4</dc:source>"
    )
    assert (article["journal"], article["volume"]) == ("Ecology Letters", "4")
