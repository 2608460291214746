"""A person attached to an item (author or editor), before it becomes an ``authors`` row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Person(NamedTuple):
    """A named tuple, not a dataclass: one is made per author of every record (hot path)."""

    name: str
    role: str = "author"
    given_name: str | None = None
    family_name: str | None = None
    short_id: str | None = None
    email: str | None = None


@dataclass
class Mapped:
    """What a metadata-format mapper extracts from one record's metadata."""

    fields: dict[str, object]
    people: list[Person]
