"""OAI-PMH ``<record>`` elements -> rows: tombstones for deleted records, quarantine for records
that cannot be mapped (without disturbing the rest of the page), and authors by role."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from flows.pages import store_page
from harvesting.harvester import PageCounts
from harvesting.responses import parse_xml
from schemas import tables
from schemas.errors import ConfigError
from schemas.files import page_name
from schemas.records import FORMATS, PageContext, PageRows, format_for, map_page
from schemas.tables import ARTICLES, AUTHORS, QUARANTINE
from warehouse.staging import Staging, read_arrow

OAI = "http://www.openarchives.org/OAI/2.0/"
DC = (
    'xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)
HARVESTED_AT = datetime(2025, 11, 20, 10, 11, 12)

METADATA_COLUMNS = (
    "item_type", "title", "abstract", "journal", "volume", "issue", "pages", "year", "date",
    "doi", "language", "publisher",
)  # fmt: skip


def context(prefix: str = "oai_dc", page_id: str = "p000042") -> PageContext:
    return PageContext(
        endpoint="https://oai.repec.org/",
        harvest_id=f"oai.repec.org-{prefix}-all-0123456789",
        metadata_prefix=prefix,
        harvested_at=HARVESTED_AT,
        page_id=page_id,
        page_path=f"/data/raw/{page_id}.xml.gz",
    )


def header(
    identifier: str | None = "oai:RePEc:cep:cepdps:dp2081",
    datestamp: str = "2025-06-05",
    sets: tuple[str, ...] = ("RePEc:cep:cepdps",),
    status: str | None = None,
) -> str:
    attr = f' status="{status}"' if status else ""
    ident = "" if identifier is None else f"<identifier>{identifier}</identifier>"
    specs = "".join(f"<setSpec>{s}</setSpec>" for s in sets)
    return f"<header{attr}>{ident}<datestamp>{datestamp}</datestamp>{specs}</header>"


def dc(title: str = "Remote Work and the Geography of Firm Hiring", *creators: str) -> str:
    people = "".join(f"<dc:creator>{c}</dc:creator>" for c in creators)
    return (
        f"<metadata><oai_dc:dc {DC}><dc:title>{title}</dc:title>{people}"
        "<dc:type>preprint</dc:type></oai_dc:dc></metadata>"
    )


def records(*items: str) -> list[etree._Element]:
    root = parse_xml(f'<ListRecords xmlns="{OAI}">{"".join(items)}</ListRecords>'.encode())
    return list(root)


def rec(head: str, body: str = "") -> str:
    return f"<record>{head}{body}</record>"


GOOD = rec(header(), dc("Remote Work", "Elif Şahin"))


# --- mappers ---------------------------------------------------------------------------------


def test_oai_dc_and_amf_can_be_mapped() -> None:
    assert set(FORMATS) == {"oai_dc", "amf"}
    assert format_for("oai_dc") is FORMATS["oai_dc"]
    assert format_for("amf") is FORMATS["amf"]


def test_an_unmappable_prefix_is_a_config_error_not_a_quarantine() -> None:
    with pytest.raises(ConfigError, match="marcxml"):
        format_for("marcxml")
    with pytest.raises(ConfigError):
        map_page(context("marcxml"), records(GOOD))


# --- a normal record -------------------------------------------------------------------------


def test_every_row_is_stamped_with_where_it_came_from() -> None:
    rows = map_page(
        context(),
        records(rec(header(datestamp="2025-06-05T08:09:10Z", sets=("a", "b")), dc("T", "A B"))),
    )
    [article] = rows.articles
    assert article["handle"] == "RePEc:cep:cepdps:dp2081"
    assert article["handle_key"] == "repec:cep:cepdps:dp2081"
    assert article["oai_identifier"] == "oai:RePEc:cep:cepdps:dp2081"
    assert article["series_handle"] == "RePEc:cep:cepdps"
    assert article["archive_code"] == "cep"
    assert article["datestamp"] == datetime(2025, 6, 5, 8, 9, 10)
    assert article["set_specs"] == ["a", "b"]
    assert article["deleted"] is False
    assert article["metadata_prefix"] == "oai_dc"
    assert article["endpoint"] == "https://oai.repec.org/"
    assert article["harvest_id"] == "oai.repec.org-oai_dc-all-0123456789"
    assert article["harvested_at"] == HARVESTED_AT
    assert article["record_id"] == "p000042#00001"
    [author] = rows.authors
    assert author["handle"] == article["handle"]
    assert author["handle_key"] == article["handle_key"]
    assert author["record_id"] == article["record_id"]
    assert rows.quarantine == []


def test_record_ids_are_page_id_hash_five_digit_ordinal() -> None:
    rows = map_page(context(page_id="pg-7"), records(*[GOOD] * 12))
    ids = [a["record_id"] for a in rows.articles]
    assert ids[:3] == ["pg-7#00001", "pg-7#00002", "pg-7#00003"]
    assert ids[-1] == "pg-7#00012"
    assert all(re.fullmatch(r"pg-7#\d{5}", i) for i in ids)
    assert len(set(ids)) == 12


def test_rows_have_exactly_the_table_columns() -> None:
    rows = map_page(
        context(),
        records(GOOD, rec(header(status="deleted")), rec(header(datestamp="x"), dc())),
    )
    assert all(set(a) == set(ARTICLES.names) for a in rows.articles)
    assert all(set(a) == set(AUTHORS.names) for a in rows.authors)
    assert all(set(q) == set(QUARANTINE.names) for q in rows.quarantine)
    tables = rows.tables()
    assert tables["articles"].num_rows == 2
    assert tables["authors"].num_rows == 1
    assert tables["quarantine"].num_rows == 1


def test_an_empty_page() -> None:
    rows = map_page(context(), [])
    assert rows == PageRows()
    assert rows.deleted == 0
    assert all(t.num_rows == 0 for t in rows.tables().values())


# --- deleted records -------------------------------------------------------------------------


def test_a_deleted_record_is_a_tombstone() -> None:
    rows = map_page(
        context(),
        records(
            rec(
                header(
                    "oai:RePEc:pra:mprapa:126702",
                    "2025-11-17",
                    ("RePEc:pra:mprapa",),
                    status="deleted",
                )
            )
        ),
    )
    [row] = rows.articles
    assert row["deleted"] is True
    assert row["handle"] == "RePEc:pra:mprapa:126702"
    assert row["handle_key"] == "repec:pra:mprapa:126702"
    assert row["series_handle"] == "RePEc:pra:mprapa"
    assert row["archive_code"] == "pra"
    assert row["datestamp"] == datetime(2025, 11, 17)
    assert row["set_specs"] == ["RePEc:pra:mprapa"]
    assert row["oai_identifier"] == "oai:RePEc:pra:mprapa:126702"
    for column in METADATA_COLUMNS:
        assert row[column] is None, column
    assert (row["keywords"], row["jel_codes"], row["urls"]) == ([], [], [])
    assert rows.authors == []
    assert rows.quarantine == []
    assert rows.deleted == 1


def test_a_deleted_record_carrying_metadata_is_still_a_tombstone() -> None:
    rows = map_page(context(), records(rec(header(status="deleted"), dc("Ghost", "A B"))))
    [row] = rows.articles
    assert row["deleted"] is True
    assert row["title"] is None
    assert rows.authors == []


def test_a_deleted_convention_handle_keeps_no_bibliographic_position() -> None:
    identifier = "oai:RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"
    rows = map_page(context(), records(rec(header(identifier, status="deleted"))))
    [row] = rows.articles
    assert row["handle"] == identifier[4:]
    assert (row["volume"], row["issue"], row["pages"], row["year"]) == (None, None, None, None)


# --- quarantine ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "reason", "identifier"),
    [
        pytest.param(rec(header()), "no metadata", "oai:RePEc:cep:cepdps:dp2081", id="no-metadata"),
        pytest.param(
            rec(header(), "<metadata/>"),
            "no metadata",
            "oai:RePEc:cep:cepdps:dp2081",
            id="empty-metadata",
        ),
        pytest.param(
            rec(header(datestamp="5 June 2025"), dc()),
            "5 June 2025",
            "oai:RePEc:cep:cepdps:dp2081",
            id="bad-datestamp",
        ),
        pytest.param(
            rec(header(datestamp=""), dc()),
            "datestamp",
            "oai:RePEc:cep:cepdps:dp2081",
            id="empty-datestamp",
        ),
        pytest.param(rec(header(identifier=None), dc()), "identifier", None, id="no-identifier"),
        pytest.param(rec(header(identifier="  "), dc()), "identifier", None, id="blank-identifier"),
        pytest.param(rec("", dc()), "header", None, id="no-header"),
        pytest.param(
            rec(header(), '<metadata><amf xmlns="http://amf.openlib.org"/></metadata>'),
            "oai_dc",
            "oai:RePEc:cep:cepdps:dp2081",
            id="wrong-format",
        ),
    ],
)
def test_unmappable_records_are_quarantined(
    record: str, reason: str, identifier: str | None
) -> None:
    rows = map_page(context(), records(record))
    assert rows.articles == []
    assert rows.authors == []
    [q] = rows.quarantine
    assert reason in q["reason"]
    assert q["oai_identifier"] == identifier
    assert q["record_id"] == "p000042#00001"
    assert q["harvest_id"] == "oai.repec.org-oai_dc-all-0123456789"
    assert q["endpoint"] == "https://oai.repec.org/"
    assert q["metadata_prefix"] == "oai_dc"
    assert q["page_path"] == "/data/raw/p000042.xml.gz"
    assert q["quarantined_at"] == HARVESTED_AT
    assert etree.fromstring(q["raw_xml"].encode()).tag == f"{{{OAI}}}record"


def test_quarantine_keeps_the_raw_record_verbatim() -> None:
    bad = rec(header(datestamp="not-a-date"), dc("Keep &amp; &lt;me&gt;"))
    [q] = map_page(context(), records(bad)).quarantine
    raw = etree.fromstring(q["raw_xml"].encode())
    assert raw.findtext(f"{{{OAI}}}header/{{{OAI}}}datestamp") == "not-a-date"
    assert "Keep &amp; &lt;me&gt;" in q["raw_xml"]


def test_a_repec_header_handle_wins_over_a_different_amf_text_id() -> None:
    body = (
        '<metadata><amf xmlns="http://amf.openlib.org">'
        '<text id="RePEc:cep:cepdps:dp9999"><title>Other</title></text></amf></metadata>'
    )
    rows = map_page(context("amf"), records(rec(header(), body)))
    assert rows.quarantine == []
    [article] = rows.articles
    assert article["handle"] == "RePEc:cep:cepdps:dp2081"
    assert article["title"] == "Other"


def test_bad_records_do_not_disturb_the_rest_of_the_page() -> None:
    amf_ok = (
        '<metadata><amf xmlns="http://amf.openlib.org"><text id="RePEc:cep:cepdps:dp2081">'
        "<title>Good</title><hasauthor><person><name>A B</name></person></hasauthor>"
        "</text></amf></metadata>"
    )
    not_amf = f"<metadata><oai_dc:dc {DC}><dc:title>T</dc:title></oai_dc:dc></metadata>"
    page = records(
        rec(header(), amf_ok),
        rec(header()),  # no metadata
        rec(header(datestamp="2025-13-45"), amf_ok),
        rec(header(identifier=None), amf_ok),
        rec(header(), not_amf),
        rec(header(status="deleted")),
        rec(header(), amf_ok),
    )
    rows = map_page(context("amf"), page)
    assert [a["record_id"] for a in rows.articles] == [
        "p000042#00001",
        "p000042#00006",
        "p000042#00007",
    ]
    assert [a["deleted"] for a in rows.articles] == [False, True, False]
    assert [a["title"] for a in rows.articles] == ["Good", None, "Good"]
    assert [q["record_id"] for q in rows.quarantine] == [
        "p000042#00002",
        "p000042#00003",
        "p000042#00004",
        "p000042#00005",
    ]
    assert [a["record_id"] for a in rows.authors] == ["p000042#00001", "p000042#00007"]
    assert rows.deleted == 1
    rows.tables()  # every row fits its schema


# --- authors ---------------------------------------------------------------------------------


def test_oai_dc_creators_are_authors_in_order() -> None:
    rows = map_page(
        context(), records(rec(header(), dc("T", "Şahin, Elif", "Tomás Ó Briain", "Doe, Jane")))
    )
    assert [(a["role"], a["position"], a["name"]) for a in rows.authors] == [
        ("author", 1, "Elif Şahin"),
        ("author", 2, "Tomás Ó Briain"),
        ("author", 3, "Jane Doe"),
    ]


def test_positions_are_counted_per_role() -> None:
    body = (
        '<metadata><amf xmlns="http://amf.openlib.org"><text id="RePEc:cep:cepdps:dp2081">'
        "<title>T</title>"
        "<haseditor><person><name>Editor One</name></person></haseditor>"
        "<hasauthor><person><name>Author One</name></person></hasauthor>"
        "<haseditor><person><name>Editor Two</name></person></haseditor>"
        "<hasauthor><person><name>Author Two</name></person></hasauthor>"
        "<hasauthor><person><name>Author Three</name></person></hasauthor>"
        "</text></amf></metadata>"
    )
    rows = map_page(context("amf"), records(rec(header(), body)))
    got = {(a["role"], a["position"], a["name"]) for a in rows.authors}
    assert got == {
        ("author", 1, "Author One"),
        ("author", 2, "Author Two"),
        ("author", 3, "Author Three"),
        ("editor", 1, "Editor One"),
        ("editor", 2, "Editor Two"),
    }


def test_positions_restart_for_each_record() -> None:
    rows = map_page(
        context(), records(rec(header(), dc("T", "A A", "B B")), rec(header(), dc("U", "C C")))
    )
    assert [(a["record_id"], a["position"]) for a in rows.authors] == [
        ("p000042#00001", 1),
        ("p000042#00001", 2),
        ("p000042#00002", 1),
    ]


# --- opaque (non-RePEc) identifiers ----------------------------------------------------------


def test_a_non_repec_identifier_is_kept_whole() -> None:
    rows = map_page(context(), records(rec(header("oai::48082", "2016-07-11T09:52:28Z"), dc())))
    [row] = rows.articles
    assert row["handle"] == "oai::48082"
    assert row["oai_identifier"] == "oai::48082"
    assert row["handle_key"] == "oai::48082"
    assert row["series_handle"] is None
    assert row["archive_code"] is None


def test_a_repec_handle_in_oai_dc_metadata_replaces_an_opaque_identifier() -> None:
    body = (
        f"<metadata><oai_dc:dc {DC}><dc:title>T</dc:title>"
        "<dc:identifier>https://mpra.ub.uni-muenchen.de/48082/</dc:identifier>"
        "<dc:identifier> RePEc:pra:mprapa:48082 </dc:identifier>"
        "<dc:creator>A B</dc:creator></oai_dc:dc></metadata>"
    )
    rows = map_page(context(), records(rec(header("oai::48082", "2016-07-11"), body)))
    [row] = rows.articles
    assert row["handle"] == "RePEc:pra:mprapa:48082"
    assert row["handle_key"] == "repec:pra:mprapa:48082"
    assert row["series_handle"] == "RePEc:pra:mprapa"
    assert row["archive_code"] == "pra"
    assert row["oai_identifier"] == "oai::48082"  # the header's identifier is kept as given
    [author] = rows.authors
    assert author["handle"] == "RePEc:pra:mprapa:48082"


def test_a_repec_amf_text_id_replaces_an_opaque_identifier() -> None:
    body = (
        '<metadata><amf xmlns="http://amf.openlib.org">'
        '<text id="RePEc:pra:mprapa:48082"><title>T</title></text></amf></metadata>'
    )
    rows = map_page(context("amf"), records(rec(header("oai::48082", "2016-07-11"), body)))
    [row] = rows.articles
    assert row["handle"] == "RePEc:pra:mprapa:48082"
    assert row["oai_identifier"] == "oai::48082"


def test_metadata_without_a_repec_handle_leaves_the_opaque_identifier() -> None:
    body = (
        f"<metadata><oai_dc:dc {DC}><dc:title>T</dc:title>"
        "<dc:identifier>https://mpra.ub.uni-muenchen.de/48082/</dc:identifier>"
        "<dc:identifier>10.1177/23477970251383994</dc:identifier></oai_dc:dc></metadata>"
    )
    rows = map_page(context(), records(rec(header("oai::48082", "2016-07-11"), body)))
    assert rows.articles[0]["handle"] == "oai::48082"


def test_the_header_handle_wins_over_a_handle_in_the_metadata() -> None:
    body = (
        f"<metadata><oai_dc:dc {DC}><dc:title>T</dc:title>"
        "<dc:identifier>RePEc:cep:cepdps:dp9999</dc:identifier></oai_dc:dc></metadata>"
    )
    rows = map_page(context(), records(rec(header(), body)))
    assert rows.articles[0]["handle"] == "RePEc:cep:cepdps:dp2081"


# --- a large page ----------------------------------------------------------------------------


def test_a_page_stored_a_record_at_a_time_writes_what_map_page_maps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``store_page`` turns rows into Arrow a few records at a time and empties each record
    once mapped (a large page never holds all its rows as dicts); what it writes is what
    ``map_page`` maps, bad records included, and each record is emptied."""
    monkeypatch.setattr(tables, "GATHER_ROWS", 3)
    items = [rec(header(f"oai:RePEc:cep:cepdps:dp{n}"), dc(f"T{n}", "A B", "C D"))
             for n in range(10)]  # fmt: skip
    items[4] = rec(header(None), dc("no identifier"))
    items[7] = rec(header("oai:RePEc:cep:cepdps:gone", status="deleted"))
    expected = map_page(context(), records(*items)).tables()
    page = records(*items)
    staging = Staging(tmp_path)
    counts = store_page(staging, context(), "run", 1, 1, page)
    assert counts == PageCounts(records=10, deleted=1, quarantined=1)
    folder = tmp_path / "pages" / context().harvest_id / "run" / page_name(1, 1)
    for name, table in expected.items():
        assert read_arrow(folder / f"{name}.arrow").equals(table), name
    assert all(len(record) == 0 and not record.attrib for record in page)
