"""``dc:source`` journal references -> journal, volume, issue, pages and year: structured
where the string is, verbatim where it is not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.journal_refs import JournalRef, parse_journal_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # EconPapers' own citation line (../shared/seed/ record page)
        ("Journal of Asian Security and International Affairs, 2025, vol. 12, issue 4, 515-537",
         JournalRef("Journal of Asian Security and International Affairs", "12", "4", "515-537",
                    2025)),
        ("World Development, 2003, vol. 31, issue 1, pages 1-20",
         JournalRef("World Development", "31", "1", "1-20", 2003)),
        ("Journal of X, Vol. 12, No. 4 (2025), pp. 515-537",
         JournalRef("Journal of X", "12", "4", "515-537", 2025)),
        # OJS: "Journal; Vol 12 No 4 (2025); pages"
        ("Revista de Economia; Vol 12 No 4 (2025); 515-537",
         JournalRef("Revista de Economia", "12", "4", "515-537", 2025)),
        ("Applied Economics, 2019, 51(3), 245-260",
         JournalRef("Applied Economics", "51", "3", "245-260", 2019)),
        ("Journal of X 12(4): 515-537", JournalRef("Journal of X", "12", "4", "515-537", None)),
        ("Economics Letters, vol 5, pp. 33–40", JournalRef("Economics Letters", "5", None,
                                                           "33-40", None)),
        ("Journal of Political Economy, Volume 105, Number 3, June 1997, p. 12",
         JournalRef("Journal of Political Economy", "105", "3", "12", 1997)),
        ("Jahrbücher für Nationalökonomie und Statistik, 2001, Heft 3, S. 1-20",
         JournalRef("Jahrbücher für Nationalökonomie und Statistik", None, "3", "1-20", 2001)),
        # the OpenAIRE guidelines' example
        ("Ecology  Letters (1461023X)  vol.4 (2001)",
         JournalRef("Ecology Letters (1461023X)", "4", None, None, 2001)),
        # Elsevier's: the parenthesis holds the year
        ("Journal of Monetary Economics 52 (2005) 1131–1153",
         JournalRef("Journal of Monetary Economics", "52", None, "1131-1153", 2005)),
        ("Schmollers Jahrbuch 123 (2003), S. 1-20",
         JournalRef("Schmollers Jahrbuch", "123", None, "1-20", 2003)),
        # a year is never read inside a page range or after a label
        ("Research Policy, vol. 33, issue 12, p. 2080-2092",
         JournalRef("Research Policy", "33", "12", "2080-2092", None)),
        ("Scandinavian J. of Econ. 106 (4), 2004, 651-672",
         JournalRef("Scandinavian J. of Econ.", "106", "4", "651-672", 2004)),
        ("Canadian J. of Econ., 39(1), 2006", JournalRef("Canadian J. of Econ.", "39", "1",
                                                         None, 2006)),
        ("Kyklos, 1990, 43, (2), 225-44", JournalRef("Kyklos", "43", "2", "225-44", 1990)),
        ("Journal of Forecasting 44:18, 2363-2372",
         JournalRef("Journal of Forecasting", "44", "18", "2363-2372", None)),
        ("Journal of X pp. 1-10", JournalRef("Journal of X", None, None, "1-10", None)),
        ("Revista, n° 12", JournalRef("Revista", None, "12", None, None)),
        ("Review of Economic Studies (2015)",
         JournalRef("Review of Economic Studies", None, None, None, 2015)),
        ("J. of Econ. Lit. 2012", JournalRef("J. of Econ. Lit.", None, None, None, 2012)),
        ("2005, vol. 3", JournalRef(None, "3", None, None, 2005)),
    ],
)  # fmt: skip
def test_structured_references(text: str, expected: JournalRef) -> None:
    assert parse_journal_ref(text) == expected


@pytest.mark.parametrize("text", [
    "American Economic Review", "Revue d'économie politique", "Economic Inquiry 45",
    # label words inside a name are not labels without a number after them
    "Journal of Number Theory", "N.Y.U. Law Review", "Issue Brief", "C# Journal",
    "The No Name Review",
])  # fmt: skip
def test_an_unstructured_reference_is_the_journal_verbatim(text: str) -> None:
    assert parse_journal_ref(text) == JournalRef(journal=text)


@pytest.mark.parametrize("text", ["", "  ", "https://doi.org/10.1/x", "ISSN: 0928-0987",
                                  "eISSN 1234-5678", None])  # fmt: skip
def test_urls_identifiers_and_nothing_are_not_references(text: str | None) -> None:
    assert parse_journal_ref(text) is None


_NAME = st.lists(st.sampled_from(["Journal", "of", "Economic", "Studies", "Review", "Applied"]),
                 min_size=1, max_size=5).map(" ".join)  # fmt: skip


@given(_NAME, st.integers(1, 300), st.integers(1, 12), st.integers(1, 900),
       st.integers(1, 90), st.integers(1950, 2030))  # fmt: skip
def test_econpapers_shape_reads_back_whatever_the_numbers(
    name: str, volume: int, issue: int, first: int, length: int, year: int
) -> None:
    pages = f"{first}-{first + length}"
    text = f"{name}, {year}, vol. {volume}, issue {issue}, {pages}"
    assert parse_journal_ref(text) == JournalRef(name, str(volume), str(issue), pages, year)


@given(_NAME, st.integers(1, 300), st.integers(1950, 2030), st.integers(1, 900),
       st.integers(1, 90))  # fmt: skip
def test_elsevier_shape_reads_back_whatever_the_numbers(
    name: str, volume: int, year: int, first: int, length: int
) -> None:
    pages = f"{first}-{first + length}"
    text = f"{name} {volume} ({year}) {pages}"
    assert parse_journal_ref(text) == JournalRef(name, str(volume), None, pages, year)
