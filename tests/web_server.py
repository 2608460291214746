"""A warehouse to browse and the web app serving it on 127.0.0.1, as `repec-harvest web`
serves it: the bundled sample harvested (with a record whose title is markup and one that
is quarantined), the sample's citations loaded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import requests

from flows.citations import load_citations
from flows.datadir import DataDir
from flows.demo import SAMPLE_CITATIONS
from provider.server import Provider, serve
from provider.store import RecordStore, StoredRecord
from tests.conftest import Clock, harvest
from warehouse.search import SearchIndex
from web.app import create_app
from web.server import bind, server, url_of

HOSTILE = "RePEc:abc:wpaper:666"
HOSTILE_TITLE = '<script>alert("x")</script> & <b>bold</b> claims'
BROKEN = "oai:RePEc:abc:wpaper:667"
_AMF = (
    '<amf xmlns="http://amf.openlib.org"><text id="{id}"><title>{title}</title>{more}</text></amf>'
)


#: Keywords to find it by, and a download "link" that would run script if it were one.
HOSTILE_URL = "javascript:alert(document.cookie)"
_HOSTILE_MORE = (
    f"<keywords>xss</keywords><file><url>{HOSTILE_URL}</url><format>text/html</format></file>"
)


def sample_warehouse(root: Path) -> DataDir:
    """The sample corpus harvested into ``root``, plus a hostile title and a quarantined
    record, with the sample's citations."""
    store = RecordStore.sample()
    escaped = HOSTILE_TITLE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    store.put(StoredRecord(
        f"oai:{HOSTILE}", "2025-11-20", ["RePEc:nbr:nberwo"], False,
        {"amf": _AMF.format(id=HOSTILE, title=escaped, more=_HOSTILE_MORE)},
    ))  # fmt: skip
    broken = '<amf xmlns="http://amf.openlib.org"><person/></amf>'
    store.put(StoredRecord(BROKEN, "2025-11-21", [], False, {"amf": broken}))
    data = DataDir(root)
    with serve(Provider(store, page_size=10, clock=Clock(datetime(2025, 12, 1, 12)))) as url:
        [result] = harvest(data, url)
    assert result.error is None, result.error
    load_citations(data, str(SAMPLE_CITATIONS))
    return data


@contextmanager
def web_server(
    data: DataDir, index_type: type[SearchIndex] = SearchIndex, refresh_every: float | None = None
) -> Iterator[str]:
    """The app over ``data``'s warehouse on a free port of 127.0.0.1; yields its URL."""
    warehouse = data.warehouse()
    index = index_type(warehouse, data.scratch / "search")
    sock = bind("127.0.0.1", 0)
    running = server(create_app(warehouse, index, refresh_every=refresh_every))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = url_of(sock).rstrip("/")
    try:
        for _ in range(200):
            if running.started:
                break
            threading.Event().wait(0.05)
        yield base
    finally:
        running.should_exit = True
        thread.join(timeout=30)
        sock.close()
        index.close()
        warehouse.close()


def get(url: str, **params: str) -> requests.Response:
    return requests.get(url, params=params or None, timeout=60, allow_redirects=False)
