"""A node API client on persistent standard-library HTTP connections, for daemons.

`NodeClient` talks through httpx, whose per-request Python work costs about as much as the
node's own handling of a small request on loopback (measured in docs/crowd.md). A daemon that
makes thousands of small requests (`learnchain worker`) uses this subclass instead: one
`http.client` keep-alive connection per thread, reopened once when the node closed it between
requests. Retrying is safe for every request the client makes: reads are reads, a transaction
submitted twice is the same transaction (the mempool keys it by hash), and content is stored by
its digest. Only plain ``http://`` URLs are handled here; anything else uses httpx.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from learnchain.net.client import ApiClientError, NodeClient

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_GET_HEADERS = {"Accept": "application/json"}


def _query_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class KeepAliveNodeClient(NodeClient):
    """`NodeClient` with the same methods, errors and messages, on keep-alive connections."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        super().__init__(url, timeout)
        parts = urlsplit(self.url)
        self._plain = parts.scheme == "http" and parts.hostname is not None
        self._host, self._port = parts.hostname or "", parts.port or 80
        self._base = parts.path.rstrip("/")
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        self._drop_connection()
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self._plain or set(kwargs) - {"json", "params"}:
            return super()._call(method, path, **kwargs)
        target = self._base + path
        if kwargs.get("params"):
            target += "?" + urlencode({k: _query_value(v) for k, v in kwargs["params"].items()})
        body = None if "json" not in kwargs else json.dumps(kwargs["json"]).encode()
        headers = _GET_HEADERS if body is None else _JSON_HEADERS
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                status, data = response.status, response.read()
                if response.will_close:
                    self._drop_connection()
                break
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if attempt:  # a fresh connection failed too: the node is not there
                    raise ApiClientError(f"cannot reach the node at {self.url}: {exc}; is "
                                         "`learnchain node start` running?") from None
        if status >= 400:
            try:
                found = json.loads(data)
                message = f"{found.get('error')}: {found.get('detail')}"
            except ValueError:
                message = data.decode("utf-8", "replace")
            raise ApiClientError(f"node refused {method} {path} ({status}): {message}")
        try:
            return json.loads(data)
        except ValueError:
            raise ApiClientError(f"node answered {method} {path} with a body that is not "
                                 "JSON") from None
