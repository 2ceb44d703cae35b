"""`learnchain rlpow fraud audit`: the operator's full audit of blocks a node accepted.

Narrative: a node's store holds honest blocks, one block whose intermediate training blobs
were not kept (a pruning proposer), and a last-step swap its one-step sample missed. The full
audit replays every step: the honest blocks reproduce, the pruned one is named as not
auditable here, and the swap gets a proof file that any node accepts as a verdict.
"""

from __future__ import annotations

import json
import threading

from typer.testing import CliRunner

from learnchain.cli.main import app
from learnchain.consensus.rlpow_fraud import FraudProof, check_fraud_proof
from learnchain.core.crypto import load_keystore
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.devnet import create_devnet
from learnchain.node import open_chain
from learnchain.scaffold import DEV_PASSWORD
from learnchain.sim.rlpow_chains import swap_last_step
from learnchain.testing import ManualClock


def _propose(chain, key, clock) -> Block:
    clock.advance(1000)
    candidate, _ = chain.build_candidate([], key.address)
    sealed = chain.engine.seal(candidate.header, chain.consensus_params(), threading.Event())
    assert sealed is not None
    return Block(sealed, candidate.transactions).signed(key)


def test_a_full_audit_finds_the_step_the_sample_missed(tmp_path):
    (node,) = create_devnet(tmp_path, 1, engine="rlpow", fast_kdf=True,
                            consensus_params={"K": 4, "audit_steps": 1, "learning_starts": 3})
    genesis = GenesisConfig.load(tmp_path / "genesis.json")
    key = load_keystore(node.datadir / "keys" / "node.json", DEV_PASSWORD)
    clock = ManualClock(genesis.timestamp_ms + 1000)
    chain = open_chain(node.datadir / "chain.sqlite", genesis, clock=clock)
    chain.engine.archive_work = True
    for _ in range(5):
        chain.add_block(_propose(chain, key, clock))
    chain.engine.archive_work = False  # this block's intermediate steps are not kept
    pruned = _propose(chain, key, clock)
    chain.add_block(pruned)
    chain.engine.archive_work = True
    bad = swap_last_step(chain.engine, _propose(chain, key, clock), key)
    chain.engine._own.add(bad.hash)  # its own block: the proposer's node does not audit it
    chain.add_block(bad)
    assert chain.head_hash == bad.hash
    chain.store.close()

    out = tmp_path / "proofs"
    result = CliRunner().invoke(app, ["rlpow", "fraud", "audit", "--datadir", str(node.datadir),
                                      "--out", str(out), "--json"])
    assert result.exit_code == 2, result.output  # a bad block found, as `chain verify`
    summary = json.loads(result.output)
    verdicts = {r["height"]: r["verdict"] for r in summary["blocks"]}
    assert verdicts[bad.height] == "bad" and verdicts[pruned.height] == "not auditable here"
    assert [h for h, v in verdicts.items() if v == "ok"] == [3, 4, 5]  # 1-2: no training yet
    assert (summary["ok"], summary["bad"], summary["not_auditable"]) == (3, 1, 1)
    row = summary["blocks"][-1]
    assert row["step"] == 3 and "do not reproduce" in row["detail"]

    proof = FraudProof.from_bytes((out / row["proof"].split("/")[-1]).read_bytes())
    assert proof.block_hash == bad.hash
    again = open_chain(node.datadir / "chain.sqlite", genesis, clock=clock)
    assert "do not reproduce" in check_fraud_proof(again.engine, proof)  # any node's verdict

def test_auditing_a_chain_of_another_engine_says_so(tmp_path):
    (node,) = create_devnet(tmp_path, 1, engine="pow", fast_kdf=True)
    result = CliRunner().invoke(app, ["rlpow", "fraud", "audit", "--datadir",
                                      str(node.datadir)])
    assert result.exit_code == 1 and "only rlpow blocks carry training" in result.output
