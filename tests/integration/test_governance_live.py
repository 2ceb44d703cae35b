"""Live governance against a real node over loopback HTTP (in-process node, manual clock).

The manual clock fixes each block's mining time exactly, so every assertion is about what the
engine did on chain, never about wall-clock luck.
"""

from dataclasses import dataclass

import pytest

from learnchain.core.errors import InvalidBlock
from learnchain.governance.baselines import ProportionalController
from learnchain.governance.live import LiveConfig, LiveEngine, LiveError, load_checkpoint
from learnchain.governance.validation import Action, Bounds
from learnchain.net.client import NodeClient
from learnchain.net.server import ApiServer
from learnchain.testing import dev_genesis, dev_key, make_node

MINERS = ("a", "b", "c")


@pytest.fixture
def served():
    genesis = dev_genesis(miners=MINERS, members=[*MINERS, "ctrl", "mallory"],
                          controller="ctrl", difficulty=2)
    tn = make_node(genesis, "a")
    with ApiServer(tn.node) as server:
        yield tn, NodeClient(server.url)


def config(**kw) -> LiveConfig:
    pool = [dev_key(m).address for m in MINERS]
    base = {"target": 10.0, "pool": pool, "partner_of": {a: i for i, a in enumerate(pool)},
            "bounds": Bounds(d_min=1, d_max=12, s_min=1, s_max=3), "use_region": False}
    return LiveConfig(**{**base, **kw})


@dataclass
class Scripted:
    """A policy that plays a fixed list of actions (then no-ops)."""

    actions: list
    name: str = "scripted"

    def reset(self) -> None:
        return None

    def decide(self, blocks, state) -> int:
        return int(self.actions.pop(0)) if self.actions else int(Action.NO_OP)


def params(client):
    res = client.query("consensus", "params", {})
    return res["params"]["difficulty"], len(res["miners"])


def test_engine_raises_difficulty_of_a_too_fast_chain_with_signed_txs(served, tmp_path):
    tn, client = served
    tn.mine(4, step_ms=2000)  # 2 s blocks, robust target 8 s: far too fast
    live = LiveEngine(client, dev_key("ctrl"), ProportionalController(8.0), config(),
                      tmp_path / "live.json")
    sent = []
    for _ in range(8):
        record = live.step()
        if record and "tx" in record:
            sent.append(record["tx"])
        tn.mine(1, step_ms=2000)
    assert sent, "the controller never acted on 2 s blocks"
    difficulty, _ = params(client)
    assert difficulty > 2
    included = client.transaction(bytes.fromhex(sent[0][2:]))
    tx = included["transaction"]
    assert included["receipt"]["success"] and tx["app"] == "consensus"
    assert tx["method"] == "set_params" and tx["sender"].lower() == "0x" + dev_key(
        "ctrl").address.hex()
    # the block after the decision was mined at the new difficulty (visible in `chain show`)
    after = client.block(included["height"] + 1)
    assert after["engine_fields"]["difficulty"] == 3


def test_a_key_that_is_not_the_controller_cannot_govern(served, tmp_path):
    tn, client = served
    with pytest.raises(LiveError, match="not the consensus controller"):
        LiveEngine(client, dev_key("mallory"), ProportionalController(8.0), config(),
                   tmp_path / "live.json")
    tx = client.send(dev_key("mallory"), "consensus", "set_params",
                     {"params": {"difficulty": 9}})
    tn.mine(1)
    receipt = client.transaction(tx.hash)["receipt"]
    assert not receipt["success"] and "only the consensus controller" in receipt["error"]
    assert params(client)[0] == 2


def test_actions_outside_the_bounds_become_counted_no_ops(served, tmp_path):
    tn, client = served
    tn.mine(3, step_ms=2000)
    policy = Scripted([Action.D_DECREASE, Action.D_DECREASE, Action.MINER_START])
    live = LiveEngine(client, dev_key("ctrl"), policy,
                      config(bounds=Bounds(d_min=2, d_max=12, s_min=1, s_max=3)),
                      tmp_path / "live.json")
    for _ in range(3):
        record = live.step()
        assert record is not None and record["applied"] == "NO_OP" and "tx" not in record
        tn.mine(1, step_ms=2000)
    assert live.state.invalid_actions == 3 and live.state.governance_txs == 0
    assert params(client) == (2, 3)


def test_stopped_miners_stop_mining_and_started_ones_join(served, tmp_path):
    tn, client = served
    tn.mine(2, step_ms=4000)
    policy = Scripted([Action.MINER_STOP])
    live = LiveEngine(client, dev_key("ctrl"), policy, config(), tmp_path / "live.json")
    record = live.step()
    assert record["applied"] == "MINER_STOP" and "tx" in record
    tn.mine(1, step_ms=4000)
    # 'a' won every block, so its partner is the one the balance rule stops
    assert params(client)[1] == 2
    with pytest.raises(InvalidBlock, match="not an active miner"):
        tn.node.produce_block()
    tn.node.key = dev_key("b")  # another consortium machine keeps the chain going
    tn.mine(1, step_ms=4000)
    live.policy.actions = [Action.MINER_START]
    record = live.step()
    assert record["applied"] == "MINER_START"
    tn.mine(1, step_ms=4000)
    assert params(client)[1] == 3
    tn.node.key = dev_key("a")
    tn.mine(1, step_ms=4000)  # the restarted miner mines again


def test_engine_crash_mid_run_chain_keeps_params_and_engine_resumes(served, tmp_path):
    tn, client = served
    tn.mine(4, step_ms=2000)
    state = tmp_path / "live.json"
    live = LiveEngine(client, dev_key("ctrl"), ProportionalController(8.0), config(), state)
    record = None
    while record is None or "tx" not in record:
        record = live.step()
        if record is None or "tx" not in record:
            tn.mine(1, step_ms=2000)
    pending = record["tx"]
    decided_at = live.state.last_height
    del live  # the engine process dies with a governance tx in flight

    tn.mine(1, step_ms=2000)  # the tx is included anyway; the chain carries on
    d_after_tx = params(client)[0]
    tn.mine(3, step_ms=2000)
    assert params(client)[0] == d_after_tx  # nobody governs: the last parameters stay

    resumed = LiveEngine(client, dev_key("ctrl"), ProportionalController(8.0), config(), state)
    assert resumed.state.restarts == 1 and resumed.state.pending == pending
    assert resumed.state.last_height == decided_at
    nxt = resumed.step()
    assert resumed.state.pending != pending  # the in-flight tx was confirmed, not resent
    assert nxt is not None and nxt["height"] > decided_at
    assert load_checkpoint(state, "proportional").decisions == resumed.state.decisions
    with pytest.raises(LiveError, match="belongs to policy"):
        load_checkpoint(state, "bitcoin")
