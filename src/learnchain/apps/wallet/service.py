"""The node side of wallets: content routes, chain-driven pinning, content for peers only.

* `POST /v1/wallet/content` stores a (sealed) blob, staged; `GET /v1/wallet/content/{cid}`
  streams it back, fetching missing blocks from permissioned peers first.
* `sync_pins` follows the wallet app's pin feed: CIDs of included records get ``chain`` pins,
  deleted records lose every pin; `gc` then collects them, and staged blobs whose transaction
  never came (a crash in between) once their staging expires.
* `POST /p2p/v1/content/blocks` serves blocks to peers whose node key signed the request and is
  a permissioned node of the genesis (or, on an open devnet, a consortium member or miner):
  the seed's private IPFS network, on the peer protocol's own path.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from learnchain.apps.identity import has_role, is_member
from learnchain.apps.wallet.access import ChainAccess, LocalChain
from learnchain.core.crypto import PrivateKey, recover_address
from learnchain.core.encoding import decode, encode
from learnchain.core.errors import EncodingError, InvalidTransaction
from learnchain.core.state import StateView
from learnchain.node import Node
from learnchain.storage.content import STAGED, ContentError, LocalContentStore

log = logging.getLogger("learnchain.wallet")
BLOCKS_DOMAIN = "learnchain/content/blocks/v1"
MAX_BLOCKS_PER_REQUEST = 16
REQUEST_MAX_AGE_MS = 120_000


def sync_pins(chain: ChainAccess, store: Any, cursor: int) -> int:
    """Apply the wallet app's pin feed from `cursor`; returns the new cursor."""
    while True:
        feed = chain.query("cid_feed", {"start": cursor})
        if feed["total"] < cursor:  # a reorg shortened the feed: replay it (pins are sets)
            cursor = 0
            continue
        for entry in feed["entries"]:
            if entry["op"] == "pin":
                store.pin(entry["cid"], "chain")
                store.unpin(entry["cid"], STAGED)
            else:
                store.unpin(entry["cid"])
        cursor += len(feed["entries"])
        if cursor >= feed["total"]:
            return cursor


def blocks_request(key: PrivateKey, digests: list[bytes], now_ms: int) -> bytes:
    body = {"domain": BLOCKS_DOMAIN, "digests": digests, "at_ms": now_ms}
    signature = key.sign(hashlib.sha256(encode(body)).digest())
    return encode({**body, "signature": signature})


class WalletNodeService:
    def __init__(self, node: Node, store: Any, *, key: PrivateKey | None = None,
                 peers: list[str] | None = None, allowed: set[bytes] | None = None) -> None:
        self.node = node
        self.store = store
        self.key = key
        self.peers = list(peers or [])
        self.allowed = allowed
        self.chain = LocalChain(node)
        self.cursor = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        node.chain.listeners.append(lambda _block: self._wake.set())
        self._thread = threading.Thread(target=self._pin_forever, daemon=True, name="pinner")

    def start(self) -> None:
        self._wake.set()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _pin_forever(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=30)
            self._wake.clear()
            try:
                self.cursor = sync_pins(self.chain, self.store, self.cursor)
                self.store.gc()
            except Exception:  # keep pinning alive; the next head retries
                log.exception("pin sync failed")

    # --- peers -----------------------------------------------------------------------------
    def peer_allowed(self, signer: bytes) -> bool:
        if self.allowed is not None:
            return signer in self.allowed
        with self.node.chain.lock:
            identity = StateView(self.node.chain.state, "identity", writable=False)
            return is_member(identity, signer) or has_role(identity, signer, "miner")

    def serve_blocks(self, frame: bytes, now_ms: int) -> list[bytes | None]:
        try:
            request = decode(frame)
            body = {k: request[k] for k in ("domain", "digests", "at_ms")}
            signer = recover_address(hashlib.sha256(encode(body)).digest(), request["signature"])
        except (EncodingError, InvalidTransaction, KeyError, TypeError) as exc:
            raise PermissionError(f"malformed content request: {exc}") from None
        if body["domain"] != BLOCKS_DOMAIN or abs(now_ms - body["at_ms"]) > REQUEST_MAX_AGE_MS:
            raise PermissionError("stale or foreign content request")
        if not self.peer_allowed(signer):
            raise PermissionError("content is served to permissioned peers only")
        digests = body["digests"][:MAX_BLOCKS_PER_REQUEST]
        return [self.store.get_block(d) if isinstance(d, bytes) else None for d in digests]

    def fetch_from_peers(self, cid: str) -> bool:
        """Pull a file's missing blocks from peers; True when it is complete here."""
        if self.key is None or not isinstance(self.store, LocalContentStore):
            return self.store.has(cid)
        import httpx

        for peer in self.peers:
            try:
                for _ in range(64):
                    missing = self.store.missing(cid)
                    if not missing:
                        break
                    batch = missing[:MAX_BLOCKS_PER_REQUEST]
                    response = httpx.post(f"{peer}/p2p/v1/content/blocks", timeout=30,
                                          content=blocks_request(self.key, batch,
                                                                 int(time.time() * 1000)))
                    if response.status_code != 200:
                        break
                    got = decode(response.content, strict=False)
                    progress = False
                    for digest, block in zip(batch, got, strict=False):
                        if isinstance(block, bytes):
                            self.store.put_block(digest, block)
                            progress = True
                    if not progress:
                        break
            except (httpx.HTTPError, EncodingError, ContentError) as exc:
                log.info("content fetch from %s failed: %s", peer, exc)
            if self.store.has(cid):
                self.store.pin(cid, STAGED)
                return True
        return self.store.has(cid)

    # --- HTTP --------------------------------------------------------------------------------
    def mount(self, api: Any) -> None:
        from learnchain.apps.wallet.api import wallet_router

        api.include_router(wallet_router(self.node))

        @api.post("/v1/wallet/content", tags=["wallet"],
                  summary="Store a sealed record blob (staged until a record names it)")
        async def put_content(request: Request) -> Any:
            import anyio

            spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
            async for piece in request.stream():
                spool.write(piece)
            spool.seek(0)
            try:
                cid = await anyio.to_thread.run_sync(self.store.add, spool)
            finally:
                spool.close()
            return {"cid": cid}

        @api.get("/v1/wallet/content/{cid}", tags=["wallet"], summary="Stream a blob by CID")
        def get_content(cid: str) -> Any:
            try:
                if not self.store.has(cid) and not self.fetch_from_peers(cid):
                    return JSONResponse({"error": "not-found", "detail": f"no content {cid}"},
                                        status_code=404)
                return StreamingResponse(self.store.cat(cid),
                                         media_type="application/octet-stream")
            except ContentError as exc:
                return JSONResponse({"error": "bad-cid", "detail": str(exc)}, status_code=400)

        @api.get("/v1/wallet/pins", tags=["wallet"], summary="Pinned CIDs and why")
        def pins() -> dict[str, list[str]]:
            return {cid: sorted(reasons) for cid, reasons in self.store.pins().items()}

        @api.post("/p2p/v1/content/blocks", tags=["peer protocol"],
                  summary="Content blocks for a permissioned peer (signed CBOR request)")
        async def blocks(request: Request) -> Any:
            frame = await request.body()
            try:
                found = self.serve_blocks(frame, int(time.time() * 1000))
            except PermissionError as exc:
                return JSONResponse({"error": "forbidden", "detail": str(exc)}, status_code=403)
            return Response(encode(found), media_type="application/cbor")


def open_content_store(backend: str, path: str, **kwargs: Any) -> Any:
    """The configured backend: "local" (SQLite, default) or "ipfs" (embedded kubo)."""
    if backend == "local":
        return LocalContentStore(path)
    if backend == "ipfs":
        from learnchain.storage.ipfs import IpfsContentStore

        return IpfsContentStore(path, **kwargs)
    raise ValueError(f"storage backend must be 'local' or 'ipfs', not {backend!r}")


def attach_wallet_service(api: Any, node: Node, config: Any, key: PrivateKey | None,
                          genesis: Any) -> WalletNodeService:
    """Wire a node process's content store and routes from node.toml's [storage] section."""
    from learnchain.core.crypto import parse_address

    storage = config.storage
    if storage.backend == "ipfs":
        swarm = (bytes.fromhex(config.path(storage.swarm_key_file).read_text().strip())
                 if storage.swarm_key_file else None)
        store = open_content_store("ipfs", str(config.path(storage.ipfs_repo)), swarm_key=swarm)
    else:
        store = open_content_store("local", str(config.path(storage.path)))
    allowed = ({parse_address(a) for a in genesis.permissioned_nodes}
               if genesis.permissioned_nodes else None)
    service = WalletNodeService(node, store, key=key, peers=config.p2p.bootstrap,
                                allowed=allowed)
    service.mount(api)
    return service
