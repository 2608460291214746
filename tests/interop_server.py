"""Interoperability fixture: a third-party OAI-PMH server on 127.0.0.1.

The protocol layer comes from the PyPI package ``oaipmh`` (4.0.0, the ETH Library
fork of infrae/pyoai): ``oaipmh.server.Server`` handles verb and argument
validation, from/until parsing, resumption tokens and paging, error responses and
all XML serialization (``oai_dc_writer`` for the metadata).  This module supplies
only what that library expects from a repository backend: an in-memory data
source implementing pyoai's ``IOAI`` interface (``oaipmh.interfaces``), plus a
tiny WSGI adapter served by ``wsgiref`` in a background thread.

The backend reads the caller's ``records`` list on every request, so a test can
change records (content, datestamps, ``deleted``) between harvests while the
server keeps running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from oaipmh import common, error
from oaipmh.datestamp import datestamp_to_datetime
from oaipmh.metadata import MetadataRegistry
from oaipmh.server import Server, oai_dc_writer

OAI_DC_FORMAT = (
    "oai_dc",
    "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
    "http://www.openarchives.org/OAI/2.0/oai_dc/",
)
# pyoai always serialises datestamps as YYYY-MM-DDThh:mm:ssZ, so that is the only
# granularity it can declare honestly (day-only input datestamps become T00:00:00Z).
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
DELETED_RECORD = "transient"  # tests may drop records from the list entirely
EMPTY_REPOSITORY_EARLIEST = datetime(1970, 1, 1)

Record = dict[str, Any]
RecordTriple = tuple[common.Header, common.Metadata | None, None]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _datestamp(record: Record) -> datetime:
    """Parse a record's ``datestamp`` (day or seconds granularity) to naive UTC."""
    stamp: datetime = datestamp_to_datetime(record["datestamp"])
    return stamp


def _in_set(record: Record, set_spec: str) -> bool:
    """True if the record belongs to ``set_spec`` or to one of its descendant sets."""
    return any(s == set_spec or s.startswith(set_spec + ":") for s in record["sets"])


class InMemoryRepository:
    """pyoai ``IOAI`` backend over a caller-owned, mutable list of record dicts."""

    def __init__(self, records: list[Record], sets: list[tuple[str, str]], base_url: str) -> None:
        self._records = records
        self._sets = sets
        self._base_url = base_url

    def identify(self) -> common.Identify:
        """Repository description; earliestDatestamp tracks the current records."""
        earliest = min(map(_datestamp, list(self._records)), default=EMPTY_REPOSITORY_EARLIEST)
        return common.Identify(
            repositoryName="oaipmh interop test repository",
            baseURL=self._base_url,
            protocolVersion="2.0",
            adminEmails=["interop@example.org"],
            earliestDatestamp=earliest,
            deletedRecord=DELETED_RECORD,
            granularity=GRANULARITY,
            compression=["identity"],
        )

    def listMetadataFormats(self, identifier: str | None = None) -> list[tuple[str, str, str]]:
        """Only oai_dc is offered, for every record."""
        if identifier is not None:
            self._find(identifier)
        return [OAI_DC_FORMAT]

    def listSets(self) -> list[tuple[str, str, None]]:
        """(setSpec, setName, setDescription) triples, as pyoai's writer expects."""
        if not self._sets:
            raise error.NoSetHierarchyError("This repository does not support sets.")
        return [(spec, name, None) for spec, name in self._sets]

    def getRecord(self, metadataPrefix: str, identifier: str) -> RecordTriple:
        """One record as a (header, metadata, about) triple."""
        self._check_prefix(metadataPrefix)
        return self._triple(self._find(identifier))

    def listRecords(
        self,
        metadataPrefix: str,
        set: str | None = None,  # pyoai passes the OAI argument name
        from_: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RecordTriple]:
        """Records in list order, filtered by set and inclusive from/until.

        pyoai already widened a day-granularity ``until`` to 23:59:59.
        """
        self._check_prefix(metadataPrefix)
        if set is not None and not self._sets:
            raise error.NoSetHierarchyError("This repository does not support sets.")
        return [
            self._triple(record)
            for record in list(self._records)
            if (set is None or _in_set(record, set))
            and (from_ is None or _datestamp(record) >= from_)
            and (until is None or _datestamp(record) <= until)
        ]

    def listIdentifiers(
        self,
        metadataPrefix: str,
        set: str | None = None,
        from_: datetime | None = None,
        until: datetime | None = None,
    ) -> list[common.Header]:
        """Headers of :meth:`listRecords`."""
        return [header for header, _, _ in self.listRecords(metadataPrefix, set, from_, until)]

    def _find(self, identifier: str) -> Record:
        for record in list(self._records):
            if record["identifier"] == identifier:
                return record
        raise error.IdDoesNotExistError(f"Unknown identifier: {identifier}")

    @staticmethod
    def _check_prefix(metadata_prefix: str) -> None:
        if metadata_prefix != OAI_DC_FORMAT[0]:
            raise error.CannotDisseminateFormatError(f"Unsupported format: {metadata_prefix}")

    @staticmethod
    def _triple(record: Record) -> RecordTriple:
        deleted = bool(record.get("deleted", False))
        header = common.Header(
            None, record["identifier"], _datestamp(record), list(record["sets"]), deleted
        )
        return header, None if deleted else common.Metadata(None, record["dc"]), None


def _wsgi_app(server: Server) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Adapt ``Server.handleRequest`` (dict in, XML bytes out) to WSGI, GET and POST.

    pyoai takes a plain dict, so a repeated argument collapses to its first value.
    """

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            query = environ["wsgi.input"].read(length).decode("utf-8")
        else:
            query = environ.get("QUERY_STRING", "")
        params = {key: values[0] for key, values in parse_qs(query, keep_blank_values=True).items()}
        body: bytes = server.handleRequest(params)
        start_response(
            "200 OK",
            [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def independent_oai_server(
    records: list[Record], sets: list[tuple[str, str]], page_size: int = 5
) -> Iterator[str]:
    """Serve `records` over OAI-PMH with ``oaipmh`` (pyoai) on 127.0.0.1; yield the base URL.

    ``records`` is read on every request, so mutating it (or its dicts) between
    harvests changes what is served.  ``page_size`` is pyoai's resumption batch
    size for ListRecords, ListIdentifiers and ListSets.
    """
    httpd = make_server("127.0.0.1", 0, lambda e, s: [], handler_class=_QuietHandler)
    base_url = f"http://127.0.0.1:{httpd.server_port}/oai"
    registry = MetadataRegistry()
    registry.registerWriter(OAI_DC_FORMAT[0], oai_dc_writer)
    repository = InMemoryRepository(records, sets, base_url)
    httpd.set_app(_wsgi_app(Server(repository, registry, resumption_batch_size=page_size)))
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="oaipmh-interop-server"
    )
    thread.start()
    try:
        yield base_url
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()
