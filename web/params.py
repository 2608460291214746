"""A request's query parameters, checked: each known name with its rule, anything else a
``BadParameter`` that the app answers with a 400 page naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Mapping

from schemas.errors import BadParameter
from schemas.fields import ITEM_TYPES
from warehouse.search import SORTS

__all__ = ["ITEM_TYPES", "SORTS", "Params"]

#: Years outside these are typing errors, not items.
FIRST_YEAR, LAST_YEAR = 1000, 2999
MAX_PAGE = 10_000
MAX_TEXT = 500
_JEL = re.compile(r"[A-Za-z][0-9]{0,2}")


class Params:
    """The query parameters of one request: ``allowed`` names only, each read at most once
    by the getter of its kind. An empty value (a form's empty field) counts as absent."""

    def __init__(self, query: Mapping[str, str], allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(query) - set(allowed))
        if unknown:
            raise BadParameter(
                f"unknown parameter {unknown[0]!r}; this page takes: {', '.join(allowed) or 'none'}"
            )
        self._query = query

    def text(self, name: str) -> str | None:
        value = self._query.get(name, "").strip()
        if len(value) > MAX_TEXT:
            raise BadParameter(f"{name} is longer than {MAX_TEXT} characters")
        if any(ord(c) < 32 for c in value):
            raise BadParameter(f"{name} holds control characters")
        return value or None

    def number(self, name: str, low: int, high: int) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not re.fullmatch(r"[0-9]{1,9}", value) or not low <= int(value) <= high:
            raise BadParameter(f"{name} must be a whole number from {low} to {high}, not {value!r}")
        return int(value)

    def year(self, name: str) -> int | None:
        return self.number(name, FIRST_YEAR, LAST_YEAR)

    def page(self) -> int:
        return self.number("page", 1, MAX_PAGE) or 1

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is not None and value not in choices:
            raise BadParameter(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value

    def jel(self) -> str | None:
        value = self.text("jel")
        if value is not None and not _JEL.fullmatch(value):
            raise BadParameter(f"jel must be a JEL code or its start (F, F5, F51), not {value!r}")
        return value.upper() if value else None
