"""Response and request models of the /v1 API, so the OpenAPI schema says what each route
returns (and schemathesis can hold the server to it).

Models of chain objects allow extra fields: a newer node may add a field (e.g. a fee) without
breaking older clients that validate against this schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

HEX = "0x-prefixed hexadecimal"


class ErrorBody(BaseModel):
    """Every error: a short machine-readable kind and a sentence for people."""

    error: str = Field(description="kind of error, e.g. not-found, bad-block-id, too-large")
    detail: str = Field(description="what was wrong and, where there is one, the fix")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each listed status answers with an ErrorBody."""
    text = {400: "Refused: the node understood the request and it is invalid",
            404: "Not found", 413: "Request body too large",
            422: "Malformed request (parameters or JSON body)"}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


class RawBody(BaseModel):
    raw: str = Field(description=f"{HEX} of the transaction's canonical CBOR encoding "
                                 "(docs/transactions.md)", max_length=2 * 128 * 1024 + 2)


class QueryBody(BaseModel):
    args: dict[str, Any] = Field(default_factory=dict,
                                 description='arguments; "0x…" hex strings are bytes')


class Status(BaseModel):
    chain_id: int
    engine: str
    genesis: str
    height: int
    head: str
    mempool: int
    version: str


class Header(BaseModel):
    model_config = ConfigDict(extra="allow")
    hash: str
    chain_id: int
    height: int
    parent: str
    timestamp_ms: int
    proposer: str
    tx_root: str
    state_root: str
    receipts_root: str
    engine: str
    engine_fields: dict[str, Any]
    seal: str


class TransactionView(BaseModel):
    model_config = ConfigDict(extra="allow")
    hash: str
    chain_id: int
    sender: str
    nonce: int
    app: str
    method: str
    args: dict[str, Any]
    signature: str


class BlockView(Header):
    tx_count: int
    signature: str
    transactions: list[str | TransactionView] = Field(
        description="transaction hashes, or whole transactions with ?full=true")


class ReceiptView(BaseModel):
    model_config = ConfigDict(extra="allow")
    tx_hash: str
    success: bool
    error: str | None
    result: Any = None
    events: list[Any]


class Submitted(BaseModel):
    hash: str
    accepted: bool
    new: bool = Field(description="false if the node already had this transaction")


class TxStatus(BaseModel):
    status: str = Field(description="pending or included")
    block: str | None = None
    height: int | None = None
    index: int | None = None
    transaction: TransactionView | None = None
    receipt: ReceiptView | None = None


class Account(BaseModel):
    address: str
    balance: int
    state_nonce: int = Field(description="transactions from this address in blocks")
    nonce: int = Field(description="the next nonce to use (counts pending transactions)")


class ArgSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(description="integer, string, bytes, address, list, map or boolean")
    required: bool


class MethodSpec(BaseModel):
    doc: str
    args: dict[str, ArgSpec]


class AppSpec(BaseModel):
    methods: dict[str, MethodSpec]
    queries: dict[str, MethodSpec]


class QueryResult(BaseModel):
    result: Any = None
