"""The harvest's options, defined once.

Each field of ``HarvestOptions`` is at the same time:

- a parameter of the Prefect flow (its type and description are what the UI shows, and a
  run whose parameters break them is refused before any request is made),
- a key of an ``[[endpoint]]`` table (or of the top of) a config file (``flows.config``),
- an option of ``repec-harvest run`` and ``schedule`` (``click_options`` derives them).

The fields are what a user types (dates and durations as text); the pipeline reads the typed
values through the properties (``start``, ``until``, ``overlap_span``, ``max_attempts``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, get_args

import click
from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from harvesting.client import MAX_PAGE_BYTES, endpoint_problem
from harvesting.windows import DURATION_PATTERN, NOT_A_DURATION, SIZES, parse_duration
from schemas.dates import NOT_A_DATE, parse_datestamp, parse_user_date
from schemas.errors import ConfigError

DEFAULT_ENDPOINT = "https://oai.repec.org/"


def _flag(name: str, **extra: Any) -> dict[str, Any]:
    """``json_schema_extra`` naming the command-line flag where it is not ``--<name>``."""
    return {"flag": name, **extra}


class HarvestOptions(BaseModel):
    """How to harvest one OAI-PMH endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field(
        default=DEFAULT_ENDPOINT, min_length=1, description="OAI-PMH base URL.",
        json_schema_extra={"config_key": "url"},
    )  # fmt: skip
    sets: list[str] = Field(
        default_factory=list,
        description="Harvest only these sets (repeat the option for several), e.g. "
        "RePEc:sae:asseca; default: the whole repository.",
        json_schema_extra=_flag("--set", metavar="SPEC"),
    )
    metadata_prefix: str | None = Field(
        default=None, description="Metadata format; default amf when offered, else oai_dc.",
        json_schema_extra={"metavar": "P"},
    )  # fmt: skip
    from_date: str | None = Field(
        default=None, description="Start at this datestamp, YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ "
        "(default: where the last run left off).",
        json_schema_extra=_flag("--from", metavar="DATE"),
    )  # fmt: skip
    until_date: str | None = Field(
        default=None, description="Stop at this datestamp (inclusive).",
        json_schema_extra=_flag("--until", metavar="DATE"),
    )  # fmt: skip
    window: str = Field(
        default="month", description="Size of the date windows a harvest is split into.",
        json_schema_extra={"enum": list(SIZES)},
    )  # fmt: skip
    overlap: str = Field(
        default="1d", pattern=DURATION_PATTERN, json_schema_extra={"metavar": "DURATION"},
        description="Re-harvest this much before the last run's start (e.g. 1d, 12h, 0).",
    )  # fmt: skip
    delay: float | None = Field(
        default=None, ge=0, description="Pause between requests, in seconds (default: 2 for "
        "oai.repec.org, 0 for 127.0.0.1, else 1).", json_schema_extra={"metavar": "SECONDS"},
    )  # fmt: skip
    contact: str | None = Field(
        default=None,
        description="Operator contact put in the User-Agent [env: REPEC_HARVEST_CONTACT].",
        json_schema_extra={"envvar": "REPEC_HARVEST_CONTACT", "metavar": "URL_OR_EMAIL"},
    )  # fmt: skip
    retries: int = Field(
        default=4, ge=0, le=100, description="Retries of a request that failed transiently (with "
        "backoff).",
    )  # fmt: skip
    backoff: float = Field(
        default=2.0, ge=0,
        description="First retry pause, in seconds; doubles each retry (jittered).",
        json_schema_extra={"metavar": "SECONDS"},
    )  # fmt: skip
    timeout: float = Field(
        default=180.0, ge=0.1, description="Read timeout of one request, in seconds.",
        json_schema_extra={"metavar": "SECONDS"},
    )  # fmt: skip
    max_page_size: int = Field(
        default=MAX_PAGE_BYTES >> 20, ge=1, le=4096,
        description="The largest response accepted, in MiB (after decompression); a larger "
        "one is refused. A page takes about twelve times its size in memory at its peak.",
        json_schema_extra={"metavar": "MIB"},
    )  # fmt: skip
    max_quarantined: float = Field(
        default=0.5, ge=0, le=1,
        description="Stop a run when more than this share of its records is quarantined.",
        json_schema_extra={"metavar": "RATIO"},
    )  # fmt: skip

    max_vanished: float = Field(
        default=0.05, ge=0, le=1,
        description="reconcile: when more than this share of a set's items is no longer "
        "listed, apply nothing and report it (a listing that lost its items must not empty "
        "the warehouse).",
        json_schema_extra={"metavar": "RATIO", "commands": ["reconcile", "schedule", "deploy"]},
    )  # fmt: skip

    # -- checks (each one line, naming the option) ----------------------------------------

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        problem = endpoint_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("sets")
    @classmethod
    def _distinct(cls, sets: list[str]) -> list[str]:
        return list(dict.fromkeys(sets))

    @field_validator("from_date", "until_date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        try:
            if value is not None:
                parse_datestamp(value)
        except ValueError:
            raise ValueError(f"{value!r} {NOT_A_DATE}") from None
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if value not in SIZES:
            raise ValueError(f"{value!r} is not one of {', '.join(SIZES)}")
        return value

    @field_validator("overlap")
    @classmethod
    def _overlap(cls, value: str) -> str:
        try:
            parse_duration(value)
        except ConfigError:
            raise ValueError(f"{value!r} {NOT_A_DURATION}") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> HarvestOptions:
        if self.start and self.until and self.start > self.until:
            raise ValueError("from_date is after until_date")
        return self

    # -- what the pipeline reads -----------------------------------------------------------

    @property
    def start(self) -> datetime | None:
        return parse_user_date(self.from_date, "--from") if self.from_date else None

    @property
    def until(self) -> datetime | None:
        return parse_user_date(self.until_date, "--until") if self.until_date else None

    @property
    def overlap_span(self) -> timedelta:
        return parse_duration(self.overlap)

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    @property
    def max_bytes(self) -> int:
        return self.max_page_size << 20

    # -- from outside ----------------------------------------------------------------------

    @classmethod
    def parse(
        cls, values: Mapping[str, Any], where: str = "", keys: str = "flag"
    ) -> HarvestOptions:
        """Options from user input; a bad value is a ``ConfigError`` of one line naming
        ``where`` and the option as the user spells it (``keys``: "flag" or "config_key")."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise ConfigError(_one_line(exc, where, keys)) from None


def spelling(name: str, keys: str) -> str:
    """How users spell the field ``name``: its flag (``--from``) or its config key (``url``)."""
    extra = _extra(HarvestOptions.model_fields[name])
    if keys == "flag":
        return str(extra.get("flag", "--" + name.replace("_", "-")))
    return str(extra.get("config_key", name))


def config_names() -> dict[str, str]:
    """Config key -> field name."""
    return {spelling(name, "config_key"): name for name in HarvestOptions.model_fields}


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def _one_line(exc: ValidationError, where: str, keys: str) -> str:
    error = exc.errors(include_url=False)[0]
    location = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    said = ""  # the value, where the message does not say it (pydantic's own words)
    if error["type"] == "extra_forbidden":
        message = "unknown option"
    elif error["type"] == "string_pattern_mismatch":
        message = f"{error['input']!r} {NOT_A_DURATION}"
    elif error["type"] != "value_error":
        said = f" {error['input']!r}"
    if location and location[0] in HarvestOptions.model_fields:
        name = spelling(location[0], keys)
        message = f"{name}{said}: {message}" if said else f"{name} {message}"
    elif location:
        message = f"{location[0]}: {message}"
    else:  # a rule between fields: their names as the user spells them
        for name in HarvestOptions.model_fields:
            message = message.replace(name, spelling(name, keys))
    return f"{where}: {message}" if where else message


# -- the command line, derived ---------------------------------------------------------------


def click_options(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Every field as a click option of ``command``, in the model's order (the command gets
    them by field name; ``HarvestOptions.parse`` checks them); a field meant for some commands
    only (``commands``) is left out of the others."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for name, info in reversed(HarvestOptions.model_fields.items()):
            if command in _extra(info).get("commands", (command,)):
                f = _click_option(name, info)(f)
        return f

    return decorate


def _click_option(name: str, info: FieldInfo) -> Callable[..., Any]:
    extra = _extra(info)
    low: Any = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
    high: Any = next((m.le for m in info.metadata if isinstance(m, Le)), None)
    base = next((t for t in get_args(info.annotation) if t is not type(None)), info.annotation)
    kind: Any = None
    if "enum" in extra:
        kind = click.Choice(extra["enum"])
    elif base is int:
        kind = click.IntRange(low, high)
    elif base is float:
        kind = click.FloatRange(low, high)
    default = None if info.default_factory is not None else info.default
    settings: dict[str, Any] = {
        "type": kind,
        "default": default,
        "show_default": default is not None,
        "help": info.description,
        "multiple": info.annotation == list[str],
        "metavar": extra.get("metavar"),
        "envvar": extra.get("envvar"),
    }
    return click.option(spelling(name, "flag"), name, **settings)


def given_on_command_line(values: Mapping[str, Any], environment: bool = False) -> dict[str, Any]:
    """The options of ``values`` the user typed (``environment``: those set in the
    environment instead), not defaults."""
    context = click.get_current_context()
    wanted = click.core.ParameterSource.ENVIRONMENT if environment else (
        click.core.ParameterSource.COMMANDLINE)  # fmt: skip
    return {
        name: value for name, value in values.items()
        if name in HarvestOptions.model_fields and context.get_parameter_source(name) == wanted
    }  # fmt: skip


def cli_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Click's values as fields: repeated options become lists, absent ones are left out."""
    fields = HarvestOptions.model_fields
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in values.items() if name in fields and value is not None
    }  # fmt: skip


__all__ = [
    "DEFAULT_ENDPOINT",
    "HarvestOptions",
    "cli_values",
    "click_options",
    "config_names",
    "given_on_command_line",
    "spelling",
]
