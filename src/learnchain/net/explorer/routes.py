"""Explorer routes: HTML pages at `/`, `/block/…`, `/tx/…`, `/account/…`, `/apps/…`,
`/governance`, plus the live feed `/explorer/events` (server-sent events) and the packaged
static files under `/explorer/static`.

Path parameters are taken as strings and parsed by `views`, so a bad id gets a friendly HTML
page (400 or 404) instead of the API's JSON validation error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from learnchain import __version__
from learnchain.net.explorer import views
from learnchain.node import Node

HERE = Path(__file__).parent
POLL_S = 0.3  # how often the live feed looks at the head (server side)
# Each stream ends after this long and the browser's EventSource reconnects on its own,
# resuming from the Last-Event-ID (the last height it got), so no block is missed. Short
# streams also keep a node's shutdown quick: uvicorn waits for open responses to finish.
STREAM_LIFETIME_S = 15
MAX_EVENT_BLOCKS = 20
KEEPALIVE_S = 15


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["version"] = __version__
    templates.env.filters["short"] = lambda v, n=10: (
        v if not isinstance(v, str) or len(v) <= 2 * n + 1 else f"{v[:n + 2]}…{v[-6:]}")
    templates.env.filters["is_address"] = lambda v: (
        isinstance(v, str) and v.startswith("0x") and len(v) == 42)
    return templates


def install_explorer(api: FastAPI, node: Node) -> None:
    """Add the explorer's pages, live feed and static files to a node's FastAPI app."""
    chain = node.chain
    templates = _templates()
    api.mount("/explorer/static", StaticFiles(directory=HERE / "static"), name="explorer")

    def page(request: Request, name: str, build: Callable[[], dict[str, Any]],
             title: str) -> HTMLResponse:
        try:
            context = build()
        except views.ExplorerError as exc:
            return error_page(request, exc)
        return templates.TemplateResponse(
            request, name, {"title": title, "chain_id": chain.genesis_config.chain_id,
                            "apps": list(chain.executor.apps), "wallet": views.WALLET_APP,
                            **context})

    def error_page(request: Request, exc: views.ExplorerError) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "error.html", {"title": exc.title, "detail": exc.detail,
                                    "status": exc.status, "apps": list(chain.executor.apps),
                                    "chain_id": chain.genesis_config.chain_id,
                                    "wallet": views.WALLET_APP},
            status_code=exc.status)

    def index_arg(text: str, what: str) -> Callable[[], int]:
        return lambda: views.parse_index(text, what)

    @api.get("/", include_in_schema=False, response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return page(request, "home.html", lambda: views.home(chain, len(node.mempool)),
                    "learnchain explorer")

    @api.get("/search", include_in_schema=False, response_model=None)
    def search(request: Request, q: str = "") -> HTMLResponse | RedirectResponse:
        try:
            target = views.search_target(chain, q.strip())
        except views.ExplorerError as exc:
            return error_page(request, exc)
        return RedirectResponse(target, status_code=303)

    @api.get("/block/{block_id}", include_in_schema=False, response_class=HTMLResponse)
    def block(request: Request, block_id: str) -> HTMLResponse:
        return page(request, "block.html", lambda: views.block_page(chain, block_id),
                    f"Block {block_id[:20]}")

    @api.get("/tx/{tx_hash}", include_in_schema=False, response_class=HTMLResponse)
    def tx(request: Request, tx_hash: str) -> HTMLResponse:
        def build() -> dict[str, Any]:
            pending = tx_hash.startswith("0x") and _in_mempool(node, tx_hash)
            return views.tx_page(chain, tx_hash, pending)

        return page(request, "tx.html", build, "Transaction")

    @api.get("/account/{address}", include_in_schema=False, response_class=HTMLResponse)
    def account(request: Request, address: str) -> HTMLResponse:
        return page(request, "account.html",
                    lambda: views.account_page(chain, address, node.mempool.next_nonce),
                    "Account")

    @api.get("/apps", include_in_schema=False, response_class=HTMLResponse)
    def apps(request: Request) -> HTMLResponse:
        return page(request, "apps.html", lambda: views.apps_page(chain), "Apps")

    @api.get("/apps/collab", include_in_schema=False, response_class=HTMLResponse)
    def collab(request: Request) -> HTMLResponse:
        return page(request, "collab.html", lambda: views.collab_page(chain),
                    "Collaborative models")

    @api.get("/apps/collab/{model_id}", include_in_schema=False, response_class=HTMLResponse)
    def collab_model(request: Request, model_id: str) -> HTMLResponse:
        return page(request, "collab_model.html", lambda: views.collab_model_page(
            chain, index_arg(model_id, "model id")()), f"Model {model_id[:20]}")

    @api.get("/apps/crowd", include_in_schema=False, response_class=HTMLResponse)
    def crowd(request: Request) -> HTMLResponse:
        return page(request, "crowd.html", lambda: views.crowd_page(chain), "Crowd tasks")

    @api.get("/apps/crowd/{task_id}", include_in_schema=False, response_class=HTMLResponse)
    def crowd_task(request: Request, task_id: str) -> HTMLResponse:
        return page(request, "crowd_task.html", lambda: views.crowd_task_page(
            chain, index_arg(task_id, "task id")()), f"Task {task_id[:20]}")

    @api.get("/apps/market", include_in_schema=False, response_class=HTMLResponse)
    def market(request: Request) -> HTMLResponse:
        return page(request, "market.html", lambda: views.market_page(chain), "Markets")

    @api.get("/apps/market/{market_id}", include_in_schema=False, response_class=HTMLResponse)
    def market_detail(request: Request, market_id: str) -> HTMLResponse:
        return page(request, "market_detail.html", lambda: views.market_detail_page(
            chain, index_arg(market_id, "market id")()), f"Market {market_id[:20]}")

    @api.get("/apps/wallet", include_in_schema=False, response_class=HTMLResponse)
    def wallet(request: Request) -> HTMLResponse:
        return page(request, "wallet.html", lambda: views.wallet_page(chain), "Wallets")

    @api.get("/governance", include_in_schema=False, response_class=HTMLResponse)
    def governance(request: Request) -> HTMLResponse:
        return page(request, "governance.html", lambda: views.governance_page(chain),
                    "Governance")

    @api.get("/explorer/events", include_in_schema=False)
    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(_feed(request, node), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


def _in_mempool(node: Node, tx_hash: str) -> bool:
    try:
        return bytes.fromhex(tx_hash[2:]) in node.mempool
    except ValueError:
        return False


async def _feed(request: Request, node: Node) -> AsyncIterator[str]:
    """One `head` event per new head: the blocks since the last one sent (at most
    MAX_EVENT_BLOCKS, newest last) and the mempool size; its id is the height. A reorg sends
    the new head block. A reconnecting browser's Last-Event-ID resumes after that height."""
    chain = node.chain
    loop = asyncio.get_running_loop()
    sent_head: bytes | None = chain.head_hash
    sent_height = chain.height
    resume = request.headers.get("last-event-id", "")
    if resume.isascii() and resume.isdigit() and len(resume) < 19:
        sent_head, sent_height = None, min(int(resume), sent_height)
    yield "retry: 1000\n\n"
    deadline = loop.time() + STREAM_LIFETIME_S
    quiet_since = loop.time()
    while loop.time() < deadline:
        if await request.is_disconnected():
            return
        head, height = chain.head_hash, chain.height
        if head != sent_head:
            start = sent_height + 1 if height > sent_height else height
            start = max(start, height - MAX_EVENT_BLOCKS + 1)
            blocks = await asyncio.to_thread(_summaries, chain, start, height)
            data = {"height": height, "mempool": len(node.mempool), "blocks": blocks}
            yield f"id: {height}\nevent: head\ndata: {json.dumps(data)}\n\n"
            sent_head, sent_height = head, height
            quiet_since = loop.time()
        elif loop.time() - quiet_since > KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet_since = loop.time()
        await asyncio.sleep(POLL_S)


def _summaries(chain: Any, start: int, end: int) -> list[dict[str, Any]]:
    with chain.lock:
        return [views.block_summary(b) for b in chain.canonical_blocks(start, end)]
