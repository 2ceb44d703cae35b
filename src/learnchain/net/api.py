"""The user HTTP API under /v1 (FastAPI; OpenAPI docs at /docs).

Errors are JSON `{error, detail}` with a status code that says whose fault it was: 400 for a
request the node understood and refused, 404 for something it does not have, 422 for a request
it could not parse.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from learnchain import __version__
from learnchain.apps.base import AppError, Bank
from learnchain.core.crypto import parse_address
from learnchain.core.errors import EncodingError, InvalidBlock, InvalidTransaction, LearnchainError
from learnchain.core.execution import account_nonce
from learnchain.core.types import Block, Transaction
from learnchain.net.content_api import add_content_routes
from learnchain.net.jsonview import (
    block_json,
    from_json,
    header_json,
    receipt_json,
    to_json,
    tx_json,
)
from learnchain.node import Node


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class RawBody(BaseModel):
    raw: str = Field(description="0x-prefixed hex of the canonical CBOR encoding")


class QueryBody(BaseModel):
    args: dict[str, Any] = Field(default_factory=dict,
                                 description='arguments; "0x…" hex strings are bytes')


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ApiError(400, "bad-hex", f"{what} must be 0x-prefixed hexadecimal") from None


def create_app(node: Node) -> FastAPI:
    chain = node.chain
    api = FastAPI(title="learnchain node API", version=__version__,
                  description="Submit transactions and read blocks, receipts, balances and "
                              "app state of a learnchain node.")

    @api.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid-request", "detail": str(exc.errors())},
                            status_code=422)

    @api.exception_handler(LearnchainError)
    async def _domain(_: Request, exc: LearnchainError) -> JSONResponse:
        kind = {InvalidTransaction: "invalid-transaction", InvalidBlock: "invalid-block",
                EncodingError: "bad-encoding", AppError: "app-error"}.get(type(exc), "error")
        return JSONResponse({"error": kind, "detail": str(exc)}, status_code=400)

    def find_block(block_id: str) -> Block:
        if block_id == "head":
            found = chain.get_block(chain.head_hash)
        elif block_id.startswith("0x"):
            found = chain.get_block(_hex(block_id, "block hash"))
        elif block_id.isdigit():
            found = chain.block_at(int(block_id))
        else:
            raise ApiError(400, "bad-block-id", "a block id is a height, a 0x hash, or 'head'")
        if found is None:
            raise ApiError(404, "not-found", f"no block {block_id}")
        return found

    @api.get("/v1/status", summary="Chain id, head and mempool size")
    def status() -> dict[str, Any]:
        return {"chain_id": chain.genesis_config.chain_id, "engine": chain.engine.name,
                "genesis": to_json(chain.genesis_block.hash), "height": chain.height,
                "head": to_json(chain.head_hash), "mempool": len(node.mempool),
                "version": __version__}

    @api.get("/v1/blocks/{block_id}", summary="A block by height, 0x hash, or 'head'")
    def block(block_id: str, full: bool = False) -> dict[str, Any]:
        return block_json(find_block(block_id), full=full)

    @api.get("/v1/blocks/{block_id}/receipts", summary="Receipts of a block's transactions")
    def receipts(block_id: str) -> list[dict[str, Any]]:
        found = chain.receipts(find_block(block_id).hash) or []
        return [receipt_json(r) for r in found]

    @api.get("/v1/headers", summary="Canonical headers in a height range (at most 500)")
    def headers(start: int = 0, count: int = 100) -> list[dict[str, Any]]:
        count = max(0, min(count, 500))
        return [header_json(b.header)
                for b in chain.canonical_blocks(start, start + count - 1)]

    @api.post("/v1/transactions", summary="Submit a signed transaction (canonical CBOR hex)")
    def submit(body: RawBody) -> dict[str, Any]:
        tx = Transaction.decode(_hex(body.raw, "raw"))
        added = node.submit(tx)
        return {"hash": to_json(tx.hash), "accepted": True, "new": added}

    @api.get("/v1/transactions/{tx_hash}", summary="Inclusion status and receipt")
    def transaction(tx_hash: str) -> dict[str, Any]:
        digest = _hex(tx_hash, "transaction hash")
        found = chain.find_transaction(digest)
        if found is not None:
            blk, index, receipt = found
            return {"status": "included", "block": to_json(blk.hash), "height": blk.height,
                    "index": index, "transaction": tx_json(blk.transactions[index]),
                    "receipt": receipt_json(receipt)}
        if digest in node.mempool:
            return {"status": "pending"}
        raise ApiError(404, "not-found", "unknown transaction (never seen, or dropped)")

    @api.get("/v1/accounts/{address}", summary="Balance and nonces of an address")
    def account(address: str) -> dict[str, Any]:
        try:
            raw = parse_address(address)
        except ValueError as exc:
            raise ApiError(400, "bad-address", str(exc)) from None
        with chain.lock:
            balance = Bank(chain.state).balance(raw)
            state_nonce = account_nonce(chain.state, raw)
        return {"address": to_json(raw), "balance": balance, "state_nonce": state_nonce,
                "nonce": node.mempool.next_nonce(raw)}

    @api.get("/v1/apps", summary="Apps on this chain with their methods and queries")
    def apps() -> dict[str, Any]:
        return {name: {"methods": sorted(app.tx_methods), "queries": sorted(app.query_methods)}
                for name, app in chain.executor.apps.items()}

    @api.post("/v1/query/{app}/{method}", summary="Read-only app query (free)")
    def query(app: str, method: str, body: QueryBody) -> dict[str, Any]:
        try:
            args = from_json(body.args)
        except ValueError as exc:
            raise ApiError(400, "bad-args", str(exc)) from None
        try:
            result = chain.query(app, method, args)
        except KeyError as exc:
            raise ApiError(404, "not-found", str(exc.args[0])) from None
        return {"result": to_json(result)}

    add_content_routes(api, chain)
    return api
