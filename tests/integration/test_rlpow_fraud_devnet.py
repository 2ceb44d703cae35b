"""A fraud proof across a real-process rlpow devnet: one node's bad block is rejected by all.

Three node processes agree on a chain with K = 4 steps per block and 1 audited. The nodes are
stopped; node 2's store gets a block whose last training step is a pre-trained network (the
last-step swap, signed with node 2's key, as a cheating node would make it); the nodes are
restarted and node 2 serves its block. Whatever the other nodes' own audits found, a fraud
proof for that step, posted to node 0 only, reaches every node over the peer protocol: each
one checks it by replaying the step, drops the block (rolling back if it had adopted it) and
bans node 2 as a miner. The in-process version of this narrative, with the audits forced, is
tests/adversarial/test_rlpow_security.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import replace

import httpx
import pytest

from learnchain import polling
from learnchain.consensus.rlpow import Manifest, RLPowEngine
from learnchain.consensus.rlpow_fraud import FraudProof
from learnchain.core.crypto import load_keystore
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.devnet import create_devnet, node_info, start_devnet, stop_devnet
from learnchain.ml import dqn
from learnchain.net.server import free_port_range
from learnchain.node import open_chain
from learnchain.scaffold import DEV_PASSWORD

pytestmark = [pytest.mark.network, pytest.mark.slow]  # 160 s under load: the
# in-suite version is tests/adversarial/test_rlpow_security.py (same narrative, in process)


def wait_until(predicate, timeout=90.0, what="condition"):
    return polling.wait_until(predicate, timeout, what, poll=0.25, errors=())


def _forge_last_step_swap(datadir, genesis: GenesisConfig) -> tuple[Block, bytes]:
    """Node 2's cheating block on its own head, stored as its own; and the fraud proof."""
    key = load_keystore(datadir / "keys" / "node.json", DEV_PASSWORD)
    chain = open_chain(datadir / "chain.sqlite", genesis)
    engine = chain.engine
    assert isinstance(engine, RLPowEngine)
    candidate, _ = chain.build_candidate([], key.address)
    sealed = engine.seal(candidate.header, chain.consensus_params(), threading.Event())
    assert sealed is not None and sealed.engine_fields["k"] == 4
    m = Manifest.from_bytes(engine.blobs.get(sealed.engine_fields["work"]) or b"")
    steps = list(m.steps)
    pretrained = engine.blobs.put(dqn.init_params(engine.spec, b"pre-trained elsewhere"))
    steps[-1] = (pretrained, *steps[-1][1:])
    forged = Manifest(m.step0, m.start, tuple(steps), m.compute)
    header = replace(sealed, engine_fields={**sealed.engine_fields, "after": list(steps[-1]),
                                            "work": engine.blobs.put(forged.to_bytes())})
    bad = Block(header, candidate.transactions).signed(key)
    engine._own.add(bad.hash)  # a cheater does not audit itself
    chain.add_block(bad)
    assert chain.head_hash == bad.hash
    inputs = {d: engine.blobs.get(d) or b"" for d in steps[-2]}
    context = engine.fraud_context(bad.header) if engine.shares_learner else ({}, {})
    proof = FraudProof.for_step(bad, forged, 3, inputs, *context).to_bytes()
    assert sorted(FraudProof.from_bytes(proof).uncles) == list(
        bad.header.engine_fields.get("uncles", []))
    chain.store.conn.close()
    return bad, proof


@pytest.mark.parametrize("design", ["lineage", "uncles"])
def test_a_fraud_proof_posted_to_one_node_makes_every_node_reject_the_block(tmp_path, design):
    """design=uncles: the bad block starts from a merged state and lists uncles; the proof
    carries them and every node replays the step on the block's merged history."""
    nodes = create_devnet(tmp_path, 3, base_port=free_port_range(3), engine="rlpow",
                          block_interval_ms=300, fast_kdf=True, archive_work=True,
                          design=design,
                          consensus_params={"K": 4, "audit_steps": 1, "learning_starts": 3})
    genesis = GenesisConfig.load(tmp_path / "genesis.json")
    pids = start_devnet(tmp_path)
    try:
        wait_until(lambda: all((node_info(n.url) or {}).get("height", 0) >= 5 for n in nodes),
                   what="three nodes past height 5")
        stop_devnet(tmp_path)
        bad, proof = _forge_last_step_swap(nodes[2].datadir, genesis)
        pids = start_devnet(tmp_path)
        wait_until(lambda: all((node_info(n.url) or {}).get("height", 0) >= bad.height
                               for n in nodes), what="the nodes back up")
        reply = httpx.post(f"{nodes[0].url}/v1/rlpow/fraud", content=proof, timeout=60)
        assert reply.status_code == 200, reply.text
        assert reply.json()["proposer"] == "0x" + bad.header.proposer.hex()

        def convicted_everywhere() -> bool:
            for n in nodes:
                try:
                    status = httpx.get(f"{n.url}/v1/rlpow/fraud", timeout=5).json()
                except (httpx.HTTPError, ValueError):
                    return False
                if "0x" + bad.hash.hex() not in status["invalid_blocks"]:
                    return False
            return True

        wait_until(convicted_everywhere, what="every node to reject the block")
        for n in nodes:
            status = httpx.get(f"{n.url}/v1/rlpow/fraud", timeout=5).json()
            assert status["convicted"] == {"0x" + bad.header.proposer.hex(): "0x" + bad.hash.hex()}
        # The honest nodes go on without node 2, past the bad block's height, on other blocks.
        target = bad.height + 2

        def moved_on() -> bool:
            for n in nodes[:2]:
                block = httpx.get(f"{n.url}/v1/blocks/{bad.height}", timeout=5)
                info = node_info(n.url) or {}
                if block.status_code != 200 or info.get("height", 0) < target:
                    return False
                if block.json()["hash"] == "0x" + bad.hash.hex():
                    return False
            return True

        wait_until(moved_on, what="the honest nodes to build past the bad height")
        false = httpx.post(f"{nodes[1].url}/v1/rlpow/fraud", content=b"\x00" * 10, timeout=10)
        assert false.status_code == 400 and false.json()["error"] == "invalid-fraud-proof"
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
