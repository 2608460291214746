"""Parsing OAI-PMH responses: once, strictly, and without resolving anything."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from harvesting.responses import (
    OAI_NS,
    Identity,
    SetInfo,
    parse_response,
    parse_xml,
    read_formats,
    read_identity,
    read_sets,
)
from schemas.errors import (
    OAI_ERRORS_BY_CODE,
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    HostileXML,
    IdDoesNotExist,
    NoMetadataFormats,
    NoSetHierarchy,
    NotOAIResponse,
    OAIError,
)
from schemas.records import DamagedRecord

OAI = "http://www.openarchives.org/OAI/2.0/"


def oai(body: str, *, response_date: str = "2025-11-20T10:11:12Z", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
        f'<OAI-PMH xmlns="{OAI}">'
        f"<responseDate>{response_date}</responseDate>"
        '<request verb="ListRecords">https://oai.repec.org/</request>'
        f"{body}</OAI-PMH>"
    ).encode()


def record(identifier: str, datestamp: str = "2025-11-03") -> str:
    return (
        f"<record><header><identifier>{identifier}</identifier>"
        f"<datestamp>{datestamp}</datestamp><setSpec>RePEc:sae:asseca</setSpec></header>"
        '<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title></oai_dc:dc>'
        "</metadata></record>"
    )


# --- list responses --------------------------------------------------------------------------


def test_list_records_page_with_a_resumption_token() -> None:
    raw = oai(
        "<ListRecords>"
        + record("oai:RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537")
        + record("oai:RePEc:sae:asseca:v:12:y:2025:i:4:p:538-559")
        + '<resumptionToken completeListSize="1234" cursor="0">tok-1</resumptionToken>'
        "</ListRecords>"
    )
    page = parse_response(raw, "ListRecords")
    assert page.verb == "ListRecords"
    assert page.raw == raw
    assert page.response_date == datetime(2025, 11, 20, 10, 11, 12)
    assert [r.findtext(f"{{{OAI}}}header/{{{OAI}}}identifier") for r in page.items] == [
        "oai:RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537",
        "oai:RePEc:sae:asseca:v:12:y:2025:i:4:p:538-559",
    ]
    assert page.token == "tok-1"
    assert page.complete_list_size == 1234
    assert page.cursor == 0
    assert not page.no_records_match


def test_token_text_is_stripped() -> None:
    raw = oai(
        "<ListRecords>"
        + record("oai:x")
        + "<resumptionToken>\n  tok-2 \n</resumptionToken></ListRecords>"
    )
    page = parse_response(raw, "ListRecords")
    assert page.token == "tok-2"
    assert page.complete_list_size is None
    assert page.cursor is None


@pytest.mark.parametrize(
    "token",
    [
        '<resumptionToken completeListSize="2" cursor="1"/>',
        '<resumptionToken completeListSize="2" cursor="1">   </resumptionToken>',
    ],
)
def test_empty_token_ends_the_list_and_keeps_its_attributes(token: str) -> None:
    page = parse_response(
        oai("<ListRecords>" + record("oai:x") + token + "</ListRecords>"), "ListRecords"
    )
    assert page.token is None
    assert page.complete_list_size == 2
    assert page.cursor == 1
    assert len(page.items) == 1


def test_page_without_a_token_element() -> None:
    page = parse_response(oai("<ListRecords>" + record("oai:x") + "</ListRecords>"), "ListRecords")
    assert page.token is None
    assert page.complete_list_size is None
    assert page.cursor is None


def test_non_numeric_token_attributes_are_ignored() -> None:
    raw = oai(
        "<ListRecords>"
        + record("oai:x")
        + '<resumptionToken completeListSize="many" cursor="">t</resumptionToken></ListRecords>'
    )
    page = parse_response(raw, "ListRecords")
    assert page.token == "t"
    assert page.complete_list_size is None
    assert page.cursor is None


def test_list_identifiers_items_are_headers() -> None:
    raw = oai(
        "<ListIdentifiers>"
        "<header><identifier>oai:RePEc:a:b:1</identifier><datestamp>2025-01-01</datestamp></header>"
        '<header status="deleted"><identifier>oai:RePEc:a:b:2</identifier>'
        "<datestamp>2025-01-02</datestamp></header>"
        "</ListIdentifiers>"
    )
    page = parse_response(raw, "ListIdentifiers")
    assert [h.tag for h in page.items] == [f"{{{OAI}}}header"] * 2
    assert page.items[1].get("status") == "deleted"


def test_day_granularity_response_date() -> None:
    page = parse_response(oai("<ListRecords/>", response_date="2025-11-20"), "ListRecords")
    assert page.response_date == datetime(2025, 11, 20)


def test_no_records_match_is_an_empty_page_not_an_error() -> None:
    raw = oai('<error code="noRecordsMatch">No records match the request</error>')
    page = parse_response(raw, "ListRecords")
    assert page.no_records_match
    assert page.items == []
    assert page.token is None
    assert page.response_date == datetime(2025, 11, 20, 10, 11, 12)


# --- OAI errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("badArgument", BadArgument),
        ("badResumptionToken", BadResumptionToken),
        ("badVerb", BadVerb),
        ("cannotDisseminateFormat", CannotDisseminateFormat),
        ("idDoesNotExist", IdDoesNotExist),
        ("noMetadataFormats", NoMetadataFormats),
        ("noSetHierarchy", NoSetHierarchy),
    ],
)
def test_each_oai_error_code_raises_its_class(code: str, cls: type[OAIError]) -> None:
    assert OAI_ERRORS_BY_CODE[code] is cls
    raw = oai(f'<error code="{code}">the server says no</error>')
    with pytest.raises(cls) as caught:
        parse_response(raw, "ListRecords")
    assert type(caught.value) is cls
    assert caught.value.code == code
    assert "the server says no" in str(caught.value)
    assert code in str(caught.value)


def test_every_code_of_the_error_table_is_covered() -> None:
    assert set(OAI_ERRORS_BY_CODE) == {
        "badArgument",
        "badResumptionToken",
        "badVerb",
        "cannotDisseminateFormat",
        "idDoesNotExist",
        "noMetadataFormats",
        "noSetHierarchy",
    }


def test_unknown_error_code_is_a_plain_oai_error_keeping_the_code() -> None:
    with pytest.raises(OAIError) as caught:
        parse_response(oai('<error code="serverMelted">oops</error>'), "ListRecords")
    assert type(caught.value) is OAIError
    assert caught.value.code == "serverMelted"


def test_error_without_a_code_or_text() -> None:
    with pytest.raises(OAIError) as caught:
        parse_response(oai("<error/>"), "ListRecords")
    assert type(caught.value) is OAIError
    assert caught.value.code == "unknown"


def test_oai_errors_are_not_transient() -> None:
    with pytest.raises(OAIError) as caught:
        parse_response(oai('<error code="badArgument">x</error>'), "ListRecords")
    assert not caught.value.transient


# --- hostile XML -----------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2025-11-20T10:11:12Z</responseDate>
<ListRecords><record><header><identifier>&lol9;</identifier>
<datestamp>2025-01-01</datestamp></header></record></ListRecords></OAI-PMH>"""

XXE_BODY = """<!DOCTYPE OAI-PMH [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2025-11-20T10:11:12Z</responseDate>
<ListRecords><record><header><identifier>&xxe;</identifier>
<datestamp>2025-01-01</datestamp></header></record></ListRecords></OAI-PMH>"""


def _passwd_markers() -> list[str]:
    try:
        lines = Path("/etc/passwd").read_text().splitlines()
    except OSError:
        return ["root:x:0:0"]
    return [line for line in lines if line.strip()][:3] or ["root:x:0:0"]


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(HostileXML):
        parse_response(BILLION_LAUGHS, "ListRecords")


def test_external_entity_is_refused_and_the_file_never_appears() -> None:
    raw = ('<?xml version="1.0" encoding="UTF-8"?>\n' + XXE_BODY).encode()
    with pytest.raises(HostileXML) as caught:
        parse_response(raw, "ListRecords")
    message = str(caught.value) + repr(caught.value.args)
    for marker in _passwd_markers():
        assert marker not in message


def test_a_doctype_without_entities_is_refused_too() -> None:
    raw = oai("<ListRecords/>", prolog='<!DOCTYPE OAI-PMH SYSTEM "http://example.org/oai.dtd">\n')
    with pytest.raises(HostileXML):
        parse_response(raw, "ListRecords")


def test_declarations_are_found_whatever_their_case() -> None:
    with pytest.raises(HostileXML):
        parse_xml(b'<!doctype x [<!entity a "b">]><x>&a;</x>')


def test_hostile_xml_is_not_retried() -> None:
    with pytest.raises(HostileXML) as caught:
        parse_response(BILLION_LAUGHS, "ListRecords")
    assert not caught.value.transient


def test_external_entity_in_a_utf16_response_is_refused_too() -> None:
    # The refusal must not depend on the response's character encoding.
    raw = ('<?xml version="1.0" encoding="UTF-16"?>\n' + XXE_BODY).encode("utf-16")
    with pytest.raises(HostileXML):
        parse_response(raw, "ListRecords")


# --- not OAI-PMH at all ----------------------------------------------------------------------

FULL_PAGE = oai(
    "<ListRecords>"
    + record("oai:RePEc:a:b:1")
    + record("oai:RePEc:a:b:2")
    + "<resumptionToken>tok</resumptionToken></ListRecords>"
)


def test_the_untruncated_page_is_fine() -> None:
    assert len(parse_response(FULL_PAGE, "ListRecords").items) == 2


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"  \r\n\t ", id="white-space"),
        pytest.param(FULL_PAGE[: len(FULL_PAGE) // 2], id="truncated-mid-record"),
        pytest.param(FULL_PAGE[: -len("</OAI-PMH>")], id="truncated-before-the-last-tag"),
        pytest.param(
            b"<html><head><title>503 Service Unavailable</title></head>"
            b"<body><h1>Service Unavailable</h1><p>Back soon.</p></body></html>",
            id="xhtml-page",
        ),
        pytest.param(b"<html><body><p>Bad gateway<br><hr></body></html>", id="sloppy-html-page"),
        pytest.param(b"Service temporarily unavailable", id="plain-text"),
        pytest.param(
            b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'/>", id="wrong-root"
        ),
        pytest.param(
            b"<?xml version='1.0'?><OAI-PMH><responseDate>2025-01-01</responseDate>"
            b"<ListRecords/></OAI-PMH>",
            id="root-without-the-oai-namespace",
        ),
        pytest.param(oai("<ListRecords/>", response_date="yesterday"), id="bad-response-date"),
        pytest.param(oai("<ListRecords/>", response_date=""), id="empty-response-date"),
        pytest.param(oai("<Identify/>"), id="body-of-another-verb"),
    ],
)
def test_responses_that_are_not_oai_pmh(raw: bytes) -> None:
    with pytest.raises(NotOAIResponse):
        parse_response(raw, "ListRecords")


def test_not_oai_response_is_transient() -> None:
    with pytest.raises(NotOAIResponse) as caught:
        parse_response(b"<html><body>down</body></html>", "ListRecords")
    assert caught.value.transient


def test_comments_and_processing_instructions_are_dropped() -> None:
    raw = oai(
        "<!-- generated --><ListRecords><?pi x?>" + record("oai:x") + "</ListRecords>"
    ).replace(b"?>\n", b"?>\n<?xml-stylesheet type='text/xsl' href='/oai2.xsl'?>\n", 1)
    page = parse_response(raw, "ListRecords")
    assert len(page.items) == 1
    body = page.root.find(f"{{{OAI}}}ListRecords")
    assert body is not None
    assert [child.tag for child in body] == [f"{{{OAI}}}record"]


# --- Identify, ListMetadataFormats, ListSets -------------------------------------------------


def test_read_identity() -> None:
    raw = oai(
        "<Identify><repositoryName> RePEc OAI-PMH Gateway </repositoryName>"
        "<baseURL>https://oai.repec.org/</baseURL><protocolVersion>2.0</protocolVersion>"
        "<adminEmail>admin@example.org</adminEmail>"
        "<earliestDatestamp>2013-09-05</earliestDatestamp>"
        "<deletedRecord>persistent</deletedRecord><granularity>YYYY-MM-DD</granularity>"
        "</Identify>"
    )
    page = parse_response(raw, "Identify")
    assert page.items == []
    assert read_identity(page) == Identity(
        repository_name="RePEc OAI-PMH Gateway",
        base_url="https://oai.repec.org/",
        granularity="YYYY-MM-DD",
        earliest_datestamp=datetime(2013, 9, 5),
        deleted_record="persistent",
        response_date=datetime(2025, 11, 20, 10, 11, 12),
    )


def test_read_identity_at_seconds_granularity() -> None:
    raw = oai(
        "<Identify><repositoryName>X</repositoryName><baseURL>https://x/oai</baseURL>"
        "<earliestDatestamp>2001-02-03T04:05:06Z</earliestDatestamp>"
        "<deletedRecord>transient</deletedRecord>"
        "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity></Identify>"
    )
    identity = read_identity(parse_response(raw, "Identify"))
    assert identity.granularity == "YYYY-MM-DDThh:mm:ssZ"
    assert identity.earliest_datestamp == datetime(2001, 2, 3, 4, 5, 6)


def test_read_identity_defaults_when_fields_are_missing_or_bad() -> None:
    raw = oai("<Identify><earliestDatestamp>sometime</earliestDatestamp></Identify>")
    identity = read_identity(parse_response(raw, "Identify"))
    assert identity.repository_name is None
    assert identity.base_url is None
    assert identity.granularity == "YYYY-MM-DD"
    assert identity.earliest_datestamp is None
    assert identity.deleted_record is None


def test_read_formats() -> None:
    raw = oai(
        "<ListMetadataFormats>"
        "<metadataFormat><metadataPrefix>oai_dc</metadataPrefix>"
        "<schema>http://www.openarchives.org/OAI/2.0/oai_dc.xsd</schema>"
        "<metadataNamespace>http://www.openarchives.org/OAI/2.0/oai_dc/</metadataNamespace>"
        "</metadataFormat>"
        "<metadataFormat><metadataPrefix> amf </metadataPrefix>"
        "<metadataNamespace>http://amf.openlib.org</metadataNamespace></metadataFormat>"
        "<metadataFormat><schema>no prefix</schema></metadataFormat>"
        "</ListMetadataFormats>"
    )
    assert read_formats(parse_response(raw, "ListMetadataFormats")) == ["oai_dc", "amf"]


def test_read_sets() -> None:
    raw = oai(
        "<ListSets>"
        "<set><setSpec>RePEc:sae:asseca</setSpec>"
        "<setName>Journal of Asian Security and International Affairs</setName>"
        "<setDescription><oai_dc:dc xmlns:oai_dc='http://www.openarchives.org/OAI/2.0/oai_dc/'"
        " xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:description>\n  SAGE\n  journal"
        "</dc:description></oai_dc:dc></setDescription></set>"
        "<set><setSpec>RePEc:nbr:nberwo</setSpec></set>"
        "<set><setName>no spec, skipped</setName></set>"
        '<resumptionToken completeListSize="3">next</resumptionToken>'
        "</ListSets>"
    )
    page = parse_response(raw, "ListSets")
    assert page.token == "next"
    assert read_sets(page) == [
        SetInfo(
            "RePEc:sae:asseca",
            "Journal of Asian Security and International Affairs",
            "SAGE journal",
        ),
        SetInfo("RePEc:nbr:nberwo", None, None),
    ]


def test_no_set_hierarchy_from_list_sets() -> None:
    with pytest.raises(NoSetHierarchy):
        parse_response(oai('<error code="noSetHierarchy">no sets</error>'), "ListSets")


# --- a real response: MPRA's own OAI-PMH endpoint --------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "repec-samples"
MPRA = SAMPLES / "oai" / "mpra_oai2_ListRecords_2016-07-12__from_SHARE_docstring.xml"


def test_real_mpra_list_records_page() -> None:
    if not MPRA.is_file():
        pytest.skip(f"{MPRA} is not available")
    page = parse_response(MPRA.read_bytes(), "ListRecords")
    assert page.response_date == datetime(2016, 7, 12, 15, 21, 36)
    assert len(page.items) == 8
    identifiers = [r.findtext(f"{{{OAI}}}header/{{{OAI}}}identifier") for r in page.items]
    assert identifiers == [
        "oai::48082",
        "oai::48590",
        "oai::48716",
        "oai::48954",
        "oai::49108",
        "oai::49397",
        "oai::49614",
        "oai::49685",
    ]
    assert page.token is None
    assert page.complete_list_size is None
    assert not page.no_records_match


def test_deeply_nested_xml_is_refused() -> None:
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    raw = (
        b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        b"<responseDate>2025-01-01T00:00:00Z</responseDate><ListRecords>" + deep
        + b"</ListRecords></OAI-PMH>"
    )  # fmt: skip
    with pytest.raises(NotOAIResponse):
        parse_response(raw, "ListRecords")


def test_an_enormous_text_node_is_refused_and_its_record_set_apart() -> None:
    """libxml2 refuses a text node over 10 MB; the page is salvaged, that record is damaged."""
    raw = (
        b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        b"<responseDate>2025-01-01T00:00:00Z</responseDate><ListRecords><record><header>"
        b"<identifier>" + b"x" * (12 << 20) + b"</identifier></header></record>"
        b"<record><header><identifier>RePEc:a:b:1</identifier><datestamp>2025-01-01"
        b"</datestamp></header></record></ListRecords></OAI-PMH>"
    )
    damaged, good = parse_response(raw, "ListRecords").items
    assert isinstance(damaged, DamagedRecord) and "too long" in damaged.error.lower()
    assert good.findtext(f"{{{OAI_NS}}}header/{{{OAI_NS}}}identifier") == "RePEc:a:b:1"


def test_damage_outside_records_still_rejects_the_page() -> None:
    raw = (
        b'<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        b"<responseDate>2025-01-01T00:00:00Z</responseDate><ListRecords><record><header>"
        b"<identifier>RePEc:a:b:1</identifier></header></record><resumptionToken>\x00"
        b"</resumptionToken></ListRecords></OAI-PMH>"
    )
    with pytest.raises(NotOAIResponse):
        parse_response(raw, "ListRecords")
    with pytest.raises(NotOAIResponse):  # cut after a whole record
        parse_response(raw[: raw.index(b"</record>") + 9], "ListRecords")


def test_an_html_outage_page_is_not_oai_and_is_retried() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>"
    with pytest.raises(NotOAIResponse) as caught:
        parse_response(page, "ListRecords")
    assert caught.value.transient
