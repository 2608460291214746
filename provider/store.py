"""The records a provider serves, loaded from ListRecords-shaped XML files."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from lxml import etree

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
_Q = f"{{{OAI_NS}}}"


@dataclass
class StoredRecord:
    identifier: str
    datestamp: str
    sets: list[str]
    deleted: bool = False
    #: metadata prefix -> the serialized metadata payload (the child of <metadata>)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FormatInfo:
    prefix: str
    schema: str
    namespace: str


FORMATS = {
    "oai_dc": FormatInfo(
        "oai_dc",
        "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
        "http://www.openarchives.org/OAI/2.0/oai_dc/",
    ),
    "amf": FormatInfo("amf", "http://amf.openlib.org/2001/amf.xsd", "http://amf.openlib.org"),
}


class RecordStore:
    """Thread-safe, mutable: tests change records between harvests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, StoredRecord] = {}
        self.sets: list[tuple[str, str]] = []

    def put(self, record: StoredRecord) -> None:
        with self._lock:
            self._records[record.identifier] = record

    def remove(self, identifier: str) -> None:
        """Forget a record without a trace (a server that keeps no deletions)."""
        with self._lock:
            del self._records[identifier]

    def get(self, identifier: str) -> StoredRecord | None:
        with self._lock:
            return self._records.get(identifier)

    def records(self) -> list[StoredRecord]:
        """All records in datestamp order (ties in identifier order)."""
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r.datestamp, r.identifier))

    def formats(self) -> list[str]:
        with self._lock:
            found = {p for r in self._records.values() for p in r.metadata}
        return sorted(found) or ["oai_dc"]

    # -- loading --------------------------------------------------------------------------

    def load_records(self, xml: bytes, prefix: str) -> None:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False))
        for element in root.iterfind(f"{_Q}record"):
            header = element.find(f"{_Q}header")
            assert header is not None
            identifier = (header.findtext(f"{_Q}identifier") or "").strip()
            record = self.get(identifier) or StoredRecord(
                identifier=identifier,
                datestamp=(header.findtext(f"{_Q}datestamp") or "").strip(),
                sets=[s.text or "" for s in header.iterfind(f"{_Q}setSpec")],
                deleted=header.get("status") == "deleted",
            )
            metadata = element.find(f"{_Q}metadata")
            if metadata is not None:
                payload = next(c for c in metadata if isinstance(c.tag, str))
                record.metadata[prefix] = etree.tostring(payload, encoding="unicode")
            self.put(record)

    def load_sets(self, xml: bytes) -> None:
        root = etree.fromstring(xml)
        self.sets = [
            ((s.findtext(f"{_Q}setSpec") or "").strip(), (s.findtext(f"{_Q}setName") or "").strip())
            for s in root.iterfind(f"{_Q}set")
        ]

    @classmethod
    def from_folder(cls, folder: Path) -> RecordStore:
        """``sets.xml`` plus one ``<prefix>.xml`` per metadata format."""
        store = cls()
        for path in sorted(folder.glob("*.xml")):
            if path.stem == "sets":
                store.load_sets(path.read_bytes())
            else:
                store.load_records(path.read_bytes(), path.stem)
        return store

    @classmethod
    def sample(cls) -> RecordStore:
        """The corpus bundled with the package (``provider/sample``)."""
        store = cls()
        sample = resources.files("provider").joinpath("sample")
        store.load_sets(sample.joinpath("sets.xml").read_bytes())
        for prefix in FORMATS:
            store.load_records(sample.joinpath(f"{prefix}.xml").read_bytes(), prefix)
        return store
