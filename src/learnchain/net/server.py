"""Serve a node's API from a background thread (for the demo, tests and devnets)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from learnchain.net.api import create_app
from learnchain.node import Node


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(count: int, attempts: int = 50) -> int:
    """A base port such that base .. base+count-1 can all be bound on loopback right now."""
    for _ in range(attempts):
        base = free_port()
        if base + count > 65535:
            continue
        sockets = []
        try:
            for offset in range(count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


KEEP_ALIVE_S = 30
"""How long our HTTP servers keep an idle connection. Longer than httpx's 5 s client expiry
(uvicorn's own default is also 5 s): with equal timeouts a client reuses a connection just as
the server closes it, and the request fails with "Server disconnected" (seen in `make demo`)."""


class ApiServer:
    def __init__(self, node: Node, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port()
        # open explorer event streams are cut after a short grace period on shutdown
        config = uvicorn.Config(create_app(node), host=host, port=self.port, log_level="warning",
                                timeout_graceful_shutdown=2, timeout_keep_alive=KEEP_ALIVE_S)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"API server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
