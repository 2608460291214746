"""Politeness: who we are, and one request per interval per host, shared by all clients."""

from __future__ import annotations

import threading
import time

from harvesting.client import OAIClient
from harvesting.politeness import HostInterval, default_delay, user_agent
from provider.server import Provider


def test_the_user_agent_names_the_tool_and_the_operator() -> None:
    assert user_agent("ops@example.org") == "repec-harvest/0.1.0 (+ops@example.org)"
    assert user_agent(None).startswith("repec-harvest/0.1.0 (")


def test_default_delays() -> None:
    assert default_delay("https://oai.repec.org/") == 2.0
    assert default_delay("http://127.0.0.1:8765/oai") == 0.0
    assert default_delay("https://example.org/oai") == 1.0


def test_the_interval_is_shared_by_every_client_and_thread_of_a_host() -> None:
    first = HostInterval.for_host("http://polite.test:1/oai", 0.2)
    second = HostInterval.for_host("http://polite.test:1/other", 0.2)
    assert first is second
    started = time.monotonic()
    threads = [threading.Thread(target=first.wait) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 0.6  # four requests: at least three intervals


def test_requests_carry_the_user_agent_and_accept_gzip(provider: Provider, endpoint: str) -> None:
    seen: list[dict[str, str]] = []

    def record_headers(handler, params) -> bool:  # type: ignore[no-untyped-def]
        seen.append(dict(handler.headers))
        return False

    from provider.server import serve

    with serve(provider, before_response=record_headers) as url:
        OAIClient(url, contact="ops@example.org", delay=0).identify()
    [headers] = seen
    assert headers["User-Agent"] == "repec-harvest/0.1.0 (+ops@example.org)"
    assert "gzip" in headers["Accept-Encoding"]
