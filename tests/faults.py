"""A fault-injecting layer for the local OAI-PMH provider: one switch per fault.

``Faults`` is passed to ``provider.server.serve(before_response=...)``. Each switch says which
fault, for which verb, how many times (or with what probability, from a seeded RNG) and after
how many clean requests. Every fault is something a real endpoint has been seen to do.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from provider.server import Provider

Handler = BaseHTTPRequestHandler
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>&lol3;</responseDate></OAI-PMH>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2025-01-01T00:00:00Z</responseDate>
<ListRecords><record><header><identifier>&secret;</identifier><datestamp>2025-01-01</datestamp>
</header></record></ListRecords></OAI-PMH>"""


def send(handler: Handler, status: int, body: bytes, content_type: str = "text/xml",
         headers: dict[str, str] | None = None, length: int | None = None) -> None:  # fmt: skip
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def reset(handler: Handler) -> None:
    """Drop the connection with a TCP reset, no response at all."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


@dataclass
class Switch:
    times: int | None = None  # None: every matching request
    probability: float = 1.0
    after: int = 0  # clean matching requests before the fault starts
    verbs: tuple[str, ...] = ("ListRecords",)
    options: dict[str, Any] = field(default_factory=dict)
    seen: int = 0


class Faults:
    """Call ``on(name, ...)`` to switch a fault on; ``off(name)`` to switch it off."""

    def __init__(self, provider: Provider, seed: int = 0) -> None:
        self.provider = provider
        self.switches: dict[str, Switch] = {}
        self.random = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.kinds: dict[str, Callable[[Handler, dict[str, str], dict[str, Any]], None]] = {
            "http_error": self._http_error,
            "slow": self._slow,
            "trickle": self._trickle,
            "reset": lambda h, p, o: reset(h),
            "html": self._html,
            "wrong_type": lambda h, p, o: send(
                h, 200, b'{"status": "maintenance"}', "application/json"
            ),
            "empty": lambda h, p, o: send(h, 200, b""),
            "truncated": self._truncated,
            "cut_connection": self._cut_connection,
            "stuck_token": self._stuck_token,
            "empty_pages": self._empty_pages,
            "bad_token": self._oai_error("badResumptionToken", "expired"),
            "overflow": self._overflow,
            "inflated_count": self._inflated_count,
            "hostile": lambda h, p, o: send(h, 200, o.get("body", BILLION_LAUGHS)),
            "huge": lambda h, p, o: send(h, 200, b"<a>" + b"x" * o["size"] + b"</a>"),
            "bad_record": self._bad_record,
            "bad_bytes": self._bad_bytes,
        }

    def on(self, name: str, **switch: Any) -> Faults:
        options = {k: switch.pop(k) for k in list(switch) if k not in Switch.__dataclass_fields__}
        if name not in self.kinds:
            raise KeyError(name)
        self.switches[name] = Switch(**switch, options=options)
        return self

    def off(self, name: str) -> None:
        self.switches.pop(name, None)

    def __call__(self, handler: Handler, params: dict[str, str]) -> bool:
        for name, switch in list(self.switches.items()):
            if params.get("verb") not in switch.verbs:
                continue
            switch.seen += 1
            if switch.seen <= switch.after:
                continue
            if switch.times is not None and self.injected[name] >= switch.times:
                continue
            if self.random.random() >= switch.probability:
                continue
            if name == "overflow" and not _wide(params, switch.options, self.provider.clock()):
                continue
            if name in ("stuck_token", "bad_token") and "resumptionToken" not in params:
                continue
            self.injected[name] += 1
            self.kinds[name](handler, params, switch.options)
            return True
        return False

    # -- faults ---------------------------------------------------------------------------

    def _real(self, params: dict[str, str]) -> bytes:
        return self.provider.respond(params).encode("utf-8")

    def _http_error(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        headers = {}
        if "retry_after" in o:
            headers["Retry-After"] = str(o["retry_after"])
        if "retry_after_in" in o:  # an HTTP date this many seconds ahead
            when = datetime.now(UTC) + timedelta(seconds=o["retry_after_in"])
            headers["Retry-After"] = format_datetime(when, usegmt=True)
        send(handler, o.get("status", 503), b"<html>busy</html>", "text/html", headers)

    def _slow(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        time.sleep(o.get("seconds", 2.0))
        send(handler, 200, self._real(params))

    def _trickle(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        """The real response, a byte every ``interval`` seconds (for at most ``seconds``)."""
        body = self._real(params)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        stop = time.monotonic() + o.get("seconds", 60.0)
        try:
            for byte in body:
                if time.monotonic() > stop:
                    break
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(o.get("interval", 0.5))
        except OSError:  # the client gave up
            pass
        handler.close_connection = True

    def _html(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        page = b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>"
        send(handler, 200, page, o.get("content_type", "text/html"))

    def _truncated(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        body = self._real(params)
        send(handler, 200, body[: len(body) * 2 // 3])  # complete HTTP, incomplete XML

    def _cut_connection(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        body = self._real(params)
        send(handler, 200, body[: len(body) // 2], length=len(body))  # promise more, hang up
        handler.close_connection = True

    def _stuck_token(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        body = self._real(params).decode()
        token = params["resumptionToken"]
        body = re.sub(r"(<resumptionToken[^>]*>)[^<]*(</resumptionToken>)", rf"\g<1>{token}\g<2>",
                      body)  # fmt: skip
        send(handler, 200, body.encode())

    def _empty_pages(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        token = f"empty-{self.injected['empty_pages']}"
        body = (
            '<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            f"<responseDate>{now}</responseDate><request>x</request><ListRecords>"
            f"<resumptionToken>{token}</resumptionToken></ListRecords></OAI-PMH>"
        )
        send(handler, 200, body.encode())

    @staticmethod
    def _oai_error(
        code: str, message: str
    ) -> Callable[[Handler, dict[str, str], dict[str, Any]], None]:
        def fault(handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = (
                '<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
                f"<responseDate>{now}</responseDate><request>x</request>"
                f'<error code="{code}">{message}</error></OAI-PMH>'
            )
            send(handler, 200, body.encode())

        return fault

    def _overflow(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        self._oai_error("badArgument", "Too many records in this date range")(handler, params, o)

    def _inflated_count(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        body = self._real(params).decode()
        extra = o.get("by", 5)
        body = re.sub(
            r'completeListSize="(\d+)"',
            lambda m: f'completeListSize="{int(m.group(1)) + extra}"',
            body,
        )
        send(handler, 200, body.encode())

    def _bad_record(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        body = self._real(params).decode()
        body = re.sub(r"<datestamp>[^<]*</datestamp>", "<datestamp>not-a-date</datestamp>", body,
                      count=1)  # fmt: skip
        send(handler, 200, body.encode())

    def _bad_bytes(self, handler: Handler, params: dict[str, str], o: dict[str, Any]) -> None:
        """The real page with ``bytes`` put into the title of its ``record``-th record (every
        time the page is asked for: the damage is in the data, not in transit)."""
        body = self._real(params)
        at = -1
        for _ in range(o.get("record", 1)):
            at = body.index(b"<title", at + 1)
        at = body.index(b">", at) + 1
        send(handler, 200, body[:at] + o["bytes"] + body[at:])


def _wide(params: dict[str, str], options: dict[str, Any], now: datetime) -> bool:
    """A tokenless request over more than ``max_days`` days (an open end runs to now)."""
    if "resumptionToken" in params:
        return False
    start, end = params.get("from"), params.get("until")
    if not start:
        return True
    last = datetime.fromisoformat(end[:10]) if end else now
    days = (last - datetime.fromisoformat(start[:10])).days
    return days > options.get("max_days", 10)
