"""The split report and the checkpoint, as an operator meets them: CLI, HTTP API, restart.

A node made by `learnchain init` (finality bound lowered to 2 for the test) holds 3 blocks
when its own key's competing branch from genesis arrives: a split. `chain show`, `chain head`
and `finality status` say so (the record survives a restart: it is in the node's SQLite
file); `/v1/finality` reports it and takes a checkpoint, refusing one the controller did not
sign with a JSON `{error, detail}`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from learnchain.core.crypto import PrivateKey, load_keystore
from learnchain.core.errors import BeyondFinality
from learnchain.core.finality import Checkpoint
from learnchain.core.genesis import GenesisConfig
from learnchain.net.finality_api import mount_finality
from learnchain.net.http_transport import HttpTransport
from learnchain.net.p2p import P2PNode
from learnchain.net.server import ApiServer
from learnchain.node import Node, open_chain
from learnchain.scaffold import DEV_PASSWORD, init_datadir
from learnchain.testing import ManualClock


def cli(*args):
    result = subprocess.run([sys.executable, "-m", "learnchain.cli.main", *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def split_node(tmp_path):
    datadir = tmp_path / "node"
    init_datadir(datadir, light_kdf=True, difficulty=1)
    genesis = GenesisConfig.load(datadir / "genesis.json")
    genesis = GenesisConfig.from_plain({**genesis.to_plain(), "max_reorg_depth": 2})
    genesis.save(datadir / "genesis.json")
    key = load_keystore(datadir / "keys/node.json", DEV_PASSWORD)
    clock = ManualClock(genesis.timestamp_ms + 1000)
    ours = Node(open_chain(datadir / "chain.sqlite", genesis, clock=clock), key)
    theirs = Node(open_chain(":memory:", genesis, clock=clock), key)
    clock.advance(500)
    (their_block,) = [theirs.produce_block()]
    for _ in range(3):
        clock.advance(1000)
        ours.produce_block()
    with pytest.raises(BeyondFinality):
        ours.import_block(their_block)
    ours.chain.store.close()
    return datadir, genesis, key, clock, their_block


def test_the_cli_reports_a_split_and_signs_a_checkpoint(split_node):
    datadir, _, _, _, their_block = split_node
    status = json.loads(cli("finality", "status", "--datadir", str(datadir), "--json"))
    assert status["split"]["depth"] == 3 and status["split"]["finality_bound"] == 2
    assert status["split"]["their_block"] == "0x" + their_block.hash.hex()
    assert "chain split" in cli("chain", "show", "--datadir", str(datadir))
    assert json.loads(cli("chain", "head", "--datadir", str(datadir), "--json"))["split"]
    signed = json.loads(cli("finality", "checkpoint", "--datadir", str(datadir), "--key",
                            "node", "--node", "-", "--json"))["checkpoint"]
    assert signed["height"] == 3 and len(signed["signature"]) == 2 + 130


def test_the_api_reports_the_split_and_takes_only_the_controllers_checkpoint(split_node):
    datadir, genesis, key, clock, _ = split_node
    chain = open_chain(datadir / "chain.sqlite", genesis, clock=clock)
    node = Node(chain, key)
    p2p = P2PNode(node, key, HttpTransport(), "http://127.0.0.1:1")
    server = ApiServer(node)
    mount_finality(server.server.config.app, p2p)
    with server:
        report = httpx.get(f"{server.url}/v1/finality").json()
        assert report["split"]["depth"] == 3 and report["finality_bound"] == 2
        forged = Checkpoint(genesis.chain_id, 3, chain.head_hash).signed(PrivateKey.generate())
        refused = httpx.post(f"{server.url}/v1/finality/checkpoint", json=forged.to_json())
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid-checkpoint"
        assert "governance controller" in refused.json()["detail"]
        junk = httpx.post(f"{server.url}/v1/finality/checkpoint", content=b"{not json")
        assert junk.status_code == 400 and set(junk.json()) == {"error", "detail"}
        good = Checkpoint(genesis.chain_id, 3, chain.head_hash).signed(key)
        accepted = httpx.post(f"{server.url}/v1/finality/checkpoint", json=good.to_json())
        assert accepted.status_code == 200 and accepted.json()["accepted"] is True
        after = accepted.json()
        assert after["checkpoint"]["height"] == 3 and after["split"] is None
    chain.store.close()
