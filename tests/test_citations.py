"""Citations from CitEc: the bulk iscited graph, its counts and views, refreshes, per-item
references from the AMF service (against a local server) and export formats."""

from __future__ import annotations

import gzip
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import TALIBAN, harvest, query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.citations import export_items, fetch_references, load_citations
from flows.cli import main
from flows.datadir import DataDir
from schemas.citations import MAX_MALFORMED_SHARE, CitationStats, parse_iscited
from schemas.errors import CitationSourceError, ConfigError, WarehouseError
from warehouse.citations import load_citation_graph

MESSY = """\
RePEc:aaa:jjj:v:1:y:2020:i:1:p:1-10 RePEc:bbb:wpaper:1#RePEc:ccc:wpaper:2,repec:BBB:wpaper:1
repec:AAA:jjj:v:1:y:2020:i:1:p:1-10 RePEc:ddd:wpaper:3#RePEc:aaa:jjj:v:1:y:2020:i:1:p:1-10

   \t
RePEc:bbb:wpaper:1 RePEc:ccc:wpaper:2##, RePEc:ddd:wpaper:3
not-a-handle RePEc:ccc:wpaper:2
RePEc:eee:wpaper:9
RePEc:ccc:wpaper:2 garbage#RePEc:aaa:jjj:v:1:y:2020:i:1:p:1-10
RePEc:fff:wpaper:7\tRePEc:bbb:wpaper:1
"""


def edges_by_hand(text: str) -> set[tuple[str, str]]:
    """The rules of the issue, applied naively: the reference the loader must match."""
    edges = set()
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) < 2 or not parts[0].lower().startswith("repec:"):
            continue
        cited = parts[0].lower()
        for part in parts[1].replace(",", "#").replace(" ", "#").split("#"):
            part = part.strip().lower()
            if part.startswith("repec:") and part != cited:
                edges.add((part, cited))
    return edges


def write(path: Path, text: str, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


def test_the_parser_applies_every_rule() -> None:
    stats = CitationStats()
    batches = list(parse_iscited(MESSY.splitlines(keepends=True), stats, batch=3))
    edges = [(c, d) for b in batches for c, d in zip(*b.to_pydict().values(), strict=True)]

    assert stats.as_dict() == {
        "lines": 9, "blank_lines": 2, "malformed_lines": 2, "malformed_parts": 1,
        "self_citations": 1, "edges_read": len(edges),
    }  # fmt: skip
    assert ("RePEc:bbb:wpaper:1", "RePEc:aaa:jjj:v:1:y:2020:i:1:p:1-10") in edges
    assert ("RePEc:bbb:wpaper:1", "RePEc:fff:wpaper:7") in edges  # tab separated
    assert {(c.lower(), d.lower()) for c, d in edges} == edges_by_hand(MESSY)


def test_loading_counts_edges_and_cited_by_exactly(data: DataDir, tmp_path: Path) -> None:
    log = load_citations(data, str(write(tmp_path / "iscited.txt", MESSY)))

    expected = edges_by_hand(MESSY)
    assert log["edges"] == len(expected) == query(data, "SELECT count(*) FROM citations")[0][0]
    assert log["duplicates"] == log["edges_read"] - log["edges"] == 1
    cited_by: dict[str, int] = defaultdict(int)
    cites: dict[str, int] = defaultdict(int)
    for citing, cited in expected:
        cited_by[cited] += 1
        cites[citing] += 1
    rows = query(data, "SELECT handle_key, cited_by, cites FROM citation_counts")
    assert {k: (b, c) for k, b, c in rows} == {
        k: (cited_by[k], cites[k]) for k in set(cited_by) | set(cites)
    }
    sql = "SELECT citing_handle, citing_key FROM citations WHERE citing_key = 'repec:bbb:wpaper:1'"
    assert set(query(data, sql)) == {("RePEc:bbb:wpaper:1", "repec:bbb:wpaper:1")}


handles = st.builds(
    lambda a, s, n: f"RePEc:{a}:{s}:{n}",
    st.sampled_from(["aaa", "bbb", "ccc"]), st.sampled_from(["wp", "jj"]), st.integers(1, 6),
)  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(handles, st.lists(handles, max_size=5), st.sampled_from(["#", ",", "#,", " #"]),
                  st.booleans(), st.sampled_from(["", "junk", "  ", "RePEc:x"])),
        max_size=25,
    )
)  # fmt: skip
def test_any_messy_file_loads_to_exactly_its_edges(tmp_path: Path, lines: list[Any]) -> None:
    text = ""
    for cited, citing, separator, shout, noise in lines:
        shown = [c.upper() if shout else c for c in citing]
        text += f"{cited} {separator.join(shown)}\n{noise}\n"
    data = DataDir(tmp_path / f"d{abs(hash(text))}")
    stats = CitationStats()
    for _ in parse_iscited(text.splitlines(), stats):
        pass
    read = stats.lines - stats.blank_lines
    if stats.malformed_lines > MAX_MALFORMED_SHARE * read:  # not a citation file: refused
        with pytest.raises(CitationSourceError, match=r"does not look like iscited\.txt"):
            load_citations(data, str(write(tmp_path / "f.txt", text)), allow_empty=True)
        return
    log = load_citations(data, str(write(tmp_path / "f.txt", text)), allow_empty=True)
    assert log["edges"] == len(edges_by_hand(text))
    got = set(query(data, "SELECT citing_key, cited_key FROM citations"))
    assert got == edges_by_hand(text)


def test_a_newer_file_replaces_the_graph_completely(data: DataDir, tmp_path: Path) -> None:
    load_citations(data, str(write(tmp_path / "one.txt.gz", MESSY, gz=True)))
    smaller = "RePEc:zzz:wp:1 RePEc:yyy:wp:2\n"
    log = load_citations(data, str(write(tmp_path / "two.txt", smaller)))

    assert log["edges"] == 1
    assert query(data, "SELECT citing_handle, cited_handle FROM citations") == [
        ("RePEc:yyy:wp:2", "RePEc:zzz:wp:1")
    ]
    assert query(data, "SELECT handle, cited_by, cites FROM citation_counts ORDER BY 1") == [
        ("RePEc:yyy:wp:2", 0, 1), ("RePEc:zzz:wp:1", 1, 0)
    ]  # fmt: skip
    assert query(data, "SELECT count(*) FROM citation_loads") == [(2,)]


def test_a_failed_load_keeps_the_previous_graph(data: DataDir, tmp_path: Path) -> None:
    load_citations(data, str(write(tmp_path / "good.txt", MESSY)))
    damaged = tmp_path / "bad.txt.gz"
    damaged.write_bytes(gzip.compress(MESSY.encode() * 50)[:-40])

    with pytest.raises(ConfigError, match="is damaged"):
        load_citations(data, str(damaged))

    assert query(data, "SELECT count(*) FROM citations") == [(len(edges_by_hand(MESSY)),)]
    assert not (data.root / "citec" / "staging.parquet").exists()


def test_a_load_that_fails_in_duckdb_keeps_the_previous_graph_and_says_so(
    data: DataDir, tmp_path: Path
) -> None:
    load_citations(data, str(write(tmp_path / "good.txt", MESSY)))

    with pytest.raises(
        WarehouseError, match=r"^loading citations failed, previous graph kept: .*Out of Memory"
    ):
        load_citation_graph(
            data.warehouse(),
            parse_iscited(MESSY.splitlines(), CitationStats()),
            staging=tmp_path / "staging.parquet",
            source="test",
            loaded_at=datetime(2026, 1, 1),
            memory_limit="1MB",  # too little for the graph's deduplication
        )

    assert query(data, "SELECT count(*) FROM citations") == [(len(edges_by_hand(MESSY)),)]


def test_bom_and_crlf_line_ends_are_fine(data: DataDir, tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbf" + MESSY.replace("\n", "\r\n").encode())
    log = load_citations(data, str(path))
    assert log["edges"] == len(edges_by_hand(MESSY))
    assert log["malformed_lines"] == 2


def test_a_missing_file_is_a_clear_error(data: DataDir, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_citations(data, str(tmp_path / "nope.txt"))


@pytest.fixture
def files_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes], list[str]]]:
    """A local HTTP server: GET path -> bytes from a dict; requests are logged."""
    content: dict[str, bytes] = {}
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = content.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", content, seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_source_may_be_a_url(data: DataDir, files_server: Any) -> None:
    url, content, _ = files_server
    content["/cit/iscited.txt.gz"] = gzip.compress(MESSY.encode())
    log = load_citations(data, f"{url}/cit/iscited.txt.gz")
    assert log["edges"] == len(edges_by_hand(MESSY))
    assert log["source"] == f"{url}/cit/iscited.txt.gz"
    assert (data.root / "citec" / "iscited.txt.gz").exists()  # kept for a later look


def test_views_join_citations_to_the_corpus(data: DataDir, endpoint: str, tmp_path: Path) -> None:
    harvest(data, endpoint)
    outside = "RePEc:out:side:1"
    text = (f"{TALIBAN} RePEc:sae:asseca:v:12:y:2025:i:1:p:45-68#{outside}\n"
            f"{outside} {TALIBAN}\n")  # fmt: skip
    load_citations(data, str(write(tmp_path / "c.txt", text)))

    counts = (
        "SELECT cited_by, cites, cited_by_in_corpus, cites_in_corpus "
        f"FROM article_citation_counts WHERE handle = '{TALIBAN}'"
    )
    assert query(data, counts) == [(2, 1, 1, 0)]
    assert query(data, "SELECT direction, other_handle, other_title IS NOT NULL FROM "
                 f"article_citations WHERE handle = '{TALIBAN}' ORDER BY 1, 2") == [
        ("cited_by", outside, False),
        ("cited_by", "RePEc:sae:asseca:v:12:y:2025:i:1:p:45-68", True),
        ("cites", outside, False),
    ]  # fmt: skip


#: The layout ACIS documents (doc/citations.text in kurmanka/acis.r): one <references> per
#: matched reference, the string beside the cited text; then the work-around layout, the
#: string inside the cited text; a <references> without a string, which ACIS ignores.
AMF = """<?xml version="1.0" encoding="UTF-8"?>
<amf xmlns="http://amf.openlib.org" xmlns:acis="http://acis.openlib.org/">
  <text ref="{handle}">
    <references>
      <acis:referencestring>Kim, J. (2025). Nuclear Signalling. JASIA 12(1).
      </acis:referencestring>
      <text ref="RePEc:sae:asseca:v:12:y:2025:i:1:p:45-68"/>
    </references>
    <reference><literal>Rashid, A. (2000). Taliban. Yale University Press.</literal></reference>
    <references>
      <text ref="RePEc:out:side:1">
        <acis:referencestring>Outside (2019)</acis:referencestring></text>
    </references>
    <references><text ref="RePEc:no:string:1"/></references>
    <isreferencedby><text ref="RePEc:cit:ing:1"/></isreferencedby>
  </text>
</amf>"""


def test_references_come_from_the_amf_service_cached_and_budgeted(
    data: DataDir, endpoint: str, files_server: Any
) -> None:
    harvest(data, endpoint)
    url, content, seen = files_server
    content[f"/api/amf/{TALIBAN}"] = AMF.format(handle=TALIBAN).encode()
    other = "RePEc:nbr:nberwo:34240"
    content[f"/api/amf/{other}"] = AMF.format(handle=other).encode()

    report = fetch_references(data, [TALIBAN], f"{url}/api", budget=5, delay=0)
    assert (report.fetched, report.cached, report.matched, report.unmatched) == (1, 0, 2, 1)
    assert report.ignored == 1
    assert query(data, "SELECT position, matched, cited_handle, cited_title IS NOT NULL, "
                 f"reference_text FROM article_references WHERE handle = '{TALIBAN}' "
                 "ORDER BY position") == [
        (1, True, "RePEc:sae:asseca:v:12:y:2025:i:1:p:45-68", True,
         "Kim, J. (2025). Nuclear Signalling. JASIA 12(1)."),
        (2, False, None, False, "Rashid, A. (2000). Taliban. Yale University Press."),
        (3, True, "RePEc:out:side:1", False, "Outside (2019)"),
    ]  # fmt: skip

    again = fetch_references(data, [TALIBAN], f"{url}/api", budget=5, delay=0)
    assert (again.fetched, again.cached) == (0, 1)
    assert len(seen) == 1  # served from the cache
    assert query(data, f"SELECT count(*) FROM \"references\" WHERE handle = '{TALIBAN}'") == [(3,)]

    spent = fetch_references(data, [other, TALIBAN], f"{url}/api", budget=0, delay=0)
    assert spent.stopped == "CitEc request budget of 0 spent; fetched references are kept"
    assert fetch_references(data, [TALIBAN], f"{url}/api", refresh=True, delay=0).fetched == 1
    assert len(seen) == 2


def test_exports(data: DataDir, endpoint: str) -> None:
    harvest(data, endpoint)
    bibtex, missing = export_items(data, [TALIBAN.lower(), "RePEc:no:such:1"], "bibtex")
    assert missing == ["RePEc:no:such:1"]
    assert bibtex.startswith(
        f"@article{{{TALIBAN},\n  author = {{Belousova, Tatiana and Sharma, Raghav}},"
    )
    for line in ("  journal = {Journal of Asian Security and International Affairs},",
                 "  year = {2025},", "  volume = {12},", "  number = {4},",
                 "  pages = {515--537},", "  doi = {10.1177/23477970251383994},"):  # fmt: skip
        assert line in bibtex.splitlines()
    ris, _ = export_items(data, [TALIBAN], "ris")
    assert ris.splitlines()[:4] == [
        "TY  - JOUR", "AU  - Belousova, Tatiana", "AU  - Sharma, Raghav",
        "TI  - Embracing the Taliban: Deciphering Russia’s Afghan Policy",
    ]  # fmt: skip
    assert {"SP  - 515", "EP  - 537", "VL  - 12", "IS  - 4", "ER  - "} <= set(ris.splitlines())
    [csl] = json.loads(export_items(data, [TALIBAN], "csl-json")[0])
    assert csl["type"] == "article-journal"
    assert csl["author"] == [{"family": "Belousova", "given": "Tatiana"},
                             {"family": "Sharma", "given": "Raghav"}]  # fmt: skip
    assert (csl["issued"], csl["page"], csl["DOI"]) == (
        {"date-parts": [[2025]]},
        "515-537",
        "10.1177/23477970251383994",
    )


def test_the_citation_commands(
    capsys: pytest.CaptureFixture[str], data: DataDir, endpoint: str, tmp_path: Path
) -> None:
    harvest(data, endpoint)
    source = write(tmp_path / "iscited.txt", MESSY)
    assert main(["citations", str(source), "--data-dir", str(data.root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Loaded {len(edges_by_hand(MESSY))} citations from {source}: 9 lines")
    assert "2 malformed lines and 1 malformed handles skipped" in out

    assert main(["export", TALIBAN, "--format", "ris", "--data-dir", str(data.root)]) == 0
    assert capsys.readouterr().out.startswith("TY  - JOUR\n")
    assert main(["export", "RePEc:no:such:1", "--data-dir", str(data.root)]) == 1
    assert capsys.readouterr().err.strip() == "Error: not in the warehouse: RePEc:no:such:1"
    assert main(["citations", str(tmp_path / "missing.txt"), "--data-dir", str(data.root)]) == 2


def test_the_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    from benchmarks.citations_load import generate

    path = tmp_path / "bench.txt.gz"
    assert generate(path, 2_000) == 2_000
    data = DataDir(tmp_path / "bench")
    log = load_citations(data, str(path))
    assert 0 < log["edges"] <= log["edges_read"]
    assert log["self_citations"] >= 0 and log["malformed_lines"] >= 0


def test_rebuild_keeps_the_citation_graph(data: DataDir, endpoint: str, tmp_path: Path) -> None:
    from flows.rebuild import rebuild

    harvest(data, endpoint)
    load_citations(data, str(write(tmp_path / "c.txt", MESSY)))
    edges = query(data, "SELECT * FROM citations ORDER BY citing_key, cited_key")

    report = rebuild(data)

    assert report.citations_kept
    assert query(data, "SELECT * FROM citations ORDER BY citing_key, cited_key") == edges
    assert query(data, "SELECT count(*) FROM citation_loads") == [(1,)]
