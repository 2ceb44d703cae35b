"""The peer protocol over real HTTP: POST /p2p/v1/message with CBOR frames.

Each peer gets a bounded outbound queue drained by one worker thread, so a slow or dead peer
only ever delays its own messages; when its queue is full the oldest gossip is dropped. Replies
come back in the HTTP response and are fed into the node like any other inbound frame.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from learnchain.core.encoding import decode, encode
from learnchain.core.errors import EncodingError
from learnchain.net.p2p import P2PNode, Transport
from learnchain.net.protocol import MAX_MESSAGE_SIZE, ProtocolError

log = logging.getLogger("learnchain.http")
CBOR = "application/cbor"


class HttpTransport(Transport):
    def __init__(self, queue_limit: int = 2000, timeout: float = 10.0,
                 max_failures: int = 5) -> None:
        self.p2p: P2PNode | None = None
        self.queue_limit = queue_limit
        self.max_failures = max_failures
        self.client = httpx.Client(timeout=timeout)
        self._queues: dict[str, deque[bytes]] = {}
        self._wake: dict[str, threading.Event] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.dropped = 0

    def send(self, addr: str, data: bytes) -> None:
        with self._lock:
            queue = self._queues.get(addr)
            if queue is None:
                queue = self._queues[addr] = deque()
                self._wake[addr] = threading.Event()
                threading.Thread(target=self._drain, args=(addr,), daemon=True,
                                 name=f"peer-{addr}").start()
            if len(queue) >= self.queue_limit:
                queue.popleft()
                self.dropped += 1
            queue.append(data)
            self._wake[addr].set()

    def _drain(self, addr: str) -> None:
        queue, wake = self._queues[addr], self._wake[addr]
        while not self._closed.is_set():
            wake.wait(timeout=1.0)
            with self._lock:
                if not queue:
                    wake.clear()
                    continue
                data = queue.popleft()
            try:
                self._post(addr, data)
            except Exception:  # one bad reply must not end this peer's sender for good
                log.exception("handling a reply from %s failed; the sender carries on", addr)

    def _post(self, addr: str, data: bytes) -> None:
        assert self.p2p is not None
        try:
            response = self.client.post(f"{addr}/p2p/v1/message", content=data,
                                        headers={"content-type": CBOR})
        except httpx.HTTPError as exc:
            failures = self._failures.get(addr, 0) + 1
            self._failures[addr] = failures
            if failures >= self.max_failures:
                self._forget(addr, f"unreachable: {exc}")
            return
        self._failures[addr] = 0
        if response.status_code != 200:
            log.info("peer %s refused a message: %s", addr, response.text[:200])
            if response.status_code == 403:
                self._forget(addr, response.text[:200])
            return
        try:
            frames = decode(response.content, max_size=MAX_MESSAGE_SIZE, strict=False)
        except EncodingError as exc:
            log.info("unreadable reply from %s: %s", addr, exc)
            return
        for frame in frames if isinstance(frames, list) else []:
            if not isinstance(frame, bytes):
                continue
            try:
                for reply in self.p2p.on_message(frame, addr=addr):
                    self.send(addr, reply)
            except ProtocolError as exc:
                log.info("bad reply from %s: %s", addr, exc)

    def _forget(self, addr: str, reason: str) -> None:
        assert self.p2p is not None
        with self.p2p.lock:
            peer = self.p2p.peers.get(addr)
            if peer is not None:
                self.p2p.disconnect(peer, reason)
        with self._lock:
            self._queues.get(addr, deque()).clear()

    def close(self) -> None:
        self._closed.set()
        for wake in self._wake.values():
            wake.set()


def p2p_router(p2p: P2PNode) -> APIRouter:
    router = APIRouter(prefix="/p2p/v1", tags=["peer protocol"])

    @router.post("/message", summary="Deliver one protocol frame (CBOR); replies are CBOR")
    async def message(request: Request) -> Response:
        declared = int(request.headers.get("content-length", "0") or 0)
        if declared > MAX_MESSAGE_SIZE:
            return JSONResponse({"error": "too-large",
                                 "detail": f"frames are limited to {MAX_MESSAGE_SIZE} bytes"},
                                status_code=413)
        body = await request.body()
        try:
            import anyio

            replies = await anyio.to_thread.run_sync(p2p.on_message, body)
        except ProtocolError as exc:
            status = 403 if "not a registered" in str(exc) or "banned" in str(exc) else 400
            return JSONResponse({"error": "protocol", "detail": str(exc)}, status_code=status)
        return Response(encode(replies), media_type=CBOR)

    @router.get("/info", summary="Head, peers and counters (unauthenticated, read-only)")
    def info() -> dict[str, Any]:
        chain = p2p.chain
        recent = list(chain.canonical_blocks(max(1, chain.height - 19), chain.height))
        span_ms = (recent[-1].header.timestamp_ms - recent[0].header.timestamp_ms
                   if len(recent) > 1 else 0)
        txs = sum(len(b.transactions) for b in recent[1:])
        return {"node": "0x" + p2p.node_id.hex(), "chain_id": p2p.chain_id,
                "height": chain.height, "head": "0x" + chain.head_hash.hex(),
                "peers": [p.addr for p in p2p.ready_peers()],
                "tx_per_s": round(txs * 1000 / span_ms, 2) if span_ms else 0,
                "mempool": len(p2p.node.mempool), "stats": vars(p2p.stats),
                "arrivals_ms": {"0x" + h.hex(): t for h, t in list(p2p.arrivals.items())}}

    return router


def mount_p2p(api: FastAPI, p2p: P2PNode) -> None:
    api.include_router(p2p_router(p2p))
