"""Progress of long harvests on the terminal: pages, records, rate, completeListSize."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from harvesting.harvester import CommittedPage
from harvesting.identity import HarvestSpec
from harvesting.state import Run


class HarvestProgress:
    """Implements ``harvesting.harvester.Progress`` with a rich live display on stderr.

    When stderr is not a terminal nothing is drawn (logs and the final summary still are).
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records · {task.fields[pages]} pages · {task.fields[rate]}/s"),
            TextColumn("{task.fields[window]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.enabled,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> HarvestProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def run_started(self, spec: HarvestSpec, run: Run, resumed: bool) -> None:
        what = f"{spec.set_spec or 'all sets'} ({spec.metadata_prefix})"
        label = f"resuming {what}" if resumed else what
        self._tasks[spec.harvest_id] = self._progress.add_task(
            label, total=None, completed=run.records, pages=run.pages, rate="-", window=""
        )
        self._started[spec.harvest_id] = time.monotonic()

    def page_done(self, spec: HarvestSpec, run: Run, page: CommittedPage) -> None:
        task = self._tasks.get(spec.harvest_id)
        if task is None:
            return
        elapsed = max(time.monotonic() - self._started[spec.harvest_id], 1e-6)
        size = page.complete_list_size
        window = run.window
        if not size:  # rich keeps the last total when given None: this window announced none
            for shown in self._progress.tasks:
                if shown.id == task:
                    shown.total = None
        self._progress.update(
            task,
            completed=run.records,
            total=(run.records - run.window_records + size) if size else None,
            pages=run.pages,
            rate=f"{run.records / elapsed:,.0f}",
            window=f"window {window.label()} ({run.window_index + 1}/{len(run.windows)})"
            if window
            else "",
        )


class CountProgress:
    """A live count on the terminal, for loads that are not harvests (the files of a ReDIF
    load, the lines of a citation file); nothing is drawn when stderr is not a terminal."""

    def __init__(self, console: Console, description: str, unit: str,
                 total: int | None = None) -> None:  # fmt: skip
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if total else TextColumn("{task.completed:,}"),
            TextColumn(unit),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
            transient=True,
        )
        self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> CountProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def show(self, done: int, total: int | None = None) -> None:
        self._progress.update(self._task, completed=done, total=total)
