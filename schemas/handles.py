"""RePEc handles: ``RePEc:<archive>:<series>:<item>``, case-insensitive.

Journal-article items often carry their bibliographic position by convention,
``v:<volume>:y:<year>:i:<issue>:p:<first>-<last>``; the convention is optional and any subset
of the keys may appear, in any order.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_OAI_PREFIX = re.compile(r"^oai:(?=repec:)", re.IGNORECASE)
_CONVENTION_KEYS = {"v": "volume", "y": "year", "i": "issue", "p": "pages"}


class Handle(NamedTuple):
    """A parsed RePEc handle (or, for non-RePEc endpoints, an opaque identifier). A named
    tuple, not a dataclass: one is made for every harvested record (hot path)."""

    handle: str
    archive_code: str | None = None
    series_handle: str | None = None
    volume: str | None = None
    year: int | None = None
    issue: str | None = None
    pages: str | None = None

    @property
    def key(self) -> str:
        """The lower-cased join key."""
        return handle_key(self.handle)

    @property
    def follows_article_convention(self) -> bool:
        return any(v is not None for v in (self.volume, self.year, self.issue, self.pages))


def handle_key(handle: str) -> str:
    """Handles are case-insensitive: join on the lower-cased form."""
    return handle.strip().lower()


def handle_from_oai_identifier(identifier: str) -> str:
    """``oai:RePEc:sae:asseca:...`` -> ``RePEc:sae:asseca:...``; other identifiers unchanged."""
    identifier = identifier.strip()
    if identifier[:10].lower() == "oai:repec:":  # every RePEc record: no regex needed
        return identifier[4:]
    return _OAI_PREFIX.sub("", identifier)


_INFO_LIB_PREFIX = re.compile(r"^info:lib/(?=repec:)", re.IGNORECASE)


def handle_from_text_id(value: str) -> str | None:
    """The handle an AMF noun's id or ref holds: ``RePEc:...`` as it is, or the
    ``info:lib/RePEc:...`` form AMF outside the OAI gateway writes; None for anything else."""
    value = _INFO_LIB_PREFIX.sub("", value.strip())
    return value if is_repec_handle(value) else None


def is_repec_handle(value: str) -> bool:
    return value[:6].lower() == "repec:" and value.count(":") >= 2


def parse_handle(handle: str) -> Handle:
    """Split a handle into archive, series and the optional v/y/i/p convention."""
    handle = handle.strip()
    if not is_repec_handle(handle):
        return Handle(handle=handle)
    parts = handle.split(":")
    archive = parts[1] or None
    series = ":".join(parts[:3]) if len(parts) >= 3 and parts[2] else None
    fields = _convention(parts[3:])
    year = fields.get("year")
    return Handle(
        handle=handle,
        archive_code=archive,
        series_handle=series,
        volume=fields.get("volume"),
        year=int(year) if year and year.isdigit() and len(year) == 4 else None,
        issue=fields.get("issue"),
        pages=fields.get("pages"),
    )


def _convention(item: list[str]) -> dict[str, str]:
    """Key/value pairs of the article convention, or nothing if the item does not follow it."""
    if not item or len(item) % 2:
        return {}
    found: dict[str, str] = {}
    for key, value in zip(item[::2], item[1::2], strict=True):
        name = _CONVENTION_KEYS.get(key.lower())
        if name is None or name in found or not value:
            return {}
        found[name] = value
    return found
