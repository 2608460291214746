"""``repec-harvest``: the command line. A thin layer over the pipeline; every domain error
becomes one ``Error: ...`` line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from flows import interrupts
from flows.config import read_config
from flows.datadir import CATALOG_ENV_VAR, DATA_PATH_ENV_VAR, ENV_VAR, DataDir, default_data_dir
from flows.options import (
    HarvestOptions,
    cli_values,
    click_options,
    given_on_command_line,
    spelling,
)
from flows.pipeline import HarvestResult, harvest_all
from flows.progress import CountProgress, HarvestProgress
from harvesting.politeness import VERSION
from schemas.dates import parse_user_date
from schemas.errors import ConfigError, RepecHarvestError, WarehouseError


def _console(stderr: bool = False) -> Console:
    """Plain output (no markup, emoji or highlighting: values are data); wide when piped."""
    plain = {"highlight": False, "markup": False, "emoji": False, "soft_wrap": True}
    console = Console(stderr=stderr, **plain)  # type: ignore[arg-type]
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160, **plain)  # type: ignore[arg-type]
    return console


out = _console()
err = _console(stderr=True)

EXAMPLE_HANDLE = "RePEc:sae:asseca:v:12:y:2025:i:4:p:515-537"
#: Where `repec-harvest web` serves by default, and where the demo says to look.
WEB_HOST, WEB_PORT = "127.0.0.1", 8000
EXAMPLE_QUERY = (
    "SELECT a.handle, a.title, a.year, a.volume, a.issue, a.pages, a.doi, a.authors_text, "
    "c.cited_by FROM article_authors a JOIN article_citation_counts c USING (handle) "
    f"WHERE a.handle = '{EXAMPLE_HANDLE}'"
)


def _data_dir_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir, --catalog and --data-path, handed to the command as ``data``."""

    @functools.wraps(f)
    def command(
        *args: Any, data_dir: str | None, catalog: str | None, data_path: str | None, **kw: Any
    ) -> Any:
        return f(*args, data=DataDir.resolve(data_dir, catalog, data_path), **kw)

    options = [
        click.option("--data-dir", envvar=ENV_VAR, type=click.Path(file_okay=False),
                     help=f"Where state, raw pages and (by default) the warehouse live [env: "
                     f"{ENV_VAR}; default: ~/.local/share/repec-harvest]."),
        click.option("--catalog", envvar=CATALOG_ENV_VAR, metavar="URL",
                     help="The warehouse's catalog: postgresql://user:password@host/db when "
                     f"several machines share it [env: {CATALOG_ENV_VAR}; default: "
                     "catalog.sqlite in the data dir]."),
        click.option("--data-path", envvar=DATA_PATH_ENV_VAR, metavar="PATH_OR_URL",
                     help="Where the warehouse's Parquet files go, e.g. s3://bucket/repec/ "
                     f"[env: {DATA_PATH_ENV_VAR}; default: warehouse/ in the data dir]."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _harvest_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--config and every harvest option (flows.options) of the command ``f``, handed to it
    as ``endpoints``: one per [[endpoint]] of the config file, or the one the options name."""

    @functools.wraps(f)
    def command(*args: Any, config: str | None, **kwargs: Any) -> Any:
        values = {k: kwargs.pop(k) for k in list(kwargs) if k in HarvestOptions.model_fields}
        return f(*args, endpoints=_endpoints(config, values), **kwargs)

    parallel = click.option(
        "--parallel", type=click.IntRange(1, 64), default=1, show_default=True, metavar="N",
        help="Harvest this many sets and endpoints at once (threads); requests to one host "
        "stay spaced by its --delay.",
    )  # fmt: skip
    config = click.option(
        "--config", metavar="FILE", type=click.Path(dir_okay=False),
        help="A TOML file of endpoints ([[endpoint]] tables with url, sets, delay, window...); "
        "options given here override its values.",
    )  # fmt: skip
    options = click_options(f.__name__)(command)
    return config(options if f.__name__ == "reconcile" else parallel(options))


def _endpoints(config: str | None, values: dict[str, Any]) -> list[HarvestOptions]:
    if config is None:
        return [HarvestOptions.parse(cli_values(values))]
    typed = cli_values(given_on_command_line(values))
    for name in ("endpoint", "sets"):
        if name in typed:
            raise ConfigError(f"{spelling(name, 'flag')} goes in the config file's [[endpoint]] "
                              f"tables, not beside --config")  # fmt: skip
    # the command line over the file, the file over the environment (REPEC_HARVEST_CONTACT)
    environment = cli_values(given_on_command_line(values, environment=True))
    return read_config(Path(config), typed, environment)


def _setup_logging(verbose: int) -> None:
    """-v: what each run and window did; -vv: every page; -vvv: HTTP too."""
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(message)s", force=True,
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
    )  # fmt: skip
    if verbose < 3:
        logging.getLogger("urllib3").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="repec-harvest")
@click.option("-v", "--verbose", count=True,
              help="More log output: -v runs and windows, -vv pages, -vvv HTTP.")  # fmt: skip
def cli(verbose: int) -> None:
    """Harvest RePEc metadata over OAI-PMH into Parquet and DuckDB."""
    _setup_logging(verbose)


def execute(
    data: DataDir, endpoints: list[HarvestOptions], parallel: int = 1
) -> list[HarvestResult]:
    with HarvestProgress(err) as progress:
        return harvest_all(data, endpoints, parallel, progress)


def print_results(results: list[HarvestResult]) -> int:
    table = Table(title="Harvest", title_justify="left")
    several = len({r.spec.endpoint for r in results}) > 1
    columns = ("set", "prefix", "run", "status", "windows", "pages", "records", "deleted",
               "quarantined")  # fmt: skip
    for column in ("endpoint",) * several + columns:
        table.add_column(column, justify="right" if column in {"windows", "pages", "records",
                         "deleted", "quarantined"} else "left", overflow="fold")  # fmt: skip
    failed = 0
    for result in results:
        run = result.run
        if run is None:
            failed += 1
            table.add_row(*(result.spec.endpoint,) * several, result.spec.set_spec or "(all)",
                          result.spec.metadata_prefix, "-", f"failed: {result.error}", "", "",
                          "", "", "")  # fmt: skip
            continue
        table.add_row(
            *(result.spec.endpoint,) * several, result.spec.set_spec or "(all)",
            result.spec.metadata_prefix, run.run_id, run.status,
            str(len(run.windows)), str(run.pages), f"{run.records:,}", f"{run.deleted:,}",
            f"{run.quarantined:,}",
        )  # fmt: skip
    out.print(table)
    if failed:
        err.print(f"Error: {failed} of {len(results)} harvests failed; run again to resume.")
        return 1
    return 0


@cli.command()
@_harvest_options
@_data_dir_option
def run(data: DataDir, endpoints: list[HarvestOptions], parallel: int) -> int:
    """Harvest, normalize and load: the full pipeline (resumes an interrupted run)."""
    results = execute(data, endpoints, parallel)
    code = print_results(results)
    out.print(f"Warehouse: {data.catalog.label}")
    return code


@cli.command()
@_harvest_options
@_data_dir_option
def reconcile(data: DataDir, endpoints: list[HarvestOptions]) -> int:
    """Compare what each set lists now (ListIdentifiers) with the warehouse: items it no
    longer lists become deleted once GetRecord confirms it, and items missing from the
    warehouse are fetched; unless more than --max-vanished would vanish (then nothing is
    applied and it is reported)."""
    from flows.reconcile import reconcile_all

    results = reconcile_all(data, endpoints)
    table = Table(title="Reconciliation", title_justify="left")
    several = len({r.spec.endpoint for r in results}) > 1
    numbers = ("listed", "in warehouse", "vanished", "deleted", "kept", "not loaded", "fetched")
    for column in ("endpoint",) * several + ("set", "prefix", "status", *numbers):
        table.add_column(column, justify="right" if column in numbers else "left",
                         overflow="fold")  # fmt: skip
    problems = []
    for result in results:
        rec, spec = result.reconciliation, result.spec
        where = (spec.endpoint,) * several + (spec.set_spec or "(all)", spec.metadata_prefix)
        if rec is None:
            table.add_row(*where, "failed", *("",) * len(numbers))
        else:
            counts = (rec.listed, rec.live, rec.vanished, rec.tombstoned, rec.kept,
                      rec.not_loaded, rec.fetched)  # fmt: skip
            table.add_row(*where, rec.status, *("" if n is None else f"{n:,}" for n in counts))
        if result.failed:
            said = result.error or (rec.error if rec else None)
            problems.append(f"{spec.set_spec or spec.endpoint}: {said}")
    out.print(table)
    for problem in problems:
        err.print(f"Error: {problem}")
    return 1 if problems else 0


@cli.command()
@_data_dir_option
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port of the local OAI-PMH server (0 = any free port).")  # fmt: skip
@click.option("--page-size", type=click.IntRange(1), default=10, show_default=True)
@click.option(
    "--serve",
    "serve_only",
    is_flag=True,
    help="Only serve the sample endpoint (until Ctrl-C), to try `run` against it.",
)
def demo(data: DataDir, port: int, page_size: int, serve_only: bool) -> int:
    """Offline demo: serve the bundled sample on 127.0.0.1 and harvest it."""
    from flows.demo import run_demo, serve_sample

    if serve_only:
        serve_sample(
            port, page_size, lambda url: out.print(f"Serving the sample at {url} (Ctrl-C stops)")
        )
        return 0
    url, results = run_demo(data, port=port, page_size=page_size, execute=execute)
    out.print(f"Local OAI-PMH endpoint: {url} (bundled sample corpus, stopped now)")
    code = print_results(results)
    if code == 0:
        from flows.citations import load_citations
        from flows.demo import SAMPLE_CITATIONS

        log = load_citations(data, str(SAMPLE_CITATIONS))
        out.print(f"Citations: {log['edges']} edges loaded from the sample iscited.txt")
    columns, rows = _query(data, EXAMPLE_QUERY)
    out.print(f'\nExample query:\n  repec-harvest sql --format line "{EXAMPLE_QUERY}"\n')
    _print_rows(columns, rows, "line")
    out.print(f"\nWarehouse: {data.catalog.label}")
    out.print("Try: repec-harvest sql \"SELECT * FROM counts_by_series\"   "
              "repec-harvest status   repec-harvest attach")  # fmt: skip
    web = f"repec-harvest web{_data_dir_words(data)}"
    out.print(f"Browse it: `{web}`, then open http://{WEB_HOST}:{WEB_PORT}/{EXAMPLE_HANDLE}")
    return code


def _data_dir_words(data: DataDir) -> str:
    """The data dir as a command line would give it, if it is not the default one."""
    return "" if data.root == default_data_dir() else f" --data-dir {shlex.quote(str(data.root))}"


def _query(
    data: DataDir, sql: str, at: int | str | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    with data.warehouse() as warehouse:
        return warehouse.query(sql, at)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


#: Rows a table shows: more is for --format csv or json, which stream.
TABLE_ROWS = 1_000


def _print_rows(columns: list[str], rows: Iterable[tuple[Any, ...]], fmt: str) -> None:
    """Rows in ``fmt``; csv, json and line stream as the rows come (a table is drawn whole,
    so it shows ``TABLE_ROWS`` at most, every value in full, folded where it is wide)."""
    if fmt == "line":
        width = max((len(c) for c in columns), default=0)
        for number, row in enumerate(rows):
            if number:
                out.print()
            for column, value in zip(columns, row, strict=True):
                out.print(f"{column.rjust(width)} = {_cell(value)}")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for number, row in enumerate(rows, start=1):
            writer.writerow([_cell(v) for v in row])
            if number % 10_000 == 0:  # out in pieces: the first rows come at once
                sys.stdout.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        sys.stdout.write(buffer.getvalue())
    elif fmt == "json":
        sys.stdout.write("[")
        for number, row in enumerate(rows):
            record = dict(zip(columns, map(_jsonable, row), strict=True))
            text = json.dumps(record, ensure_ascii=False, indent=2, default=str)
            sys.stdout.write(("," if number else "") + "\n  " + text.replace("\n", "\n  "))
        sys.stdout.write("\n]\n")
    else:
        table = Table(show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        shown = 0
        more = False
        for row in rows:
            if shown == TABLE_ROWS:
                more = True
                break
            table.add_row(*(_cell(v) for v in row))
            shown += 1
        out.print(table)
        if more:
            out.print(f"the first {shown:,} rows: --format csv or json gives them all")
        else:
            out.print(f"{shown} row{'s' if shown != 1 else ''}")


def _snapshot(text: str | None) -> int | str | None:
    """A snapshot id (digits) or a date/time, as ``--at``/``--since`` take them."""
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        return parse_user_date(text, "--at/--since").isoformat(sep=" ") + "+00"
    except RepecHarvestError:
        raise click.BadParameter(
            f"{text!r} is neither a snapshot id nor a date such as 2026-12-01 or "
            "2026-12-01T08:00:00Z"
        ) from None


@cli.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "line", "csv", "json"]),
              default="table", show_default=True,
              help="table; line (one column per line); csv; json.")  # fmt: skip
@click.option(
    "--at",
    "at",
    metavar="SNAPSHOT_OR_TIME",
    help="Query the warehouse as it was at this snapshot id or time (UTC).",
)
@_data_dir_option
def sql(query: str, fmt: str, at: str | None, data: DataDir) -> int:
    """Run one SELECT against the warehouse, read-only (works while harvests load)."""
    with data.warehouse() as warehouse, warehouse.stream(query, _snapshot(at)) as result:
        columns, batches = result
        _print_rows(columns, (row for batch in batches for row in batch), fmt)
    return 0


@cli.command()
@_data_dir_option
def attach(data: DataDir) -> int:
    """Print the SQL that opens this warehouse read-only in any DuckDB client."""
    data.warehouse().close()  # an earlier version's data dir is refused here
    if not data.catalog.exists():
        raise WarehouseError(
            f"no warehouse at {data.catalog.label}: run `repec-harvest run` or `repec-harvest demo`"
        )
    for statement in data.catalog.client_statements():
        out.print(statement)
    return 0


@cli.command()
@click.option(
    "--since",
    required=True,
    metavar="SNAPSHOT_OR_TIME",
    help="List changes after this snapshot id or time (UTC).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "line", "csv", "json"]),
              default="table", show_default=True)  # fmt: skip
@_data_dir_option
def changes(since: str, fmt: str, data: DataDir) -> int:
    """Items inserted, updated and deleted since a snapshot or a time."""
    from warehouse.changes import changes_since

    with data.warehouse() as warehouse:
        columns, rows = changes_since(warehouse, _snapshot(since) or 0)
    _print_rows(columns, rows, fmt)
    return 0


@cli.command()
@click.option(
    "--retention",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="Keep snapshots (time travel) this long, e.g. 30d, 12h.",
)
@_data_dir_option
def maintain(retention: str, data: DataDir) -> int:
    """Compact small files, expire old snapshots, delete files no snapshot needs."""
    from harvesting.windows import parse_duration
    from warehouse.maintenance import maintain as do_maintain

    period = parse_duration(retention)
    with data.writing(), data.warehouse() as warehouse:
        report = do_maintain(warehouse, period)
    out.print(
        f"Maintained {data.catalog.label}: {report.files_before:,} -> {report.files_after:,} "
        f"data files, {report.snapshots_before:,} -> {report.snapshots_after:,} snapshots "
        f"(kept {retention} of time travel)."
    )
    return 0


@cli.command()
@_data_dir_option
def status(data: DataDir) -> int:
    """Per harvest: last complete run, next from, counts, last error."""
    from flows.status import harvest_status

    statuses = harvest_status(data)
    if not statuses:
        out.print(f"No harvests yet in {data.root}.")
        return 0
    for s in statuses:
        table = Table(show_header=False, title=s.harvest_id, title_justify="left", box=None)
        table.add_column(style="bold")
        table.add_column()
        for label, value in (
            ("endpoint", s.endpoint), ("metadata prefix", s.metadata_prefix),
            ("set", s.set_spec or "(all)"),
            ("last complete harvest", f"{s.last_complete.isoformat()} (server clock)"
             if s.last_complete else "never"),
            ("next from", s.next_from or "earliestDatestamp"),
            ("last bounded run", s.last_bounded or "-"),
            ("unfinished run", s.open_run or "-"), ("position", s.position or "-"),
            ("records", f"{s.records:,}"), ("deletions", f"{s.deleted:,}"),
            ("quarantined", f"{s.quarantined:,}"), ("last error", s.last_error or "-"),
            ("last reconciled", s.last_reconciled or "-"),
        ):  # fmt: skip
            if s.counts_missing and label in ("records", "deletions", "quarantined"):
                value = "unknown (the warehouse cannot be opened)"
            table.add_row(label, value)
        out.print(table)
        out.print()
    if statuses[0].counts_missing:
        err.print(f"Warning: counts not shown: {statuses[0].counts_missing}")
    return 0


@cli.command()
@click.option("--allow-missing", is_flag=True,
              help="Rebuild even when pages the harvest state counts are missing from the "
                   "raw archive (the warehouse then holds fewer records).")  # fmt: skip
@_data_dir_option
def rebuild(allow_missing: bool, data: DataDir) -> int:
    """Rebuild Parquet and DuckDB from the raw page archive, with no network."""
    from flows.rebuild import rebuild as do_rebuild

    report = do_rebuild(data, allow_missing=allow_missing)
    out.print(
        f"Rebuilt {data.catalog.label} from {report.pages:,} archived pages: "
        f"{report.records:,} records ({report.deleted:,} deleted, "
        f"{report.quarantined:,} quarantined), {report.series:,} series."
        + ("" if report.citations_kept else
           " Citations were not carried over: reload them with `repec-harvest citations`.")
    )  # fmt: skip
    return 0


@cli.command()
@click.argument("source", required=False)
@click.option("--contact", envvar="REPEC_HARVEST_CONTACT", metavar="URL_OR_EMAIL",
              help="Operator contact put in the User-Agent of a download.")  # fmt: skip
@click.option("--allow-empty", is_flag=True,
              help="Load a source with no citation (an empty graph), not refuse it.")  # fmt: skip
@_data_dir_option
def citations(source: str | None, contact: str | None, allow_empty: bool, data: DataDir) -> int:
    """Load CitEc's citation graph (iscited.txt[.gz], a path or URL), replacing the last one.
    A source with no citation or mostly malformed lines is refused; the last graph stays."""
    from flows.citations import load_citations
    from harvesting.citec import DEFAULT_ISCITED

    with CountProgress(err, "citations", "lines") as progress:
        log = load_citations(data, source or DEFAULT_ISCITED, contact, allow_empty,
                             progress.show)  # fmt: skip
    out.print(
        f"Loaded {log['edges']:,} citations from {log['source']}: {log['lines']:,} lines, "
        f"{log['duplicates']:,} duplicate and {log['self_citations']:,} self-citations dropped, "
        f"{log['blank_lines']:,} blank lines, {log['malformed_lines']:,} malformed lines and "
        f"{log['malformed_parts']:,} malformed handles skipped."
    )
    return 0


@cli.command()
@click.argument("handles", nargs=-1, required=True)
@click.option(
    "--api", default="http://citec.repec.org/api", show_default=True, help="CitEc API base URL."
)
@click.option(
    "--max-requests",
    type=click.IntRange(0),
    default=500,
    show_default=True,
    help="Request budget (CitEc allows about 500 without a key).",
)
@click.option("--refresh", is_flag=True, help="Ask CitEc again even if cached (30 days).")
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Pause between requests (default 1 s; 0 for 127.0.0.1).",
)
@click.option("--contact", envvar="REPEC_HARVEST_CONTACT", metavar="URL_OR_EMAIL")
@_data_dir_option
def references(handles: tuple[str, ...], api: str, max_requests: int, refresh: bool,
               delay: float | None, contact: str | None, data: DataDir) -> int:  # fmt: skip
    """Fetch the references of items from CitEc's AMF service into `references`."""
    from flows.citations import fetch_references

    report = fetch_references(data, list(handles), api, max_requests,
                              refresh, contact, delay)  # fmt: skip
    out.print(
        f"References of {report.fetched + report.cached} items ({report.fetched} fetched, "
        f"{report.cached} from the cache): {report.matched} matched to RePEc items, "
        f"{report.unmatched} unmatched, {report.ignored} ignored as ACIS ignores them."
    )
    if report.stopped:
        err.print(f"Error: {report.stopped}")
        return 1
    return 0


@cli.command(name="export")
@click.argument("handles", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["bibtex", "ris", "csl-json"]),
              default="bibtex", show_default=True)  # fmt: skip
@_data_dir_option
def export_command(handles: tuple[str, ...], fmt: str, data: DataDir) -> int:
    """Export items as BibTeX, RIS or CSL-JSON, from the warehouse."""
    from flows.citations import export_items

    text, missing = export_items(data, list(handles), fmt)
    if text.strip() and text.strip() != "[]":
        sys.stdout.write(text)
    if missing:
        err.print(f"Error: not in the warehouse: {', '.join(missing)}")
        return 1
    return 0


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@_data_dir_option
def redif(path: str, data: DataDir) -> int:
    """Load a RePEc mirror tree or a folder of ReDIF files (.rdf, .redif), incrementally."""
    from flows.redif import load_redif

    with CountProgress(err, "ReDIF", "files") as progress:
        report = load_redif(data, path, progress.show)
    if report.reread:
        out.print(f"{report.reread:,} files read again: an earlier version of repec-harvest "
                  "read them.")  # fmt: skip
    out.print(
        f"ReDIF: {report.files:,} files ({report.read:,} read, {report.unchanged:,} unchanged, "
        f"{report.removed:,} removed): {report.items:,} items, {report.series:,} series, "
        f"{report.archives:,} archives, {report.persons:,} persons, "
        f"{report.institutions:,} institutions; {report.tombstones:,} items gone; "
        f"{report.quarantined:,} templates quarantined ({report.duplicates:,} duplicate handles)."
    )
    for relative, count in sorted(report.errors_by_file.items()):
        out.print(f"  {relative}: {count} template{'s' if count > 1 else ''} quarantined")
    if report.unreadable:
        err.print(f"Error: {len(report.unreadable)} files could not be read: "
                  f"{', '.join(report.unreadable[:5])}")  # fmt: skip
        return 1
    return 0


def _schedule_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The harvest options, and when each scheduled deployment runs, handed to the command
    as ``endpoints`` and ``schedule``."""

    @functools.wraps(f)
    def command(*args: Any, cron: str, name: str, citations_cron: str,
                citations_source: str | None, maintain_cron: str, reconcile_cron: str,
                dask: str | None, **kw: Any) -> Any:  # fmt: skip
        schedule = {
            "dask": dask,
            "cron": cron, "name": name, "citations_source": citations_source,
            "citations_cron": None if citations_cron == "off" else citations_cron,
            "maintain_cron": None if maintain_cron == "off" else maintain_cron,
            "reconcile_cron": None if reconcile_cron == "off" else reconcile_cron,
        }  # fmt: skip
        return f(*args, schedule=schedule, **kw)

    options = [
        click.option("--cron", default="0 3 * * *", show_default=True,
                     help="When to harvest (UTC)."),
        click.option("--name", default="daily-harvest", show_default=True,
                     help="The harvest deployment's name."),
        click.option("--citations-cron", default="0 4 1 * *", show_default=True,
                     help="When to reload CitEc's citation graph (UTC); 'off' to skip."),
        click.option("--citations-source", metavar="PATH_OR_URL",
                     help="iscited.txt[.gz] to load (default: RePEc's published file)."),
        click.option("--maintain-cron", default="0 5 * * 0", show_default=True,
                     help="When to run the warehouse's maintenance (UTC); 'off' to skip."),
        click.option("--dask", metavar="ADDRESS_OR_N",
                     help="Run the harvest's set tasks on Dask (the dask extra): a scheduler's "
                     "address (tcp://host:8786) or a number of local worker processes."),
        click.option("--reconcile-cron", default="0 6 * * 6", show_default=True,
                     help="When to reconcile each set's listing with the warehouse (UTC); "
                     "'off' to skip."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return _harvest_options(_data_dir_option(command))


@cli.command()
@click.option(
    "--host",
    default=WEB_HOST,
    show_default=True,
    help="Address to serve on (another machine reaches it only if you say so).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=WEB_PORT, show_default=True,
              help="Port (0 = any free port).")  # fmt: skip
@_data_dir_option
def web(host: str, port: int, data: DataDir) -> int:
    """Serve a read-only web front over the warehouse: item pages at /<handle>, search,
    author and series pages, and a harvest-health dashboard at /."""
    from warehouse.search import SearchIndex
    from web.app import create_app
    from web.server import bind, serve

    with data.warehouse() as probe:  # no warehouse: one clear line before serving anything
        probe.current_generation()
    warehouse = data.warehouse()  # read on the app's own warehouse thread from now on
    index = SearchIndex(warehouse, data.scratch / "search")
    sock = bind(host, port)
    try:
        serve(
            create_app(warehouse, index),
            sock,
            lambda url: out.print(f"Serving {data.catalog.label} at {url} (Ctrl-C stops)"),
        )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, once uvicorn has answered what was asked
        out.print("Stopped.")
    finally:
        index.close()
        warehouse.close()
    return 0


@cli.command()
@_schedule_options
def schedule(
    data: DataDir, endpoints: list[HarvestOptions], parallel: int, schedule: dict[str, Any]
) -> int:
    """Serve Prefect deployments from this process: the harvest (daily), the citation load
    (monthly), the warehouse's maintenance and the reconciliation (weekly). Stopping it
    pauses nothing: runs due meanwhile wait, Late, until it is back."""
    from flows.harvest_flow import serve_schedule

    serve_schedule(data, endpoints, parallel=parallel, **schedule)
    return 0


@cli.command()
@click.option("--pool", default="repec-harvest", show_default=True,
              help="The process work pool (made if missing).")  # fmt: skip
@_schedule_options
def deploy(
    data: DataDir,
    endpoints: list[HarvestOptions],
    parallel: int,
    schedule: dict[str, Any],
    pool: str,
) -> int:
    """Register the same deployments with a Prefect work pool; a worker started with
    `prefect worker start --pool POOL`, where this package is installed, runs them."""
    from flows.harvest_flow import deploy_to_pool

    deploy_to_pool(data, endpoints, pool, parallel=parallel, **schedule)
    out.print(f"Work pool {pool}: start a worker with `prefect worker start --pool {pool}`")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI, map every error to one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--debug"]
    try:
        code = cli.main(args=args, prog_name="repec-harvest", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:  # `repec-harvest` alone: its help
        err.print(exc.format_message())
        code = exc.exit_code
    except click.NoSuchOption as exc:
        hint = ""
        if exc.option_name in _COMMAND_OPTIONS and exc.ctx is not None and exc.ctx.parent is None:
            hint = f"; it goes after the command: `repec-harvest run {exc.option_name} ...`"
        err.print(
            f"Error: {exc.format_message().rstrip('.') if hint else exc.format_message()}{hint}"
        )
        code = exc.exit_code
    except click.ClickException as exc:
        err.print(f"Error: {exc.format_message()}")
        code = exc.exit_code
    except click.exceptions.Abort:  # click's name for Ctrl-C
        err.print(INTERRUPTED)
        code = 130
    except RepecHarvestError as exc:
        err.print(f"Error: {exc}")
        code = exc.exit_code
    except KeyboardInterrupt:
        err.print(INTERRUPTED)
        code = 130
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"Error: internal error {type(exc).__name__}: {exc} (--debug shows the traceback)"
        )
        code = 70
    return code if isinstance(code, int) else 0


#: Options every command takes, after its name (given before it, they get a hint).
_COMMAND_OPTIONS = {"--data-dir", "--catalog", "--data-path"}
INTERRUPTED = "Interrupted: every committed page is kept; run again to resume."


def entry() -> None:
    interrupts.install()
    sys.exit(main())
