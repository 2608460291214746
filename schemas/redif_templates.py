"""ReDIF text: splitting it into templates, and the field and cluster rules (ReDIF-perl's
``redif.spec``; see docs/field-mapping.md). Bytes become text in :mod:`schemas.redif_text`.

Pure functions: lines in, templates out. A bad template is never raised:
:func:`parse_lines` yields a :class:`TemplateError` in its place and goes on with the next.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from schemas.fields import clean
from schemas.redif_text import MAX_LINE, LongLine

__all__ = [
    "CLUSTER_OF",
    "ITEM_KINDS",
    "KINDS",
    "LOOSE_ATTACHMENTS",
    "Template",
    "TemplateError",
    "is_known_field",
    "parse_lines",
    "parse_templates",
    "text_of",
]

# --- templates ---------------------------------------------------------------------------

#: Characters one template may hold (its lines). The longest real templates (a person with
#: thousands of works, a book with all its chapters) hold some hundred kilobytes; a longer
#: one is quarantined with its first part instead of held whole.
MAX_TEMPLATE = 4 << 20

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
    size: int = 0  # characters of its lines in the file

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
    size: int = 0  # characters of its lines
    refused: tuple[int, str] | None = None  # (line, reason) when it cannot be a template

    def add(self, line: str) -> bool:
        """Keep a line; False once the template is longer than a template may be (its
        lines from then on are counted, not kept)."""
        self.size += len(line) + 1
        if self.size > MAX_TEMPLATE:
            if self.refused is None:
                self.refused = (self.start_line, f"template longer than {MAX_TEMPLATE:,} "
                                                 "characters (not read past that)")  # fmt: skip
            return False
        self.lines.append(line)
        return self.refused is None

    def long_line(self, number: int, line: LongLine) -> None:
        self.add(f"{line.head}... ({line.chars:,} characters)")
        if self.refused is None:
            self.refused = (number, f"line {number} has {line.chars:,} characters, more than "
                                    f"the {MAX_LINE:,} a line may hold")  # fmt: skip


def parse_templates(text: str, source: str = "") -> Iterator[Template | TemplateError]:
    """Templates of a decoded ReDIF text, in file order; bad ones as :class:`TemplateError`."""
    return parse_lines(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), source)


def parse_lines(
    lines: Iterable[str | LongLine], source: str = ""
) -> Iterator[Template | TemplateError]:
    """Templates of a file's lines (:func:`schemas.redif_text.text_lines`), in file order;
    bad ones as :class:`TemplateError`. A template with an over-long line, or longer than
    :data:`MAX_TEMPLATE`, is an error; the lines of a template are all it holds."""
    current: _Pending | None = None
    orphan: _Pending | None = None  # content before the first Template-Type
    for number, raw_line in enumerate(lines, start=1):
        if isinstance(raw_line, LongLine):
            if current is None:
                orphan = orphan or _Pending(start_line=number)
                orphan.long_line(number, raw_line)
            else:
                current.long_line(number, raw_line)
            continue
        line = raw_line.rstrip()
        if number == 1:
            line = line.removeprefix("\ufeff")
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
            current.add(line)
            current.fields.append([name, match.group(2).strip(), number])
            continue
        if current is None:
            orphan = orphan or _Pending(start_line=number)
            orphan.add(line)
            continue
        if not current.add(line):
            continue
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
    reason = "content before any Template-Type"
    if orphan.size > MAX_TEMPLATE:
        reason += f" ({orphan.size:,} characters; the first {MAX_TEMPLATE:,} kept)"
    return TemplateError(source, orphan.start_line, reason, "\n".join(orphan.lines))


def _finish(pending: _Pending, source: str) -> Template | TemplateError:
    raw_text = "\n".join(pending.lines)
    if pending.refused is not None:
        return TemplateError(source, *pending.refused, raw_text)
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
    return Template(type=template_type, fields=kept, start_line=pending.start_line, source=source,
                    size=pending.size)  # fmt: skip


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
