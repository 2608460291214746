"""Serving the app: uvicorn on a socket bound here first, so that a taken port is one clear
error and port 0 gets a free port whose URL can be printed."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

from schemas.errors import ConfigError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``; a clear ConfigError if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said, not left 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only
    # on connections of such a socket; without it every answer on a kept-alive connection
    # waited 40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is taken: stop what uses it, or pass --port"
            ) from None
        raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def server(app: ASGIApp) -> uvicorn.Server:
    """A uvicorn server of ``app`` (``run(sockets=[...])`` serves until ``should_exit``)."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))


def serve(app: ASGIApp, sock: socket.socket, announce: Callable[[str], None]) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl-C, SIGTERM)."""
    announce(url_of(sock))
    try:
        server(app).run(sockets=[sock])
    finally:
        sock.close()
