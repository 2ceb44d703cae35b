"""How wallet clients and proxies reach a chain and a content store: in process or over HTTP.

The same client code drives an in-memory test node (tests, benchmarks) and a real node's
`/v1` API (CLI, devnets), so the scenario a test runs is the scenario a user runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from learnchain.apps.consensus import fee_per_byte
from learnchain.apps.wallet.rules import WalletError
from learnchain.core.crypto import PrivateKey
from learnchain.core.types import Transaction
from learnchain.net.jsonview import from_json
from learnchain.node import Node
from learnchain.storage.content import ContentStore, read_all


class ChainAccess(Protocol):
    chain_id: int

    def height(self) -> int: ...

    def query(self, method: str, args: dict[str, Any]) -> Any: ...

    def send(self, key: PrivateKey, app: str, method: str, args: dict[str, Any]) -> bytes: ...

    def wait(self, tx_hash: bytes) -> Any:
        """The result of an included transaction; raises WalletError if it failed."""


class ContentAccess(Protocol):
    def put(self, data: bytes) -> str: ...

    def put_many(self, blobs: Iterable[bytes | bytearray]) -> list[str]:
        """Several blobs, durable together before the transaction that names them."""

    def fetch(self, cid: str) -> bytes: ...


class LocalChain:
    """A chain in this process; `mine` (e.g. a TestNode's) includes pending transactions."""

    def __init__(self, node: Node, mine: Callable[[], object] | None = None) -> None:
        self.node = node
        self.chain_id = node.chain.genesis_config.chain_id
        self._mine = mine

    def height(self) -> int:
        return self.node.chain.height

    def query(self, method: str, args: dict[str, Any]) -> Any:
        return self.node.chain.query("wallet", method, args)

    def send(self, key: PrivateKey, app: str, method: str, args: dict[str, Any]) -> bytes:
        with self.node.chain.lock:
            nonce = self.node.mempool.next_nonce(key.address)
            rate = fee_per_byte(self.node.chain.consensus_params())
            tx = Transaction(self.chain_id, key.address, nonce, app, method,
                             args).with_minimum_fee(rate).signed(key)
            self.node.submit(tx)
        return tx.hash

    def wait(self, tx_hash: bytes, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = self.node.chain.find_transaction(tx_hash)
            if found is not None:
                receipt = found[2]
                if not receipt.success:
                    raise WalletError(f"transaction failed: {receipt.error}")
                return receipt.result
            if self._mine is not None:
                self._mine()
            elif time.monotonic() > deadline:
                raise WalletError(f"transaction 0x{tx_hash.hex()} not included in {timeout} s")
            else:
                time.sleep(0.05)

    def wait_many(self, tx_hashes: list[bytes]) -> list[Any]:
        """Results of many included transactions, in order; raises WalletError at the first
        that failed. Each block's receipts are loaded once (a `wait` per transaction loads its
        whole block and receipts, which is quadratic for a block of N transactions)."""
        chain = self.node.chain
        for _ in range(1000):  # the mempool holds at most that many blocks' worth
            if self._mine is None:
                break
            with chain.lock:
                if all(chain.store.find_tx(h) is not None for h in tx_hashes):
                    break
            self._mine()
        receipts: dict[bytes, list[Any]] = {}
        out = []
        for tx_hash in tx_hashes:
            with chain.lock:
                found = chain.store.find_tx(tx_hash)
            if found is None:
                out.append(self.wait(tx_hash))
                continue
            block_hash, index = found
            if block_hash not in receipts:
                receipts[block_hash] = chain.receipts(block_hash) or []
            receipt = receipts[block_hash][index]
            if not receipt.success:
                raise WalletError(f"transaction failed: {receipt.error}")
            out.append(receipt.result)
        return out


class HttpChain:
    """A node's /v1 API."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        from learnchain.net.client import NodeClient

        self.client = NodeClient(url)
        self.chain_id = int(self.client.status()["chain_id"])
        self.timeout = timeout

    def height(self) -> int:
        return int(self.client.status()["height"])

    def query(self, method: str, args: dict[str, Any]) -> Any:
        from learnchain.net.client import ApiClientError

        try:
            return from_json(self.client.query("wallet", method, args))
        except ApiClientError as exc:
            raise WalletError(str(exc)) from None

    def send(self, key: PrivateKey, app: str, method: str, args: dict[str, Any]) -> bytes:
        return self.client.send(key, app, method, args).hash

    def wait(self, tx_hash: bytes) -> Any:
        found = self.client.wait_for(tx_hash, timeout=self.timeout)
        receipt = found["receipt"]
        if not receipt["success"]:
            raise WalletError(f"transaction failed: {receipt['error']}")
        return from_json(receipt["result"])


class LocalContent:
    def __init__(self, store: ContentStore) -> None:
        self.store = store

    def put(self, data: bytes) -> str:
        return self.store.add(data)

    def put_many(self, blobs: Iterable[bytes | bytearray]) -> list[str]:
        add_many = getattr(self.store, "add_many", None)
        if add_many is None:  # a backend without batches (kubo): one by one
            return [self.store.add(blob) for blob in blobs]
        return list(add_many(blobs))

    def fetch(self, cid: str) -> bytes:
        return read_all(self.store, cid)


class HttpContent:
    """A node's content routes (`/v1/wallet/content`)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        import httpx

        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def _check(self, response: Any) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
                message = f"{body.get('error')}: {body.get('detail')}"
            except ValueError:
                message = response.text
            raise WalletError(f"content store refused ({response.status_code}): {message}")
        return response

    def put(self, data: bytes) -> str:
        return str(self._check(self.http.post("/v1/wallet/content",
                                              content=bytes(data))).json()["cid"])

    def put_many(self, blobs: Iterable[bytes | bytearray]) -> list[str]:
        return [self.put(blob) for blob in blobs]

    def fetch(self, cid: str) -> bytes:
        return bytes(self._check(self.http.get(f"/v1/wallet/content/{cid}")).content)
