"""CitEc, RePEc's citation service: the bulk ``iscited.txt(.gz)`` file and the per-item AMF
reference service (``<base>/amf/<handle>``).

The bulk file is opened as a stream of lines (a local path, or an http(s)/ftp URL downloaded
to the data dir first). The AMF service is asked politely (User-Agent, per-host interval,
retries), through a cache on disk, within a request budget: CitEc allows about 500 requests
without a key.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import requests
from lxml import etree

from harvesting.bodies import read_body
from harvesting.politeness import HostInterval, default_delay, user_agent
from harvesting.responses import parse_xml
from harvesting.retries import TRANSIENT_STATUS, RetryPolicy, call_with_retries
from schemas.citations import MAX_LINE
from schemas.citec_amf import References, read_references
from schemas.errors import (
    ConfigError,
    EndpointError,
    EndpointUnreachable,
    NotOAIResponse,
    RequestBudgetExhausted,
    TransientEndpointError,
)
from schemas.files import atomic_path, write_atomically

#: Where RePEc publishes the bulk citation file (its FTP mirror of RePEc/cit/conf/).
DEFAULT_ISCITED = "ftp://ftp.repec.org/opt/ReDIF/RePEc/cit/conf/iscited.txt.gz"
DEFAULT_API = "http://citec.repec.org/api"
#: One item's references in AMF: a few hundred kB at most; more is refused.
MAX_AMF_BYTES = 32 << 20
READ_TIMEOUT = 120.0


def _is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https", "ftp")


def download(source: str, target: Path, contact: str | None = None, timeout: float = 600) -> Path:
    """Fetch ``source`` to ``target`` (written under a temporary name, then renamed)."""
    headers = {"User-Agent": user_agent(contact)}
    try:
        with atomic_path(target) as temporary:
            if urlsplit(source).scheme == "ftp":
                request = urllib.request.Request(source, headers=headers)
                with (
                    urllib.request.urlopen(request, timeout=timeout) as response,
                    open(temporary, "wb") as out,
                ):
                    shutil.copyfileobj(response, out, 1 << 20)
            else:
                with requests.get(source, headers=headers, stream=True, timeout=(15, timeout)) as r:
                    r.raise_for_status()
                    with open(temporary, "wb") as out:
                        for chunk in r.raw.stream(1 << 20, decode_content=False):
                            out.write(chunk)
    except (OSError, requests.RequestException) as exc:
        raise EndpointError(f"cannot download {source}: {exc}") from None
    return target


@contextmanager
def iscited_lines(path: Path) -> Iterator[Iterator[str | None]]:
    """The lines of a local ``iscited.txt`` or ``iscited.txt.gz`` (gzip recognised by content),
    streamed: a line longer than ``MAX_LINE`` is skipped unread and given as None, so memory
    stays bounded whatever the file (a gzip bomb of one endless line included)."""
    try:
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        raw = gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"cannot read citation file {path}: {exc.strerror or exc}") from None
    try:
        yield _capped_lines(raw, path)
    finally:
        raw.close()


class _Readable(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def _capped_lines(raw: _Readable, path: Path) -> Iterator[str | None]:
    first = True
    try:
        while line := raw.readline(MAX_LINE + 1):
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while (rest := raw.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                yield None
                continue
            text = line.decode("utf-8", errors="replace")
            if first:
                text, first = text.removeprefix("\ufeff"), False
            yield from text.rstrip("\r\n").split("\r")  # old Mac line ends too
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or damaged gzip file
        raise ConfigError(f"citation file {path} is damaged: {exc}") from None


def resolve_source(source: str, folder: Path, contact: str | None = None) -> tuple[Path, str]:
    """A local file for ``source``: itself, or a download kept in ``folder``."""
    if _is_url(source):
        name = Path(urlsplit(source).path).name or "iscited.txt"
        return download(source, folder / name, contact), source
    scheme = urlsplit(source).scheme
    if len(scheme) > 1:  # not a Windows drive letter
        raise ConfigError(f"citation source {source}: {scheme}:// is not supported "
                          "(a local file, or an http, https or ftp URL)")  # fmt: skip
    path = Path(source).expanduser()
    if path.is_dir():
        raise ConfigError(f"citation source {source} is a directory, not a file")
    if not path.is_file():
        raise ConfigError(f"citation file {source} does not exist")
    return path, str(path.resolve())


# --- the per-item AMF reference service --------------------------------------------------


class CitecClient:
    """The AMF reference service, cached on disk, within a request budget."""

    def __init__(
        self,
        cache: Path,
        base_url: str = DEFAULT_API,
        budget: int = 500,
        contact: str | None = None,
        delay: float | None = None,
        max_age_days: float = 30,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cache = cache
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.requests_made = 0
        self.max_age = max_age_days * 86400
        self.retry = retry or RetryPolicy(max_attempts=3)
        self.interval = HostInterval.for_host(
            base_url, default_delay(base_url) if delay is None else delay
        )
        self._sleep = sleep
        self._headers = {"User-Agent": user_agent(contact), "Accept-Encoding": "gzip, deflate"}

    def _cache_path(self, handle: str) -> Path:
        digest = hashlib.sha256(handle.lower().encode()).hexdigest()[:24]
        return self.cache / f"{digest}.xml.gz"

    def references(self, handle: str, refresh: bool = False) -> tuple[References, bool]:
        """The references of ``handle`` and whether they came from the cache."""
        path = self._cache_path(handle)
        fresh = path.exists() and time.time() - path.stat().st_mtime < self.max_age
        if fresh and not refresh:
            return read_references(handle, parse_xml(gzip.decompress(path.read_bytes()))), True
        if self.requests_made >= self.budget:
            raise RequestBudgetExhausted(
                f"CitEc request budget of {self.budget} spent; fetched references are kept"
            )
        raw, root = call_with_retries(self.retry, lambda: self._fetch(handle), self._sleep)
        write_atomically(path, gzip.compress(raw, mtime=0))
        return read_references(handle, root), False

    def _fetch(self, handle: str) -> tuple[bytes, etree._Element]:
        self.interval.wait()
        self.requests_made += 1
        url = f"{self.base_url}/amf/{quote(handle, safe=':')}"
        try:
            response = requests.get(url, headers=self._headers, timeout=(15, READ_TIMEOUT),
                                    stream=True)  # fmt: skip
        except requests.Timeout:
            raise TransientEndpointError(f"{url} timed out") from None
        except requests.ConnectionError:
            raise EndpointUnreachable(f"cannot connect to {self.base_url}") from None
        except requests.RequestException as exc:
            raise TransientEndpointError(f"{url}: {exc}") from None
        with response:
            if response.status_code in TRANSIENT_STATUS:
                raise TransientEndpointError(f"{url} answered HTTP {response.status_code}")
            if response.status_code != 200:
                raise EndpointError(f"{url} answered HTTP {response.status_code}")
            body = read_body(response, MAX_AMF_BYTES, READ_TIMEOUT, url)
        if not body.strip():
            raise NotOAIResponse(f"{url} answered with an empty body")
        try:
            return body, parse_xml(body)
        except NotOAIResponse as exc:
            raise NotOAIResponse(f"{url} answered {exc.args[0]}, not CitEc's AMF") from None


__all__ = [
    "DEFAULT_API",
    "DEFAULT_ISCITED",
    "CitecClient",
    "References",
    "RequestBudgetExhausted",
    "iscited_lines",
    "read_references",
    "resolve_source",
]
