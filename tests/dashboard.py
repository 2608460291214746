"""A dashboard, as a separate process: it opens the warehouse with the statements
`repec-harvest attach` prints, holds that one connection, and queries it again and again until
told to stop, writing what each query saw as a JSON line.

    python tests/dashboard.py ATTACH_SQL_FILE OUT_FILE STOP_FILE

Each query reads, in one snapshot: the items, the distinct handles among the versions (equal
when every load was seen whole: versions and merge commit together), authors without their
item (none when seen whole), the citation edges and the windows loaded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

QUERY = """
SELECT (SELECT count(*) FROM articles) AS articles,
       (SELECT count(DISTINCT handle_key) FROM article_versions) AS versioned,
       (SELECT count(*) FROM authors a
        WHERE NOT EXISTS (SELECT 1 FROM articles x WHERE x.handle_key = a.handle_key)) AS orphans,
       (SELECT count(*) FROM citations) AS citations,
       (SELECT count(*) FROM window_loads) AS loads,
       (SELECT count(*) FROM live_articles) AS live
"""


def main() -> None:
    attach, out, stop = (Path(a) for a in sys.argv[1:4])
    con = duckdb.connect()
    for statement in attach.read_text().splitlines():
        con.execute(statement)
    with out.open("w") as sink:
        while not stop.exists():
            try:
                row = con.execute(QUERY).fetchone()
                assert row is not None
                names = ("articles", "versioned", "orphans", "citations", "loads", "live")
                sink.write(json.dumps(dict(zip(names, row, strict=True))) + "\n")
            except duckdb.Error as exc:
                sink.write(json.dumps({"error": str(exc).splitlines()[0]}) + "\n")
            sink.flush()
            time.sleep(0.02)


if __name__ == "__main__":
    main()
