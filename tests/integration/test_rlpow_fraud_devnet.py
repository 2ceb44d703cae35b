"""A fraud proof across a real-process rlpow devnet: one node's bad block is rejected by all.

Three node processes agree on a chain with K = 4 steps per block and 1 audited. The nodes are
stopped; node 2 signs a block on the last block all three share whose last training step is a
pre-trained network (the last-step swap, as a cheating node would make it). The nodes are
restarted; a fraud proof for that step, submitted to node 0 only (`learnchain rlpow fraud
submit`), reaches every node over the peer protocol: each one checks it by replaying the
step, refuses the block and bans node 2 as a miner, and the honest nodes build on past it.
The in-process versions of this narrative, with the audits forced and with a proof arriving
before its block, are tests/adversarial/test_rlpow_security.py and
tests/adversarial/test_rlpow_fraud_gossip.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from learnchain import polling
from learnchain.cli.main import app
from learnchain.consensus.rlpow import Manifest, RLPowEngine
from learnchain.consensus.rlpow_fraud import FraudProof, step_proof
from learnchain.core.crypto import load_keystore
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.devnet import create_devnet, node_info, start_devnet, stop_devnet
from learnchain.ml import dqn
from learnchain.net.server import free_port_range
from learnchain.node import open_chain
from learnchain.scaffold import DEV_PASSWORD

pytestmark = pytest.mark.network


def wait_until(predicate, timeout=180.0, what="condition", describe=None):
    return polling.wait_until(predicate, timeout, what, poll=0.25, errors=(),
                              describe=describe)


def _cli(*args: str) -> dict:
    """`learnchain rlpow fraud …` against a node process, its --json output."""
    result = CliRunner().invoke(app, ["rlpow", "fraud", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _snapshot(nodes) -> str:
    """Each node's height and fraud verdicts, for a timeout message."""
    parts = []
    for i, n in enumerate(nodes):
        try:
            status = httpx.get(f"{n.url}/v1/rlpow/fraud", timeout=5).json()
        except (httpx.HTTPError, ValueError) as exc:
            status = {"error": str(exc)}
        parts.append(f"node {i}: height {(node_info(n.url) or {}).get('height')}, {status}")
    return "; ".join(parts)


def _common_chain(datadirs: list[Path], genesis: GenesisConfig) -> list[bytes]:
    """The canonical hashes every stopped node agrees on, from genesis up."""
    chains = [open_chain(d / "chain.sqlite", genesis) for d in datadirs]
    try:
        common: list[bytes] = []
        for height in range(min(c.height for c in chains) + 1):
            hashes = {c.store.canonical_hash(height) for c in chains}
            if len(hashes) > 1:
                break
            common.append(hashes.pop())
        return common
    finally:
        for c in chains:
            c.store.conn.close()


def _forge_last_step_swap(datadir: Path, workdir: Path, genesis: GenesisConfig,
                          common: list[bytes]) -> tuple[Block, bytes]:
    """Node 2's cheating block on the last block all nodes share, and the fraud proof.

    It is made in a copy of node 2's store rolled back to that block, so that every node
    holds its parent on its canonical chain (whatever the last blocks before the stop did)
    and node 2's own store is left as it was."""
    workdir.mkdir()
    for part in datadir.glob("chain.sqlite*"):
        shutil.copy(part, workdir / part.name)
    key = load_keystore(datadir / "keys" / "node.json", DEV_PASSWORD)
    chain = open_chain(workdir / "chain.sqlite", genesis)
    engine = chain.engine
    assert isinstance(engine, RLPowEngine)
    while chain.head_hash != common[-1]:
        fork = next(h for h in range(1, chain.height + 1)
                    if h >= len(common) or chain.store.canonical_hash(h) != common[h])
        chain.invalidate(chain.store.canonical_hash(fork), "test: rolled back to the common block")
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
    assert chain.head_hash == bad.hash and bad.parent == common[-1]
    proof = step_proof(engine, bad, 3).to_bytes()
    assert sorted(FraudProof.from_bytes(proof).uncles) == list(
        bad.header.engine_fields.get("uncles", []))
    chain.store.conn.close()
    return bad, proof


@pytest.mark.parametrize("design", [  # 31 s idle each; uncles: `pytest -m slow`
    "lineage", pytest.param("uncles", marks=pytest.mark.slow)])
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
        common = _common_chain([n.datadir for n in nodes], genesis)
        bad, proof = _forge_last_step_swap(nodes[2].datadir, tmp_path / "forge", genesis,
                                           common)
        pids = start_devnet(tmp_path)
        wait_until(lambda: all((node_info(n.url) or {}).get("height", 0) >= bad.height
                               for n in nodes), what="the nodes back up")
        proof_file = tmp_path / "proof.cbor"
        proof_file.write_bytes(proof)
        reply = _cli("submit", str(proof_file), "--node", nodes[0].url)
        assert reply["proposer"] == "0x" + bad.header.proposer.hex() and reply["new"]

        def convicted_everywhere() -> bool:
            for n in nodes:
                try:
                    status = httpx.get(f"{n.url}/v1/rlpow/fraud", timeout=5).json()
                except (httpx.HTTPError, ValueError):
                    return False
                if "0x" + bad.hash.hex() not in status["invalid_blocks"]:
                    return False
            return True

        wait_until(convicted_everywhere, what="every node to reject the block",
                   describe=lambda: _snapshot(nodes))
        for n in nodes:
            status = _cli("status", "--node", n.url)
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

        wait_until(moved_on, what="the honest nodes to build past the bad height",
                   describe=lambda: _snapshot(nodes))
        false = httpx.post(f"{nodes[1].url}/v1/rlpow/fraud", content=b"\x00" * 10, timeout=10)
        assert false.status_code == 400 and false.json()["error"] == "invalid-fraud-proof"
        (tmp_path / "junk.cbor").write_bytes(b"\x00" * 10)
        refused = CliRunner().invoke(app, ["rlpow", "fraud", "submit", str(tmp_path / "junk.cbor"),
                                           "--node", nodes[1].url, "--json"])
        assert refused.exit_code == 1 and "invalid-fraud-proof" in refused.output
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
