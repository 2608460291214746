"""Peak memory and wall time of the real commands on large and hostile inputs (issue 13).

    python -m benchmarks.large_inputs [--scenarios redif-file,...] [--scale 1.0]
                                      [--workdir /tmp/repec-large]

Each scenario generates its input once into the work dir (deterministically), then runs
`repec-harvest` in a child process and reads that child's own peak RSS (``os.wait4``), so
Python, Arrow and DuckDB count together and nothing else does. Linux counts into a child's
peak the RSS its parent had when it forked, so this process never holds an input whole: it
writes every input in pieces of at most a megabyte. ``--scale`` multiplies every
size (0.001 for a smoke run). Scenarios, at scale 1:

- ``redif-file``: one ReDIF file of a million article templates (391 MB);
- ``redif-rerun``: the same command again on the unchanged file (nothing to read);
- ``redif-tree``: 100 files of 10,000 templates each, first load;
- ``redif-line``: one file whose second template has a 300 MB abstract on one line;
- ``redif-garbage``: 50 MB of random bytes named ``.rdf``;
- ``page``: one ListRecords page of 30,000 records (61 MB) from the benchmark server, near
  the 64 MiB a response may hold;
- ``page-over-cap``: one page of 40,000 records (82 MB), refused: the run fails with one line;
- ``window-none``: 600,000 records harvested with ``--window none`` (pages of 500).

Prints one JSON line per scenario: exit code, seconds, peak RSS in MB, and then (not timed)
the warehouse's articles and quarantined records.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.server import free_port

CLI = [sys.executable, "-c", "from flows.cli import entry; entry()"]


def template(n: int) -> str:
    """A ReDIF article template of about 330 bytes, its handle numbered ``n``."""
    return (
        "Template-Type: ReDIF-Article 1.0\n"
        f"Author-Name: Author{n % 9973}, Ann\n"
        f"Author-Name: Writer{n % 7919}, Bob\n"
        f"Title: On the Measurement of Thing Number {n} in Large Archives\n"
        "Abstract: We measure a quantity across many archives and find that it grows.\n"
        "Journal: Journal of Large Inputs\n"
        f"Volume: {n % 60 + 1}\nIssue: {n % 4 + 1}\nYear: {1990 + n % 35}\n"
        f"Pages: {n % 500 + 1}-{n % 500 + 20}\nKeywords: large; input; memory\n"
        f"Handle: RePEc:big:jlarge:v:{n % 60 + 1}:y:{1990 + n % 35}:p:{n}\n\n"
    )


def write_templates(path: Path, first: int, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for n in range(first, first + count):
            out.write(template(n))


class Scenarios:
    def __init__(self, workdir: Path, scale: float, port: int) -> None:
        self.workdir, self.scale, self.port = workdir, scale, port

    def size(self, n: int) -> int:
        return max(1, int(n * self.scale))

    def input_dir(self, name: str, make: Callable[[Path], None]) -> Path:
        """``workdir/inputs/name``, made by ``make`` unless a finished one is there."""
        folder = self.workdir / "inputs" / f"{name}-{self.scale:g}"
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            (folder / ".done").touch()
        return folder

    def data_dir(self, name: str, fresh: bool = True) -> Path:
        folder = self.workdir / "data" / name
        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        return folder

    # -- ReDIF ----------------------------------------------------------------------------

    def one_file(self) -> Path:
        count = self.size(1_000_000)
        return self.input_dir("redif-file", lambda d: write_templates(d / "big.rdf", 0, count))

    def redif_file(self) -> list[str]:
        return ["redif", str(self.one_file()), "--data-dir", str(self.data_dir("redif-file"))]

    def redif_rerun(self) -> list[str]:
        data = self.data_dir("redif-file", fresh=False)
        if not data.exists():
            run(self.redif_file())
        return ["redif", str(self.one_file()), "--data-dir", str(data)]

    def redif_tree(self) -> list[str]:
        per_file = self.size(10_000)

        def make(folder: Path) -> None:
            for f in range(100):
                write_templates(folder / f"s{f:03d}" / "items.rdf", f * per_file, per_file)

        tree = self.input_dir("redif-tree", make)
        return ["redif", str(tree), "--data-dir", str(self.data_dir("redif-tree"))]

    def redif_line(self) -> list[str]:
        chars = self.size(300 << 20)

        def make(folder: Path) -> None:
            head, tail = template(2).split("Abstract: ")
            with (folder / "line.rdf").open("w", encoding="utf-8") as out:
                out.write(template(1) + head + "Abstract: ")
                for start in range(0, chars, 1 << 20):  # in pieces: see ``run``
                    out.write("x" * min(1 << 20, chars - start))
                out.write(tail + template(3))

        folder = self.input_dir("redif-line", make)
        return ["redif", str(folder), "--data-dir", str(self.data_dir("redif-line"))]

    def redif_garbage(self) -> list[str]:
        size = self.size(50 << 20)

        def make(folder: Path) -> None:
            rng = random.Random(13)
            with (folder / "garbage.rdf").open("wb") as out:
                for start in range(0, size, 1 << 20):
                    out.write(rng.randbytes(min(1 << 20, size - start)))

        folder = self.input_dir("redif-garbage", make)
        return ["redif", str(folder), "--data-dir", str(self.data_dir("redif-garbage"))]

    # -- OAI-PMH --------------------------------------------------------------------------

    def harvest(self, name: str, records: int, page_size: int, window: str) -> list[str]:
        """Start the benchmark server for ``records`` records; the command harvests them."""
        corpus = self.workdir / "inputs" / f"corpus-{records}"
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--records", str(records),
             "--port", str(self.port), "--page-size", str(page_size), "--workdir", str(corpus)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # printed once the corpus is built
        SERVERS.append(server)
        data = self.data_dir(name)
        return ["run", "--endpoint", url, "--window", window, "--data-dir", str(data),
                "--delay", "0", "--contact", "bench@example.org"]  # fmt: skip

    def page(self) -> list[str]:
        records = self.size(30_000)
        return self.harvest("page", records, records, "none")

    def page_over_cap(self) -> list[str]:
        records = self.size(40_000)
        return self.harvest("page-over-cap", records, records, "none")

    def window_none(self) -> list[str]:
        return self.harvest("window-none", self.size(600_000), 500, "none")


SERVERS: list[subprocess.Popen[str]] = []
SCENARIOS = {
    "redif-file": Scenarios.redif_file,
    "redif-rerun": Scenarios.redif_rerun,
    "redif-tree": Scenarios.redif_tree,
    "redif-line": Scenarios.redif_line,
    "redif-garbage": Scenarios.redif_garbage,
    "page": Scenarios.page,
    "page-over-cap": Scenarios.page_over_cap,
    "window-none": Scenarios.window_none,
}


def run(args: list[str]) -> dict[str, object]:
    """Run the CLI with ``args``; its exit code, seconds, own peak RSS and, if it failed, the
    last line it wrote to stderr."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([*CLI, *args], stdout=null, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        said = errors.read().decode(errors="replace").strip().splitlines()
    result: dict[str, object] = {
        "exit": child.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }
    if child.returncode:
        result["error"] = said[-1] if said else ""
    return result


def ask(args: list[str], sql: str) -> str | None:
    """The first value ``sql`` gives in the warehouse of the data dir in ``args`` (None if it
    cannot be read)."""
    data = args[args.index("--data-dir") + 1]
    done = subprocess.run([*CLI, "sql", "--data-dir", data, "--format", "json", sql],
                          capture_output=True, text=True, check=False)  # fmt: skip
    rows = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else []
    return str(next(iter(rows[0].values()))) if rows and rows[0] else None


def afterwards(args: list[str], result: dict[str, object]) -> dict[str, object]:
    """What the warehouse holds after the command, and why a harvest failed."""
    counts = {table: ask(args, f"SELECT count(*) FROM {table}")
              for table in ("articles", "quarantine")}  # fmt: skip
    found: dict[str, object] = {
        "articles": None if counts["articles"] is None else int(counts["articles"]),
        "quarantined": None if counts["quarantine"] is None else int(counts["quarantine"]),
    }
    if result["exit"] and args[0] == "run":
        found["error"] = ask(args, "SELECT error FROM harvest_runs WHERE error IS NOT NULL "
                                   "ORDER BY started_at DESC LIMIT 1")  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/repec-large"))
    parser.add_argument("--port", type=int, default=0, help="The benchmark server's port.")
    args = parser.parse_args()
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    scenarios = Scenarios(args.workdir, args.scale, args.port or free_port())
    for name in names:
        try:
            command = SCENARIOS[name](scenarios)
            result = run(command)
            result |= afterwards(command, result)
        finally:
            for server in SERVERS:
                server.terminate()
                server.wait()
            SERVERS.clear()
        print(json.dumps({"scenario": name, "scale": args.scale, **result}), flush=True)


if __name__ == "__main__":
    main()
