"""The OAI-PMH client: sickle for the HTTP verbs, and every decision sickle leaves open.

This is the only module that imports sickle. Sickle's own retries are switched off
(``max_retries=0``) and its parsing is not used (it parses each page three times and silently
recovers damaged XML); each response body is parsed exactly once by
``harvesting.responses.parse_response``. Here we add: an identifying User-Agent, gzip, a
per-host interval between requests, timeouts, retries with backoff for transient failures
(network errors, 408/429/5xx, HTML placeholder pages) and a mapping of every requests error
into our exception tree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from sickle import Sickle

from harvesting.bodies import read_body
from harvesting.politeness import HostInterval, SharedInterval, default_delay, user_agent
from harvesting.responses import (
    Identity,
    Page,
    SetInfo,
    parse_response,
    read_formats,
    read_identity,
    read_sets,
)
from harvesting.retries import (
    TRANSIENT_STATUS,
    RetryHook,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)
from schemas.errors import (
    ConfigError,
    ConnectionRefused,
    EndpointError,
    EndpointUnreachable,
    HTMLPage,
    NoSetHierarchy,
    NotOAIResponse,
    RepecHarvestError,
    TransientEndpointError,
)

log = logging.getLogger(__name__)


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` cannot be an OAI-PMH base URL (``'x' is not ...``), or None."""
    if not endpoint.lower().startswith(("http://", "https://")):
        return f"{endpoint!r} is not an http(s) URL"
    if urlsplit(endpoint).query:
        return (f"{endpoint!r} has a query string: give the base URL, without "
                f"'?{urlsplit(endpoint).query}'")  # fmt: skip
    return None


#: Longer query strings go by POST: servers refuse URLs of a few kB (HTTP 414).
MAX_QUERY_LENGTH = 2000
#: The largest response accepted by default (after decompression; ``--max-page-size``). A page
#: takes about twelve times its size in memory at its peak (BENCHMARKS.md); real OAI-PMH pages
#: are well under 10 MiB, so this refuses only what no server should send.
MAX_PAGE_BYTES = 64 << 20


@dataclass
class Fetched:
    """A parsed page and how it was asked for."""

    page: Page
    params: dict[str, str]
    url: str


class OAIClient:
    """One OAI-PMH endpoint."""

    def __init__(
        self,
        endpoint: str,
        *,
        contact: str | None = None,
        delay: float | None = None,
        timeout: tuple[float, float] = (15.0, 180.0),
        max_bytes: int = MAX_PAGE_BYTES,
        retry: RetryPolicy | None = None,
        on_retry: RetryHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
        reserve: Callable[[str, float], float] | None = None,
        postpone: Callable[[str, float], None] | None = None,
    ) -> None:
        """``reserve``: the request slots of a host shared with other processes (see
        ``politeness.SharedInterval``); without it, only this process's threads take turns."""
        problem = endpoint_problem(endpoint)
        if problem:
            raise ConfigError(f"endpoint {problem}")
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()
        self.max_bytes = max_bytes
        self.read_timeout = timeout[1]
        delay = default_delay(endpoint) if delay is None else delay
        self.interval: HostInterval | SharedInterval = (
            SharedInterval(endpoint, delay, reserve, postpone=postpone) if reserve else
            HostInterval.for_host(endpoint, delay)
        )  # fmt: skip
        self._on_retry = on_retry
        self._sleep = sleep
        self._sickle = Sickle(
            endpoint,
            max_retries=0,
            timeout=timeout,
            stream=True,
            headers={
                "User-Agent": user_agent(contact),
                "Accept-Encoding": "gzip, deflate",
                "Accept": "text/xml, application/xml;q=0.9, */*;q=0.1",
            },
        )

    # -- verbs ----------------------------------------------------------------------------

    def request(self, verb: str, **params: str) -> Fetched:
        """One OAI-PMH request, retried while the failure is transient."""
        return call_with_retries(
            self.retry, lambda: self._request_once(verb, params), self._sleep, self._on_retry
        )

    def identify(self) -> tuple[Identity, Fetched]:
        """Identify, the first request of a run: a refused connection or an HTML page means
        the endpoint is wrong, and is said at once; everything else transient (timeouts,
        resets, 5xx) is retried like any request."""
        try:
            fetched = self._request_once("Identify", {})
        except (ConnectionRefused, HTMLPage) as exc:
            raise ConfigError(f"{exc}: is {self.endpoint} an OAI-PMH base URL?") from None
        except TransientEndpointError:
            fetched = self.request("Identify")
        return read_identity(fetched.page), fetched

    def list_metadata_formats(self) -> tuple[list[str], Fetched]:
        fetched = self.request("ListMetadataFormats")
        return read_formats(fetched.page), fetched

    def list_sets(self) -> Iterator[tuple[list[SetInfo], Fetched]]:
        """Every page of ListSets; nothing at all when the endpoint has no sets."""
        params: dict[str, str] = {}
        seen_tokens: set[str] = set()
        while True:
            try:
                fetched = self.request("ListSets", **params)
            except NoSetHierarchy:
                return
            yield read_sets(fetched.page), fetched
            token = fetched.page.token
            if not token:
                return
            if token in seen_tokens:
                raise EndpointError(f"ListSets resumption token {token!r} repeats")
            seen_tokens.add(token)
            params = {"resumptionToken": token}

    # -- one request ----------------------------------------------------------------------

    def _request_once(self, verb: str, params: dict[str, str]) -> Fetched:
        self.interval.wait()
        # OAI-PMH allows POST: a long resumption token does not fit in a URL (HTTP 414)
        long = len(urlencode({"verb": verb, **params})) > MAX_QUERY_LENGTH
        self._sickle.http_method = "POST" if long else "GET"
        try:
            response = self._sickle.harvest(verb=verb, **params)  # streamed: headers only
            http = response.http_response
            _check_redirect(self.endpoint, http)
            try:
                body = read_body(http, self.max_bytes, self.read_timeout, self.endpoint)
            finally:
                http.close()
        except requests.HTTPError as exc:
            if exc.response is not None:
                exc.response.close()
            raise _http_error(self.endpoint, exc.response) from None
        except requests.Timeout:
            raise TransientEndpointError(f"{self.endpoint} timed out") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise ConfigError(f"endpoint {self.endpoint!r} is not a valid URL: {exc}") from None
        except requests.ConnectionError as exc:
            raise _connection_error(self.endpoint, exc) from None
        except requests.RequestException as exc:
            raise TransientEndpointError(f"{self.endpoint}: {exc}") from None
        try:
            page = parse_response(body, verb)
        except NotOAIResponse as exc:
            # The body decides (some servers mislabel good XML); the label explains failures.
            content_type = http.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type and "xml" not in content_type.lower():
                raise type(exc)(
                    f"{self.endpoint} answered {verb} with {content_type}, not OAI-PMH XML"
                ) from None
            raise type(exc)(f"{self.endpoint} answered {verb}: {exc}") from None
        return Fetched(page=page, params={"verb": verb, **params}, url=http.url)


def _check_redirect(endpoint: str, http: requests.Response) -> None:
    """A redirect to another host is refused: the rows would be labelled with an endpoint
    that did not serve them, and the politeness interval kept for the wrong host."""
    asked, served = urlsplit(endpoint).hostname, urlsplit(http.url).hostname
    if http.history and asked != served:
        http.close()
        where = http.url.split("?", 1)[0]
        raise ConfigError(
            f"{endpoint} redirects to another host ({where}): harvest that endpoint with "
            f"--endpoint {where} if it is the same repository"
        )


def _http_error(endpoint: str, response: Any) -> RepecHarvestError:
    status = response.status_code if response is not None else 0
    if status in TRANSIENT_STATUS:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return TransientEndpointError(f"{endpoint} answered HTTP {status}", retry_after)
    if status == 404:
        return EndpointError(f"{endpoint} answered HTTP 404: is this an OAI-PMH base URL?")
    return EndpointError(f"{endpoint} answered HTTP {status}")


def _connection_error(endpoint: str, exc: requests.ConnectionError) -> RepecHarvestError:
    text = str(exc)
    if (
        "Name or service not known" in text
        or "NameResolutionError" in text
        or ("nodename nor servname" in text)
    ):
        return EndpointError(f"cannot resolve the host of {endpoint}")
    if "refused" in text.lower():
        return ConnectionRefused(f"cannot connect to {endpoint}")
    return EndpointUnreachable(f"cannot connect to {endpoint}")
