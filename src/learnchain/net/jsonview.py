"""Plain values ↔ JSON for people and scripts: bytes travel as 0x-prefixed hex.

JSON is only a view; anything hashed or signed travels as canonical CBOR hex (`raw`).
"""

from __future__ import annotations

from typing import Any

from learnchain.core.crypto import to_checksum_address
from learnchain.core.types import Block, BlockHeader, Receipt, Transaction


def to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any) -> Any:
    """Inverse of `to_json` for request arguments: "0x…" strings of hex digits become bytes."""
    if isinstance(value, str) and value.startswith("0x") and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            return value
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, float):
        raise ValueError(f"float {value!r} is not allowed; send integers (fixed point)")
    return value


def address_json(address: bytes) -> str:
    return to_checksum_address(address)


def tx_json(tx: Transaction) -> dict[str, Any]:
    return {
        "hash": to_json(tx.hash), "chain_id": tx.chain_id, "sender": address_json(tx.sender),
        "nonce": tx.nonce, "fee": tx.fee, "app": tx.app, "method": tx.method,
        "args": to_json(tx.args), "signature": to_json(tx.signature),
    }


def header_json(header: BlockHeader) -> dict[str, Any]:
    return {
        "hash": to_json(header.hash), "chain_id": header.chain_id, "height": header.height,
        "parent": to_json(header.parent), "timestamp_ms": header.timestamp_ms,
        "proposer": address_json(header.proposer), "tx_root": to_json(header.tx_root),
        "state_root": to_json(header.state_root), "receipts_root": to_json(header.receipts_root),
        "engine": header.engine, "engine_fields": to_json(header.engine_fields),
        "seal": to_json(header.seal),
    }


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {"tx_hash": to_json(receipt.tx_hash), "success": receipt.success,
            "error": receipt.error, "result": to_json(receipt.result),
            "events": to_json(list(receipt.events))}


def block_json(block: Block, *, full: bool = False) -> dict[str, Any]:
    out = {**header_json(block.header), "tx_count": len(block.transactions),
           "signature": to_json(block.signature)}
    out["transactions"] = ([tx_json(t) for t in block.transactions] if full
                           else [to_json(t.hash) for t in block.transactions])
    return out
