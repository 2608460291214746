"""An OAI-PMH 2.0 data provider over a ``RecordStore``, on 127.0.0.1.

Supports Identify, ListMetadataFormats, ListSets, ListIdentifiers, ListRecords and GetRecord
with from/until/set, resumption tokens (with cursor and completeListSize), deleted records
(persistent), day or seconds granularity, gzip, and a clock that tests can set. Every request
is logged in ``requests`` so tests can see what a harvester asked for.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from provider.store import FORMATS, RecordStore, StoredRecord

DAY, SECONDS = "YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ"
_VERBS = {
    "Identify": set(),
    "ListMetadataFormats": {"identifier"},
    "ListSets": {"resumptionToken"},
    "ListIdentifiers": {"metadataPrefix", "from", "until", "set", "resumptionToken"},
    "ListRecords": {"metadataPrefix", "from", "until", "set", "resumptionToken"},
    "GetRecord": {"identifier", "metadataPrefix"},
}


class OAIFailure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _parse_stamp(value: str, granularity: str) -> datetime:
    """A from/until argument; its granularity must be one the provider supports."""
    try:
        if len(value) == 10:
            return datetime.strptime(value, "%Y-%m-%d")
        if granularity == SECONDS and value.endswith("Z"):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        pass
    raise OAIFailure("badArgument", f"illegal date {value!r}")


def _record_stamp(value: str) -> datetime:
    return _parse_stamp(value, SECONDS)


@dataclass
class Provider:
    """The OAI-PMH logic, independent of HTTP."""

    store: RecordStore
    base_url: str = "http://127.0.0.1/oai"
    page_size: int = 10
    granularity: str = DAY
    repository_name: str = "repec-harvest sample provider"
    clock: Callable[[], datetime] = _now
    requests: list[dict[str, str]] = field(default_factory=list)
    #: characters of padding in every resumption token (servers with huge tokens exist)
    token_padding: int = 0
    #: False: a server that announces seconds but refuses a time of day in from/until
    accepts_times: bool = True

    def respond(self, params: dict[str, str]) -> str:
        self.requests.append(dict(params))
        verb = params.get("verb", "")
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            if verb not in _VERBS:
                raise OAIFailure("badVerb", f"illegal verb {verb!r}")
            unknown = set(params) - _VERBS[verb] - {"verb"}
            if unknown:
                raise OAIFailure("badArgument", f"illegal arguments {sorted(unknown)}")
            body = getattr(self, f"_{verb}")(params)
            request = " ".join(f"{k}={quoteattr(v)}" for k, v in sorted(params.items()))
            return self._envelope(
                now, f"<request {request}>{escape(self.base_url)}</request><{verb}>{body}</{verb}>"
            )
        except OAIFailure as failure:
            return self._envelope(
                now,
                f"<request>{escape(self.base_url)}</request>"
                f'<error code="{failure.code}">{escape(str(failure))}</error>',
            )

    @staticmethod
    def _envelope(now: str, inner: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ '
            'http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">'
            f"<responseDate>{now}</responseDate>{inner}</OAI-PMH>"
        )

    # -- verbs ----------------------------------------------------------------------------

    def _Identify(self, params: dict[str, str]) -> str:
        stamps = [r.datestamp for r in self.store.records()]
        earliest = min(stamps) if stamps else "2000-01-01"
        earliest = self._stamp(earliest)
        return (
            f"<repositoryName>{escape(self.repository_name)}</repositoryName>"
            f"<baseURL>{escape(self.base_url)}</baseURL>"
            "<protocolVersion>2.0</protocolVersion>"
            "<adminEmail>nobody@example.org</adminEmail>"
            f"<earliestDatestamp>{earliest}</earliestDatestamp>"
            "<deletedRecord>persistent</deletedRecord>"
            f"<granularity>{self.granularity}</granularity>"
            "<compression>gzip</compression>"
        )

    def _ListMetadataFormats(self, params: dict[str, str]) -> str:
        prefixes = self.store.formats()
        if "identifier" in params:
            record = self._record(params["identifier"])
            prefixes = sorted(record.metadata)
        return "".join(
            f"<metadataFormat><metadataPrefix>{p}</metadataPrefix>"
            f"<schema>{FORMATS[p].schema if p in FORMATS else ''}</schema>"
            f"<metadataNamespace>{FORMATS[p].namespace if p in FORMATS else ''}"
            "</metadataNamespace></metadataFormat>"
            for p in prefixes
        )

    def _ListSets(self, params: dict[str, str]) -> str:
        if not self.store.sets:
            raise OAIFailure("noSetHierarchy", "this repository has no sets")
        offset = 0
        if "resumptionToken" in params:
            offset = int(self._token(params["resumptionToken"])["offset"])
        sets = self.store.sets
        chunk = sets[offset : offset + self.page_size]
        body = "".join(
            f"<set><setSpec>{escape(spec)}</setSpec><setName>{escape(name)}</setName></set>"
            for spec, name in chunk
        )
        return body + self._resumption({"offset": offset}, offset, len(chunk), len(sets))

    def _ListIdentifiers(self, params: dict[str, str]) -> str:
        return self._list(params, headers_only=True)

    def _ListRecords(self, params: dict[str, str]) -> str:
        return self._list(params, headers_only=False)

    def _GetRecord(self, params: dict[str, str]) -> str:
        if "identifier" not in params or "metadataPrefix" not in params:
            raise OAIFailure("badArgument", "identifier and metadataPrefix are required")
        record = self._record(params["identifier"])
        prefix = params["metadataPrefix"]
        if prefix not in self.store.formats():
            raise OAIFailure("cannotDisseminateFormat", f"unknown format {prefix!r}")
        return self._render(record, prefix, headers_only=False)

    # -- listing --------------------------------------------------------------------------

    def _list(self, params: dict[str, str], headers_only: bool) -> str:
        if "resumptionToken" in params:
            if set(params) - {"verb", "resumptionToken"}:
                raise OAIFailure("badArgument", "resumptionToken is an exclusive argument")
            query = self._token(params["resumptionToken"])
        else:
            if "metadataPrefix" not in params:
                raise OAIFailure("badArgument", "metadataPrefix is required")
            query = {k: params.get(k) for k in ("metadataPrefix", "from", "until", "set")}
            query["offset"] = 0
            stamps = [params[k] for k in ("from", "until") if k in params]
            if len({len(s) for s in stamps}) > 1:
                raise OAIFailure("badArgument", "from and until have different granularities")
        prefix = query["metadataPrefix"]
        if prefix not in self.store.formats():
            raise OAIFailure("cannotDisseminateFormat", f"unknown format {prefix!r}")
        if query.get("set") and query["set"] not in {s for s, _ in self.store.sets}:
            raise OAIFailure("badArgument", f"unknown set {query['set']!r}")
        matches = list(self._matching(query))
        if not matches:
            raise OAIFailure("noRecordsMatch", "no records match")
        offset = int(query["offset"])
        chunk = matches[offset : offset + self.page_size]
        body = "".join(self._render(r, prefix, headers_only) for r in chunk)
        return body + self._resumption(query, offset, len(chunk), len(matches))

    def _matching(self, query: dict[str, Any]) -> Iterator[StoredRecord]:
        accepted = self.granularity if self.accepts_times else DAY
        start = _parse_stamp(query["from"], accepted) if query.get("from") else None
        end = _parse_stamp(query["until"], accepted) if query.get("until") else None
        if end is not None and query.get("until") and len(query["until"]) == 10:
            end = end.replace(hour=23, minute=59, second=59)
        if start and end and start > end:
            raise OAIFailure("badArgument", "from is after until")
        for record in self.store.records():
            stamp = _record_stamp(record.datestamp)
            if (start and stamp < start) or (end and stamp > end):
                continue
            if query.get("set") and query["set"] not in record.sets:
                continue
            if not record.deleted and query["metadataPrefix"] not in record.metadata:
                continue
            yield record

    def _resumption(self, query: dict[str, Any], offset: int, count: int, total: int) -> str:
        if offset == 0 and count >= total:
            return ""
        following = offset + count
        attrs = f'completeListSize="{total}" cursor="{offset}"'
        if following >= total:
            return f"<resumptionToken {attrs}/>"
        token = base64.urlsafe_b64encode(
            json.dumps(
                {**query, "offset": following, "pad": "x" * self.token_padding}, sort_keys=True
            ).encode()
        ).decode()
        return f"<resumptionToken {attrs}>{token}</resumptionToken>"

    def _token(self, token: str) -> dict[str, Any]:
        try:
            query = json.loads(base64.urlsafe_b64decode(token.encode()))
            int(query["offset"])
            query.pop("pad", None)
            return dict(query)
        except (ValueError, KeyError, TypeError):
            raise OAIFailure("badResumptionToken", "invalid resumption token") from None

    def _record(self, identifier: str) -> StoredRecord:
        record = self.store.get(identifier)
        if record is None:
            raise OAIFailure("idDoesNotExist", f"no record {identifier!r}")
        return record

    def _stamp(self, value: str) -> str:
        if self.granularity == SECONDS and len(value) == 10:
            return f"{value}T00:00:00Z"
        return value[:10] if self.granularity == DAY else value

    def _render(self, record: StoredRecord, prefix: str, headers_only: bool) -> str:
        status = ' status="deleted"' if record.deleted else ""
        sets = "".join(f"<setSpec>{escape(s)}</setSpec>" for s in record.sets)
        header = (
            f"<header{status}><identifier>{escape(record.identifier)}</identifier>"
            f"<datestamp>{self._stamp(record.datestamp)}</datestamp>{sets}</header>"
        )
        if headers_only:
            return header
        if record.deleted:
            return f"<record>{header}</record>"
        return f"<record>{header}<metadata>{record.metadata[prefix]}</metadata></record>"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(parse_qs(urlsplit(self.path).query, keep_blank_values=True))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(parse_qs(self.rfile.read(length).decode(), keep_blank_values=True))

    def _answer(self, query: dict[str, list[str]]) -> None:
        if urlsplit(self.path).path.rstrip("/") != self.server.path.rstrip("/"):
            self.send_error(404)
            return
        repeated = [k for k, v in query.items() if len(v) > 1]
        params = {k: v[0] for k, v in query.items()}
        if repeated:
            params = {"verb": "badArgument-repeated"}
        hook = self.server.before_response
        if hook is not None and hook(self, params):
            return
        body = self.server.provider.respond(params).encode("utf-8")
        gzip_ok = "gzip" in (self.headers.get("Accept-Encoding") or "")
        if gzip_ok:
            body = gzip.compress(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        if gzip_ok:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a harvester that hung up (or a fault a test injected): nothing to report

    provider: Provider
    path: str
    #: Called before answering; returns True when it already answered (fault injection).
    before_response: Callable[[BaseHTTPRequestHandler, dict[str, str]], bool] | None = None


@contextmanager
def serve(
    provider: Provider,
    port: int = 0,
    path: str = "/oai",
    before_response: Callable[[BaseHTTPRequestHandler, dict[str, str]], bool] | None = None,
) -> Iterator[str]:
    """Serve ``provider`` on 127.0.0.1 in a background thread; yield its base URL."""
    server = _Server(("127.0.0.1", port), _Handler)
    server.provider = provider
    server.path = path
    server.before_response = before_response
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    provider.base_url = url
    thread = threading.Thread(target=server.serve_forever, name="oai-provider", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
