"""Classic controllers: Bitcoin-style retarget, Ethereum-style proportional, fixed."""

import numpy as np

from learnchain.governance.baselines import (
    BitcoinRetarget,
    FixedDifficulty,
    ProportionalController,
    make_baseline,
)
from learnchain.governance.engine_experiments import run_episode
from learnchain.governance.env import EnvConfig
from learnchain.governance.features import BlockRecord
from learnchain.governance.validation import Action, ControlState

STATE = ControlState(20, 4, 2)


def blocks(t, n=16):
    return [BlockRecord(t, 20, 4, 0)] * n


def test_fixed_never_acts():
    assert FixedDifficulty().decide(blocks(1.0), STATE) == Action.NO_OP


def test_bitcoin_retargets_only_at_the_interval_and_clamps_to_two_bits():
    c = BitcoinRetarget(set_point=8.0, interval=4)
    seen = [c.decide(blocks(0.1, 4), STATE) for _ in range(6)]
    # nothing until block 4; then log2(8 / 0.1) = 6.3 bits clamped to 2 single steps
    assert seen[:3] == [Action.NO_OP] * 3
    assert seen[3:5] == [Action.D_INCREASE] * 2 and seen[5] == Action.NO_OP
    c.reset()
    seen = [c.decide(blocks(40.0, 4), STATE) for _ in range(5)]
    assert seen[3:5] == [Action.D_DECREASE] * 2


def test_proportional_reacts_every_block_in_the_direction_of_the_error():
    fast, slow = ProportionalController(8.0), ProportionalController(8.0)
    acts_fast = [fast.decide(blocks(0.5), STATE) for _ in range(5)]
    acts_slow = [slow.decide(blocks(40.0), STATE) for _ in range(5)]
    assert Action.D_INCREASE in acts_fast and Action.D_DECREASE not in acts_fast
    assert Action.D_DECREASE in acts_slow and Action.D_INCREASE not in acts_slow


def test_a_classic_controller_beats_doing_nothing_after_a_surge():
    env = EnvConfig()
    errs = {name: np.mean([run_episode(make_baseline(name, env.robust_target), env, "surge",
                                       seed, 160, 40)[0]["window_err"] for seed in range(3)])
            for name in ("fixed", "proportional", "bitcoin")}
    assert errs["proportional"] < errs["fixed"] and errs["bitcoin"] < errs["fixed"]
