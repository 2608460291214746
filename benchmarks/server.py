"""A fast local OAI-PMH server for benchmarks: N generated records (``benchmarks.corpus``),
rendered once to a file per metadata format, served as byte slices, pages of 100-1,000
records, no politeness delay.

    python -m benchmarks.server --records 100000 --port 8780 --workdir /tmp/bench
"""

from __future__ import annotations

import argparse
import bisect
import json
import socket
import time
from array import array
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from benchmarks.corpus import START, record, record_xml

PREFIXES = ("oai_dc", "amf")


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on now, for a server the benchmark starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build(workdir: Path, n: int) -> None:
    """Render every record of both formats once (skipped if already there)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for prefix in PREFIXES:
        data, index = workdir / f"{prefix}-{n}.xml", workdir / f"{prefix}-{n}.idx"
        if index.exists():
            continue
        offsets = array("q", [0])
        with open(data, "wb") as out:
            for i in range(n):
                out.write(record_xml(i, n, prefix).encode())
                offsets.append(out.tell())
        index.write_bytes(offsets.tobytes())
    days = workdir / f"days-{n}.json"
    if not days.exists():
        days.write_text(json.dumps([record(i, n)["datestamp"] for i in range(n)]))


class Corpus:
    def __init__(self, workdir: Path, n: int, part: tuple[int, int] = (0, 1)) -> None:
        """The N records, or only part K of P (contiguous, disjoint: P endpoints together
        serve the whole corpus once)."""
        self.n = n
        k, parts = part
        self.bounds = (k * n // parts, (k + 1) * n // parts)
        self.files = {p: open(workdir / f"{p}-{n}.xml", "rb") for p in PREFIXES}  # noqa: SIM115
        self.offsets = {}
        for p in PREFIXES:
            offsets = array("q")
            offsets.frombytes((workdir / f"{p}-{n}.idx").read_bytes())
            self.offsets[p] = offsets
        self.days: list[str] = json.loads((workdir / f"days-{n}.json").read_text())

    def slice(self, prefix: str, lo: int, hi: int) -> bytes:
        offsets = self.offsets[prefix]
        handle = self.files[prefix]
        handle.seek(offsets[lo])
        return handle.read(offsets[hi] - offsets[lo])

    def range(self, start: str | None, until: str | None) -> tuple[int, int]:
        lo = bisect.bisect_left(self.days, start[:10]) if start else 0
        hi = bisect.bisect_right(self.days, until[:10]) if until else self.n
        return max(lo, self.bounds[0]), min(hi, self.bounds[1])


def make_handler(
    corpus: Corpus, page_size: int, log: Path | None = None, sets: int = 0
) -> type[BaseHTTPRequestHandler]:
    """``log``: a file that gets the time of each request as it arrives (seconds since the
    epoch, one per line), for benchmarks that check a harvester's pace at the server.
    ``sets``: that many sets, ``bench:0``, ``bench:1``, ... each a contiguous part of the
    records (none: the server has no sets)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if log is not None:
                with log.open("a") as times:
                    times.write(f"{time.time():.6f}\n")
            params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = self._body(params).encode() if "verb" in params else b""
            envelope = (
                b'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
                + f"<responseDate>{now}</responseDate><request>bench</request>".encode()
            )
            payload = envelope + body + b"</OAI-PMH>"
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self, params: dict[str, str]) -> str:
            verb = params["verb"]
            if verb == "Identify":
                return ("<Identify><repositoryName>bench</repositoryName><baseURL>x</baseURL>"
                        "<protocolVersion>2.0</protocolVersion><adminEmail>a@b.c</adminEmail>"
                        f"<earliestDatestamp>{START.isoformat()}</earliestDatestamp>"
                        "<deletedRecord>persistent</deletedRecord>"
                        "<granularity>YYYY-MM-DD</granularity></Identify>")  # fmt: skip
            if verb == "ListMetadataFormats":
                return "<ListMetadataFormats>" + "".join(
                    f"<metadataFormat><metadataPrefix>{p}</metadataPrefix><schema>x</schema>"
                    f"<metadataNamespace>x</metadataNamespace></metadataFormat>" for p in PREFIXES
                ) + "</ListMetadataFormats>"  # fmt: skip
            if verb == "ListSets":
                if not sets:
                    return '<error code="noSetHierarchy">no sets</error>'
                return "<ListSets>" + "".join(
                    f"<set><setSpec>bench:{k}</setSpec><setName>part {k}</setName></set>"
                    for k in range(sets)
                ) + "</ListSets>"  # fmt: skip
            if "resumptionToken" in params:
                prefix, lo_s, hi_s = params["resumptionToken"].split("|")
                lo, hi = int(lo_s), int(hi_s)
            else:
                prefix = params.get("metadataPrefix", "oai_dc")
                lo, hi = corpus.range(params.get("from"), params.get("until"))
                if sets and "set" in params:  # part K of the records
                    k = int(params["set"].removeprefix("bench:"))
                    lo, hi = max(lo, k * corpus.n // sets), min(hi, (k + 1) * corpus.n // sets)
            if lo >= hi:
                return '<error code="noRecordsMatch">none</error>'
            end = min(hi, lo + page_size)
            token = f"<resumptionToken>{prefix}|{end}|{hi}</resumptionToken>" if end < hi else (
                "<resumptionToken/>")  # fmt: skip
            records = corpus.slice(prefix, lo, end).decode()
            return f"<ListRecords>{records}{token}</ListRecords>"

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--port", type=int, default=8780)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/repec-bench"))
    parser.add_argument("--log", type=Path, help="Append each request's arrival time here.")
    parser.add_argument(
        "--sets",
        type=int,
        default=0,
        help="Offer this many sets (bench:0, ...), each a part of the records.",
    )
    parser.add_argument(
        "--part",
        default="0/1",
        metavar="K/P",
        help="Serve only part K of P of the records (disjoint endpoints).",
    )
    args = parser.parse_args()
    build(args.workdir, args.records)
    k, parts = (int(x) for x in args.part.split("/"))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(
        Corpus(args.workdir, args.records, (k, parts)), args.page_size, args.log,
        args.sets))  # fmt: skip
    print(f"http://127.0.0.1:{args.port}/oai", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()


__all__ = ["build", "date", "timedelta"]
