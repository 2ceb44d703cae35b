"""The /v1 HTTP API over real loopback HTTP: submit, include, read; JSON errors."""

import httpx
import pytest

from learnchain.net.client import ApiClientError, NodeClient
from learnchain.net.server import ApiServer
from learnchain.testing import dev_genesis, dev_key, make_node

ALICE, BOB = dev_key("alice"), dev_key("bob")


@pytest.fixture
def served():
    tn = make_node(dev_genesis(funded={"alice": 1000}))
    with ApiServer(tn.node) as server:
        yield tn, NodeClient(server.url), server.url


def test_a_transfer_submitted_over_http_is_included_with_its_receipt(served):
    tn, client, _ = served
    tx = client.send(ALICE, "bank", "transfer", {"to": BOB.address, "amount": 25})
    assert client.transaction(tx.hash)["status"] == "pending"
    assert client.account(ALICE.address)["nonce"] == 1
    tn.mine()
    found = client.wait_for(tx.hash, timeout=5)
    assert found["height"] == 1 and found["receipt"]["success"]
    assert client.account(BOB.address)["balance"] == 25
    assert client.query("bank", "balance", {"address": BOB.address}) == 25
    block = client.block("head", full=True)
    assert block["transactions"][0]["hash"] == "0x" + tx.hash.hex()
    status = client.status()
    assert status["height"] == 1 and status["chain_id"] == 1337


def test_errors_are_json_with_specific_messages(served):
    _, client, url = served
    bad = httpx.post(f"{url}/v1/transactions", json={"raw": "0xdeadbeef"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad-encoding"
    missing = httpx.get(f"{url}/v1/blocks/99")
    assert missing.status_code == 404 and missing.json() == {"error": "not-found",
                                                             "detail": "no block 99"}
    unparsable = httpx.post(f"{url}/v1/transactions", json={"wrong": 1})
    assert unparsable.status_code == 422 and unparsable.json()["error"] == "invalid-request"
    with pytest.raises(ApiClientError, match=r"gapped|replayed|nonce"):
        from learnchain.core.types import Transaction

        client.submit(Transaction(1337, ALICE.address, 0, "bank", "transfer",
                                  {"to": BOB.address, "amount": 1}).signed(ALICE))
        client.submit(Transaction(1337, ALICE.address, 0, "bank", "transfer",
                                  {"to": BOB.address, "amount": 2}).signed(ALICE))
    query = httpx.post(f"{url}/v1/query/bank/nothing", json={"args": {}})
    assert query.status_code == 400 and "no query 'nothing'" in query.json()["detail"]


def test_openapi_documents_the_v1_routes(served):
    _, _, url = served
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/transactions", "/v1/blocks/{block_id}", "/v1/accounts/{address}",
            "/v1/query/{app}/{method}"} <= set(spec["paths"])
