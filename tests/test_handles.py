"""RePEc handles: ``RePEc:<archive>:<series>:<item>``, case-insensitive, with an optional
``v:/y:/i:/p:`` article convention in the item part."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.handles import (
    Handle,
    handle_from_oai_identifier,
    handle_key,
    is_repec_handle,
    parse_handle,
)

DETERMINISTIC = settings(derandomize=True, database=None, max_examples=200, deadline=None)

REAL_ARTICLE = "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"


# --- the full article convention -------------------------------------------------------------


def test_full_convention_handle_is_split_into_archive_series_and_position() -> None:
    h = parse_handle(REAL_ARTICLE)
    assert h == Handle(
        handle=REAL_ARTICLE,
        archive_code="sae",
        series_handle="RePEc:sae:asseca",
        volume="12",
        year=2025,
        issue="4",
        pages="515-537",
    )
    assert h.follows_article_convention


def test_year_is_an_int_and_other_parts_stay_strings() -> None:
    h = parse_handle(REAL_ARTICLE)
    assert isinstance(h.year, int)
    assert isinstance(h.volume, str)
    assert isinstance(h.issue, str)
    assert isinstance(h.pages, str)


@pytest.mark.parametrize(
    ("handle", "issue"),
    [
        ("RePEc:eee:eneeco:v:143:y:2025:i:pb:p:1021-1040", "pb"),
        ("RePEc:aaa:jjjjjj:v:7:y:2019:i:Q1:p:1-20", "Q1"),
        ("RePEc:eee:eneeco:v:141:y:2025:i:c:p:87-104", "c"),
    ],
)
def test_non_numeric_issues_are_kept_verbatim(handle: str, issue: str) -> None:
    assert parse_handle(handle).issue == issue


def test_abbreviated_page_range_is_kept_verbatim_not_expanded() -> None:
    h = parse_handle("RePEc:eee:jeborg:v:233:y:2025:i:c:p:651-75")
    assert h.pages == "651-75"
    assert h.volume == "233"
    assert h.year == 2025


def test_convention_keys_are_case_insensitive_and_values_keep_their_case() -> None:
    h = parse_handle("RePEc:aaa:bbbbbb:V:5:Y:2001:I:Q1:P:3-9")
    assert (h.volume, h.year, h.issue, h.pages) == ("5", 2001, "Q1", "3-9")


# --- partial conventions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handle", "expected"),
    [
        ("RePEc:aaa:bbbbbb:v:5:y:2001", ("5", 2001, None, None)),
        ("RePEc:aaa:bbbbbb:y:2001:v:5", ("5", 2001, None, None)),
        ("RePEc:aaa:bbbbbb:y:2020:p:12-30", (None, 2020, None, "12-30")),
        ("RePEc:aaa:bbbbbb:i:3:v:12", ("12", None, "3", None)),
        ("RePEc:aaa:bbbbbb:p:1-2", (None, None, None, "1-2")),
    ],
)
def test_any_subset_of_the_convention_in_any_order(
    handle: str, expected: tuple[str | None, int | None, str | None, str | None]
) -> None:
    h = parse_handle(handle)
    assert (h.volume, h.year, h.issue, h.pages) == expected
    assert h.follows_article_convention
    assert h.series_handle == "RePEc:aaa:bbbbbb"


def test_a_year_that_is_not_four_digits_is_dropped_but_the_rest_is_kept() -> None:
    h = parse_handle("RePEc:aaa:bbbbbb:v:5:y:95")
    assert h.year is None
    assert h.volume == "5"


# --- items that do not follow the convention -------------------------------------------------


@pytest.mark.parametrize(
    "handle",
    [
        "RePEc:eee:jeborg:s0167268124001234",
        "RePEc:cep:cepdps:dp2081",
        "RePEc:nbr:nberwo:33912",
        "RePEc:spr:sprchp:978-3-031-79530-5_3",
        "RePEc:aaa:bbbbbb:v:5:y",  # odd number of parts
        "RePEc:aaa:bbbbbb:v:5:n:3",  # unknown key
        "RePEc:aaa:bbbbbb:v:1:v:2",  # repeated key
        "RePEc:aaa:bbbbbb:v::y:2001",  # empty value
    ],
)
def test_items_outside_the_convention_have_no_position(handle: str) -> None:
    h = parse_handle(handle)
    assert h.handle == handle
    assert (h.volume, h.year, h.issue, h.pages) == (None, None, None, None)
    assert not h.follows_article_convention
    assert h.archive_code == handle.split(":")[1]
    assert h.series_handle == ":".join(handle.split(":")[:3])


def test_a_series_handle_parses_to_its_archive_and_itself() -> None:
    h = parse_handle("RePEc:sae:asseca")
    assert h.archive_code == "sae"
    assert h.series_handle == "RePEc:sae:asseca"
    assert not h.follows_article_convention


@pytest.mark.parametrize("value", ["oai::48082", "RePEc:sae", "10.1177/2347797", "hdl:123/456"])
def test_non_repec_identifiers_are_opaque(value: str) -> None:
    h = parse_handle(value)
    assert h == Handle(handle=value)
    assert h.archive_code is None
    assert h.series_handle is None
    assert not h.follows_article_convention


def test_surrounding_white_space_is_stripped() -> None:
    assert parse_handle(f"  {REAL_ARTICLE}\n").handle == REAL_ARTICLE


def test_original_case_is_preserved_in_every_part() -> None:
    h = parse_handle("repec:SAE:AssEca:v:12")
    assert h.handle == "repec:SAE:AssEca:v:12"
    assert h.archive_code == "SAE"
    assert h.series_handle == "repec:SAE:AssEca"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("RePEc:sae:asseca", True),
        ("repec:sae:asseca:x", True),
        ("REPEC:A:B", True),
        ("RePEc:sae", False),
        ("oai::48082", False),
        ("", False),
    ],
)
def test_is_repec_handle(value: str, expected: bool) -> None:
    assert is_repec_handle(value) is expected


# --- keys and oai: identifiers ---------------------------------------------------------------


def test_handle_key_is_lower_cased_and_stripped() -> None:
    assert handle_key("  RePEc:SAE:asseca:v:12 ") == "repec:sae:asseca:v:12"


def test_handles_differing_only_in_case_share_a_key() -> None:
    assert parse_handle("RePEc:NBR:NBERWO:33912").key == parse_handle("repec:nbr:nberwo:33912").key


def test_handle_key_property_matches_function() -> None:
    h = parse_handle(REAL_ARTICLE)
    assert h.key == handle_key(REAL_ARTICLE) == REAL_ARTICLE.lower()


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        (f"oai:{REAL_ARTICLE}", REAL_ARTICLE),
        (f"OAI:{REAL_ARTICLE}", REAL_ARTICLE),
        ("oai:repec:nbr:nberwo:33912", "repec:nbr:nberwo:33912"),
        (f"  oai:{REAL_ARTICLE}  ", REAL_ARTICLE),
        (REAL_ARTICLE, REAL_ARTICLE),
        # not RePEc handles: left alone
        ("oai::48082", "oai::48082"),
        ("oai:arXiv.org:1234.5678", "oai:arXiv.org:1234.5678"),
    ],
)
def test_oai_prefix_is_stripped_only_in_front_of_a_repec_handle(
    identifier: str, expected: str
) -> None:
    assert handle_from_oai_identifier(identifier) == expected


# --- properties ------------------------------------------------------------------------------

_code = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
_value = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
    min_size=1,
    max_size=8,
)


@st.composite
def convention_handles(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    parts = {
        "v": draw(st.one_of(st.none(), _value)),
        "y": draw(st.one_of(st.none(), st.integers(1000, 9999))),
        "i": draw(st.one_of(st.none(), _value)),
        "p": draw(
            st.one_of(
                st.none(),
                st.tuples(st.integers(1, 9999), st.integers(1, 9999)).map(
                    lambda t: f"{t[0]}-{t[1]}"
                ),
            )
        ),
    }
    present = [k for k, v in parts.items() if v is not None]
    if not present:
        present = ["v"]
        parts["v"] = draw(_value)
    order = draw(st.permutations(present))
    prefix = draw(st.sampled_from(["RePEc", "repec", "REPEC"]))
    archive, series = draw(_code), draw(_code)
    item = ":".join(f"{k}:{parts[k]}" for k in order)
    return f"{prefix}:{archive}:{series}:{item}", {
        "archive": archive,
        "series": f"{prefix}:{archive}:{series}",
        **parts,
    }


@DETERMINISTIC
@given(convention_handles())
def test_generated_convention_handles_parse_back_to_their_parts(
    case: tuple[str, dict[str, object]],
) -> None:
    handle, parts = case
    h = parse_handle(handle)
    assert h.handle == handle
    assert h.archive_code == parts["archive"]
    assert h.series_handle == parts["series"]
    assert h.volume == parts["v"]
    assert h.year == parts["y"]
    assert h.issue == parts["i"]
    assert h.pages == parts["p"]
    assert h.follows_article_convention


@DETERMINISTIC
@given(st.text())
def test_handle_key_is_idempotent(value: str) -> None:
    assert handle_key(handle_key(value)) == handle_key(value)


@DETERMINISTIC
@given(convention_handles())
def test_key_ignores_case(case: tuple[str, dict[str, object]]) -> None:
    handle, _ = case
    assert parse_handle(handle.upper()).key == parse_handle(handle.lower()).key == handle.lower()


@DETERMINISTIC
@given(convention_handles())
def test_oai_identifier_round_trip(case: tuple[str, dict[str, object]]) -> None:
    handle, _ = case
    assert handle_from_oai_identifier(f"oai:{handle}") == handle
