"""The search index at scale: build time, peak memory and search latency on synthetic items.

    python -m benchmarks.search --items 1000000 [--workdir /tmp/repec-bench] [--fts]

Items are generated straight into a DuckDB file (kept in the workdir for the next run): titles
of 6 to 14 words and abstracts of 60 to 180 words drawn from a vocabulary of about 30,000
words with a Zipf-like law (rank r has probability ~1/r; the most frequent ranks are English
stop words, as in real abstracts), 1 to 4 authors, 0 to 5 keywords, years, series, types and
JEL codes. The index is then built from them by ``warehouse.search`` in a process of its own
(its seconds, peak RSS and file size), and searched in another: ``--queries`` varied queries
(one to three words of middling frequency, a fifth with a frequent word; with and without
filters; by relevance and by date; a few pages past the first; a few browses without words),
run once to warm up and then timed. Prints one JSON line per phase. ``--fts`` also builds the
``fts`` extension's own index of the same items and times its ``match_bm25`` on 8 queries.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from warehouse.catalog import extension_file, load_extensions
from warehouse.search import IndexFile, SearchQuery
from warehouse.search_index import BUILD_MEMORY_LIMIT, STOPWORDS, Snapshot, connect, write_index

VOCABULARY = 30_000
SERIES = 500
#: Frequent words that are not stop words (each is in a few percent of abstracts).
COMMON = ("using", "effect", "model", "evidence", "market", "policy", "data", "results", "growth",
          "higher", "find", "analysis", "price", "firms", "countries", "trade", "show", "impact",
          "paper", "study")  # fmt: skip

VOCABULARY_TABLE = f"""
CREATE TABLE vocabulary AS
SELECT row_number() OVER (ORDER BY k, o) AS rank, word FROM (
    SELECT word, 0 AS k, random() AS o FROM (SELECT unnest($stop) AS word)
    UNION ALL SELECT word, 1, random() FROM (SELECT unnest($common) AS word)
    UNION ALL SELECT translate(substr(md5(i::VARCHAR), 1, 4 + i % 7), '0123456789', 'gikmnprstv'),
                     2, i
              FROM range({VOCABULARY}) r(i))
"""
ITEMS_TABLE = f"""
CREATE TABLE items AS
WITH v AS (SELECT list(word ORDER BY rank) AS w, count(*) AS n FROM vocabulary)
SELECT lower(handle) AS handle_key, * FROM (
SELECT 'RePEc:syn:s' || (i % {SERIES}) || ':' || i AS handle,
       array_to_string(list_transform(range(6 + i % 9),
           x -> w[least(n, floor(exp(random() * ln(n)))::INTEGER)]), ' ') AS title,
       array_to_string(list_transform(range(60 + i % 121),
           x -> w[least(n, floor(exp(random() * ln(n)))::INTEGER)]), ' ') AS abstract,
       array_to_string(list_transform(range(1 + i % 4),
           x -> 'Given' || (random() * 5000)::INTEGER || ' Family' || (random() * 100000)::INTEGER),
           '; ') AS authors,
       array_to_string(list_transform(range(i % 6), x -> w[(300 + random() * 20000)::INTEGER]),
           '; ') AS keywords,
       (1980 + i % 46)::INTEGER AS year,
       (1980 + i % 46) || '-' || lpad((1 + i % 12)::VARCHAR, 2, '0') AS date,
       CASE i % 5 WHEN 0 THEN 'paper' WHEN 1 THEN 'book' ELSE 'article' END AS item_type,
       'RePEc:syn:s' || (i % {SERIES}) AS series_handle,
       'Series ' || (i % {SERIES}) AS series_name,
       [chr((65 + i % 18)::INTEGER) || (i % 10) || (i // 10 % 10)] AS jel_codes
FROM range($items) r(i), v)
"""


def peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def generate(path: Path, items: int) -> None:
    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    con.execute("SET preserve_insertion_order = false")
    con.execute(VOCABULARY_TABLE, {"stop": STOPWORDS, "common": list(COMMON)})
    con.execute(ITEMS_TABLE, {"items": items})
    con.close()
    partial.rename(path)


def build(items: Path, index: Path, memory: str) -> dict[str, Any]:
    partial = index.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    con = connect(partial, read_only=False, spill=index.with_suffix(".spill"), memory=memory)
    con.execute(f"ATTACH '{items}' AS src (READ_ONLY)")
    con.execute("CREATE TEMP VIEW items AS SELECT * FROM src.items")
    write_index(con, Snapshot(0, datetime.now(UTC)), index.with_suffix(".scratch"))
    con.close()
    partial.rename(index)
    return {"phase": "build", "memory_limit": memory,
            "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mb": peak_mb(), "file_mb": round(index.stat().st_size / 2**20)}  # fmt: skip


def queries(items: Path, count: int) -> list[tuple[str, SearchQuery]]:
    """``count`` varied queries, each with its kind: the words of each come from one item (as
    a reader's words go together), one to three of middling frequency (rank 300 or more)."""
    con = duckdb.connect(str(items), read_only=True)
    rank = dict(con.execute("SELECT word, rank FROM vocabulary").fetchall())
    texts = [t for (t,) in con.execute(
        f"SELECT title || ' ' || abstract FROM items USING SAMPLE reservoir({count} ROWS)"
        " REPEATABLE (7)").fetchall()]  # fmt: skip
    con.close()
    common = sorted(rank, key=rank.__getitem__)[len(STOPWORDS) : len(STOPWORDS) + len(COMMON)]
    rng = random.Random(7)
    made = []
    for n, text in enumerate(texts):
        found = sorted({w for w in text.split() if rank.get(w, 0) >= 300})
        words = rng.sample(found, min(len(found), rng.choice((1, 1, 2, 2, 3))))
        if n % 5 == 4:
            words.append(rng.choice(common))
        kind, filters = "relevance", {}
        if n % 3 == 1:
            kind = "filtered"
            filters = rng.choice([{"year_from": 2000, "year_to": 2010}, {"item_type": "paper"},
                                  {"jel": "C"}, {"series": f"repec:syn:s{rng.randrange(SERIES)}"},
                                  {"year_from": 2015, "jel": "E2"}])  # fmt: skip
        sort = "date" if n % 4 == 3 else "relevance"
        if sort == "date":
            kind = "date"
        if n % 10 == 9:
            kind, words = "browse", []
            filters = filters or {"item_type": "book"}
        page = 3 if n % 7 == 6 else 1
        made.append((kind, SearchQuery(" ".join(words), sort=sort, page=page, **filters)))
    return made


def search(index: Path, asked: list[tuple[str, SearchQuery]]) -> dict[str, Any]:
    opened = IndexFile(index)
    for _, query in asked:
        opened.search(query)  # warm: the file's pages in the OS cache, as in a serving process
    times: dict[str, list[float]] = {}
    totals = []
    for kind, query in asked:
        started = time.perf_counter()
        results = opened.search(query)
        times.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        totals.append(results.total)
    opened.close()
    every = sorted(ms for kinds in times.values() for ms in kinds)
    return {"phase": "search", "queries": len(every),
            "median_ms": round(statistics.median(every), 1),
            "p95_ms": round(every[int(len(every) * 0.95)], 1), "max_ms": round(every[-1], 1),
            "median_ms_by_kind": {k: round(statistics.median(v), 1) for k, v in times.items()},
            "median_total": statistics.median(totals), "peak_rss_mb": peak_mb()}  # fmt: skip


def fts(items: Path, index: Path, asked: list[tuple[str, SearchQuery]]) -> dict[str, Any]:
    """The ``fts`` extension's own index and ``match_bm25``, for comparison."""
    index.unlink(missing_ok=True)
    con = connect(index, read_only=False, spill=index.with_suffix(".spill"))
    con.execute(f"ATTACH '{items}' AS src (READ_ONLY)")
    started = time.perf_counter()
    con.execute("CREATE TABLE items AS SELECT * FROM src.items")
    con.execute(r"""PRAGMA create_fts_index('items', 'handle_key', 'title', 'abstract', 'authors',
        'keywords', stemmer = 'porter', stopwords = 'english',
        ignore = '(\.|[^\p{L}\p{N}])+', strip_accents = 1, lower = 1)""")
    built = time.perf_counter() - started
    con.close()
    con = duckdb.connect(str(index), read_only=True)
    load_extensions(con, ("fts",))
    sql = """SELECT handle, score FROM (SELECT *, fts_main_items.match_bm25(handle_key, ?,
             conjunctive := 1) AS score FROM items) WHERE score IS NOT NULL
             ORDER BY score DESC, handle LIMIT 20"""
    times = []
    for _, query in [q for q in asked if q[1].text][:8]:
        started = time.perf_counter()
        con.execute(sql, [query.text]).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    con.close()
    return {"phase": "fts_match_bm25", "build_seconds": round(built, 1),
            "median_ms": round(statistics.median(times), 1), "peak_rss_mb": peak_mb()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/repec-bench"))
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--build-memory", default=BUILD_MEMORY_LIMIT,
                        help="DuckDB's memory limit for the build.")  # fmt: skip
    parser.add_argument("--fts", action="store_true", help="Also time the fts extension's index.")
    parser.add_argument("--phase", choices=("build", "search", "fts"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    items = args.workdir / f"search-items-{args.items}.duckdb"
    index = args.workdir / f"search-index-{args.items}.duckdb"
    asked = args.workdir / f"search-queries-{args.items}.json"
    if args.phase == "build":
        print(json.dumps(build(items, index, args.build_memory)))
    elif args.phase in ("search", "fts"):
        read = [(kind, SearchQuery(**query)) for kind, query in json.loads(asked.read_text())]
        if args.phase == "search":
            print(json.dumps(search(index, read)))
        else:
            print(json.dumps(fts(items, args.workdir / f"search-fts-{args.items}.duckdb", read)))
    else:
        if extension_file("fts") is None:
            raise SystemExit("install the duckdb-ext-fts wheel first")
        args.workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        generate(items, args.items)
        print(json.dumps({"phase": "generate", "items": args.items,
                          "seconds": round(time.perf_counter() - started, 1)}), flush=True)  # fmt: skip
        made = [(kind, vars(query)) for kind, query in queries(items, args.queries)]
        asked.write_text(json.dumps(made))  # made here: the search's process measures itself
        for phase in ("build", "search", *(("fts",) if args.fts else ())):
            command = [sys.executable, "-m", "benchmarks.search", "--phase", phase, "--items",
                       str(args.items), "--workdir", str(args.workdir), "--build-memory",
                       args.build_memory]  # fmt: skip
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
