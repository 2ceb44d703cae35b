"""`NodeClient` sends a request once more when the node closed the kept-alive connection
without answering (the idle-timeout race a `make demo` run hit), and only once."""

from __future__ import annotations

import socket
import threading

import pytest

from learnchain.net.client import ApiClientError, NodeClient

ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
          b"Connection: close\r\n\r\n{\"ok\": 1}\r\n")


def _server(close_first: int) -> tuple[str, list[int]]:
    """A loopback server that reads each request and closes the first `close_first`
    connections without a byte of response, then answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    served = [0]

    def run() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                served[0] += 1
                if served[0] > close_first:
                    conn.sendall(ANSWER)
    threading.Thread(target=run, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}", served


def test_a_request_the_node_dropped_unanswered_is_sent_once_more():
    url, served = _server(close_first=1)
    assert NodeClient(url, timeout=5).status() == {"ok": 1}
    assert served[0] == 2


def test_a_node_that_keeps_dropping_requests_is_a_clear_error():
    url, served = _server(close_first=10)
    with pytest.raises(ApiClientError, match="cannot reach the node"):
        NodeClient(url, timeout=5).status()
    assert served[0] == 2
