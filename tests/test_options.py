"""The harvest options are defined once (flows.options): the command line, the config file
and the flow's parameters all come from that definition and check values the same way."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click
import pytest
from conftest import SAMPLE_ITEMS, Clock, query
from test_cli import run

from flows.cli import cli
from flows.config import read_config
from flows.datadir import DataDir
from flows.options import DEFAULT_ENDPOINT, HarvestOptions
from provider.server import Provider, serve
from provider.store import RecordStore
from schemas.errors import ConfigError

EXAMPLE = """
contact = "you@example.org"

[[endpoint]]
url = "https://oai.repec.org/"
metadata_prefix = "amf"          # optional: amf when offered, else oai_dc
sets = ["RePEc:sae:asseca"]      # optional: the whole repository
delay = 2.0                      # seconds between requests to this host
window = "month"                 # day | week | month | year | none

[[endpoint]]
url = "http://127.0.0.1:9/oai"
window = "year"
"""


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harvest.toml"
    path.write_text(text)
    return path


# -- one definition ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["run", "reconcile", "schedule", "deploy"])
def test_every_option_is_a_command_line_option_with_the_same_default(name: str) -> None:
    command = cli.commands[name]
    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    for name, field in HarvestOptions.model_fields.items():
        if name == "max_vanished" and command.name == "run":  # reconcile's only
            assert name not in params
            continue
        assert name in params, name
        option = params[name]
        if field.default_factory is None:
            assert option.default == field.default, name
        assert option.help, name
    assert list(params["window"].type.choices) == ["day", "week", "month", "year", "none"]  # type: ignore[attr-defined]
    assert params["sets"].opts == ["--set"] and params["sets"].multiple
    assert params["from_date"].opts == ["--from"]


def test_the_typed_values_the_pipeline_reads() -> None:
    options = HarvestOptions(from_date="2025-01-01", until_date="2025-06-30", overlap="12h",
                             retries=2)  # fmt: skip
    assert options.start is not None and options.start.isoformat() == "2025-01-01T00:00:00"
    assert options.until is not None and options.until.month == 6
    assert options.overlap_span.total_seconds() == 12 * 3600
    assert options.max_attempts == 3
    assert HarvestOptions(sets=["a", "b", "a"]).sets == ["a", "b"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"window": "fortnight"},
            "--window 'fortnight' is not one of day, week, month, year, none",
        ),
        ({"overlap": "a while"}, "--overlap 'a while' is not a duration like 1d, 12h or 0"),
        ({"from_date": "2025-13-01"}, "--from '2025-13-01' is not a date: use YYYY-MM-DD"),
        ({"retries": -1}, "--retries -1: Input should be greater than or equal to 0"),
        ({"from_date": "2025-02-01", "until_date": "2025-01-01"}, "--from is after --until"),
        ({"colour": "blue"}, "colour: unknown option"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        HarvestOptions.parse(values)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


# -- the config file ---------------------------------------------------------------------------


def test_the_config_file_of_the_issue_reads_as_two_endpoints(tmp_path: Path) -> None:
    first, second = read_config(config(tmp_path, EXAMPLE))
    assert first == HarvestOptions(endpoint=DEFAULT_ENDPOINT, metadata_prefix="amf",
                                   sets=["RePEc:sae:asseca"], delay=2.0, window="month",
                                   contact="you@example.org")  # fmt: skip
    assert (second.endpoint, second.window, second.contact) == (
        "http://127.0.0.1:9/oai",
        "year",
        "you@example.org",
    )


def test_options_on_the_command_line_override_the_file(tmp_path: Path) -> None:
    first, second = read_config(config(tmp_path, EXAMPLE), {"delay": 0.0, "window": "day"})
    assert (first.delay, first.window, second.delay, second.window) == (0.0, "day", 0.0, "day")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[endpoint]]\nurl = "http://x/oai"\ncolour = "blue"\n',
         "harvest.toml, [[endpoint]] 1: unknown key 'colour' (known: "),
        ('[[endpoint]]\nurl = "http://x/oai"\nwindow = "fortnight"\n',
         "harvest.toml, [[endpoint]] 1: window 'fortnight' is not one of day, week, month"),
        ('[[endpoint]]\nurl = "http://x/oai"\n[[endpoint]]\nurl = "http://y/oai"\ndelay = -1\n',
         "harvest.toml, [[endpoint]] 2: delay -1: Input should be greater than or equal to 0"),
        ('[[endpoint]]\nsets = ["a"]\n', "harvest.toml, [[endpoint]] 1: url is missing"),
        ('contact = "me"\n', "harvest.toml: needs at least one [[endpoint]] table with a url"),
        ('timeout = "soon"\n[[endpoint]]\nurl = "http://x/oai"\n',
         "harvest.toml: timeout 'soon': Input should be a valid number"),
        ('url = "http://x/oai"\n[[endpoint]]\nurl = "http://x/oai"\n',
         "harvest.toml: unknown key 'url'"),
        ('[[endpoint]]\nurl = "http://x/oai"\n[[endpoint]]\nurl = "http://x/oai"\n',
         "harvest.toml, [[endpoint]] 2: the same url and sets as [[endpoint]] 1"),
        ("[[endpoint]\n", "harvest.toml: not valid TOML: "),
    ],
)  # fmt: skip
def test_a_bad_config_file_is_one_line_naming_the_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(config(tmp_path, text))
    said = str(caught.value).replace(str(tmp_path) + "/", "")
    assert said.startswith(message), said
    assert "\n" not in said


def test_run_config_harvests_every_endpoint_and_one_failing_does_not_stop_the_others(
    capsys: pytest.CaptureFixture[str], data: DataDir, tmp_path: Path
) -> None:
    clock = Clock(datetime(2025, 12, 1, 12))
    with (
        serve(Provider(RecordStore.sample(), page_size=10, clock=clock)) as good,
        serve(Provider(RecordStore.sample(), page_size=10, clock=clock)) as other,
    ):
        path = config(tmp_path, f"""
delay = 0
retries = 0

[[endpoint]]
url = "{other}"
sets = ["RePEc:no:such"]

[[endpoint]]
url = "{good}"
window = "year"
""")  # fmt: skip
        code, out, err = run(capsys, "run", "--config", str(path), "--data-dir", str(data.root))
    assert code == 1, err
    flat = " ".join(out.split())
    assert "failed: " in flat and "RePEc:no:such" in flat, out
    assert re.search(rf"{re.escape(good)}.*complete.*│\s+{SAMPLE_ITEMS}\s+│", out), out
    assert "1 of 2 harvests failed" in err
    assert query(data, "SELECT count(*) FROM articles") == [(SAMPLE_ITEMS,)]


def test_endpoint_and_set_belong_in_the_file_beside_config(
    capsys: pytest.CaptureFixture[str], data: DataDir, tmp_path: Path
) -> None:
    path = config(tmp_path, EXAMPLE)
    code, _, err = run(capsys, "run", "--config", str(path), "--set", "RePEc:x:y",
                       "--data-dir", str(data.root))  # fmt: skip
    assert code == 2
    assert err.strip() == (
        "Error: --set goes in the config file's [[endpoint]] tables, not beside --config"
    )


def test_a_missing_config_file_is_one_line(
    capsys: pytest.CaptureFixture[str], data: DataDir, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "run", "--config", str(tmp_path / "nope.toml"),
                       "--data-dir", str(data.root))  # fmt: skip
    assert code == 2
    assert err.strip() == f"Error: config file {tmp_path / 'nope.toml'} does not exist"


def test_the_file_is_over_the_environment_and_the_command_line_over_the_file(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, '[[endpoint]]\nurl = "http://x/oai"\ncontact = "file@example.org"\n'
                            '[[endpoint]]\nurl = "http://y/oai"\n')  # fmt: skip
    environment = {"contact": "env@example.org"}
    first, second = read_config(path, {}, environment)
    assert (first.contact, second.contact) == ("file@example.org", "env@example.org")
    first, second = read_config(path, {"contact": "typed@example.org"}, environment)
    assert first.contact == second.contact == "typed@example.org"
