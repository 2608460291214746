"""`repec-harvest web` over HTTP: every route on a real server on 127.0.0.1, over the sample
warehouse. Pages read the warehouse and never write it; bad input is a 400 page, an unknown
handle a 404 page, never a traceback."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import requests
from lxml import etree
from lxml import html as lhtml

from flows.citations import export_items
from flows.datadir import DataDir
from schemas.errors import WarehouseError
from tests.conftest import TALIBAN, query
from tests.web_server import BROKEN, HOSTILE, HOSTILE_TITLE, HOSTILE_URL, get, web_server
from warehouse.search import SearchIndex, SearchQuery, SearchResults
from web.server import bind

SVG = "{http://www.w3.org/2000/svg}svg"


@pytest.fixture
def sample(web_sample: DataDir) -> DataDir:
    return web_sample


@pytest.fixture
def site(web_site: str) -> str:
    return web_site


def page(base: str, path: str, status: int = 200, **params: str) -> lhtml.HtmlElement:
    response = get(base + path, **params)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return lhtml.fromstring(response.text)


def text(doc: lhtml.HtmlElement, css_id: str) -> str:
    [element] = doc.xpath(f'//*[@id="{css_id}"]')
    return " ".join(element.text_content().split())


def links(doc: lhtml.HtmlElement, base: str, path: str) -> list[str]:
    """Same-origin links of a page, absolute, without fragments, in order, once each."""
    found = []
    for href in doc.xpath("//a/@href"):
        url = urljoin(base + path, href).split("#")[0]
        if urlparse(url).netloc == urlparse(base).netloc and url not in found:
            found.append(url)
    return found


# -- the item page ------------------------------------------------------------------------


def test_the_seed_items_page_shows_what_its_econpapers_page_shows(site: str) -> None:
    doc = page(site, "/" + TALIBAN)
    assert text(doc, "title") == "Embracing the Taliban: Deciphering Russia’s Afghan Policy"
    assert text(doc, "authors") == "Tatiana Belousova and Raghav Sharma"
    assert text(doc, "source") == (
        "Journal of Asian Security and International Affairs, 2025, vol. 12, issue 4, 515-537"
    )
    assert text(doc, "abstract").startswith("In what represents a radical departure")
    assert text(doc, "keywords") == (
        "Russia; Afghanistan; Taliban; security; Islamic State Khorasan Province"
    )
    assert text(doc, "date") == "2025"
    assert text(doc, "cited-by") == "3"
    assert doc.xpath('//*[@id="doi"]/a/@href') == ["https://doi.org/10.1177/23477970251383994"]
    assert "https://journals.sagepub.com/doi/10.1177/23477970251383994" in text(doc, "downloads")
    assert "https://EconPapers.repec.org/" + TALIBAN in text(doc, "link")
    assert text(doc, "maintainer") == (
        "Bibliographic data for series maintained by SAGE Publications."
    )
    more = text(doc, "series")
    assert more.startswith("More articles in Journal of Asian Security and International Affairs")
    assert "Water, Dams and Deterrence" in more and "All items of the series" in more


def test_authors_link_to_their_pages_in_order(site: str) -> None:
    doc = page(site, "/" + TALIBAN)
    assert doc.xpath('//*[@id="authors"]/a/@href') == [
        "/author?name=Tatiana+Belousova",
        "/author?name=Raghav+Sharma",
    ]


def test_citing_items_are_linked_and_counted(site: str) -> None:
    doc = page(site, "/" + TALIBAN)
    citing = doc.xpath('//*[@id="citations"]//a/@href')
    assert len(citing) == 3 and all(h.startswith("/RePEc:") for h in citing)


def test_every_link_on_the_seed_page_answers(site: str) -> None:
    doc = page(site, "/" + TALIBAN)
    followed = links(doc, site, "/" + TALIBAN)
    assert len(followed) >= 20
    for url in followed:
        response = get(url)
        assert response.status_code == 200, (url, response.status_code)


@pytest.mark.parametrize("fmt", ["bibtex", "ris", "csl-json"])
def test_export_links_download_what_the_export_command_prints(
    site: str, sample: DataDir, fmt: str
) -> None:
    doc = page(site, "/" + TALIBAN)
    [href] = [h for h in doc.xpath('//*[@id="export"]//a/@href') if f"/export/{fmt}/" in h]
    response = get(site + href)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    expected, missing = export_items(sample, [TALIBAN], fmt)
    assert missing == [] and response.content.decode("utf-8") == expected


def test_references_link_the_items_harvested_and_show_the_others_as_text(
    tmp_path: Path, sample: DataDir
) -> None:
    """CitEc's references of an item: a matched one whose item is here is a link with its
    title, a matched one not harvested shows its handle, an unmatched one its text."""
    from flows.citations import _reference
    from schemas import tables
    from warehouse.citations import replace_references

    copy = DataDir(tmp_path / "data")
    shutil.copytree(sample.root, copy.root, ignore=shutil.ignore_patterns("search"))
    cited = "RePEc:sae:asseca:v:12:y:2025:i:3:p:341-362"
    references = [(True, cited, "Water, Dams ..."), (True, "RePEc:xyz:gone:1", "Elsewhere (2019)"),
                  (False, None, "Smith, J. (2001) A book.")]  # fmt: skip
    rows = [_reference(TALIBAN, n, *ref, source="test", fetched_at=datetime(2025, 12, 1))
            for n, ref in enumerate(references, start=1)]  # fmt: skip
    with copy.warehouse() as warehouse:
        replace_references(warehouse, TALIBAN.lower(), tables.to_table(rows, tables.REFERENCES))
    with web_server(copy) as base:
        doc = page(base, "/" + TALIBAN)
    items = [" ".join(li.text_content().split()) for li in doc.xpath('//*[@id="references"]//li')]
    assert items == [
        "Water, Dams and Deterrence: Hydro-Politics on the Brahmaputra (2025)",
        "Elsewhere (2019) RePEc:xyz:gone:1",
        "Smith, J. (2001) A book.",
    ]
    assert doc.xpath('//*[@id="references"]//a/@href') == ["/" + cited]


def test_a_handle_is_found_whatever_its_case(site: str) -> None:
    doc = page(site, "/" + TALIBAN.lower())
    assert text(doc, "title").startswith("Embracing the Taliban")


def test_an_item_page_ignores_query_parameters(site: str) -> None:
    """A persistent link shared with a tracking tag is the same page."""
    doc = page(site, "/" + TALIBAN, utm_source="newsletter")
    assert text(doc, "title").startswith("Embracing the Taliban")


def test_every_answer_forbids_scripts_and_sniffing(site: str) -> None:
    for path in ["/", "/" + TALIBAN, "/search?q=trade", "/static/style.css", "/RePEc:xyz:no:1",
                 "/export/ris/" + TALIBAN]:  # fmt: skip
        headers = get(site + path).headers
        assert "default-src 'none'" in headers["content-security-policy"], path
        assert "script-src" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_a_page_that_fails_is_a_500_page_with_the_same_headers(
    tmp_path: Path, sample: DataDir
) -> None:
    class FailingIndex(SearchIndex):
        def search(self, query: SearchQuery) -> SearchResults:
            raise RuntimeError("a bug")

    copy = DataDir(tmp_path / "data")
    shutil.copytree(sample.root, copy.root, ignore=shutil.ignore_patterns("search"))
    with web_server(copy, FailingIndex) as base:
        response = get(base + "/search", q="taliban")
    assert response.status_code == 500 and "a bug" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_deleted_item_says_so(site: str) -> None:
    doc = page(site, "/RePEc:pra:mprapa:126702", status=410)
    assert "was deleted by its archive" in text(doc, "deleted")


@pytest.mark.parametrize(
    "path", ["/RePEc:xyz:nope:1", "/favicon.ico", "/export/bibtex/RePEc:xyz:nope:1"]
)
def test_an_unknown_handle_is_a_404_page(site: str, path: str) -> None:
    doc = page(site, path, status=404)
    assert doc.xpath("//h1")[0].text == "Not found"


def test_markup_in_a_title_is_shown_as_text(site: str) -> None:
    response = get(f"{site}/{HOSTILE}")
    assert response.status_code == 200
    assert "<script>" not in response.text and "<b>bold" not in response.text
    assert "&lt;script&gt;alert(" in response.text and "&lt;b&gt;bold&lt;/b&gt;" in response.text
    assert text(lhtml.fromstring(response.text), "title") == HOSTILE_TITLE
    doc = lhtml.fromstring(response.text)
    assert HOSTILE_URL in text(doc, "downloads")
    assert not [h for h in doc.xpath("//a/@href") if "javascript" in h.lower()]
    found = get(f"{site}/search", q="xss")
    assert "<script>" not in found.text and "&lt;script&gt;" in found.text


# -- search -------------------------------------------------------------------------------


def hits(doc: lhtml.HtmlElement) -> list[str]:
    return [h.lstrip("/") for h in doc.xpath('//ol[@class="hits"]/li/a[1]/@href')]


@pytest.mark.parametrize(
    "words", ["taliban", "Belousova", "Islamic State Khorasan", "Kremlin's trajectory"]
)
def test_search_finds_an_item_by_title_author_keyword_or_abstract(site: str, words: str) -> None:
    assert TALIBAN in hits(page(site, "/search", q=words))


def test_search_filters_narrow_the_results(site: str) -> None:
    everything = page(site, "/search", q="policy")
    in_2025 = page(site, "/search", q="policy", year_from="2025", year_to="2025")
    assert set(hits(in_2025)) <= set(hits(everything))
    series = hits(page(site, "/search", q="policy", series="RePEc:sae:asseca"))
    assert series and all(h.startswith("RePEc:sae:asseca:") for h in series)
    papers = hits(page(site, "/search", type="paper", sort="date"))
    assert papers and TALIBAN not in papers
    [[jel_count]] = query_count(site, jel="F5")
    assert jel_count > 0


def query_count(site: str, **params: str) -> list[list[int]]:
    doc = page(site, "/search", **params)
    return [[int(re.match(r"([\d,]+)", text(doc, "count")).group(1).replace(",", ""))]]  # type: ignore[union-attr]


def test_search_pages_are_disjoint_and_complete(site: str, sample: DataDir) -> None:
    [[total]] = query(sample, "SELECT count(*) FROM live_articles")
    seen: list[str] = []
    for number in range(1, 10):
        doc = page(site, "/search", sort="date", year_from="1000", page=str(number))
        seen += hits(doc)
        if not doc.xpath('//a[@rel="next"]'):
            break
    dated = query(sample, "SELECT count(*) FROM live_articles WHERE year IS NOT NULL")[0][0]
    assert len(seen) == len(set(seen)) == dated <= total


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"year_from": "abc"}, "year_from must be a whole number"),
        ({"year_from": "2026", "year_to": "2020"}, "is after year_to"),
        ({"type": "poem"}, "type must be one of"),
        ({"jel": "F5;DROP"}, "jel must be a JEL code"),
        ({"page": "0"}, "page must be a whole number from 1"),
        ({"sort": "random"}, "sort must be one of"),
        ({"q": "x" * 600}, "longer than 500"),
        ({"bogus": "1"}, "unknown parameter 'bogus'"),
    ],
)
def test_bad_search_parameters_get_a_clear_400_page(
    site: str, params: dict[str, str], message: str
) -> None:
    doc = page(site, "/search", status=400, **params)
    assert message in text(doc, "message")


def test_a_search_while_the_first_index_is_built_is_told_to_come_back(
    tmp_path: Path, sample: DataDir
) -> None:
    """The server's own thread builds the first index; meanwhile a search is a 503 page with
    Retry-After, and pages that need no index answer as usual."""
    release = threading.Event()

    class SlowIndex(SearchIndex):
        def refresh(self) -> bool:
            release.wait(60)
            return super().refresh()

    copy = DataDir(tmp_path / "data")
    shutil.copytree(sample.root, copy.root, ignore=shutil.ignore_patterns("search"))
    with web_server(copy, SlowIndex, refresh_every=3600) as base:
        response = get(base + "/search", q="taliban")
        assert response.status_code == 503 and response.headers["retry-after"] == "30"
        assert "being built" in response.text
        assert get(base + "/" + TALIBAN).status_code == 200
        release.set()
        for _ in range(600):
            response = get(base + "/search", q="taliban")
            if response.status_code == 200:
                break
            threading.Event().wait(0.1)
        assert TALIBAN in response.text


def test_a_first_index_that_cannot_be_built_says_why(tmp_path: Path, sample: DataDir) -> None:
    class BrokenIndex(SearchIndex):
        def refresh(self) -> bool:
            raise WarehouseError("no space left on device")

    copy = DataDir(tmp_path / "data")
    shutil.copytree(sample.root, copy.root, ignore=shutil.ignore_patterns("search"))
    with web_server(copy, BrokenIndex, refresh_every=0.05) as base:
        for _ in range(600):
            response = get(base + "/search", q="taliban")
            if "could not be built" in response.text:
                break
            threading.Event().wait(0.05)
        assert response.status_code == 503
        assert "could not be built: no space left on device" in response.text


def test_a_page_past_the_last_one_is_a_404_that_links_to_the_last(site: str) -> None:
    doc = page(site, "/search", status=404, q="security", page="9")
    [link] = doc.xpath('//*[@id="past-the-end"]/a')
    assert link.get("href").endswith("page=1") and "page 9 of" not in doc.text_content()


def test_a_query_of_sql_or_stopwords_is_just_words(site: str) -> None:
    for words in ["'; DROP TABLE articles; --", "the of and", '") OR 1=1 --']:
        page(site, "/search", q=words)


# -- author and series pages --------------------------------------------------------------


def test_an_author_page_lists_their_items(site: str) -> None:
    doc = page(site, "/author", name="Tatiana  Belousova")
    assert doc.xpath("//h1")[0].text == "Tatiana Belousova"
    assert text(doc, "count") == "1 item"
    assert doc.xpath("//table//a/@href")[0] == "/" + TALIBAN


def test_an_author_with_a_short_id_has_a_page_by_it(site: str, sample: DataDir) -> None:
    [(short_id, name)] = query(
        sample, "SELECT short_id, any_value(name) FROM live_authors WHERE short_id IS NOT NULL"
        " GROUP BY short_id ORDER BY short_id LIMIT 1",
    )  # fmt: skip
    doc = page(site, f"/author/{short_id}")
    assert doc.xpath("//h1")[0].text == name and short_id in doc.text_content()


def test_unknown_authors_are_404_and_a_missing_name_is_400(site: str) -> None:
    page(site, "/author/pzz999", status=404)
    page(site, "/author", status=404, name="Nobody Here")
    page(site, "/author", status=400)


def test_a_series_page_counts_items_by_year(site: str) -> None:
    doc = page(site, "/series/RePEc:sae:asseca")
    assert doc.xpath("//h1")[0].text == "Journal of Asian Security and International Affairs"
    assert text(doc, "count") == "7 items"
    years = {r.xpath("td")[0].text_content(): r.xpath("td")[1].text for r in
             doc.xpath('//table[@class="numbers"]/tbody/tr')}  # fmt: skip
    assert years == {"2025": "6", "2024": "1"}
    assert len(doc.xpath('//table[@class="list"]/tbody/tr')) == 6
    assert len(page(site, "/series/RePEc:sae:asseca", year="2024").xpath(
        '//table[@class="list"]/tbody/tr')) == 1  # fmt: skip
    assert doc.xpath(f"//{SVG_LOCAL}")


SVG_LOCAL = "*[local-name()='svg']"


def test_a_series_lists_its_items_without_a_year_on_request(site: str, sample: DataDir) -> None:
    [(series, undated)] = query(
        sample, "SELECT series_handle, count(*) FROM live_articles WHERE year IS NULL"
        " AND series_handle IS NOT NULL GROUP BY ALL ORDER BY 2 DESC LIMIT 1",
    )  # fmt: skip
    doc = page(site, "/series/" + series)
    [link] = doc.xpath('//table[@class="numbers"]//a[text()="no year"]')
    assert link.get("href") == "?year=none"
    listed = page(site, "/series/" + series, year="none")
    assert listed.xpath("//h2")[0].text == "Without a year"
    assert len(listed.xpath('//table[@class="list"]/tbody/tr')) == undated


def test_unknown_series_is_404_and_a_bad_year_is_400(site: str) -> None:
    page(site, "/series/RePEc:xyz:nothing", status=404)
    page(site, "/series/RePEc:sae:asseca", status=400, year="twenty")


# -- the dashboard ------------------------------------------------------------------------


def test_the_dashboard_shows_each_harvest_and_its_health(site: str) -> None:
    doc = page(site, "/")
    [harvest] = doc.xpath('//section[@class="harvest"]')
    content = " ".join(" ".join(harvest.itertext()).split())
    assert "amf · (all sets)" in content and "Last complete run r" in content
    assert "Freshness" in content and "Next from 2025-11-30" in content
    assert "complete" in content
    [runs] = harvest.xpath('.//table[contains(@class, "runs")]')
    header = [" ".join(th.itertext()) for th in runs.xpath(".//th")]
    assert header == ["Run started", "Status", "Records", "Deleted", "Quarantined", "Retries"]
    [run] = [[" ".join(td.itertext()) for td in tr.xpath("td")] for tr in runs.xpath(".//tr[td]")]
    assert run[1:] == ["complete", "56", "1", "1", "0"]  # the sample deletes one record
    reasons = " ".join(" ".join(harvest.xpath('.//table[contains(@class, "quarantine")]')[0]
                                .itertext()).split())  # fmt: skip
    assert "Quarantined because" in reasons
    totals = text(doc, "totals")
    assert "54 items" in totals and "1 deleted" in totals and "1 quarantined" in totals


def test_the_dashboard_lists_quarantined_records_with_their_reasons(
    site: str, sample: DataDir
) -> None:
    [(reason,)] = query(sample, "SELECT reason FROM quarantine")
    content = " ".join(" ".join(page(site, "/").itertext()).split())
    assert BROKEN in content and reason in content


def test_the_dashboards_charts_are_non_empty_svg_beside_their_numbers(site: str) -> None:
    response = get(site + "/")
    doc = lhtml.fromstring(response.text)
    figures = doc.xpath("//figure")
    assert len(figures) >= 6
    for figure in figures:
        [svg] = figure.xpath(SVG_LOCAL)
        parsed = etree.fromstring(lhtml.tostring(svg))
        assert len(parsed) > 2 and "No data yet" not in lhtml.tostring(svg, encoding=str)
        table = figure.xpath("ancestor::div[contains(@class, 'chart-with-table')][1]/table")
        assert table and table[0].xpath(".//td"), "each chart has its numbers beside it"


# -- safety -------------------------------------------------------------------------------


def test_no_route_writes_the_warehouse(site: str, sample: DataDir) -> None:
    before = query(sample, "SELECT max(snapshot_id) FROM repec.snapshots()")
    for path in ["/", "/" + TALIBAN, "/search?q=trade", "/series/RePEc:sae:asseca",
                 "/author?name=Raghav+Sharma", "/export/ris/" + TALIBAN]:  # fmt: skip
        assert get(site + path).status_code == 200
    for refused in (requests.post(site + "/" + TALIBAN, timeout=30),
                    requests.delete(site + "/", timeout=30)):  # fmt: skip
        assert refused.status_code == 405
        assert {m.strip() for m in refused.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert query(sample, "SELECT max(snapshot_id) FROM repec.snapshots()") == before


_WRITER = """
import sys, time
from pathlib import Path
from flows.datadir import DataDir
warehouse = DataDir(Path(sys.argv[1])).warehouse()
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    warehouse.write(lambda con: con.execute(
        "UPDATE articles SET volume = volume WHERE handle_key = lower(?)", [sys.argv[3]]))
    time.sleep(0.2)
"""


def test_many_clients_at_once_while_another_process_commits_are_all_answered(
    tmp_path: Path, sample: DataDir
) -> None:
    """DuckDB's SQLite catalog readers fail (or kill the process) when two threads of one
    process read while another process commits: the app reads the warehouse on one thread."""
    copy = DataDir(tmp_path / "data")
    shutil.copytree(sample.root, copy.root, ignore=shutil.ignore_patterns("search"))
    paths = ["/" + TALIBAN, "/", "/series/RePEc:sae:asseca", "/author?name=Raghav+Sharma",
             "/export/ris/" + TALIBAN, "/search?q=trade"]  # fmt: skip
    failures: list[tuple[str, object]] = []
    answered = [0]
    with web_server(copy) as base:
        get(base + "/search", q="trade")  # the first index, before the load
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(copy.root), "6", TALIBAN])

        def client(n: int) -> None:
            for i in range(12):
                path = paths[(n + i) % len(paths)]
                try:
                    status = get(base + path).status_code
                    answered[0] += 1
                except requests.RequestException as exc:
                    failures.append((path, exc))
                    continue
                if status != 200:
                    failures.append((path, status))

        clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        assert writer.wait(timeout=120) == 0
        assert get(base + "/" + TALIBAN).status_code == 200  # still serving
    assert failures == [] and answered[0] == 96


def test_a_static_file_is_served(site: str) -> None:
    response = get(site + "/static/style.css")
    assert response.status_code == 200 and "text/css" in response.headers["content-type"]


# -- the command --------------------------------------------------------------------------


def serve_command(data: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from flows.cli import entry; entry()", "web",
         "--data-dir", str(data), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_the_web_command_serves_the_warehouse_until_stopped(sample: DataDir) -> None:
    process = serve_command(sample.root, "--port", "0")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert url, line
        doc = lhtml.fromstring(get(url.group(1) + TALIBAN).text)
        assert text(doc, "title").startswith("Embracing the Taliban")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode in (0, -15), stderr
    assert "Traceback" not in stderr


def test_the_web_command_without_a_warehouse_says_so_in_one_line(tmp_path: Path) -> None:
    process = serve_command(tmp_path / "empty", "--port", "0")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert stderr.startswith("Error: no warehouse at ") and stderr.count("\n") == 1


def test_the_web_command_on_a_taken_port_says_so_in_one_line(sample: DataDir) -> None:
    from web.server import bind

    taken = bind("127.0.0.1", 0)
    try:
        process = serve_command(sample.root, "--port", str(taken.getsockname()[1]))
        _, stderr = process.communicate(timeout=60)
    finally:
        taken.close()
    assert process.returncode == 2
    assert "is taken" in stderr and stderr.count("\n") == 1


def test_connections_of_the_served_socket_do_not_wait_for_nagle() -> None:
    """Each answer is sent without waiting: on a kept-alive connection, Nagle's algorithm
    held every answer's last segment 40 ms for the client's delayed ACK."""

    async def accept_one() -> int:
        sock = bind("127.0.0.1", 0)
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                raw = transport.get_extra_info("socket")
                accepted.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            nodelay = await asyncio.wait_for(accepted, 10)
            writer.close()
        return nodelay

    assert asyncio.run(accept_one()) != 0
