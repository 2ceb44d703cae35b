"""One process per data directory: an advisory ``flock`` on ``<datadir>/LOCK``, taken before
the node opens anything, and a check that its API port is free.

Why: two nodes on one datadir both write the SQLite store and the blob files; SQLite keeps each
write atomic but the two nodes' heads, mempools and journals diverge silently. The lock file
names the holder (pid) so the error says who to stop. ``flock`` is released by the kernel when
the holder dies, so a crashed node never leaves a stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from learnchain.core.errors import ConfigError

LOCK_NAME = "LOCK"


class DatadirLocked(ConfigError):
    """Another live process holds the data directory."""


class PortInUse(ConfigError):
    """The API port is already bound by another process."""


class DatadirLock:
    """Hold ``<datadir>/LOCK`` for the life of this object (or process)."""

    def __init__(self, datadir: Path) -> None:
        self.path = Path(datadir) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> DatadirLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise DatadirLocked(
                    f"data directory {self.path.parent} is in use by pid {holder} (lock "
                    f"{self.path}); stop that node first, or use another --datadir") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> DatadirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_port_free(host: str, port: int) -> None:
    """Raise PortInUse if ``host:port`` cannot be bound right now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"API port {host}:{port} is in use by another process; stop it or "
                            f"pass --port / edit [api] port in node.toml") from exc
