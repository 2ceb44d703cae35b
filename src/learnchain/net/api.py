"""The user HTTP API under /v1 (FastAPI; OpenAPI docs at /docs, served offline; the web
explorer at /, see net/explorer).

Errors are JSON `{error, detail}` with a status code that says whose fault it was: 400 for a
request the node understood and refused, 404 for something it does not have, 413 for a body
over the limit, 422 for a request it could not parse, 500 for a bug (logged). Every route
declares its response model and error responses, so the OpenAPI schema is a contract that
schemathesis checks (tests/integration/test_api_schema.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from learnchain import __version__
from learnchain.apps.base import AppError, Bank
from learnchain.apps.introspect import describe_app
from learnchain.core.crypto import parse_address
from learnchain.core.errors import EncodingError, InvalidBlock, InvalidTransaction, LearnchainError
from learnchain.core.execution import account_nonce
from learnchain.core.types import HASH_SIZE, Block, Transaction
from learnchain.net.api_models import (
    Account,
    AppSpec,
    BlockView,
    Header,
    QueryBody,
    QueryResult,
    RawBody,
    ReceiptView,
    Status,
    Submitted,
    TxStatus,
    errors,
)
from learnchain.net.content_api import add_content_routes
from learnchain.net.explorer import install_explorer
from learnchain.net.http_limits import (
    BodyLimitMiddleware,
    install_error_handlers,
    install_offline_docs,
)
from learnchain.net.jsonview import (
    block_json,
    from_json,
    header_json,
    receipt_json,
    to_json,
    tx_json,
)
from learnchain.node import Node

MAX_HEIGHT = 2**63 - 1  # SQLite integers are signed 64-bit
MAX_HEADERS = 500


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def _hex(text: str, what: str, size: int | None = None) -> bytes:
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ApiError(400, "bad-hex", f"{what} must be 0x-prefixed hexadecimal") from None
    if size is not None and len(raw) != size:
        raise ApiError(400, "bad-hex", f"{what} must be {size} bytes (0x + {2 * size} hex "
                                       "digits)")
    return raw


def parse_height(text: str) -> int | None:
    """A block height written in ASCII decimal digits and within SQLite's range, else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_HEIGHT else None


def create_app(node: Node) -> FastAPI:
    chain = node.chain
    api = FastAPI(title="learnchain node API", version=__version__,
                  description="Submit transactions and read blocks, receipts, balances and "
                              "app state of a learnchain node. Errors are JSON "
                              "`{error, detail}`. The transaction format is in "
                              "docs/transactions.md.",
                  docs_url=None, redoc_url=None)
    api.add_middleware(BodyLimitMiddleware)
    install_error_handlers(api)
    install_offline_docs(api)

    @api.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)

    @api.exception_handler(LearnchainError)
    async def _domain(_: Request, exc: LearnchainError) -> JSONResponse:
        kind = {InvalidTransaction: "invalid-transaction", InvalidBlock: "invalid-block",
                EncodingError: "bad-encoding"}.get(type(exc), "error")
        if isinstance(exc, AppError):
            kind = "app-error"
        return JSONResponse({"error": kind, "detail": str(exc)}, status_code=400)

    def find_block(block_id: str) -> Block:
        if block_id == "head":
            found = chain.get_block(chain.head_hash)
        elif block_id.startswith("0x"):
            found = chain.get_block(_hex(block_id, "block hash", HASH_SIZE))
        elif (height := parse_height(block_id)) is not None:
            found = chain.block_at(height)
        else:
            raise ApiError(400, "bad-block-id", "a block id is a height (decimal digits, below "
                                                "2^63), a 0x hash, or 'head'")
        if found is None:
            raise ApiError(404, "not-found", f"no block {block_id[:80]}")
        return found

    @api.get("/v1/status", summary="Chain id, head and mempool size", response_model=Status)
    def status() -> dict[str, Any]:
        return {"chain_id": chain.genesis_config.chain_id, "engine": chain.engine.name,
                "genesis": to_json(chain.genesis_block.hash), "height": chain.height,
                "head": to_json(chain.head_hash), "mempool": len(node.mempool),
                "version": __version__}

    @api.get("/v1/blocks/{block_id}", summary="A block by height, 0x hash, or 'head'",
             response_model=BlockView, responses=errors(400, 404, 422))
    def block(block_id: str, full: bool = False) -> dict[str, Any]:
        return block_json(find_block(block_id), full=full)

    @api.get("/v1/blocks/{block_id}/receipts", summary="Receipts of a block's transactions",
             response_model=list[ReceiptView], responses=errors(400, 404, 422))
    def receipts(block_id: str) -> list[dict[str, Any]]:
        found = chain.receipts(find_block(block_id).hash) or []
        return [receipt_json(r) for r in found]

    @api.get("/v1/headers", summary=f"Canonical headers in a height range (at most "
                                    f"{MAX_HEADERS})",
             response_model=list[Header], responses=errors(422))
    def headers(start: int = Query(0, ge=0, le=MAX_HEIGHT, description="first height"),
                count: int = Query(100, ge=0, le=MAX_HEADERS, description="how many")
                ) -> list[dict[str, Any]]:
        if count == 0 or start > chain.height:
            return []
        end = min(start + count - 1, chain.height)
        return [header_json(b.header) for b in chain.canonical_blocks(start, end)]

    @api.post("/v1/transactions", summary="Submit a signed transaction (canonical CBOR hex)",
              response_model=Submitted, responses=errors(400, 413, 422))
    def submit(body: RawBody) -> dict[str, Any]:
        tx = Transaction.decode(_hex(body.raw, "raw"))
        added = node.submit(tx)
        return {"hash": to_json(tx.hash), "accepted": True, "new": added}

    @api.get("/v1/transactions/{tx_hash}", summary="Inclusion status and receipt",
             response_model=TxStatus,
             responses=errors(400, 404, 422))
    def transaction(tx_hash: str) -> dict[str, Any]:
        digest = _hex(tx_hash, "transaction hash", HASH_SIZE)
        found = chain.find_transaction(digest)
        if found is not None:
            blk, index, receipt = found
            return {"status": "included", "block": to_json(blk.hash), "height": blk.height,
                    "index": index, "transaction": tx_json(blk.transactions[index]),
                    "receipt": receipt_json(receipt)}
        if digest in node.mempool:
            return {"status": "pending"}
        raise ApiError(404, "not-found", "unknown transaction (never seen, or dropped)")

    @api.get("/v1/accounts/{address}", summary="Balance and nonces of an address",
             response_model=Account, responses=errors(400, 422))
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

    @api.get("/v1/apps", summary="Apps on this chain: methods and queries with argument types",
             response_model=dict[str, AppSpec])
    def apps() -> dict[str, Any]:
        return {name: describe_app(app) for name, app in chain.executor.apps.items()}

    @api.post("/v1/query/{app}/{method}", summary="Read-only app query (free)",
              response_model=QueryResult, responses=errors(400, 404, 413, 422))
    def query(app: str, method: str, body: QueryBody) -> dict[str, Any]:
        try:
            args = from_json(body.args)
        except ValueError as exc:
            raise ApiError(400, "bad-args", str(exc)) from None
        try:
            result = chain.query(app, method, args)
        except KeyError as exc:
            raise ApiError(404, "not-found", str(exc.args[0] if exc.args else exc)) from None
        except LearnchainError:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            # An app read an argument of the wrong shape without Args: the caller's mistake.
            raise ApiError(400, "bad-args", f"{app}.{method}: {exc}") from None
        return {"result": to_json(result)}

    add_content_routes(api, chain)
    install_explorer(api, node)  # HTML pages at / (the API stays under /v1)
    return api
