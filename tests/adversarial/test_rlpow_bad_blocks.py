"""Bad rlpow blocks: each is rejected by a verifier with the error naming what is wrong.

A prover chain builds honest blocks; a separate verifier chain (its own engine, its own blob
store) imports them with their sidecars. At the next height the prover proposes a block, the
test forges one field (re-signing, so only the engine can object), and the verifier must
reject it with the specific message.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from learnchain.consensus.rlpow import Manifest, env_seed
from learnchain.core.crypto import PrivateKey
from learnchain.core.errors import DataUnavailable, InvalidBlock
from learnchain.core.types import Block
from learnchain.ml import dqn
from learnchain.ml.fixedpoint import SCALE
from learnchain.sim.rlpow_chains import LocalChain, keys_for, local_chain, rlpow_genesis
from learnchain.storage.blobstore import cid_of
from learnchain.testing import ManualClock

K = 4


def foreign_platform(label: str = "NEON") -> dict[str, Any]:
    """This machine's ComputeSettings record under another CPU label (a registered platform)."""
    dqn.configure_determinism()  # a verifier's settings: one thread, deterministic kernels
    record = {k: v if isinstance(v, int) else str(v)
              for k, v in dqn.ComputeSettings.current().to_record().items()}
    return {**record, "cpu_capability": label}


def setup(env: str = "CartPole-v1", honest_blocks: int = 6,
          platforms: dict[str, Any] | None = None, **params: Any
          ) -> tuple[LocalChain, LocalChain, list[PrivateKey]]:
    keys = keys_for(2, "bad")
    genesis = rlpow_genesis(keys, env=env, params={"K": K, "audit_steps": K,
                                                   "learning_starts": 3, **params})
    if platforms is not None:
        genesis = replace(genesis, engine_config={**genesis.engine_config,
                                                  "platforms": platforms})
    clock = ManualClock()
    prover, verifier = local_chain(genesis, keys, clock=clock), local_chain(genesis, keys,
                                                                             clock=clock)
    if platforms is not None:  # the prover runs on the registered foreign platform
        prover.engine.compute = dqn.ComputeSettings(**foreign_platform())
    for h in range(honest_blocks):
        block = prover.produce(keys[h % 2])
        verifier.engine.accept_sidecar(prover.engine.sidecar(block))
        verifier.chain.add_block(block)
    assert verifier.chain.head_hash == prover.chain.head_hash
    return prover, verifier, keys


def forge(block: Block, key: PrivateKey, **updates: Any) -> Block:
    header = block.header
    fields = {**header.engine_fields, **updates}
    return Block(replace(header, engine_fields=fields), block.transactions).signed(key)


def reject(verifier: LocalChain, prover: LocalChain, block: Block, pattern: str,
           *, sidecar: bool = True) -> None:
    if sidecar:
        verifier.engine.accept_sidecar(prover.engine.sidecar(block))
    with pytest.raises(InvalidBlock, match=re.escape(pattern)):
        verifier.chain.add_block(block)


def test_the_honest_next_block_is_accepted():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    verifier.engine.accept_sidecar(prover.engine.sidecar(block))
    verifier.chain.add_block(block)
    assert verifier.chain.head_hash == block.hash
    assert verifier.engine.stats["audited_steps"] > 0


def test_action_that_disagrees_with_the_committed_policy():
    """The one-step-lookahead cheat: play the other action the oracle likes better."""
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    f = block.header.engine_fields
    other = 1 - f["a"]
    parent_state = prover.engine.record(block.parent).state
    seed = prover.engine.record(block.parent).seed
    out = prover.engine.env.step(parent_state, other, env_seed(seed))
    parent_rec = prover.engine.record(block.parent)
    ret = (0 if parent_rec.done else parent_rec.ret) + out.reward_fp
    bad = forge(block, keys[0], a=other, s=list(out.next_state), r=out.reward_fp,
                done=out.done, ret=ret)
    reject(verifier, prover, bad, "action disagrees with the committed policy")


def test_exploration_flag_must_match_the_coin():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    bad = forge(block, keys[0], explored=not block.header.engine_fields["explored"])
    reject(verifier, prover, bad, "action disagrees with the committed policy: explored=")


def test_transition_that_does_not_replay():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    s = block.header.engine_fields["s"]
    bad = forge(block, keys[0], s=[s[0] + 1, *s[1:]])
    reject(verifier, prover, bad, "transition does not replay")


def test_reward_that_does_not_replay():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    f = block.header.engine_fields
    bad = forge(block, keys[0], r=f["r"] + SCALE, ret=f["ret"] + SCALE)
    reject(verifier, prover, bad, "reward does not replay")


def test_wrong_reward_mint():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    bad = forge(block, keys[0], mint=block.header.engine_fields["mint"] + 1)
    reject(verifier, prover, bad, "reward mint is wrong")


def test_training_steps_that_do_not_reproduce():
    """A lazy prover commits K "steps" that never move θ (no training at all)."""
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    engine = prover.engine
    m = Manifest.from_bytes(engine.blobs.get(block.header.engine_fields["work"]) or b"")
    fake = Manifest(m.step0, m.start, tuple(m.start for _ in m.steps), m.compute)
    work = engine.blobs.put(fake.to_bytes())
    bad = forge(block, keys[0], work=work, after=list(m.start))
    reject(verifier, prover, bad, "training steps do not reproduce")


def test_one_forged_step_is_caught_by_a_full_audit():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    engine = prover.engine
    m = Manifest.from_bytes(engine.blobs.get(block.header.engine_fields["work"]) or b"")
    steps = list(m.steps)
    p, o, t = steps[1]
    params = bytearray(engine.blobs.get(p) or b"")
    params[-1] ^= 1  # flip one bit of one weight
    steps[1] = (engine.blobs.put(bytes(params)), o, t)
    fake = Manifest(m.step0, m.start, tuple(steps), m.compute)
    bad = forge(block, keys[0], work=engine.blobs.put(fake.to_bytes()))
    reject(verifier, prover, bad, "training steps do not reproduce: step")


def test_wrong_amount_of_work():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    bad = forge(block, keys[0], k=K - 1)
    reject(verifier, prover, bad, "the block performs k=3 steps, consensus requires 4")


def test_parameters_unavailable_without_the_sidecar():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    with pytest.raises(DataUnavailable, match="parameters unavailable"):
        verifier.chain.add_block(block)
    assert block.hash not in verifier.chain.invalid, "missing data is not a verdict"
    assert not verifier.chain.has_block(block.hash)
    verifier.engine.accept_sidecar(prover.engine.sidecar(block))
    verifier.chain.add_block(block)
    assert verifier.chain.head_hash == block.hash


def test_audited_step_blobs_unavailable():
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    blobs = prover.engine.sidecar(block)
    work_cid = cid_of(prover.engine.blobs.get(block.header.engine_fields["work"]) or b"")
    m = Manifest.from_bytes(blobs[work_cid])
    missing = cid_of(prover.engine.blobs.get(m.steps[0][0]) or b"")
    verifier.engine.accept_sidecar({c: b for c, b in blobs.items() if c != missing})
    reject(verifier, prover, block, "parameters unavailable: blob", sidecar=False)


def test_training_lineage_broken():
    """θ_before must be the proposer's last θ_after, not parameters trained elsewhere."""
    prover, verifier, keys = setup()
    block = prover.propose(keys[0])
    elsewhere = dqn.init_params(prover.engine.spec, b"pretrained somewhere else")
    digest = prover.engine.blobs.put(elsewhere)
    bad = forge(block, keys[0], theta=digest, theta_cid=cid_of(elsewhere))
    reject(verifier, prover, bad, "training lineage broken")


def test_sidecar_blob_that_does_not_match_its_content_id():
    _, verifier, _ = setup(honest_blocks=0)
    with pytest.raises(InvalidBlock, match="does not hash to its content id"):
        verifier.engine.accept_sidecar({cid_of(b"one"): b"two"})


@pytest.mark.parametrize(("updates", "message"), [
    ({"a": 7}, "action 7 is not in"),
    ({"theta_cid": cid_of(b"x")}, "'theta_cid' is not the content id"),
    ({"s": [1, 2]}, "header 's' must be"),
    ({"after": [b"\x00" * 32]}, "'after' must be three"),
    ({"mint": -1}, "out of range"),
    ({"extra": 1}, "header fields must be exactly"),
])
def test_malformed_headers_are_refused_before_any_work(updates, message):
    prover, verifier, keys = setup(honest_blocks=1)
    block = prover.propose(keys[0])
    bad = forge(block, keys[0], **updates)
    with pytest.raises(InvalidBlock, match=re.escape(message)):
        verifier.chain.add_block(bad)


def test_foreign_compute_settings_use_the_distance_threshold():
    """A proof of a miner registered on another platform is checked within the calibrated
    distance (the label must be the registered one: see test_rlpow_security)."""
    keys = keys_for(2, "bad")
    prover, verifier, keys = setup(platforms={"0x" + k.address.hex(): foreign_platform()
                                              for k in keys})
    block = prover.propose(keys[0])
    engine = prover.engine
    m = Manifest.from_bytes(engine.blobs.get(block.header.engine_fields["work"]) or b"")
    foreign = Manifest(m.step0, m.start, m.steps, replace(m.compute, cpu_capability="NEON"))
    ok = forge(block, keys[0], work=engine.blobs.put(foreign.to_bytes()))
    verifier.engine.accept_sidecar(prover.engine.sidecar(ok))
    verifier.chain.add_block(ok)
    assert verifier.chain.head_hash == ok.hash

    prover.chain.add_block(ok)
    block2 = prover.propose(keys[1])
    m2 = Manifest.from_bytes(engine.blobs.get(block2.header.engine_fields["work"]) or b"")
    bad_steps = list(m2.steps)
    p2, o2, t2 = bad_steps[0]
    moved = bytearray(engine.blobs.get(p2) or b"")
    moved[-4:] = b"\x00\x00\x80\x7f"  # one weight becomes +inf: beyond any tolerance
    bad_steps[0] = (engine.blobs.put(bytes(moved)), o2, t2)
    bad = Manifest(m2.step0, m2.start, tuple(bad_steps),
                   replace(m2.compute, cpu_capability="NEON"))
    forged = forge(block2, keys[1], work=engine.blobs.put(bad.to_bytes()))
    reject(verifier, prover, forged, "exceeds threshold")
