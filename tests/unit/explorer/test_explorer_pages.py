"""The web explorer's pages through FastAPI's TestClient on a real in-memory chain.

Every page is rendered from blocks a test node really mined with the apps enabled in genesis;
every malformed or unknown id gets a friendly HTML page with the right status, never JSON or
a traceback.
"""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from learnchain.apps.collab.models import sparse_perceptron_from_weights
from learnchain.apps.registry import OPTIONAL_APPS
from learnchain.core.crypto import to_checksum_address
from learnchain.net.api import create_app
from learnchain.testing import TestNode, dev_genesis, dev_key, make_node

FUND = 10**9


def _receipt(tn: TestNode, tx):
    found = tn.chain.find_transaction(tx.hash)
    assert found is not None
    return found[2]


@pytest.fixture(scope="module")
def world() -> dict:
    """A chain with a transfer, a collab model with one contribution, a crowd task, a market."""
    tn = make_node(dev_genesis(funded={n: FUND for n in ("alice", "owner", "req", "cpp")},
                               extra_apps=["collab", "crowd", "market"]))
    tn.mine(2)
    transfer = tn.send("alice", "bank", "transfer", {"to": dev_key("bob").address,
                                                     "amount": 1234})
    model = sparse_perceptron_from_weights({1: 3 * 10**9, 2: -(10**9)})
    create = tn.send("owner", "collab", "create_model", {
        "model": model.export(), "mechanism": "stakeable", "name": "spam-filter",
        "mechanism_params": {"refund_wait_s": 86400, "owner_wait_s": 9 * 86400,
                             "any_wait_s": 10 * 86400, "cost_weight": 1000},
        "encoder": {"type": "murmurhash3"}})
    task = tn.send("req", "crowd", "publish", {
        "program": "eval-classifier", "version": 1, "input": bytes(32), "n": 2,
        "deposit": 1000, "reward": 2000})
    market = tn.send("cpp", "market", "open", {"capacity": 40, "unit_cost": 50,
                                               "price_cap": 1000})
    tn.mine()
    for tx in (transfer, create, task, market):
        receipt = _receipt(tn, tx)
        assert receipt.success, receipt.error
    add = tn.send("alice", "collab", "add_data", {"model_id": 0, "data": [1], "label": 1,
                                                  "deposit": 10**7})
    tn.mine()
    assert _receipt(tn, add).success, _receipt(tn, add).error
    client = TestClient(create_app(tn.node))
    return {"tn": tn, "client": client, "transfer": transfer}


def get(world: dict, path: str, status: int = 200) -> str:
    response = world["client"].get(path)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("text/html")
    return html.unescape(response.text)


def test_home_lists_head_and_recent_blocks_and_links_the_api(world: dict) -> None:
    tn = world["tn"]
    page = get(world, "/")
    assert f'id="height" class="big">{tn.chain.height}<' in page
    head = "0x" + tn.chain.head_hash.hex()
    assert f'data-hash="{head}"' in page
    assert "0x" + world["transfer"].hash.hex() in page  # latest transactions
    assert 'href="/docs"' in page and "/explorer/events" not in page  # the JS opens the feed
    assert "/explorer/static/explorer.js" in page


def test_block_page_shows_transactions_receipts_and_pow_detail(world: dict) -> None:
    tn = world["tn"]
    height = tn.chain.find_transaction(world["transfer"].hash)[0].height
    page = get(world, f"/block/{height}")
    assert "0x" + world["transfer"].hash.hex() in page
    assert "bank.transfer" in page and "collab.create_model" in page
    assert 'id="engine-pow"' in page and "difficulty" in page
    miner = to_checksum_address(dev_key("miner").address)
    assert f"/account/{miner}" in page  # proposer and miner set link to accounts
    assert ">ok<" in page
    by_hash = get(world, f"/block/0x{tn.chain.block_at(height).hash.hex()}")
    assert "bank.transfer" in by_hash
    assert f"Block {tn.chain.height}" in get(world, "/block/head")


def test_failed_transaction_shows_its_error(world: dict) -> None:
    tn = world["tn"]
    bad = tn.send("alice", "bank", "transfer", {"to": dev_key("bob").address,
                                                "amount": 10 * FUND})
    (block,) = tn.mine()
    page = get(world, f"/block/{block.height}")
    assert ">failed<" in page
    tx_page = get(world, f"/tx/0x{bad.hash.hex()}")
    assert ">no<" in tx_page and _receipt(tn, bad).error in tx_page


def test_transaction_and_account_pages(world: dict) -> None:
    tx = world["transfer"]
    page = get(world, f"/tx/0x{tx.hash.hex()}")
    assert "bank.transfer" in page and "1234" in page and "included in block" in page
    bob = to_checksum_address(dev_key("bob").address)
    account = get(world, f"/account/{bob}")
    assert ">1234<" in account
    alice = get(world, f"/account/0x{dev_key('alice').address.hex()}")
    assert "nonce (state)" in alice


def test_pending_transaction_page(world: dict) -> None:
    tn = world["tn"]
    tx = tn.send("alice", "bank", "transfer", {"to": dev_key("bob").address, "amount": 1})
    assert "pending" in get(world, f"/tx/0x{tx.hash.hex()}")
    tn.mine()
    assert "included in block" in get(world, f"/tx/0x{tx.hash.hex()}")


def test_app_pages_read_state_through_queries(world: dict) -> None:
    models = get(world, "/apps/collab")
    assert "spam-filter" in models and "stakeable" in models
    model = get(world, "/apps/collab/0")
    alice = to_checksum_address(dev_key("alice").address)
    assert "Contributors" in model and alice.lower() in model.lower()
    held = world["tn"].chain.query("collab", "contribution", {"model_id": 0,
                                                             "contribution": 0})["deposit"]
    assert held > 0 and 'id="contributions"' in model and f"<td>{held}</td>" in model
    crowd = get(world, "/apps/crowd")
    assert "Crowd tasks (1)" in crowd and "prepare" in crowd
    assert "prepare" in get(world, "/apps/crowd/0")
    markets = get(world, "/apps/market")
    assert 'href="/apps/market/0"' in markets
    assert "capacity" in get(world, "/apps/market/0")
    governance = get(world, "/governance")
    assert "difficulty" in governance and "block_reward" in governance
    assert to_checksum_address(dev_key("miner").address) in governance
    apps = get(world, "/apps")
    assert all(name in apps for name in ("bank", "identity", "consensus", "collab", "crowd"))


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/block/nope", 400, "Bad block id"),
    ("/block/-1", 400, "Bad block id"),
    ("/block/99999999999999999999", 400, "Bad block id"),
    ("/block/0x12", 400, "Bad block hash"),
    ("/block/0x" + "ab" * 32, 404, "Block not found"),
    ("/block/4000000", 404, "Block not found"),
    ("/tx/nothex", 400, "Bad transaction hash"),
    ("/tx/0x" + "zz" * 32, 400, "Bad transaction hash"),
    ("/tx/0x" + "cd" * 32, 404, "Transaction not found"),
    ("/account/0x1234", 400, "Bad address"),
    ("/account/alice", 400, "Bad address"),
    ("/apps/collab/x", 400, "Bad model id"),
    ("/apps/collab/77", 404, "Model not found"),
    ("/apps/crowd/-3", 400, "Bad task id"),
    ("/apps/crowd/9", 404, "Task not found"),
    ("/apps/market/1e3", 400, "Bad market id"),
    ("/apps/market/5", 404, "Market not found"),
    ("/search?q=%3Cscript%3E", 400, "Nothing to search for"),
])
def test_bad_ids_get_a_friendly_html_page(world: dict, path: str, status: int,
                                          says: str) -> None:
    page = get(world, path, status)
    assert f"<h1>{says}</h1>" in page and "back to the latest blocks" in page
    assert "<script>alert" not in world["client"].get(path).text  # input is escaped


def test_search_redirects_to_the_right_page(world: dict) -> None:
    tn, client = world["tn"], world["client"]
    tx = "0x" + world["transfer"].hash.hex()
    block = "0x" + tn.chain.block_at(1).hash.hex()
    bob = to_checksum_address(dev_key("bob").address)
    for query, target in [("1", "/block/1"), (block, f"/block/{block}"),
                          (tx, f"/tx/{tx}"), (bob, f"/account/{bob}")]:
        response = client.get("/search", params={"q": query}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == target


def test_apps_missing_from_genesis_get_a_404_page() -> None:
    tn = make_node(dev_genesis())
    client = TestClient(create_app(tn.node))
    for path in ("/apps/collab", "/apps/crowd", "/apps/market", "/apps/wallet"):
        response = client.get(path)
        assert response.status_code == 404 and "does not enable" in response.text
    home = client.get("/").text
    assert 'href="/apps/collab"' not in home and 'href="/apps/wallet"' not in home


def test_wallet_page_shows_the_interface_never_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """An app named `wallet` gets a metadata page: its declared methods, no stored values."""
    from typing import Any

    from learnchain.apps.base import App, CallContext, query_method, tx_method
    from learnchain.core.state import StateView

    secret = "PLAINTEXT-SECRET-42"

    class WalletApp(App):
        name = "wallet"

        @tx_method
        def store(self, ctx: CallContext, args: dict[str, Any]) -> None:
            ctx.state.set("doc", args["text"])

        @query_method
        def document(self, state: StateView, args: dict[str, Any]) -> Any:
            return state.get("doc")

    monkeypatch.setitem(OPTIONAL_APPS, "wallet", WalletApp)
    tn = make_node(dev_genesis(funded={"alice": FUND}, extra_apps=["wallet"]))
    tn.send("alice", "wallet", "store", {"text": secret})
    tn.mine()
    assert tn.chain.query("wallet", "document", {}) == secret
    client = TestClient(create_app(tn.node))
    page = client.get("/apps/wallet")
    assert page.status_code == 200 and "document" in page.text and "store" in page.text
    assert 'href="/apps/wallet"' in client.get("/").text
    for path in ("/apps/wallet", "/apps", "/"):
        assert secret not in client.get(path).text


def test_live_feed_sends_new_blocks_as_server_sent_events() -> None:
    """The SSE stream announces a block mined after the client connected, with its txs."""
    import json
    import threading

    tn = make_node(dev_genesis(funded={"alice": FUND}))
    tn.mine()
    client = TestClient(create_app(tn.node))
    mined: list = []

    def mine_later() -> None:
        tx = tn.send("alice", "bank", "transfer", {"to": dev_key("bob").address, "amount": 7})
        mined.append((tx, tn.mine()[0]))

    with client.stream("GET", "/explorer/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        threading.Thread(target=mine_later).start()
        event = None
        for line in lines:
            if line.startswith("data: "):
                event = json.loads(line[len("data: "):])
                break
    tx, block = mined[0]
    assert event is not None and event["height"] == block.height
    (announced,) = [b for b in event["blocks"] if b["height"] == block.height]
    assert announced["hash"] == "0x" + block.hash.hex()
    assert "0x" + tx.hash.hex() in announced["txs"]


def test_static_assets_are_packaged_and_docs_stay(world: dict) -> None:
    client = world["client"]
    css = client.get("/explorer/static/explorer.css")
    js = client.get("/explorer/static/explorer.js")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "EventSource" in js.text
    assert "http://" not in js.text and "https://" not in js.text  # nothing fetched remotely
    assert client.get("/docs").status_code == 200
    assert client.get("/v1/status").json()["height"] == world["tn"].chain.height
    assert client.get("/v1/nope").json()["error"] == "not-found"  # the API still answers JSON


def test_live_feed_resumes_after_the_last_event_id() -> None:
    """A reconnecting EventSource sends Last-Event-ID (a height): it gets every block since."""
    import json

    tn = make_node(dev_genesis())
    tn.mine(5)
    client = TestClient(create_app(tn.node))
    with client.stream("GET", "/explorer/events", headers={"Last-Event-ID": "2"}) as stream:
        lines = stream.iter_lines()
        event_id = data = None
        for line in lines:
            if line.startswith("id: "):
                event_id = line[len("id: "):]
            if line.startswith("data: "):
                data = json.loads(line[len("data: "):])
                break
    assert event_id == "5" and data is not None
    assert [b["height"] for b in data["blocks"]] == [3, 4, 5]
    assert data["blocks"][-1]["hash"] == "0x" + tn.chain.head_hash.hex()


def test_an_open_event_stream_does_not_hold_up_server_shutdown() -> None:
    import httpx

    from learnchain.net.server import ApiServer

    tn = make_node(dev_genesis())
    server = ApiServer(tn.node)
    with server, httpx.Client(timeout=30) as http, \
            http.stream("GET", server.url + "/explorer/events") as stream:
        assert next(stream.iter_lines()).startswith("retry:")
        server.__exit__(None, None, None)  # shut down while the stream is open
        assert not server.thread.is_alive()
