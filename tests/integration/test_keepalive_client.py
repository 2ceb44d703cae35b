"""The keep-alive API client (used by `learnchain worker`) over real loopback HTTP: the same
answers and errors as the httpx client, one connection reused, and a reconnect when the node
closed it (a restarted node, or an idle connection timed out)."""

import pytest

from learnchain.apps.crowd.worker import HttpBackend
from learnchain.net.client import ApiClientError, NodeClient
from learnchain.net.keepalive import KeepAliveNodeClient
from learnchain.net.server import ApiServer, free_port
from learnchain.testing import dev_genesis, dev_key, make_node

ALICE, BOB = dev_key("alice"), dev_key("bob")


@pytest.fixture
def served():
    tn = make_node(dev_genesis(funded={"alice": 10**6}, fee_per_byte=1, extra_apps=["crowd"]))
    with ApiServer(tn.node) as server:
        yield tn, server.url


def test_answers_and_errors_match_the_httpx_client(served):
    tn, url = served
    fast, plain = KeepAliveNodeClient(url), NodeClient(url)
    tx = fast.send(ALICE, "bank", "transfer", {"to": BOB.address, "amount": 25})
    assert fast.transaction(tx.hash) == plain.transaction(tx.hash)
    assert fast.transaction(tx.hash)["status"] == "pending"
    tn.mine()
    assert fast.transaction(tx.hash) == plain.transaction(tx.hash)
    assert fast.block("head", full=True) == plain.block("head", full=True)  # bool params
    assert fast.headers(0, 2) == plain.headers(0, 2)
    assert fast.query("bank", "balance", {"address": BOB.address}) == 25
    assert fast.fee_per_byte() == plain.fee_per_byte() == 1
    digest = fast.put_content(b"blob")
    assert fast.get_content(digest) == b"blob"
    errors = []
    for client in (fast, plain):
        with pytest.raises(ApiClientError) as caught:
            client.block(99)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "404" in errors[0] and "no block 99" in errors[0]


def test_one_connection_is_reused_and_reopened_after_the_node_closes_it(served):
    _, url = served
    client = KeepAliveNodeClient(url)
    client.status()
    first = client._connection()
    client.status()
    assert client._connection() is first and first.sock is not None
    first.sock.close()  # as if the node had dropped the idle connection
    assert client.status()["chain_id"] == 1337
    assert client._connection() is not first


def test_an_absent_node_is_a_clear_client_error():
    client = KeepAliveNodeClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ApiClientError, match="cannot reach the node"):
        client.status()


def test_worker_backend_tracks_its_nonce_and_recovers_after_a_refusal(served):
    tn, url = served
    backend = HttpBackend(url, ALICE)
    NodeClient(url).send(ALICE, "bank", "transfer", {"to": BOB.address, "amount": 1})
    # the backend read nonce 1 (one pending); another client then takes it behind its back
    backend._chain_id, backend._nonce, backend._fee_per_byte = 1337, 1, 1
    NodeClient(url).send(ALICE, "bank", "transfer", {"to": BOB.address, "amount": 1})
    with pytest.raises(ApiClientError, match="nonce"):
        backend.send("settle", {"task_id": 0})
    assert backend._nonce is None  # re-read on the next send
    sent = backend.send("settle", {"task_id": 0})
    assert sent in tn.node.mempool
    assert backend._nonce == 3
