"""A real PostgreSQL server for the shared-catalog tests, started in a temporary folder on
127.0.0.1 and stopped afterwards. Where no server can be started the tests skip, saying why."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def why_not() -> str | None:
    """Why no server can be started here, or None."""
    if _binaries() is None:
        return "PostgreSQL's server (initdb) is not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run the server as"
    return None


@contextmanager
def server(folder: Path) -> Iterator[str]:
    """A server with trust authentication for user ``repec``; yields its base URL."""
    bin_dir = _binaries()
    assert bin_dir is not None
    folder.mkdir(parents=True, exist_ok=True)
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run([*prefix, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "repec",
                    "--no-sync"], **run)  # type: ignore[call-overload]  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*prefix, bin_dir / "pg_ctl", "-D", data, "-o", options, "-l",
                    folder / "log", "-w", "start"], **run)  # type: ignore[call-overload]  # fmt: skip
    try:
        yield f"postgresql://repec@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       check=False, capture_output=True, timeout=60)  # fmt: skip


def new_database(base_url: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    name = f"lake_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as session:
        session.execute(f"CREATE DATABASE {name}")
    return f"{base_url}/{name}"
