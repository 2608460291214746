"""A config file of several endpoints (``repec-harvest run --config harvest.toml``; the
scheduled deployments read the same file).

    contact = "you@example.org"      # any harvest option here applies to every endpoint

    [[endpoint]]
    url = "https://oai.repec.org/"
    metadata_prefix = "amf"          # optional: amf when offered, else oai_dc
    sets = ["RePEc:sae:asseca"]      # optional: the whole repository
    delay = 2.0                      # seconds between requests to this host
    window = "month"                 # day | week | month | year | none

The keys are the fields of ``flows.options.HarvestOptions`` (``url`` for ``endpoint``); an
unknown key or a bad value is a one-line ``ConfigError`` naming the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows.options import HarvestOptions, config_names
from schemas.errors import ConfigError

ENDPOINTS = "endpoint"


def read_config(
    path: Path,
    overrides: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> list[HarvestOptions]:
    """The endpoints of the config file at ``path``, in its order, each with the file's
    top-level options under its own, ``overrides`` (options typed on the command line) over
    both and ``defaults`` (options set in the environment) under both."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    names = config_names()
    shared = dict(document)
    tables = shared.pop(ENDPOINTS, None)
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: needs at least one [[{ENDPOINTS}]] table with a url")
    shared_values = _fields(shared, names, f"{path}", allowed=set(names) - {"url", "sets"})
    HarvestOptions.parse(shared_values, f"{path}", keys="config_key")  # each value checked once
    endpoints: list[HarvestOptions] = []
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    for number, table in enumerate(tables, start=1):
        where = f"{path}, [[{ENDPOINTS}]] {number}"
        if "url" not in table:
            raise ConfigError(f"{where}: url is missing")
        values = {
            **(defaults or {}),
            **shared_values,
            **_fields(table, names, where, allowed=set(names)),
        }
        options = HarvestOptions.parse({**values, **(overrides or {})}, where, keys="config_key")
        key = (options.endpoint, tuple(sorted(options.sets)))
        if key in seen:
            raise ConfigError(f"{where}: the same url and sets as [[{ENDPOINTS}]] {seen[key]}")
        seen[key] = number
        endpoints.append(options)
    return endpoints


def _fields(
    table: Mapping[str, Any], names: Mapping[str, str], where: str, allowed: set[str]
) -> dict[str, Any]:
    """A table's keys as option fields; an unknown one is an error naming it."""
    unknown = [key for key in table if key not in allowed]
    if unknown:
        known = ", ".join(sorted(allowed | ({ENDPOINTS} if "url" not in allowed else set())))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    return {names[key]: value for key, value in table.items()}


__all__ = ["ENDPOINTS", "read_config"]
