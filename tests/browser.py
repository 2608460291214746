"""A real browser for HTTP tests of local pages: Debian's headless Chromium driven by Selenium
through Debian's ChromeDriver, with a fresh profile in a temporary folder, quit and deleted
afterwards. Where Chromium, ChromeDriver or Selenium is missing the tests skip, saying why.

    def test_home(chromium, site):       # the ``chromium`` fixture, registered in conftest.py
        chromium.get(site)
        save_screenshot(chromium, "home")
        for url in page_links(chromium): ...

Import as conftest.py does: ``from tests.browser import page_links, save_screenshot``.

Nothing here reaches the network: Selenium is handed ChromeDriver's path, so Selenium Manager
(which would look for and download a driver) never runs, and SE_OFFLINE=true is set in case
it did; Chromium starts with the flags that keep it from calling Google's services."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urlsplit

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 1600)
PAGE_LOAD_TIMEOUT = 30.0  # seconds
#: Chromium as root, offline: no sandbox (root), no GPU, and none of the background calls to
#: Google's hosts (updates, sync, field trials) that a closed network refuses at every start.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-default-browser-check",
    "--no-proxy-server",
    # no DNS at all (accounts.google.com, update.googleapis.com, the search engine's start page
    # and others are looked up even so): every name but localhost is not found, at once
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*, EXCLUDE ::1",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=OptimizationHints,OptimizationGuideModelDownloading,MediaRouter",
    # shared memory in /tmp, not /dev/shm (64 MB in containers, where Chromium crashes)
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]
#: The tallest full-page screenshot, in CSS pixels (an endless page would make a huge PNG).
MAX_SHOT_HEIGHT = 16_000

#: The attribute of a driver started here that holds its screenshot folder (on the driver,
#: not in this module, which may be imported twice: as ``browser`` and as ``tests.browser``).
_FOLDER = "_repec_screenshots"


def why_not() -> str | None:
    """Why no browser can be started here, or None."""
    if not CHROMIUM.is_file():
        return f"Chromium is not installed ({CHROMIUM}; Debian package chromium)"
    if not CHROMEDRIVER.is_file():
        return f"ChromeDriver is not installed ({CHROMEDRIVER}; Debian package chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "Selenium is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def browser(folder: Path) -> Iterator[WebDriver]:
    """A headless Chromium whose screenshots go to ``folder`` (unless REPEC_SCREENSHOTS says
    otherwise), with a new profile in a temporary folder; quit and deleted on leaving."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
            setattr(driver, _FOLDER, folder)
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[WebDriver]:
    """A headless Chromium WebDriver for one test; skips where none can be started."""
    reason = why_not()
    if reason is not None:
        pytest.skip(reason)
    with browser(tmp_path) as driver:
        yield driver


def save_screenshot(driver: WebDriver, name: str) -> Path:
    """A PNG of the whole page (not only the window) as ``name``.png, in the folder that
    REPEC_SCREENSHOTS names, else in the folder the browser was started with (the test's
    tmp_path, for the fixture); its path."""
    env = os.environ.get("REPEC_SCREENSHOTS")
    folder = Path(env) if env else getattr(driver, _FOLDER, Path(tempfile.gettempdir()))
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name.removesuffix(".png")).strip("._") or "page"
    path = folder / f"{stem}.png"
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})  # type: ignore[attr-defined]
    size = metrics["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": max(size["width"], 1),
        "height": min(max(size["height"], 1), MAX_SHOT_HEIGHT),
        "scale": 1,
    }
    shot = driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": clip},
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


_HREFS = """
return Array.from(document.querySelectorAll('a[href]'), a => {
    try { return new URL(a.getAttribute('href'), document.baseURI).href; }
    catch (e) { return null; }
}).filter(h => h !== null);
"""


def page_links(driver: WebDriver) -> list[str]:
    """Every link (``href`` of an ``a`` element) on the current page, made absolute, on the
    page's own origin only, without fragments, each once, in the order of the page."""
    here = urlsplit(driver.current_url)
    origin = (here.scheme, here.netloc.lower())
    links: dict[str, None] = {}
    for href in driver.execute_script(_HREFS):
        url = urldefrag(href).url
        there = urlsplit(url)
        if (there.scheme, there.netloc.lower()) == origin:
            links.setdefault(url, None)
    return list(links)
