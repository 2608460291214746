"""Field-level rules shared by every metadata format: text, DOIs, JEL codes, keywords, years,
item types and person names."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.fields import (
    clean,
    doi_from,
    first_doi,
    is_url,
    item_type,
    jel_codes_in,
    name_parts,
    split_jel,
    split_keywords,
    split_subjects,
    unique,
    year_from,
)

DETERMINISTIC = settings(derandomize=True, database=None, max_examples=200, deadline=None)

SAGE_DOI = "10.1177/23477970251383994"

# --- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  a  b\n\tc ", "a b c"),
        ("Post\r\n        Keynesians", "Post Keynesians"),
        ("", None),
        ("  \n ", None),
        (None, None),
    ],
)
def test_clean_trims_and_folds_white_space(value: str | None, expected: str | None) -> None:
    assert clean(value) == expected


def test_unique_cleans_drops_empties_and_keeps_first_occurrence_order() -> None:
    assert unique(["b", " a ", None, "", "b", "a", "c  d"]) == ["b", "a", "c d"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://doi.org/x", True),
        ("HTTP://example.org", True),
        ("ftp://ftp.example.org/f.pdf", True),
        ("RePEc:sae:asseca:v:12", False),
        ("doi:10.1177/x", False),
        ("www.example.org", False),
    ],
)
def test_is_url(value: str, expected: bool) -> None:
    assert is_url(value) is expected


# --- DOIs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"doi:{SAGE_DOI}", SAGE_DOI),
        (f"DOI: {SAGE_DOI}", SAGE_DOI),
        (f"info:doi/{SAGE_DOI}", SAGE_DOI),
        (f"https://doi.org/{SAGE_DOI}", SAGE_DOI),
        (f"http://doi.org/{SAGE_DOI}", SAGE_DOI),
        (f"http://dx.doi.org/{SAGE_DOI}", SAGE_DOI),
        (f"HTTPS://DOI.ORG/{SAGE_DOI}", SAGE_DOI),
        (SAGE_DOI, SAGE_DOI),
        (f"  {SAGE_DOI}  ", SAGE_DOI),
        ("10.1016/j.eneco.2025.108214", "10.1016/j.eneco.2025.108214"),
    ],
)
def test_explicit_doi_forms(value: str, expected: str) -> None:
    assert doi_from(value) == expected


def test_percent_encoded_doi_org_url_is_decoded() -> None:
    url = (
        "https://doi.org/10.1002/%28SICI%291099-1255%28199601%2911%3A1%3C1%3A%3A"
        "AID-JAE378%3E3.0.CO%3B2-Y"
    )
    assert doi_from(url) == "10.1002/(SICI)1099-1255(199601)11:1<1::AID-JAE378>3.0.CO;2-Y"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://journals.sagepub.com/doi/{SAGE_DOI}", SAGE_DOI),
        (
            "https://onlinelibrary.wiley.com/doi/abs/10.1111/j.1468-0262.2004.00001.x",
            "10.1111/j.1468-0262.2004.00001.x",
        ),
        (
            "https://www.tandfonline.com/doi/full/10.1080/00036846.2020.1?src=recsys",
            "10.1080/00036846.2020.1",
        ),
        ("https://onlinelibrary.wiley.com/doi/pdf/10.1111/ecca.12345#page=3", "10.1111/ecca.12345"),
        ("https://onlinelibrary.wiley.com/doi/epdf/10.1111/ecca.12345", "10.1111/ecca.12345"),
    ],
)
def test_publisher_urls_with_a_doi_path(url: str, expected: str) -> None:
    assert doi_from(url) == expected


@pytest.mark.parametrize("suffix", [".", ",", ";", ")", "]"])
def test_trailing_punctuation_is_not_part_of_the_doi(suffix: str) -> None:
    assert doi_from(f"doi:{SAGE_DOI}{suffix}") == SAGE_DOI


@pytest.mark.parametrize(
    "value",
    [
        "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537",
        "http://www.sciencedirect.com/science/article/pii/S0140988325000387",
        "https://cep.lse.ac.uk/pubs/download/dp2081.pdf",
        "see 10.1177/23477970251383994",  # free text, not an identifier
        "10.12/x",  # registrant code too short
        "archive/doi/10.1177/23477970251383994",  # /doi/ path but not a URL
        "  Motkuri, Venkatanarayana  (2012): Prospects of Rural Industry in Andhra Pradesh.",
        "",
    ],
)
def test_values_without_a_doi(value: str) -> None:
    assert doi_from(value) is None


def test_first_doi_prefers_an_explicit_doi_over_a_publisher_url() -> None:
    identifiers = [
        "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537",
        "https://journals.sagepub.com/doi/10.1177/11111111111",
        "https://doi.org/10.1177/22222222222",
    ]
    assert first_doi(identifiers) == "10.1177/22222222222"


def test_first_doi_falls_back_to_a_publisher_url() -> None:
    identifiers = ["RePEc:sae:asseca:v:12", f"https://journals.sagepub.com/doi/{SAGE_DOI}"]
    assert first_doi(identifiers) == SAGE_DOI


def test_first_doi_of_identifiers_without_any_doi_is_none() -> None:
    assert first_doi(["RePEc:cep:cepdps:dp2081", "https://cep.lse.ac.uk/dp2081.pdf"]) is None
    assert first_doi([]) is None


_doi_suffix = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._;()/:",
    min_size=0,
    max_size=30,
).flatmap(
    lambda body: st.sampled_from(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    ).map(lambda last: body + last)
)
_dois = st.builds(
    lambda registrant, suffix: f"10.{registrant}/{suffix}",
    st.integers(1000, 999_999_999),
    _doi_suffix,
)


@DETERMINISTIC
@given(_dois)
def test_doi_org_url_round_trip(doi: str) -> None:
    assert doi_from(f"https://doi.org/{doi}") == doi


@DETERMINISTIC
@given(_dois)
def test_every_explicit_form_yields_the_same_doi(doi: str) -> None:
    assert doi_from(doi) == doi
    assert doi_from(f"doi:{doi}") == doi
    assert doi_from(f"info:doi/{doi}") == doi
    assert doi_from(f"https://dx.doi.org/{doi}") == doi


# --- JEL codes and keywords in subjects ------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "codes"),
    [
        ("C21", ["C21"]),
        ("JEL: C21", ["C21"]),
        ("JEL: C21, D12", ["C21", "D12"]),
        ("C21 D12", ["C21", "D12"]),
        ("C21; D12", ["C21", "D12"]),
        ("JEL classification: C21; D12", ["C21", "D12"]),
        ("JEL codes: E5", ["E5"]),
        ("JEL: G", ["G"]),
        (
            "O14 - Industrialization ; Manufacturing and Service Industries ; Choice of Technology",
            ["O14"],
        ),
        ("R11 - Regional Economic Activity: Growth, Development, Environmental Issues", ["R11"]),
        ("Z1 - Cultural Economics ; Economic Sociology ; Economic Anthropology", ["Z1"]),
        ("Q16 - R&D ; Agricultural Technology ; Biofuels", ["Q16"]),
        ("R10 - General", ["R10"]),
        ("E24, F50, F55.", ["E24", "F50", "F55"]),
        ("D, D1, D14, J14,", ["D", "D1", "D14", "J14"]),
        ("C120; D14", ["C12", "D14"]),
    ],
)
def test_jel_subjects(subject: str, codes: list[str]) -> None:
    assert jel_codes_in(subject) == codes


@pytest.mark.parametrize(
    "subject",
    [
        "Russia",
        "Islamic State Khorasan Province",
        "remote work; job postings",
        "COVID-19",
        "G20 summit",
        "G",  # a lone letter without a JEL: prefix is not taken for a code
        "Jelly beans",
        "",
    ],
)
def test_keyword_subjects_are_not_jel(subject: str) -> None:
    assert jel_codes_in(subject) is None


def test_split_subjects_separates_jel_codes_from_keywords() -> None:
    jel, keywords = split_subjects(
        ["natural gas", "storage", "price volatility", "Q41", "Q31", "L95"]
    )
    assert jel == ["Q41", "Q31", "L95"]
    assert keywords == ["natural gas", "storage", "price volatility"]


def test_split_subjects_splits_keywords_on_semicolons_and_reads_jel_prefixes() -> None:
    jel, keywords = split_subjects(
        ["remote work; job postings; urban wage premium", "JEL: J61", "JEL: R12", "JEL: M51"]
    )
    assert jel == ["J61", "R12", "M51"]
    assert keywords == ["remote work", "job postings", "urban wage premium"]


def test_split_subjects_keeps_the_labels_of_mpra_jel_subjects_out_of_keywords() -> None:
    jel, keywords = split_subjects(
        [
            "O14 - Industrialization ; Manufacturing and Service Industries ; Choice of Technology",
            "O18 - Urban, Rural, Regional, and Transportation Analysis ; Housing ; Infrastructure",
        ]
    )
    assert jel == ["O14", "O18"]
    assert keywords == []


def test_split_subjects_deduplicates_both_lists() -> None:
    jel, keywords = split_subjects(["C21", "JEL: C21, D12", "trade", "trade; tariffs"])
    assert jel == ["C21", "D12"]
    assert keywords == ["trade", "tariffs"]


def test_split_subjects_of_nothing() -> None:
    assert split_subjects([]) == ([], [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Russia; Afghanistan; Taliban; security; Islamic State Khorasan Province",
            ["Russia", "Afghanistan", "Taliban", "security", "Islamic State Khorasan Province"],
        ),
        ("a, b ,c", ["a", "b", "c"]),
        ("growth, trade; tariffs", ["growth, trade", "tariffs"]),  # ';' wins over ','
        ("a;; b ; a", ["a", "b"]),
        ("single keyword", ["single keyword"]),
        ("", []),
        (None, []),
    ],
)
def test_split_keywords(text: str | None, expected: list[str]) -> None:
    assert split_keywords(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("C21", ["C21"]),
        ("C21;D12", ["C21", "D12"]),
        ("C21, D12 E5", ["C21", "D12", "E5"]),
        ("JEL: C21, D12", ["C21", "D12"]),
        ("c21 d12", ["C21", "D12"]),
        ("C21 C21", ["C21"]),
        ("C21 xyz 1234 D123", ["C21"]),
        ("", []),
        (None, []),
    ],
)
def test_split_jel(text: str | None, expected: list[str]) -> None:
    assert split_jel(text) == expected


# --- years -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "year"),
    [
        ("2025", 2025),
        ("2025-05", 2025),
        ("1991-08-15", 1991),
        ("May 2012", 2012),
        ("31 December 2011", 2011),
        ("1500", 1500),
        ("2100", 2100),
        ("n.d.", None),
        ("12345", None),  # not a four-digit number
        ("1499", None),
        ("2101", None),
        ("", None),
        (None, None),
    ],
)
def test_year_from(date: str | None, year: int | None) -> None:
    assert year_from(date) == year


# --- item types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["article"], "article"),
        (["Journal Article"], "article"),
        (["preprint"], "paper"),
        (["MPRA Paper", "NonPeerReviewed"], "paper"),
        (["NonPeerReviewed", "MPRA Paper"], "paper"),
        (["Working Paper"], "paper"),
        (["Technical Report"], "paper"),
        (["book"], "book"),
        (["Book chapter"], "chapter"),
        (["chapter"], "chapter"),
        (["software"], "software"),
        (["Dataset"], "dataset"),  # unknown types are kept, lower-cased
        ([None, "  ", ""], None),
        ([], None),
    ],
)
def test_item_type(values: list[str | None], expected: str | None) -> None:
    assert item_type(values) == expected


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Motkuri, Venkatanarayana", ("Venkatanarayana Motkuri", "Venkatanarayana", "Motkuri")),
        ("Tiwari, Aviral Kumar", ("Aviral Kumar Tiwari", "Aviral Kumar", "Tiwari")),
        ("Meena, M.S.", ("M.S. Meena", "M.S.", "Meena")),
        (" Doe ,  Jane ", ("Jane Doe", "Jane", "Doe")),
        ("Tatiana Belousova", ("Tatiana Belousova", None, None)),
        ("Smith, John, Jr.", ("Smith, John, Jr.", None, None)),
        ("Chernozhukov, V.", ("V. Chernozhukov", "V.", "Chernozhukov")),
        ("Hossain, Md", ("Md Hossain", "Md", "Hossain")),
        # real names from unjournal_bjn/eval*.rdf: a suffix, a comma inside parentheses
        ("W. Dale Plummer, Jr.", ("W. Dale Plummer, Jr.", None, None)),
        ("Evaluator 1 (Unjournal, anonymous)", ("Evaluator 1 (Unjournal, anonymous)", None, None)),
        ("King, Martin Luther, III", ("King, Martin Luther, III", None, None)),
        (", John", (", John", None, None)),
        ("Doe,", ("Doe,", None, None)),
        ("Elif Şahin", ("Elif Şahin", None, None)),
    ],
)
def test_name_parts(name: str, expected: tuple[str, str | None, str | None]) -> None:
    assert name_parts(name) == expected
