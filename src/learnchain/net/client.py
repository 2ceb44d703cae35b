"""A small Python client for the /v1 API, used by the CLI and by tests."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from typing import Any

import httpx

from learnchain.core.crypto import PrivateKey, to_checksum_address
from learnchain.core.errors import LearnchainError
from learnchain.core.types import Transaction
from learnchain.net.jsonview import to_json


class ApiClientError(LearnchainError):
    """The node refused a request or could not be reached."""


class NodeClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (0, 1):
            try:
                response = self.http.request(method, path, **kwargs)
                break
            except httpx.RemoteProtocolError as exc:
                # The node closed a kept-alive connection just as we reused it (its idle
                # timeout): the request was never read, so sending it once more is safe.
                if attempt:
                    raise ApiClientError(f"cannot reach the node at {self.url}: {exc}; is "
                                         "`learnchain node start` running?") from None
            except httpx.HTTPError as exc:
                raise ApiClientError(f"cannot reach the node at {self.url}: {exc}; is "
                                     "`learnchain node start` running?") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                message = f"{body.get('error')}: {body.get('detail')}"
            except ValueError:
                message = response.text
            raise ApiClientError(f"node refused {method} {path} ({response.status_code}): "
                                 f"{message}")
        return response.json()

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/v1/status")

    def block(self, block_id: str | int, full: bool = False) -> dict[str, Any]:
        return self._call("GET", f"/v1/blocks/{block_id}", params={"full": full})

    def headers(self, start: int, count: int = 100) -> list[dict[str, Any]]:
        """Canonical headers from height ``start`` (the node caps ``count`` at 500)."""
        return self._call("GET", "/v1/headers", params={"start": start, "count": count})

    def account(self, address: bytes) -> dict[str, Any]:
        return self._call("GET", f"/v1/accounts/{to_checksum_address(address)}")

    def submit(self, tx: Transaction) -> dict[str, Any]:
        return self._call("POST", "/v1/transactions", json={"raw": "0x" + tx.encoded.hex()})

    def transaction(self, tx_hash: bytes) -> dict[str, Any]:
        return self._call("GET", f"/v1/transactions/0x{tx_hash.hex()}")

    def query(self, app: str, method: str, args: dict[str, Any]) -> Any:
        return self._call("POST", f"/v1/query/{app}/{method}",
                          json={"args": to_json(args)})["result"]

    def put_content(self, data: bytes) -> bytes:
        """Store a blob in the node's content store; returns its SHA-256 digest."""
        found = self._call("POST", "/v1/content", json={"data": "0x" + data.hex()})
        return bytes.fromhex(found["digest"][2:])

    def get_content(self, digest: bytes) -> bytes:
        """A blob by digest, checked against it (the node need not be trusted)."""
        data = bytes.fromhex(self._call("GET", f"/v1/content/0x{digest.hex()}")["data"][2:])
        if hashlib.sha256(data).digest() != digest:
            raise ApiClientError(f"node served content that does not hash to 0x{digest.hex()}")
        return data

    def fraud_status(self) -> dict[str, Any]:
        """rlpow: the miners this node convicted by fraud proofs and the blocks proven invalid."""
        return self._call("GET", "/v1/rlpow/fraud")

    def submit_fraud_proof(self, proof: bytes) -> dict[str, Any]:
        """rlpow: hand a fraud proof (canonical CBOR) to the node; its verdict if the proof
        holds (the node then passes it on). A false or uncheckable proof is an
        `ApiClientError` naming why."""
        return self._call("POST", "/v1/rlpow/fraud", content=proof,
                          headers={"content-type": "application/cbor"})

    def fee_per_byte(self) -> int:
        """The chain's current minimum fee per transaction byte (a consensus parameter)."""
        params = self.query("consensus", "params", {})["params"]
        return int(params.get("fee_per_byte", 0))

    def send(self, key: PrivateKey, app: str, method: str, args: dict[str, Any], *,
             chain_id: int | None = None, nonce: int | None = None,
             fee: int | None = None) -> Transaction:
        """Sign with the node's next nonce for this key and submit; `fee` defaults to the
        least the chain's current fee rate allows.

        A caller that tracks its own chain id and nonce (a daemon sending many transactions)
        passes them and saves two round-trips per transaction."""
        if chain_id is None:
            chain_id = self.status()["chain_id"]
        if nonce is None:
            nonce = self.account(key.address)["nonce"]
        tx = Transaction(chain_id, key.address, nonce, app, method, args)
        tx = replace(tx, fee=fee) if fee is not None else tx.with_minimum_fee(self.fee_per_byte())
        signed = tx.signed(key)
        self.submit(signed)
        return signed

    def wait_for(self, tx_hash: bytes, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.transaction(tx_hash)
            if found["status"] == "included":
                return found
            time.sleep(0.2)
        raise ApiClientError(f"transaction 0x{tx_hash.hex()} not included within {timeout} s")
