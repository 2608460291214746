"""Reading an HTTP response body within bounds: a size cap on what it inflates to (memory stays
bounded whatever the server sends, gzip bombs included) and a deadline for the whole body (a
server trickling a byte a second never trips a per-read timeout)."""

from __future__ import annotations

import time

import requests
import urllib3

from schemas.errors import ResponseTooLarge, TransientEndpointError

#: A whole response may take this many times the per-read timeout.
DEADLINE_FACTOR = 4
_CHUNK = 1 << 16


def read_body(http: requests.Response, limit: int, read_timeout: float, what: str) -> bytes:
    """The decompressed body of a streamed response: at most ``limit`` bytes, within
    ``DEADLINE_FACTOR`` x ``read_timeout`` seconds."""
    deadline = time.monotonic() + DEADLINE_FACTOR * read_timeout
    chunks, size = [], 0
    raw = http.raw
    while True:
        if time.monotonic() > deadline:
            raise TransientEndpointError(
                f"{what} did not send its whole response within "
                f"{DEADLINE_FACTOR * read_timeout:.0f} s"
            )
        try:
            chunk = raw.read1(_CHUNK, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            raise TransientEndpointError(f"{what} timed out") from None
        except urllib3.exceptions.DecodeError as exc:
            raise TransientEndpointError(f"{what} sent a body that does not decode: {exc}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # a connection cut mid-body
            raise TransientEndpointError(f"{what}: connection broken: {exc}") from None
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(
                f"{what} sent a response larger than {limit // (1 << 20)} MiB; refused"
            )
        chunks.append(chunk)
    return b"".join(chunks)
