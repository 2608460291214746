"""Ctrl-C and SIGTERM for the command line: stop at the next Python instruction, once, except
inside a ``deferred()`` block (starting a worker process), where the stop waits for the end
of the block: a process half started would print its own traceback."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = threading.local()
_pending = threading.Event()


def interrupt(signum: int, frame: object) -> None:
    """The handler of SIGINT and SIGTERM. Signals after the first are ignored while the
    command records where it stopped (a second Ctrl-C used to cut that short and leave the run
    marked running)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    if getattr(_state, "depth", 0):
        _pending.set()
        return
    raise KeyboardInterrupt


def install() -> None:
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


@contextmanager
def deferred() -> Iterator[None]:
    """A block an interrupt does not cut: one that comes meanwhile is raised at its end."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
        if not _state.depth and _pending.is_set():
            _pending.clear()
            raise KeyboardInterrupt
