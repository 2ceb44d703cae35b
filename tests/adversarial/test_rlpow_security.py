"""rlpow attacks of issue #18, each refused: block flooding, transaction rewriting with reused
training, the last-step swap (caught by all via a fraud proof), a relabelled platform and the
cumulative nudge. Design: docs/consensus-rlpow.md §4-§5; rules: consensus/rlpow_rules.py and
consensus/rlpow_fraud.py.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from typing import Any

import pytest

from learnchain.consensus import rlpow, rlpow_propose, rlpow_verify
from learnchain.consensus.rlpow import Manifest
from learnchain.consensus.rlpow_fraud import (
    FraudProof,
    FraudProofError,
    apply_fraud_proof,
    check_fraud_proof,
)
from learnchain.core.crypto import PrivateKey, to_checksum_address
from learnchain.core.errors import FutureBlock, InvalidBlock
from learnchain.core.types import Block, Transaction
from learnchain.ml import dqn
from learnchain.sim.rlpow_chains import (
    LocalChain,
    audit_salt_for,
    keys_for,
    local_chain,
    rlpow_genesis,
    swap_last_step,
)
from learnchain.testing import ManualClock

K = 4


def _platform(label: str) -> dict[str, Any]:
    dqn.configure_determinism()
    record = {k: v if isinstance(v, int) else str(v)
              for k, v in dqn.ComputeSettings.current().to_record().items()}
    return {**record, "cpu_capability": label}


def _pair(n_keys: int = 2, prefix: str = "sec", *, honest: int = 6,
          platforms: dict[str, Any] | None = None, genesis_updates: dict[str, Any] | None = None,
          **params: Any) -> tuple[LocalChain, LocalChain, list[PrivateKey]]:
    """A prover chain and a verifier chain (own engines, own blob stores) sharing `honest`
    blocks by keys in turn."""
    keys = keys_for(n_keys, prefix)
    genesis = rlpow_genesis(keys, params={"K": K, "audit_steps": K, "learning_starts": 3,
                                          **params})
    if platforms is not None:
        genesis = replace(genesis, engine_config={**genesis.engine_config,
                                                  "platforms": platforms})
    if genesis_updates:
        genesis = replace(genesis, **genesis_updates)
    clock = ManualClock()
    prover, verifier = (local_chain(genesis, keys, clock=clock) for _ in range(2))
    verifier.engine.audit_salt = b"the verifier"
    for h in range(honest):
        deliver(prover, verifier, prover.produce(keys[h % n_keys]))
    return prover, verifier, keys


def deliver(source: LocalChain, target: LocalChain, block: Block) -> Any:
    target.engine.accept_sidecar(source.engine.sidecar(block))
    return target.chain.add_block(block)


def _replica(source: LocalChain) -> LocalChain:
    """Another honest node with `source`'s canonical chain."""
    other = local_chain(source.chain.genesis_config, source.keys, clock=source.clock)
    for h in range(1, source.chain.height + 1):
        deliver(source, other, source.chain.block_at(h))
    return other


def resign(block: Block, key: PrivateKey, **fields: Any) -> Block:
    header = replace(block.header, engine_fields={**block.header.engine_fields, **fields})
    return Block(header, block.transactions).signed(key)


def propose_with(local: LocalChain, key: PrivateKey, txs: list[Transaction]) -> Block:
    local.clock.advance(1000)
    candidate, _ = local.chain.build_candidate(txs, key.address)
    assert len(candidate.transactions) == len(txs)
    sealed = local.engine.seal(candidate.header, local.chain.consensus_params(),
                               threading.Event())
    assert sealed is not None
    return Block(sealed, candidate.transactions).signed(key)


# ----- block flooding ------------------------------------------------------------------------


def _without_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attacker's own software skips the rate rule (honest nodes keep it)."""
    monkeypatch.setattr(rlpow_propose, "validate_pace", lambda *a, **k: None)
    monkeypatch.setattr(rlpow_verify, "validate_pace", lambda *a, **k: None)


def test_one_key_cannot_flood_blocks_faster_than_the_consensus_rate(monkeypatch):
    """Measured on the old engine: one key made 50 valid blocks in about a second of work.
    Now a block must come ≥ min_interval_ms after its parent and no later than the receiver's
    clock allows (max_future_ms), so a burst timestamped at work speed is refused, and one
    timestamped at the legal pace reaches at most (elapsed + max_future) / Δ blocks."""
    params = {"learning_starts": 10**6, "min_interval_ms": 1000}  # k = 0: blocks are free
    honest, receiver, keys = _pair(3, "flood", honest=3, genesis_updates={
        "max_future_ms": 2000}, **params)
    attacker = local_chain(honest.chain.genesis_config, keys, clock=ManualClock())
    attacker.clock.now_ms = honest.clock.now_ms
    for h in range(1, 4):
        deliver(honest, attacker, honest.chain.block_at(h))
    _without_pace(monkeypatch)
    burst = [attacker.produce(keys[0], step_ms=20) for _ in range(50)]  # 50 blocks in 1 s
    monkeypatch.undo()
    receiver.clock.now_ms = attacker.clock.now_ms
    with pytest.raises(InvalidBlock, match="block rate: timestamp is 20 ms after"):
        deliver(attacker, receiver, burst[0])
    assert receiver.chain.height == 3

    # The same burst at the legal spacing: the receiver's clock caps it.
    attacker2 = local_chain(honest.chain.genesis_config, keys, clock=ManualClock())
    attacker2.clock.now_ms = honest.clock.now_ms
    for h in range(1, 4):
        deliver(honest, attacker2, honest.chain.block_at(h))
    start = attacker2.clock.now_ms
    legal = [attacker2.produce(keys[h % 3], step_ms=1000) for h in range(50)]
    receiver.clock.now_ms = start + 1000  # one second of wall time has passed
    accepted = 0
    for block in legal:
        try:
            deliver(attacker2, receiver, block)
        except FutureBlock:
            break
        accepted += 1
    assert accepted == (1000 + 2000) // 1000, "elapsed + max_future over Δ, not 50"


def test_one_key_cannot_build_a_long_private_branch_under_the_signer_limit(monkeypatch):
    """The old engine let one key withhold 21 blocks and force a 20-block reorg. With
    signer_limit = ⌊N/2⌋ + 1 a key signs at most one block of any two consecutive ones (N =
    3), so a lone key's private branch stops at one block, whatever its pace."""
    honest, receiver, keys = _pair(3, "reorg", honest=3, min_interval_ms=1000, signer_limit=2)
    attacker = local_chain(honest.chain.genesis_config, keys, clock=ManualClock())
    attacker.clock.now_ms = honest.clock.now_ms
    for h in range(1, 4):
        deliver(honest, attacker, honest.chain.block_at(h))
    for h in range(20):  # the honest network keeps going with its two other keys
        deliver(honest, receiver, honest.produce(keys[1 + h % 2]))
    _without_pace(monkeypatch)
    private = [attacker.produce(keys[0], step_ms=1000) for _ in range(21)]
    monkeypatch.undo()
    receiver.clock.now_ms = max(receiver.clock.now_ms, attacker.clock.now_ms)
    for block in private[:-1]:  # side blocks, judged when their branch would win
        deliver(attacker, receiver, block)
    with pytest.raises(InvalidBlock, match=r"block rate: proposer .* signed the block 1 below"):
        deliver(attacker, receiver, private[-1])  # 24 > 23: the reorg runs, and fails
    assert receiver.chain.height == 23 and receiver.chain.head_hash == honest.chain.head_hash


# ----- transactions bound to the training ----------------------------------------------------


def _transfer(local: LocalChain, key: PrivateKey, to: PrivateKey, nonce: int) -> Transaction:
    chain = local.chain
    tx = Transaction(chain.genesis_config.chain_id, key.address, nonce, "bank", "transfer",
                     {"to": to_checksum_address(to.address), "amount": 5})
    return tx.signed(key)


def test_one_training_run_cannot_seal_two_blocks_paying_different_people():
    """Same parent, same proposer, same K steps: only the body differs. The training seed
    covers the tx root, so the copied work does not replay for the second body."""
    prover, verifier, keys = _pair(2, "rewrite")
    alice, bob = PrivateKey.from_seed(b"alice"), PrivateKey.from_seed(b"bob")
    pays_alice = propose_with(prover, keys[0], [_transfer(prover, keys[0], alice, 0)])
    work = pays_alice.header.engine_fields
    prover.clock.now_ms -= 1000
    pays_bob = propose_with(prover, keys[0], [_transfer(prover, keys[0], bob, 0)])
    assert pays_bob.header.tx_root != pays_alice.header.tx_root
    reused = resign(pays_bob, keys[0], after=work["after"], work=work["work"])
    with pytest.raises(InvalidBlock, match="training steps do not reproduce"):
        deliver(prover, verifier, reused)
    assert keys[0].address in verifier.engine.convicted, "signing it convicts the proposer"
    other = _replica(prover)
    deliver(prover, other, pays_alice)  # the honest block is fine
    assert other.chain.head_hash == pays_alice.hash


def test_rewriting_a_published_block_reusing_its_training_is_refused():
    """The proposer's last block, re-issued with other transactions and the same work, as a
    competing branch: refused when connected, however the branch compares."""
    prover, verifier, keys = _pair(2, "rewrite2")
    carol = PrivateKey.from_seed(b"carol")
    published = prover.chain.block_at(prover.chain.height)
    assert published is not None and published.header.engine_fields["k"] == K
    key = next(k for k in keys if k.address == published.header.proposer)
    other = [_transfer(prover, key, carol, 0)]
    header = published.header
    fake = Block(replace(header, tx_root=Block(header, tuple(other)).computed_tx_root()),
                 tuple(other)).signed(key)
    engine = verifier.engine
    parent = verifier.chain.get_header(header.parent)
    assert parent is not None
    with pytest.raises(InvalidBlock, match="training steps do not reproduce"), \
            verifier.chain.lock:  # judge it as the chain would when connecting it
            verifier.chain.invalid.clear()
            engine._records.pop(fake.hash, None)
            engine.validate_training(fake, engine.record(parent.hash),
                                     engine.validate_lineage(fake.header,
                                                             engine.record(parent.hash)),
                                     engine.record(published.hash).transition,
                                     verifier.chain.consensus_params(),
                                     Manifest.from_bytes(engine.blobs.get(
                                         header.engine_fields["work"]) or b""), parent)


# ----- last-step swap and fraud proofs -------------------------------------------------------


def _salt_auditing(block_hash: bytes, step: int) -> bytes:
    return audit_salt_for(block_hash, K, step)


def _last_step_swap(prover: LocalChain, key: PrivateKey) -> Block:
    """K steps honestly, then the last commitment replaced by a pre-trained network."""
    return swap_last_step(prover.engine, prover.propose(key), key)


def test_last_step_swap_is_caught_by_one_audit_and_then_by_every_node():
    prover, finder, keys = _pair(2, "swap", audit_steps=1)
    lucky = _replica(prover)
    bad = _last_step_swap(prover, keys[0])
    finder.engine.audit_salt = _salt_auditing(bad.hash, K - 1)
    lucky.engine.audit_salt = _salt_auditing(bad.hash, 0)

    deliver(prover, lucky, bad)  # its audit replays step 0, which is honest
    assert lucky.chain.head_hash == bad.hash
    with pytest.raises(InvalidBlock, match="training steps do not reproduce"):
        deliver(prover, finder, bad)
    proof = FraudProof.from_bytes(finder.engine.found_proofs[bad.hash])
    assert proof.step == K - 1 and len(proof.to_bytes()) < 200_000

    verdict = apply_fraud_proof(lucky.engine, proof)
    assert verdict.new and verdict.undone == 1
    assert lucky.chain.head_hash == bad.parent and bad.hash in lucky.chain.invalid
    with pytest.raises(InvalidBlock, match="already rejected"):
        lucky.chain.add_block(bad)
    # The proposer is banned as a miner: its next honest-looking block is refused too.
    prover.chain.invalidate(bad.hash, "test: the prover drops its own bad block")
    again = prover.propose(keys[0])
    with pytest.raises(InvalidBlock, match="banned as a miner: a fraud proof convicted"):
        deliver(prover, lucky, again)
    assert lucky.chain.height == finder.chain.height


def test_a_false_fraud_proof_is_refused():
    prover, verifier, keys = _pair(2, "false", audit_steps=1)
    honest = prover.produce(keys[0])
    deliver(prover, verifier, honest)
    m = Manifest.from_bytes(prover.engine.blobs.get(honest.header.engine_fields["work"]) or b"")
    blobs = {d: prover.engine.blobs.get(d) or b"" for d in m.steps[1]}
    lie = FraudProof.for_step(honest, m, 2, blobs)
    with pytest.raises(FraudProofError, match="reproduces its commitment"):
        check_fraud_proof(verifier.engine, lie)
    assert verifier.chain.head_hash == honest.hash and not verifier.engine.convicted
    forged_sig = replace(lie, signature=bytes(65))
    with pytest.raises(FraudProofError, match="signature"):
        check_fraud_proof(verifier.engine, forged_sig)
    with pytest.raises(FraudProofError, match="malformed"):
        FraudProof.from_bytes(b"\xa1\x61v\x02")


def test_a_block_committing_to_a_non_canonical_manifest_is_proven_invalid():
    """The fraud check reads the manifest without its canonical-form check and makes that
    check only when the accused step reproduces; the verdict must not change."""
    prover, verifier, keys = _pair(2, "noncanon", audit_steps=1)
    honest = prover.produce(keys[0])
    deliver(prover, verifier, honest)
    data = prover.engine.blobs.get(honest.header.engine_fields["work"]) or b""
    assert data.count(b"\x61v\x01") == 1
    loose = data.replace(b"\x61v\x01", b"\x61v\x18\x01")  # v = 1 in a two-byte head
    m = Manifest.from_bytes(loose, canonical=False)
    with pytest.raises(InvalidBlock, match="not the canonical encoding"):
        Manifest.from_bytes(loose)
    fields = {**honest.header.engine_fields, "work": prover.engine.blobs.put(loose)}
    accused = Block(replace(honest.header, engine_fields=fields),
                    honest.transactions).signed(keys[0])
    blobs = {d: prover.engine.blobs.get(d) or b"" for d in m.steps[1]}
    honest_step = replace(FraudProof.for_step(accused, m, 2, blobs), manifest=loose)
    assert "not the canonical encoding" in check_fraud_proof(verifier.engine, honest_step)
    forged = replace(honest_step, step=K - 1)  # its inputs are not carried: unverifiable here
    assert "not the canonical encoding" in check_fraud_proof(verifier.engine, forged)


def test_a_block_claiming_a_false_transition_is_proven_invalid_by_any_step():
    """The fraud check replays on the transition the header claims and asks the oracle only
    if the step reproduces; a false claim must still condemn the block."""
    prover, verifier, keys = _pair(2, "claim", audit_steps=1)
    honest = prover.produce(keys[0])
    deliver(prover, verifier, honest)
    f = honest.header.engine_fields
    assert not f["done"]
    accused = Block(replace(honest.header, engine_fields={**f, "r": f["r"] + 1}),
                    honest.transactions).signed(keys[0])
    m = Manifest.from_bytes(prover.engine.blobs.get(f["work"]) or b"")
    for j in range(K):
        inputs = m.start if j == 0 else m.steps[j - 1]
        blobs = {d: prover.engine.blobs.get(d) or b"" for d in inputs}
        reason = check_fraud_proof(verifier.engine, FraudProof.for_step(accused, m, j, blobs))
        assert re.search("reward does not replay|training steps do not reproduce", reason)


# ----- platform labels and the nudge ---------------------------------------------------------


def _nudged(engine: rlpow.RLPowEngine, digest: bytes, rel: float) -> bytes:
    tensors = dqn.params_from_bytes(engine.blobs.get(digest) or b"")
    return engine.blobs.put(dqn.params_to_bytes({k: v * (1 + rel) for k, v in tensors.items()}))


def _nudge_block(prover: LocalChain, key: PrivateKey, rel: float, label: str | None) -> Block:
    block = prover.propose(key)
    engine = prover.engine
    m = Manifest.from_bytes(engine.blobs.get(block.header.engine_fields["work"]) or b"")
    steps = list(m.steps)
    steps[-1] = (_nudged(engine, steps[-1][0], rel), steps[-1][1], steps[-1][2])
    compute = m.compute if label is None else replace(m.compute, cpu_capability=label)
    work = engine.blobs.put(Manifest(m.step0, m.start, tuple(steps), compute).to_bytes())
    forged = resign(block, key, after=list(steps[-1]), work=work)
    engine._own.add(forged.hash)  # the prover trusts its own forgery and builds on it
    return forged


def test_relabelling_a_block_does_not_reach_the_tolerance_path():
    """A 5e-5 nudge under a claimed foreign label passed the 1e-4 tolerance before. An
    unregistered miner is judged bit-exactly whatever it claims; a registered one must carry
    its registered label."""
    prover, verifier, keys = _pair(2, "label")
    nudged = _nudge_block(prover, keys[0], 5e-5, "NEON")
    with pytest.raises(InvalidBlock, match="params hash differs"):
        deliver(prover, verifier, nudged)

    me = _platform(str(dqn.ComputeSettings.current().cpu_capability))
    prover, verifier, keys = _pair(2, "label2", platforms={
        "0x" + k.address.hex(): me for k in keys_for(2, "label2")})
    relabelled = _nudge_block(prover, keys[0], 5e-5, "NEON")
    with pytest.raises(InvalidBlock, match=re.escape("platform label: the proof claims 'NEON'")):
        deliver(prover, verifier, relabelled)


def test_a_repeated_nudge_under_tolerance_is_caught_by_the_cumulative_check():
    """A miner registered on another platform may differ by ≤ 1e-4 per step; nudging every
    block by a chosen 5e-5 passes each audit alone but not the cumulative bound."""
    prover, verifier, keys = _pair_on_platform(keys_for(2, "nudge"), _platform("NEON"))
    refused_at = None
    for i in range(6):
        block = _nudge_block(prover, keys[i % 2], 5e-5, None)
        prover.chain.add_block(block)
        try:
            deliver(prover, verifier, block)
        except InvalidBlock as exc:
            assert "cumulative drift" in str(exc)
            refused_at = i
            break
    # 5e-5 per nudged block against 1e-6 per audited step + 1e-4 slack: a proposer's third
    # nudged block crosses the bound (blocks alternate between the two keys).
    assert refused_at is not None and refused_at <= 5, "the nudge accumulates unnoticed"
    honest = local_chain(prover.chain.genesis_config, keys, clock=prover.clock)
    assert honest.engine.drift.totals == {}


def _pair_on_platform(keys: list[PrivateKey], platform: dict[str, Any]
                      ) -> tuple[LocalChain, LocalChain, list[PrivateKey]]:
    genesis = rlpow_genesis(keys, params={"K": K, "audit_steps": K, "learning_starts": 3})
    genesis = replace(genesis, engine_config={**genesis.engine_config, "platforms": {
        "0x" + k.address.hex(): platform for k in keys}})
    clock = ManualClock()
    prover, verifier = (local_chain(genesis, keys, clock=clock) for _ in range(2))
    prover.engine.compute = dqn.ComputeSettings(**platform)
    verifier.engine.audit_salt = b"the verifier"
    for h in range(4):
        deliver(prover, verifier, prover.produce(keys[h % 2]))
    return prover, verifier, keys
