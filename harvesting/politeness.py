"""Being a good citizen: an identifying User-Agent and a per-host request interval shared by
every client of a process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import quote, urlsplit

from schemas.errors import ConfigError

TOOL = "repec-harvest"
VERSION = "0.1.0"

#: Seconds between requests to hosts that ask for care (RePEc's gateway: one every 2 s).
SLOW_HOSTS = {"oai.repec.org": 2.0, "oai.repec.openlib.org": 2.0}
DEFAULT_DELAY = 1.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def user_agent(contact: str | None) -> str:
    """``repec-harvest/0.1.0 (+contact)``: who we are and how to reach the operator. HTTP
    headers are Latin-1 at best: anything beyond ASCII in the contact is percent-encoded
    (``José`` -> ``Jos%C3%A9``), control characters included."""
    if contact:
        contact = quote(contact, safe="".join(chr(c) for c in range(0x20, 0x7F) if c != 0x25))
    who = f"+{contact}" if contact else "OAI-PMH harvester; operator contact not configured"
    return f"{TOOL}/{VERSION} ({who})"


def host_of(endpoint: str) -> str:
    """What a delay is kept per: the endpoint's host and port (``oai.repec.org``)."""
    return (urlsplit(endpoint).netloc or endpoint).lower()


def default_delay(endpoint: str) -> float:
    """2 s for RePEc's gateway, 0 for loopback (local test servers), 1 s elsewhere."""
    host = (urlsplit(endpoint).hostname or "").lower()
    if host in _LOOPBACK or host.startswith("127."):
        return 0.0
    return SLOW_HOSTS.get(host, DEFAULT_DELAY)


class HostInterval:
    """At most one request per ``delay`` seconds to a host, across threads."""

    _registry: ClassVar[dict[str, HostInterval]] = {}
    _registry_lock = threading.Lock()

    def __init__(self, delay: float) -> None:
        if delay < 0:
            raise ConfigError("the delay between requests cannot be negative")
        self.delay = delay
        self._lock = threading.Lock()
        self._next = 0.0

    @classmethod
    def for_host(cls, endpoint: str, delay: float) -> HostInterval:
        host = host_of(endpoint)
        with cls._registry_lock:
            interval = cls._registry.get(host)
            if interval is None:
                interval = cls._registry[host] = cls(delay)
            interval.delay = delay
            return interval

    def wait(self) -> None:
        """Block until this host may be asked again, then reserve the next slot."""
        with self._lock:
            now = time.monotonic()
            pause = self._next - now
            if pause > 0:
                time.sleep(pause)
                now = time.monotonic()
            self._next = now + self.delay


#: Seconds a request may leave after its slot before the host's next slot moves as much.
LATE = 0.01


class SharedInterval:
    """At most one request per ``delay`` seconds to a host across every process and machine
    that shares the harvest state (``reserve`` takes the host's next free slot there, and
    says how long to wait for it); within this process ``HostInterval`` orders the threads.
    A delay of 0 asks nothing of the state."""

    def __init__(
        self,
        endpoint: str,
        delay: float,
        reserve: Callable[[str, float], float],
        sleep: Callable[[float], None] = time.sleep,
        postpone: Callable[[str, float], None] | None = None,
    ) -> None:
        self.local = HostInterval.for_host(endpoint, delay)
        #: this endpoint's own delay: the host's shared slots are spaced by it, whatever
        #: another endpoint on the same host (a later ``for_host``) set for the local order
        self._delay = delay
        self._postpone = postpone
        self.host = host_of(endpoint)
        self._reserve = reserve
        self._sleep = sleep

    @property
    def delay(self) -> float:
        return self._delay

    def wait(self) -> None:
        self.local.wait()
        if self.delay > 0:
            pause = self._reserve(self.host, self.delay)
            due = time.monotonic() + max(pause, 0.0)
            if pause > 0:
                self._sleep(pause)
            late = time.monotonic() - due  # a busy machine wakes a sleeper late
            if late > LATE and self._postpone is not None:
                self._postpone(self.host, late)  # the next slot as far from this request
