"""ReDIF text: decoding a file, splitting it into templates, and the field and cluster rules
(ReDIF-perl's ``redif.spec``; see docs/field-mapping.md).

Pure functions: bytes in, templates out. A bad template is never raised:
:func:`parse_templates` yields a :class:`TemplateError` in its place and goes on with the next.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from schemas.fields import clean

__all__ = [
    "CLUSTER_OF",
    "ITEM_KINDS",
    "KINDS",
    "LOOSE_ATTACHMENTS",
    "Template",
    "TemplateError",
    "decode",
    "is_known_field",
    "parse_templates",
    "text_of",
]

# --- decoding ----------------------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def decode(raw: bytes) -> str:
    """Bytes of a ReDIF file -> text with ``\\n`` line ends and no BOM.

    BOM (UTF-8, UTF-16 LE/BE) first; else UTF-16 without a BOM when the NUL bytes say so
    (ReDIF text is mostly ASCII, so UTF-16 has a NUL in every other byte); else strict
    UTF-8; else CP1252, with latin-1 for the five bytes CP1252 leaves undefined.
    """
    text: str | None = None
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            text = raw[len(bom) :].decode(encoding, errors="replace")
            break
    if text is None:
        guessed = _bomless_utf16(raw)
        if guessed:
            text = raw.decode(guessed, errors="replace")
    if text is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1").translate(_CP1252_FROM_LATIN1)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _bomless_utf16(raw: bytes) -> str | None:
    head = raw[:400]
    if len(head) < 4 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    even_nuls = head[0::2].count(0)
    odd_nuls = head[1::2].count(0)
    half = len(head) // 2
    if even_nuls > 0.8 * half and odd_nuls == 0:
        return "utf-16-be"
    if odd_nuls > 0.8 * half and even_nuls == 0:
        return "utf-16-le"
    return None


# latin-1 maps every byte to U+0000..U+00FF; CP1252 differs only in 0x80..0x9F, where it
# defines all but five bytes (those stay latin-1 C1 controls).
_CP1252_FROM_LATIN1 = {
    b: bytes([b]).decode("cp1252")
    for b in range(0x80, 0xA0)
    if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}


# --- templates ---------------------------------------------------------------------------

#: Template kinds this parser accepts, as in ``ReDIF-<Kind> <version>``.
KINDS = frozenset(
    {"article", "paper", "book", "chapter", "software", "series", "archive", "person"}
    | {"institution"}
)
#: Kinds that describe a bibliographic item.
ITEM_KINDS = frozenset({"article", "paper", "book", "chapter", "software"})

_FIELD_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):(.*)$")
_TYPE_VALUE = re.compile(r"^redif-([a-z]+) (\d+\.\d+)$")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_BLOCK_TAG = re.compile(r"</?(?:br|p|div|li|ul|ol|tr|td|h\d)\b[^<>]*>", re.IGNORECASE)

_KNOWN_FIELDS = frozenset(
    [
        "template-type",
        "handle",
        "title",
        "abstract",
        "journal",
        "volume",
        "issue",
        "pages",
        "year",
        "month",
        "number",
        "keywords",
        "doi",
        "language",
        "note",
        "length",
        "series",
        "name",
        "description",
        "type",
        "url",
        "homepage",
        "price",
        "edition",
        "isbn",
        "issn",
        "email",
        "postal",
        "phone",
        "fax",
        "restriction",
        "chapter",
        "in-book",
        "book-title",
        "programming-language",
        "size",
        "requires",
        "version",
        "availability",
        "contents",
        "institution",
        "location",
        "provider",
        "publisher",
        "editor",
        "author",
        "short-id",
        "registered-date",
        "last-login-date",
        "order-url",
        "order-email",
        "order-homepage",
        "order-postal",
        "classification-jel",
        "classification",
        "creation-date",
        "revision-date",
        "publication-status",
        "publication-date",
        "keywords-attent",
        "article-handle",
        "paper-handle",
        "book-handle",
        "chapter-handle",
        "software-handle",
        "haschapter",
        "notification",
        "followup",
        "predecessor",
        "deceased",
    ]
)
_KNOWN_PREFIXES = (
    "x-",
    "author-",
    "editor-",
    "provider-",
    "file-",
    "maintainer-",
    "publisher-",
    "name-",
    "workplace-",
    "primary-",
    "secondary-",
    "tertiary-",
    "quaternary-",
    "sponsor-",
    "contact-",
    "order-",
    "classification-",
    "keywords-",
    "homepage-",
    "postal-",
    "email-",
)

_PERSON_ATTACHMENTS = (
    "name-first",
    "name-middle",
    "name-last",
    "name-full",
    "email",
    "person",
    "homepage",
    "phone",
    "fax",
    "postal",
    "workplace-name",
    "workplace-homepage",
    "workplace-postal",
    "workplace-email",
    "workplace-phone",
    "workplace-fax",
)
ROLES = ("author", "editor", "provider")
# ``*-Institution`` and ``*-Workplace-Institution`` hold an institution's handle; real series
# templates give ``Provider-Institution`` alone, so they are not tied to a cluster key.
#: Cluster key -> the fields that attach to the latest cluster it opened.
CLUSTERS: dict[str, frozenset[str]] = {
    **{
        f"{role}-name": frozenset(f"{role}-{suffix}" for suffix in _PERSON_ATTACHMENTS)
        for role in ROLES
    },
    "file-url": frozenset({"file-format", "file-function", "file-size", "file-restriction"}),
}
CLUSTER_OF = {attached: key for key, fields in CLUSTERS.items() for attached in fields}
#: Fields that join the person cluster open before them, and stand alone when none is open.
LOOSE_ATTACHMENTS = {f"{role}-workplace-institution": f"{role}-name" for role in ROLES}
#: Local spellings of a person's name parts real archives write (``Author-X-Name-First``,
#: ``X-Author-Name-Last``, ``Author-X-Name-Middle``) -> the field they stand for. Like every
#: ``X-`` field they are never an error; they count only inside a person's cluster.
X_SPELLINGS = {
    spelled: f"{role}-name-{part}"
    for role in ROLES
    for part in ("first", "middle", "last")
    for spelled in (f"{role}-x-name-{part}", f"x-{role}-name-{part}")
}


def is_known_field(name: str) -> bool:
    """Field names a ReDIF template may hold (case-insensitive); ``X-`` fields included."""
    lowered = name.lower()
    return lowered in _KNOWN_FIELDS or lowered.startswith(_KNOWN_PREFIXES)


@dataclass(frozen=True)
class Template:
    """One parsed template: its normalised type and its non-empty fields in file order."""

    type: str  # e.g. "redif-article 1.0"
    fields: list[tuple[str, str, int]]  # (lower-case name, value, line number)
    start_line: int
    source: str = ""

    @property
    def kind(self) -> str:
        """``article``, ``paper``, ``series`` ... from the type."""
        return self.type.split()[0].removeprefix("redif-")

    @cached_property
    def _index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for field_name, value, _ in self.fields:
            index.setdefault(field_name, []).append(value)
        return index

    def values(self, name: str) -> list[str]:
        return self._index.get(name.lower(), [])

    def get(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    @property
    def handle(self) -> str:
        """The handle as written, less HTML residue and white space (no handle holds any:
        real files write ``RePEc:sae: ijcgvn`` and ``RePEc:ura<br />``)."""
        return "".join((text_of(self.get("handle")) or "").split())


@dataclass(frozen=True)
class TemplateError:
    """A template that was skipped, and why. Yielded by :func:`parse_templates`, never raised."""

    source: str
    line: int
    reason: str
    raw_text: str


@dataclass
class _Pending:
    start_line: int
    lines: list[str] = field(default_factory=list)
    # [lower-case name, value, line(, continuation lines)]
    fields: list[list[Any]] = field(default_factory=list)


def parse_templates(text: str, source: str = "") -> Iterator[Template | TemplateError]:
    """Templates of a decoded ReDIF text, in file order; bad ones as :class:`TemplateError`."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    current: _Pending | None = None
    orphan: _Pending | None = None  # content before the first Template-Type
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.rstrip()
        if not line or line.startswith("#") or line.strip() == "\x1a":
            continue
        match = _FIELD_LINE.match(line)
        name = match.group(1).lower() if match else ""
        if match and name == "template-type":
            if orphan is not None:
                yield _orphan_error(orphan, source)
                orphan = None
            if current is not None:
                yield _finish(current, source)
            current = _Pending(start_line=number)
            current.lines.append(line)
            current.fields.append([name, match.group(2).strip(), number])
            continue
        if current is None:
            if orphan is None:
                orphan = _Pending(start_line=number)
            orphan.lines.append(line)
            continue
        current.lines.append(line)
        previous = current.fields[-1]
        is_field = match is not None and (is_known_field(name) or previous[0] == "template-type")
        if match and is_field:
            current.fields.append([name, match.group(2).strip(), number])
        elif len(previous) == 3:
            previous.append([line.strip()])  # continuation lines, joined once in _finish
        else:
            previous[3].append(line.strip())
    if orphan is not None:
        yield _orphan_error(orphan, source)
    if current is not None:
        yield _finish(current, source)


def _orphan_error(orphan: _Pending, source: str) -> TemplateError:
    return TemplateError(
        source, orphan.start_line, "content before any Template-Type", "\n".join(orphan.lines)
    )


def _finish(pending: _Pending, source: str) -> Template | TemplateError:
    raw_text = "\n".join(pending.lines)
    for entry in pending.fields:
        if len(entry) > 3:  # a value continued on later lines
            entry[1] = " ".join([entry[1], *entry.pop()]).strip()

    def error(line: int, reason: str) -> TemplateError:
        return TemplateError(source, line, reason, raw_text)

    raw_type = pending.fields[0][1]
    template_type = (clean(_TAG.sub(" ", raw_type)) or "").lower()
    type_match = _TYPE_VALUE.match(template_type)
    if not type_match:
        return error(pending.start_line, f"malformed Template-Type {raw_type!r}")
    if type_match.group(1) not in KINDS:
        return error(pending.start_line, f"unknown Template-Type {raw_type!r}")

    kept: list[tuple[str, str, int]] = [("template-type", template_type, pending.start_line)]
    open_clusters: dict[str, bool] = {}  # cluster key -> whether its key value is non-empty
    for name, value, line in pending.fields[1:]:
        canonical = X_SPELLINGS.get(name)
        if canonical and CLUSTER_OF[canonical] in open_clusters:
            name = canonical
        elif name in LOOSE_ATTACHMENTS and not open_clusters.get(LOOSE_ATTACHMENTS[name], True):
            continue  # attached to a cluster whose key was empty: dropped with it
        if name in CLUSTERS:
            open_clusters[name] = bool(value)
        elif name in CLUSTER_OF:
            key = CLUSTER_OF[name]
            if key not in open_clusters:
                return error(line, f"{name} without a preceding {key}")
            if not open_clusters[key]:
                continue  # attached to a cluster whose key was empty: dropped with it
        if value:
            kept.append((name, value, line))

    handles = [(value, line) for name, value, line in kept if name == "handle"]
    if not handles:
        return error(pending.start_line, "template without a Handle")
    if len({value.lower() for value, _ in handles}) > 1:
        return error(handles[1][1], "several Handle fields (two templates merged?)")
    return Template(type=template_type, fields=kept, start_line=pending.start_line, source=source)


# --- values ------------------------------------------------------------------------------


def text_of(value: str | None) -> str | None:
    """A value without HTML residue: tags removed, entities decoded, white space folded."""
    if value is None:
        return None
    if "<" in value:
        value = _TAG.sub("", _BLOCK_TAG.sub(" ", value))
    if "&" in value:
        value = html.unescape(value)
    return clean(value)
