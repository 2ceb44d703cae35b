"""Issue #10 finding 7: the HTTP API and the peer endpoint hold against hostile requests.

Huge or non-ASCII block ids and header starts are refused with 4xx (not a 500 from SQLite);
bodies are limited while they stream in (413, with no more than the limit read, chunked or
not); every error, including routing errors, bad UTF-8 and crashes, is `{error, detail}`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from learnchain.net.api import create_app
from learnchain.net.http_limits import API_BODY_LIMIT, BodyLimitMiddleware, p2p_body_limit
from learnchain.net.http_transport import HttpTransport, mount_p2p
from learnchain.net.p2p import P2PNode
from learnchain.net.server import ApiServer
from learnchain.testing import dev_genesis, dev_key, make_node


@pytest.fixture(scope="module")
def node_app() -> Any:
    tn = make_node(dev_genesis(funded={"alice": 1000}))
    tn.send("alice", "bank", "transfer", {"to": dev_key("bob").address, "amount": 5})
    tn.mine(2)
    api = create_app(tn.node)
    transport = HttpTransport()
    p2p = P2PNode(tn.node, dev_key("miner"), transport, "http://127.0.0.1:1")
    transport.p2p = p2p
    mount_p2p(api, p2p)
    yield tn, api
    transport.close()


@pytest.fixture(scope="module")
def client(node_app: Any) -> TestClient:
    return TestClient(node_app[1], raise_server_exceptions=False)


def is_error_json(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    return body


@pytest.mark.parametrize("block_id", [
    str(2**63), str(2**64 + 5), "9" * 5000, "١٢", "²", "1" * 19 + "0", "-1", "1e3", "0x12",
    "0x" + "zz" * 32])
def test_hostile_block_ids_are_refused_not_crashed(client: TestClient, block_id: str):
    for path in (f"/v1/blocks/{block_id}", f"/v1/blocks/{block_id}/receipts"):
        is_error_json(client.get(path), 400)


def test_largest_height_is_simply_not_found(client: TestClient):
    is_error_json(client.get(f"/v1/blocks/{2**63 - 1}"), 404)
    assert client.get("/v1/blocks/1").status_code == 200


@pytest.mark.parametrize("query", [f"start={2**63}", f"start={2**70}", "start=-1",
                                   "count=-5", "count=501", "start=abc"])
def test_hostile_header_ranges_are_422(client: TestClient, query: str):
    assert is_error_json(client.get(f"/v1/headers?{query}"), 422)["error"] == "invalid-request"


def test_header_ranges_at_the_edges(client: TestClient):
    assert client.get(f"/v1/headers?start={2**63 - 1}").json() == []
    assert [h["height"] for h in client.get("/v1/headers?start=1&count=500").json()] == [1, 2]


def test_routing_and_parsing_errors_are_json(client: TestClient):
    assert is_error_json(client.get("/nowhere"), 404)["error"] == "not-found"
    assert is_error_json(client.delete("/v1/status"), 405)["error"] == "method-not-allowed"
    bad_utf8 = client.post("/v1/transactions", content=b'{"raw": "\xff\xfe"}',
                           headers={"content-type": "application/json"})
    is_error_json(bad_utf8, 422)
    not_json = client.post("/v1/query/bank/balance", content=b"{nope",
                           headers={"content-type": "application/json"})
    is_error_json(not_json, 422)
    is_error_json(client.get("/v1/transactions/0x1234"), 400)
    is_error_json(client.get("/v1/accounts/0x12"), 400)


def test_a_crash_is_a_json_500(node_app: Any):
    _tn, api = node_app

    @api.get("/v1/test-crash", include_in_schema=False)
    def crash() -> None:
        raise RuntimeError("boom")

    body = is_error_json(TestClient(api, raise_server_exceptions=False).get("/v1/test-crash"),
                         500)
    assert body["error"] == "internal" and "boom" not in body["detail"]  # no internals leak


def test_declared_oversize_bodies_are_413_before_reading(client: TestClient):
    big = b"x" * (API_BODY_LIMIT + 1)
    body = is_error_json(client.post("/v1/transactions", content=big,
                                     headers={"content-type": "application/json"}), 413)
    assert body["error"] == "too-large"
    peer = client.post("/p2p/v1/message", content=b"x" * (p2p_body_limit() + 1),
                       headers={"content-type": "application/cbor"})
    is_error_json(peer, 413)


def _stream_through_middleware(path: str, total: int, chunk: int) -> tuple[int, int, bool]:
    """Push a chunked body of `total` bytes through the limit middleware in front of an app
    that would read it all; returns (status, bytes the middleware pulled, app reached)."""
    pulled = 0
    reached = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        size = min(chunk, total - pulled)
        pulled += size
        return {"type": "http.request", "body": b"x" * size, "more_body": pulled < total}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [
        (b"transfer-encoding", b"chunked")]}
    asyncio.run(BodyLimitMiddleware(app)(scope, receive, send))
    return sent[0]["status"], pulled, reached


def test_chunked_uploads_are_cut_off_at_the_limit():
    chunk = 64 * 1024
    status, pulled, reached = _stream_through_middleware("/v1/transactions", 96 << 20, chunk)
    assert status == 413 and not reached and pulled <= API_BODY_LIMIT + chunk
    status, pulled, reached = _stream_through_middleware("/p2p/v1/message", 200 << 20, chunk)
    assert status == 413 and not reached and pulled <= p2p_body_limit() + chunk
    status, _, reached = _stream_through_middleware("/v1/transactions", 1000, chunk)
    assert status == 200 and reached


def test_chunked_oversize_upload_over_real_http_gets_413(node_app: Any):
    tn, _ = node_app
    with ApiServer(tn.node) as server:
        def chunks():
            for _ in range(64):  # 4 MiB, no Content-Length: chunked
                yield b"x" * 65536

        try:
            response = httpx.post(f"{server.url}/v1/transactions", content=chunks(),
                                  headers={"content-type": "application/json"}, timeout=30)
        except httpx.HTTPError:  # the server may close before the client finishes sending
            return
        assert response.status_code == 413
        assert json.loads(response.text)["error"] == "too-large"
