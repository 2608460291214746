"""The web front in a real browser (headless Chromium): the seed item's page as a reader sees
it, every link on it followed, and the dashboard's charts drawn. Skips where no Chromium is
installed (`.ci/run` installs Debian's). Screenshots go to REPEC_SCREENSHOTS if set."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import page_links, save_screenshot
from tests.conftest import TALIBAN


def shown(driver: WebDriver, css: str) -> str:
    return " ".join(driver.find_element(By.CSS_SELECTOR, css).text.split())


def test_the_seed_items_page_in_a_browser(chromium: WebDriver, web_site: str) -> None:
    chromium.get(f"{web_site}/{TALIBAN}")
    assert shown(chromium, "h1") == "Embracing the Taliban: Deciphering Russia’s Afghan Policy"
    authors = chromium.find_elements(By.CSS_SELECTOR, "#authors a")
    assert [a.text for a in authors] == ["Tatiana Belousova", "Raghav Sharma"]
    source = shown(chromium, "#source")
    assert "Journal of Asian Security and International Affairs" in source
    assert "vol. 12" in source and "issue 4" in source and "515-537" in source
    assert shown(chromium, "#doi") == "10.1177/23477970251383994"
    assert shown(chromium, "#abstract").startswith("In what represents a radical departure")
    assert "Islamic State Khorasan Province" in shown(chromium, "#keywords")
    assert shown(chromium, "#cited-by") == "3"
    assert chromium.find_element(By.CSS_SELECTOR, "#title").is_displayed()
    assert save_screenshot(chromium, "item").stat().st_size > 10_000


def test_every_link_on_the_seed_page_leads_somewhere(chromium: WebDriver, web_site: str) -> None:
    chromium.get(f"{web_site}/{TALIBAN}")
    links = page_links(chromium)
    assert len(links) >= 20
    for url in links:
        status = requests.get(url, timeout=60).status_code
        assert status not in (404, 500), (url, status)
        if "/export/" in url:  # a download, not a page
            continue
        chromium.get(url)
        heading = shown(chromium, "h1")
        assert heading and heading not in ("Not found", "Something went wrong"), url


def test_the_dashboards_charts_render_as_non_empty_svg(chromium: WebDriver, web_site: str) -> None:
    chromium.get(web_site + "/")
    charts = chromium.find_elements(By.CSS_SELECTOR, "figure svg")
    assert len(charts) >= 6
    for chart in charts:
        size = chart.size
        assert size["width"] > 100 and size["height"] > 40
        drawn = chart.find_elements(By.CSS_SELECTOR, "rect, circle, polyline, path, line")
        assert len(drawn) > 2
        assert "No data yet" not in chart.text
    save_screenshot(chromium, "dashboard")


@pytest.mark.parametrize("words", ["taliban", "trade"])
def test_searching_from_the_header_finds_items(
    chromium: WebDriver, web_site: str, words: str
) -> None:
    chromium.get(web_site + "/")
    box = chromium.find_element(By.CSS_SELECTOR, "header input[name=q]")
    box.send_keys(words)
    box.submit()
    # the results page has loaded once it says how many items it found
    WebDriverWait(chromium, 60).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, "#count")
    )
    hits = chromium.find_elements(By.CSS_SELECTOR, "ol.hits li > a")
    assert hits, chromium.page_source[:1000]
    if words == "taliban":
        assert hits[0].get_attribute("href").endswith(TALIBAN)
        save_screenshot(chromium, "search")
