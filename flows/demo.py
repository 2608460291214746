"""``repec-harvest demo``: the bundled sample corpus served on 127.0.0.1, harvested by the
same pipeline as a real run, entirely offline."""

from __future__ import annotations

import contextlib
import errno
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from flows.datadir import DataDir
from flows.options import HarvestOptions
from flows.pipeline import HarvestResult
from provider.server import Provider, serve
from provider.store import RecordStore
from schemas.errors import ConfigError

#: The CitEc-style citation file shipped for the sample corpus.
SAMPLE_CITATIONS = resources.files("provider").joinpath("sample", "iscited.txt")


def serve_sample(port: int, page_size: int, announce: Callable[[str], None]) -> None:
    """Serve the sample until interrupted."""
    provider = Provider(RecordStore.sample(), page_size=page_size)
    with _serving(provider, port) as url:
        announce(url)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


def run_demo(
    data: DataDir,
    port: int,
    page_size: int,
    execute: Callable[..., list[HarvestResult]],
) -> tuple[str, list[HarvestResult]]:
    """Serve the sample on ``port`` and harvest it. A port taken is an error, not another
    port: the endpoint's URL names the harvest, and another port would harvest everything
    again as a new endpoint."""
    provider = Provider(RecordStore.sample(), page_size=page_size)
    with _serving(provider, port) as url:
        options = HarvestOptions(endpoint=url, delay=0.0, retries=2, backoff=0.1)
        results: Any = execute(data, [options])
    return url, results


@contextlib.contextmanager
def _serving(provider: Provider, port: int) -> Iterator[str]:
    try:
        server = serve(provider, port=port)
        url = server.__enter__()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} is taken (another demo?): stop it, or pass --port"
            ) from None
        raise ConfigError(f"cannot serve the sample on port {port}: {exc.strerror}") from None
    try:
        yield url
    finally:
        server.__exit__(None, None, None)
