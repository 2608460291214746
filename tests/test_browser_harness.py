"""The browser harness (tests/browser.py) on a tiny page served from 127.0.0.1: it loads,
its text is read, its links are collected and it is saved as a full-page screenshot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser import page_links, save_screenshot

PAGE = """<!doctype html><html><head><title>Harness</title></head>
<body style="margin:0">
<h1 id="title">Hello, browser</h1>
<a href="b.html">B</a> <a href="/b.html#top">B again</a> <a href="sub/c.html?x=1">C</a>
<a href="http://example.invalid/away">away</a> <a href="mailto:someone@example.org">mail</a>
<a href="#here">here</a> <a>no href</a>
<div style="height:2400px;background:linear-gradient(#36c,#c63)">tall</div>
<p id="end">the end</p>
</body></html>"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(PAGE)
    (root / "b.html").write_text("<p>b</p>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_page_text_links_and_screenshot(
    chromium, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    monkeypatch.delenv("REPEC_SCREENSHOTS", raising=False)

    chromium.get(site + "index.html")
    assert chromium.title == "Harness"
    assert chromium.find_element(By.ID, "title").text == "Hello, browser"
    assert page_links(chromium) == [site + "b.html", site + "sub/c.html?x=1", site + "index.html"]

    shot = save_screenshot(chromium, "harness page")
    png = shot.read_bytes()
    assert shot == tmp_path / "harness_page.png" and png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == 1280 and height > 1600  # the whole page, taller than the window
