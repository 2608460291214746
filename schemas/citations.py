"""CitEc's ``iscited.txt``: one line per cited item, ``CITED CITING_1#CITING_2#...``.

Parsed as a stream into Arrow batches of (citing, cited) edges, so ten million edges never sit
in Python memory at once. The rules: any white space separates the cited handle from its list;
``#`` and ``,`` (and white space) separate citing handles; empty parts are dropped; a
self-citation (same handle, ignoring case) is dropped; a part that is not a RePEc handle is
counted as malformed and dropped; a line whose cited handle is not a handle, or that has no
citing handle at all, is a malformed line; a line longer than ``MAX_LINE`` characters (the
reader hands it over as None, unread) is a malformed line too. Deduplication happens in the
warehouse.

A file that gives no edge, or whose lines are mostly malformed, is not a citation file (an
empty download, an HTML error page, random bytes): ``CitationStats.check`` refuses it before
the graph is replaced, so the previous graph stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

import pyarrow as pa

from schemas.errors import CitationSourceError

EDGES = pa.schema(
    [pa.field("citing", pa.string(), nullable=False), pa.field("cited", pa.string(), False)]
)
BATCH = 500_000
#: The longest line read (characters). RePEc's most cited item has about 20,000 citing
#: handles, under a megabyte; a longer line is malformed, and never held in memory whole.
MAX_LINE = 16 << 20
#: A file with more malformed lines than this share of its non-blank lines is refused.
MAX_MALFORMED_SHARE = 0.5


def _parts(rest: str) -> list[str]:
    """The citing handles of a line's list, empty parts dropped: ``#`` and ``,`` become spaces
    and ``str.split`` cuts at runs of white space, as ``re.split(r"[#,\\s]+")`` did (the same
    white space) in about a tenth of its time (BENCHMARKS.md)."""
    return rest.replace("#", " ").replace(",", " ").split()


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

    def check(self, source: str, allow_empty: bool = False) -> None:
        """Refuse a source that is not a citation file (one line, naming it)."""
        read = self.lines - self.blank_lines
        if self.edges_read == 0 and not allow_empty:
            what = "is empty" if read == 0 else f"has no citation among its {read:,} lines"
            raise CitationSourceError(
                f"{source} {what}; the previous graph is kept (--allow-empty loads an empty "
                "graph on purpose)"
            )
        if read and self.malformed_lines > MAX_MALFORMED_SHARE * read:
            raise CitationSourceError(
                f"{source} does not look like iscited.txt: {self.malformed_lines:,} of its "
                f"{read:,} lines are malformed; the previous graph is kept"
            )


def parse_iscited(
    lines: Iterable[str | None], stats: CitationStats, batch: int = BATCH
) -> Iterator[pa.RecordBatch]:
    """Edges of an ``iscited.txt`` stream, ``batch`` at a time; ``stats`` is filled as it goes.
    A None line is one longer than ``MAX_LINE``, left unread."""
    citing: list[str] = []
    cited: list[str] = []
    for line in lines:
        stats.lines += 1
        if line is None:
            stats.malformed_lines += 1
            continue
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
        for part in _parts(rest):
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
