"""CitEc's ``iscited.txt``: one line per cited item, ``CITED CITING_1#CITING_2#...``.

Parsed as a stream into Arrow batches of (citing, cited) edges, so ten million edges never sit
in Python memory at once. The rules: any white space separates the cited handle from its list;
``#`` and ``,`` (and white space) separate citing handles; empty parts are dropped; a
self-citation (same handle, ignoring case) is dropped; a part that is not a RePEc handle is
counted as malformed and dropped; a line whose cited handle is not a handle, or that has no
citing handle at all, is a malformed line. Deduplication happens in the warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

import pyarrow as pa

EDGES = pa.schema(
    [pa.field("citing", pa.string(), nullable=False), pa.field("cited", pa.string(), False)]
)
_PARTS = re.compile(r"[#,\s]+")
BATCH = 500_000


def _is_handle(part: str) -> bool:
    return part[:6].lower() == "repec:" and part.count(":") >= 2


@dataclass
class CitationStats:
    lines: int = 0
    blank_lines: int = 0
    malformed_lines: int = 0
    malformed_parts: int = 0
    self_citations: int = 0
    edges_read: int = 0  # before deduplication

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_iscited(
    lines: Iterable[str], stats: CitationStats, batch: int = BATCH
) -> Iterator[pa.RecordBatch]:
    """Edges of an ``iscited.txt`` stream, ``batch`` at a time; ``stats`` is filled as it goes."""
    citing: list[str] = []
    cited: list[str] = []
    for line in lines:
        stats.lines += 1
        head, _, rest = line.strip().partition(" ")
        if not head:
            stats.blank_lines += 1
            continue
        if not rest:  # perhaps a tab
            head, _, rest = line.strip().partition("\t")
        if not _is_handle(head):
            stats.malformed_lines += 1
            continue
        target = head.lower()
        found = 0
        for part in _PARTS.split(rest):
            if not part:
                continue
            if not _is_handle(part):
                stats.malformed_parts += 1
                continue
            found += 1
            if part.lower() == target:
                stats.self_citations += 1
                continue
            citing.append(part)
            cited.append(head)
        if not found:
            stats.malformed_lines += 1
        if len(citing) >= batch:
            stats.edges_read += len(citing)
            yield pa.RecordBatch.from_arrays([pa.array(citing), pa.array(cited)], schema=EDGES)
            citing, cited = [], []
    if citing:
        stats.edges_read += len(citing)
        yield pa.RecordBatch.from_arrays([pa.array(citing), pa.array(cited)], schema=EDGES)
