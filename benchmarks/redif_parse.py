"""ReDIF parsing throughput: the real sample files (../shared/repec-samples/redif), scaled up
by repetition, decoded, parsed and mapped to rows; records (templates) per second.

    python -m benchmarks.redif_parse [--repeat 20]

Single process, one core. Measures the parser and the row mapping, not disk or DuckDB.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

from schemas.redif_rows import RedifContext, map_file
from schemas.redif_templates import parse_lines
from schemas.redif_text import EncodingSniffer, text_lines

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "repec-samples" / "redif"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    args = parser.parse_args()
    files = [(p, p.read_bytes()) for p in sorted(args.samples.rglob("*"))
             if p.suffix.lower() in (".rdf", ".redif")]  # fmt: skip
    size = sum(len(raw) for _, raw in files)
    context = RedifContext(
        "file:///bench", "bench", "x", datetime(2025, 1, 1), datetime(2025, 1, 1)
    )
    templates = rows = 0
    started = time.perf_counter()
    for _ in range(args.repeat):
        for path, raw in files:
            sniffer = EncodingSniffer()  # as `redif` reads a file: two passes, streamed
            sniffer.feed(raw)
            found = list(parse_lines(text_lines([raw], sniffer.encoding()), path.name))
            templates += len(found)
            mapped = map_file(context, found, {})
            rows += len(mapped.articles) + len(mapped.authors)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "files": len(files) * args.repeat, "megabytes": round(size * args.repeat / 1e6, 1),
        "templates": templates, "rows": rows, "seconds": round(seconds, 2),
        "templates_per_second": round(templates / seconds),
        "megabytes_per_second": round(size * args.repeat / 1e6 / seconds, 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
