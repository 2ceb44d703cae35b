"""A small Python client for the /v1 API, used by the CLI and by tests."""

from __future__ import annotations

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
        try:
            response = self.http.request(method, path, **kwargs)
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

    def account(self, address: bytes) -> dict[str, Any]:
        return self._call("GET", f"/v1/accounts/{to_checksum_address(address)}")

    def submit(self, tx: Transaction) -> dict[str, Any]:
        return self._call("POST", "/v1/transactions", json={"raw": "0x" + tx.encoded.hex()})

    def transaction(self, tx_hash: bytes) -> dict[str, Any]:
        return self._call("GET", f"/v1/transactions/0x{tx_hash.hex()}")

    def query(self, app: str, method: str, args: dict[str, Any]) -> Any:
        return self._call("POST", f"/v1/query/{app}/{method}",
                          json={"args": to_json(args)})["result"]

    def fee_per_byte(self) -> int:
        """The chain's current minimum fee per transaction byte (a consensus parameter)."""
        params = self.query("consensus", "params", {})["params"]
        return int(params.get("fee_per_byte", 0))

    def send(self, key: PrivateKey, app: str, method: str, args: dict[str, Any],
             fee: int | None = None) -> Transaction:
        """Sign with the node's next nonce for this key and submit; `fee` defaults to the
        least the chain's current fee rate allows."""
        status = self.status()
        nonce = self.account(key.address)["nonce"]
        tx = Transaction(status["chain_id"], key.address, nonce, app, method, args)
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
