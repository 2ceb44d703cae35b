"""The new oracles and Double DQN on chain: blocks verify on a second node, bit for bit."""

from __future__ import annotations

import pytest

from learnchain.ml import dqn
from learnchain.ml.coins import derive_seed
from learnchain.ml.envs import make_env
from learnchain.sim.rlpow_chains import keys_for, local_chain, rlpow_genesis
from learnchain.testing import ManualClock


@pytest.mark.parametrize(("env", "dqn_config", "design"), [
    ("Acrobot-v1", {"hidden": [16]}, "lineage"),
    ("MountainCar-v0", {"hidden": [16], "double_dqn": True}, "uncles"),
    ("Queue-v0", {"hidden": [16], "double_dqn": True}, "lineage"),
])
def test_new_envs_and_double_dqn_blocks_verify_on_another_node(env, dqn_config, design):
    keys = keys_for(2, "envs")
    genesis = rlpow_genesis(keys, env=env, params={"K": 2, "audit_steps": 2,
                                                   "learning_starts": 4},
                            dqn_config=dqn_config, design=design, fork_choice="longest")
    clock = ManualClock()
    prover, verifier = local_chain(genesis, keys, clock=clock), local_chain(genesis, keys,
                                                                              clock=clock)
    verifier.engine.audit_salt = b"v"
    for h in range(8):
        block = prover.produce(keys[h % 2])
        verifier.engine.accept_sidecar(prover.engine.sidecar(block))
        verifier.chain.add_block(block)
    assert verifier.chain.head_hash == prover.chain.head_hash
    assert verifier.engine.stats["audited_steps"] > 0
    assert verifier.engine.hyper.double_dqn == bool(dqn_config.get("double_dqn"))


def _history(n: int = 120) -> list[dqn.Transition]:
    env = make_env("Inventory-v0")  # varied states, so online and target argmax disagree
    state, out = env.reset(b"h"), []
    for t in range(n):
        a = (t * 7) % 4
        res = env.step(state, a, derive_seed(b"h", t))
        out.append(dqn.Transition.from_outcome(env, state, a, res))
        state = res.next_state
    return out


def test_double_dqn_is_a_different_verifiable_learner():
    hist = _history()
    spec = dqn.NetSpec(3, 4, (16,))
    # squared TD error: under Huber, TD errors above 1 give the same clipped gradient either way
    plain = dqn.DQNConfig(hidden=(16,), loss="mse")
    double = dqn.DQNConfig(hidden=(16,), loss="mse", double_dqn=True)
    p0 = dqn.init_params(spec, b"i")
    # a target unlike the online net, so argmax-by-online differs from max-by-target
    t0 = dqn.init_params(spec, b"another net")
    a = dqn.train(p0, t0, hist, 4, 1000, 5, b"s", plain)
    b = dqn.train(p0, t0, hist, 4, 1000, 5, b"s", double)
    assert a.final_params != b.final_params
    for j in range(4):
        assert dqn.verify_step(b, j, hist, double) == 0.0
    with pytest.raises(dqn.VerificationError):
        dqn.verify_step(b, 2, hist, plain)
