"""Plain view dicts for explorer pages, built from the chain and the apps' query methods.

Pure of HTTP: each function takes a chain (and ids already parsed) and returns JSON-style
values (bytes as 0x hex via `to_json`), or raises `NotFound` / `BadInput`, which the routes
turn into friendly HTML pages.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from learnchain.apps.base import AppError, Bank
from learnchain.core.chain import Chain
from learnchain.core.execution import account_nonce
from learnchain.core.types import HASH_SIZE, Block
from learnchain.net.jsonview import address_json, block_json, receipt_json, to_json, tx_json

RECENT_BLOCKS = 15
RECENT_CONTRIBUTIONS = 20
MAX_LISTED = 200  # tasks / markets listed on one page (the newest)
RLPOW_SCALE = 10**9  # rlpow fixed point (consensus/rlpow.py)
WALLET_APP = "wallet"


class ExplorerError(Exception):
    """A request the explorer cannot answer: `status` 400 (bad id) or 404 (not on chain)."""

    status = 400

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title, self.detail = title, detail


class BadInput(ExplorerError):
    status = 400


class NotFound(ExplorerError):
    status = 404


# ----- parsing ids ------------------------------------------------------------------------


def parse_hash(text: str, what: str) -> bytes:
    """A 0x-prefixed 32-byte hash, else BadInput."""
    digits = text.removeprefix("0x")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if not text.startswith("0x") or len(raw) != HASH_SIZE:
        raise BadInput(f"Bad {what}", f"a {what} is 0x followed by {2 * HASH_SIZE} hex digits; "
                                      f"got {text[:80]!r}")
    return raw


def parse_index(text: str, what: str) -> int:
    """A small non-negative decimal id (model, task, market, step), else BadInput."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadInput(f"Bad {what}", f"a {what} is a non-negative decimal number; "
                                      f"got {text[:80]!r}")
    return int(text)


def fixed(value: int, scale: int = RLPOW_SCALE) -> str:
    """A fixed-point integer as a decimal string (display only; consensus keeps the int)."""
    return str(Decimal(value) / Decimal(scale))


# ----- chain ------------------------------------------------------------------------------


def block_summary(block: Block) -> dict[str, Any]:
    h = block.header
    return {"hash": to_json(block.hash), "height": h.height, "timestamp_ms": h.timestamp_ms,
            "proposer": address_json(h.proposer), "tx_count": len(block.transactions),
            "txs": [to_json(t.hash) for t in block.transactions]}


def home(chain: Chain, mempool_size: int) -> dict[str, Any]:
    with chain.lock:
        height = chain.height
        start = max(0, height - RECENT_BLOCKS + 1)
        blocks = [block_summary(b) for b in chain.canonical_blocks(start, height)][::-1]
    recent_txs = [{"hash": t, "height": b["height"], "block": b["hash"]}
                  for b in blocks for t in b["txs"]][:RECENT_BLOCKS]
    return {"chain_id": chain.genesis_config.chain_id, "engine": chain.engine.name,
            "height": height, "head": blocks[0]["hash"] if blocks else None,
            "mempool": mempool_size, "blocks": blocks, "recent_txs": recent_txs}


def find_block(chain: Chain, block_id: str) -> Block:
    from learnchain.net.api import parse_height

    if block_id == "head":
        found = chain.get_block(chain.head_hash)
    elif block_id.startswith("0x"):
        found = chain.get_block(parse_hash(block_id, "block hash"))
    elif (height := parse_height(block_id)) is not None:
        found = chain.block_at(height)
    else:
        raise BadInput("Bad block id", "a block id is a height (decimal digits), a 0x hash, "
                                       f"or 'head'; got {block_id[:80]!r}")
    if found is None:
        raise NotFound("Block not found", f"this node has no block {block_id[:80]}")
    return found


def search_target(chain: Chain, query: str) -> str:
    """Where the search box sends a query: a height or block hash, a transaction, an address."""
    from urllib.parse import quote

    if query == "head" or (query.isascii() and query.isdigit()):
        return f"/block/{quote(query)}"
    if query.startswith("0x") and len(query) == 42:
        return f"/account/{quote(query)}"
    if query.startswith("0x") and len(query) == 2 + 2 * HASH_SIZE:
        digest = parse_hash(query, "hash")
        return f"/block/{query}" if chain.get_block(digest) is not None else f"/tx/{query}"
    raise BadInput("Nothing to search for", "search for a block height, a 0x block or "
                                            f"transaction hash, or a 0x address; got "
                                            f"{query[:80]!r}")


def block_page(chain: Chain, block_id: str) -> dict[str, Any]:
    block = find_block(chain, block_id)
    view = block_json(block, full=True)
    receipts = chain.receipts(block.hash) or []
    rows = []
    for index, tx in enumerate(view["transactions"]):
        receipt = receipt_json(receipts[index]) if index < len(receipts) else None
        rows.append({"index": index, "tx": tx, "receipt": receipt})
    canonical = chain.block_at(block.height)
    return {"block": view, "rows": rows,
            "canonical": canonical is not None and canonical.hash == block.hash,
            "engine": engine_detail(chain, block)}


def engine_detail(chain: Chain, block: Block) -> dict[str, Any]:
    """What the block's consensus engine recorded, in the engine's own terms."""
    fields = block.header.engine_fields
    name = block.header.engine
    if name == "pow":
        params = chain.query("consensus", "params", {})
        return {"kind": "pow", "difficulty": fields.get("difficulty"),
                "extra": fields.get("extra"), "work": 1 << int(fields.get("difficulty", 0)),
                "proposer": address_json(block.header.proposer),
                "miners": [address_json(m) for m in params["miners"]]}
    if name == "rlpow" and "s" in fields:
        return {"kind": "rlpow", "state": list(fields.get("s", [])),
                "action": fields.get("a"), "reward": fixed(int(fields.get("r", 0))),
                "done": fields.get("done"), "return": fixed(int(fields.get("ret", 0))),
                "epsilon": fixed(int(fields.get("eps", 0))), "explored": fields.get("explored"),
                "k": fields.get("k"), "mint": fields.get("mint"),
                "proofs": {key: to_json(fields[key]) for key in
                           ("theta", "theta_cid", "after", "work") if key in fields}}
    return {"kind": "generic", "name": name, "fields": to_json(dict(fields))}


def tx_page(chain: Chain, tx_hash: str, pending: bool) -> dict[str, Any]:
    digest = parse_hash(tx_hash, "transaction hash")
    found = chain.find_transaction(digest)
    if found is None:
        if pending:
            return {"status": "pending", "hash": to_json(digest)}
        raise NotFound("Transaction not found", "this node never saw that transaction, or "
                                                "dropped it")
    block, index, receipt = found
    return {"status": "included", "hash": to_json(digest), "block": to_json(block.hash),
            "height": block.height, "index": index, "tx": tx_json(block.transactions[index]),
            "receipt": receipt_json(receipt)}


def account_page(chain: Chain, address: str, next_nonce: Any) -> dict[str, Any]:
    from learnchain.core.crypto import parse_address

    try:
        raw = parse_address(address)
    except ValueError as exc:
        raise BadInput("Bad address", str(exc)) from None
    with chain.lock:
        balance = Bank(chain.state).balance(raw)
        state_nonce = account_nonce(chain.state, raw)
    return {"address": address_json(raw), "balance": balance, "state_nonce": state_nonce,
            "nonce": next_nonce(raw)}


# ----- apps -------------------------------------------------------------------------------


def apps_page(chain: Chain) -> dict[str, Any]:
    from learnchain.apps.introspect import describe_app

    return {"apps_spec": {name: describe_app(app) for name, app in chain.executor.apps.items()}}


def require_app(chain: Chain, name: str) -> None:
    if name not in chain.executor.apps:
        raise NotFound(f"No {name} app", f"this chain's genesis does not enable the {name!r} "
                                         "app")


def _query(chain: Chain, app: str, method: str, args: dict[str, Any], missing: str) -> Any:
    try:
        return chain.query(app, method, args)
    except AppError as exc:
        raise NotFound(missing, str(exc)) from None


def collab_page(chain: Chain) -> dict[str, Any]:
    require_app(chain, "collab")
    models = chain.query("collab", "models", {})
    for row in models:
        counters = chain.query("collab", "model", {"model_id": row["model_id"]})["counters"]
        row.update(contributions=counters["n"], good=counters["good"],
                   authors=counters["authors"])
    return {"models": to_json(models)}


def collab_model_page(chain: Chain, model_id: int) -> dict[str, Any]:
    require_app(chain, "collab")
    model = _query(chain, "collab", "model", {"model_id": model_id}, "Model not found")
    contributors = chain.query("collab", "contributors", {"model_id": model_id})
    for row in contributors:
        judged = row["good"] + row["bad"]
        row["good_share"] = f"{100 * row['good'] / judged:.1f} %" if judged else "—"
    total = int(model["counters"]["n"])
    recent = [chain.query("collab", "contribution", {"model_id": model_id, "contribution": n})
              for n in range(total - 1, max(-1, total - 1 - RECENT_CONTRIBUTIONS), -1)]
    for row in recent:
        row.pop("data", None)  # the sample itself: long and of no use on a summary page
    return {"model": to_json(model), "contributors": to_json(contributors),
            "recent": to_json(recent)}


def crowd_page(chain: Chain) -> dict[str, Any]:
    from learnchain.apps.crowd.rules import phase_at

    require_app(chain, "crowd")
    count = int(chain.query("crowd", "count", {}))
    height = chain.height + 1
    tasks = []
    for task_id in range(count - 1, max(-1, count - 1 - MAX_LISTED), -1):
        task = chain.query("crowd", "task", {"task_id": task_id})
        tasks.append({"id": task_id, "phase": phase_at(task, height), "n": task.get("n"),
                      "workers": len(task.get("workers", [])), "status": task.get("status")})
    return {"count": count, "tasks": tasks}


def crowd_task_page(chain: Chain, task_id: int) -> dict[str, Any]:
    from learnchain.apps.crowd.rules import phase_at

    require_app(chain, "crowd")
    task = _query(chain, "crowd", "task", {"task_id": task_id}, "Task not found")
    return {"id": task_id, "phase": phase_at(task, chain.height + 1), "task": to_json(task)}


def market_page(chain: Chain) -> dict[str, Any]:
    require_app(chain, "market")
    markets = []
    for market_id in range(MAX_LISTED):
        try:
            market = chain.query("market", "market", {"market": market_id})
        except AppError:
            break
        markets.append({"id": market_id, **to_json(market)})
    return {"markets": markets}


def market_detail_page(chain: Chain, market_id: int) -> dict[str, Any]:
    require_app(chain, "market")
    market = _query(chain, "market", "market",
                    {"market": market_id, "height": chain.height}, "Market not found")
    steps = []
    for step in range(MAX_LISTED):
        try:
            steps.append({"step": step, **to_json(chain.query(
                "market", "step", {"market": market_id, "step": step}))})
        except AppError:
            break
    consumers = chain.query("market", "consumers", {"market": market_id})
    return {"id": market_id, "market": to_json(market), "steps": steps[-20:],
            "consumers": to_json(consumers)}


def governance_page(chain: Chain) -> dict[str, Any]:
    params = chain.query("consensus", "params", {})
    return {"engine": chain.engine.name, "params": to_json(params["params"]),
            "miners": [address_json(m) for m in params["miners"]],
            "controller": address_json(params["controller"])
            if isinstance(params["controller"], bytes) else to_json(params["controller"])}


def wallet_page(chain: Chain) -> dict[str, Any]:
    """Only what the wallet app declares (its methods and queries): never stored contents.

    The page shows no query results at all, so no secret or plaintext can leak through it
    whatever the wallet app stores.
    """
    from learnchain.apps.introspect import describe_app

    require_app(chain, WALLET_APP)
    return {"spec": describe_app(chain.executor.apps[WALLET_APP])}
