"""The documented Python client for a learnchain node's HTTP API (``/v1``).

Everything a wallet or script needs, with addresses as ``0x…`` strings or bytes::

    from learnchain.client import Client
    from learnchain.core.crypto import load_keystore

    node = Client("http://127.0.0.1:8645")
    alice = load_keystore(Path("data/keys/alice.json"), "password")
    receipt = node.transfer(alice, to="0x…", amount=5)          # waits for inclusion
    assert receipt.success, receipt.error
    node.balance("0x…")                                           # -> int
    node.call(alice, "identity", "register", {"name": "alice"})   # any app method
    node.query("bank", "balance", {"address": "0x…"})             # free, read-only
    node.apps()              # every app's methods and their argument types

Signing happens locally: the key never leaves the process. ``sign`` builds and signs a
transaction without a node when ``chain_id`` and ``nonce`` are given (an offline wallet), and
``submit_raw`` sends the hex another tool signed. The wire format is in docs/transactions.md.
Errors are :class:`ApiClientError` (node refused or unreachable) and :class:`TransactionFailed`
(included, but its receipt says it failed; ``raise_on_failure=False`` returns the receipt).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from learnchain.client_wallet import WalletApiMixin
from learnchain.core.crypto import PrivateKey, parse_address
from learnchain.core.errors import LearnchainError
from learnchain.core.types import Transaction
from learnchain.net.client import ApiClientError, NodeClient

__all__ = ["ApiClientError", "Client", "Receipt", "TransactionFailed", "build_transaction"]


class TransactionFailed(LearnchainError):
    """The transaction was included in a block but its execution failed (state unchanged
    except the nonce); ``receipt`` says why."""

    def __init__(self, receipt: Receipt) -> None:
        super().__init__(f"transaction {receipt.tx_hash} failed in block {receipt.height}: "
                         f"{receipt.error}")
        self.receipt = receipt


@dataclass(frozen=True)
class Receipt:
    """Where a transaction was included and how its execution went."""

    tx_hash: str
    height: int
    block: str
    success: bool
    error: str | None
    result: Any
    raw: dict[str, Any]

    @classmethod
    def from_status(cls, tx_hash: str, found: dict[str, Any]) -> Receipt:
        receipt = found["receipt"]
        return cls(tx_hash=tx_hash, height=found["height"], block=found["block"],
                   success=bool(receipt["success"]), error=receipt.get("error") or None,
                   result=receipt.get("result"), raw=found)


def _address(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else parse_address(value)


def _digest(tx_hash: str | bytes) -> bytes:
    return tx_hash if isinstance(tx_hash, bytes) else bytes.fromhex(tx_hash.removeprefix("0x"))


def build_transaction(key: PrivateKey, *, chain_id: int, nonce: int, app: str, method: str,
                      args: dict[str, Any], fee_per_byte: int = 0,
                      fee: int | None = None) -> Transaction:
    """A signed transaction, built offline. The one place the CLI and client construct one.

    `fee` defaults to the least that `fee_per_byte` (the chain's consensus parameter) allows.
    """
    tx = Transaction(chain_id=chain_id, sender=key.address, nonce=nonce, app=app,
                     method=method, args=args)
    tx = tx.with_minimum_fee(fee_per_byte) if fee is None else replace(tx, fee=fee)
    return tx.signed(key)


class Client(NodeClient, WalletApiMixin):
    """A node's API: queries, signing, submitting, and waiting for receipts; the wallet's
    interaction models (`client_wallet.WalletApiMixin`)."""

    def balance(self, address: str | bytes) -> int:
        return int(self.account(_address(address))["balance"])

    def apps(self) -> dict[str, Any]:
        """Each app's transaction methods and queries with their argument names and types."""
        return self._call("GET", "/v1/apps")

    def sign(self, key: PrivateKey, app: str, method: str, args: dict[str, Any], *,
             chain_id: int | None = None, nonce: int | None = None,
             fee: int | None = None) -> Transaction:
        """Sign without submitting; asks the node only for what was not given (the fee
        defaults to the least the chain's current fee rate allows)."""
        if chain_id is None:
            chain_id = int(self.status()["chain_id"])
        if nonce is None:
            nonce = int(self.account(key.address)["nonce"])
        return build_transaction(key, chain_id=chain_id, nonce=nonce, app=app, method=method,
                                 args=args, fee=fee,
                                 fee_per_byte=0 if fee is not None else self.fee_per_byte())

    def send(self, key: PrivateKey, app: str, method: str, args: dict[str, Any], *,
             chain_id: int | None = None, nonce: int | None = None,
             fee: int | None = None) -> Transaction:
        """Sign with the node's next nonce for this key and submit (no waiting)."""
        tx = self.sign(key, app, method, args, chain_id=chain_id, nonce=nonce, fee=fee)
        self.submit(tx)
        return tx

    def submit_raw(self, raw_hex: str) -> str:
        """Submit a transaction signed elsewhere (0x hex of its CBOR); returns its hash."""
        return str(self._call("POST", "/v1/transactions", json={"raw": raw_hex})["hash"])

    def wait_for_receipt(self, tx_hash: str | bytes, *, timeout: float = 60.0,
                         raise_on_failure: bool = True) -> Receipt:
        """Poll until the transaction is in a block; its receipt (raises if it failed)."""
        digest = _digest(tx_hash)
        found = self.wait_for(digest, timeout=timeout)
        receipt = Receipt.from_status("0x" + digest.hex(), found)
        if raise_on_failure and not receipt.success:
            raise TransactionFailed(receipt)
        return receipt

    def call(self, key: PrivateKey, app: str, method: str, args: dict[str, Any], *,
             wait: bool = True, timeout: float = 60.0,
             raise_on_failure: bool = True) -> Receipt | str:
        """Sign, submit and (by default) wait: the receipt, or the tx hash with wait=False."""
        tx = self.send(key, app, method, args)
        if not wait:
            return "0x" + tx.hash.hex()
        return self.wait_for_receipt(tx.hash, timeout=timeout,
                                     raise_on_failure=raise_on_failure)

    def transfer(self, key: PrivateKey, to: str | bytes, amount: int, **kwargs: Any
                 ) -> Receipt | str:
        """Move ``amount`` base units from ``key``'s account to ``to``."""
        return self.call(key, "bank", "transfer", {"to": _address(to), "amount": amount},
                         **kwargs)

    def tx_status(self, tx_hash: str | bytes) -> dict[str, Any]:
        """``{"status": "pending"}`` or the inclusion record with its receipt."""
        digest = _digest(tx_hash)
        return self.transaction(digest)

    def wait_for_height(self, height: int, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while (current := int(self.status()["height"])) < height:
            if time.monotonic() > deadline:
                raise ApiClientError(f"height {height} not reached within {timeout} s "
                                     f"(at {current})")
            time.sleep(0.2)
        return current
