"""The governed-PoW Gymnasium environment: API contract, race model, dynamics, §8.3 rules."""

import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from learnchain.governance.engine_limits import (
    expected_block_time,
    feasible_region,
    sample_hashes,
)
from learnchain.governance.env import EnvConfig, GovernedPowEnv, is_terminal, reward_of
from learnchain.governance.features import (
    BlockRecord,
    FeatureSpec,
    preprocess,
    sigma_winning_partner,
)
from learnchain.governance.validation import Action


def test_passes_the_gymnasium_environment_checker():
    check_env(GovernedPowEnv(), skip_render_check=True)


def test_same_seed_same_trajectory_and_different_seed_differs():
    def run(seed):
        env = GovernedPowEnv()
        env.reset(seed=seed)
        return [env.step(i % 5)[4]["mining_time"] for i in range(40)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_race_model_matches_the_calculus_mean_even_where_doubles_round():
    rng = np.random.default_rng(0)
    n = 40_000
    for d in (12, 20, 60):  # 1 - 2^-60 is 1.0 in doubles; the sampler must not care
        mean = sample_hashes(rng, d, n).mean()
        assert abs(mean / 2.0**d - 1) < 4 / math.sqrt(n)
    assert expected_block_time(20, 2.0**20) == pytest.approx(1.0, rel=1e-6)


def test_reward_and_terminal_follow_section_8_3():
    cfg = EnvConfig(target=10.0, m=4.0, threshold=0.7)
    assert cfg.robust_target == 8.0
    assert reward_of(8.0, cfg) == 1.0
    assert reward_of(13.0, cfg) == pytest.approx(1 - 4 * 0.25)
    assert not is_terminal(8.0 + 6.9, cfg) and is_terminal(8.0 + 7.1, cfg)
    assert is_terminal(8.0 - 7.1, cfg)


def test_state_has_3k_inputs_plus_the_optional_features():
    for sigma, miners, extra in ((True, True, 2), (False, False, 0), (True, False, 1)):
        env = GovernedPowEnv(EnvConfig(k=5, sigma_feature=sigma, miners_feature=miners))
        obs, _ = env.reset(seed=0)
        assert obs.shape == (15 + extra,)


def test_features_read_rate_and_difficulty_relative_to_the_current_difficulty():
    spec = FeatureSpec(k=2, target=10.0, partners=3, sigma_feature=False,
                       miners_feature=False)
    x = preprocess([BlockRecord(8.0, 20, 6, 0), BlockRecord(2.0, 22, 6, 1)], spec)
    # newest block: 2 s at d = 22 -> 4x the rate that makes 8 s at d = 22: +2 bits
    assert x[3] == pytest.approx(0.5) and x[4] == pytest.approx(0.2) and x[5] == 0.0
    # older block: 8 s at d = 20 is a quarter of the rate needed at d = 22: -2 bits
    assert x[0] == pytest.approx(-0.5) and x[1] == pytest.approx(0.8)
    assert x[2] == pytest.approx(-0.5)
    shifted = preprocess([BlockRecord(8.0, 40, 6, 0), BlockRecord(2.0, 42, 6, 1)], spec)
    assert shifted.tolist() == x.tolist()  # scale-free: only relative levels matter


def test_sigma_winning_partner_is_the_sample_std_of_wins():
    assert sigma_winning_partner([0, 1, 2], 3) == 0.0
    assert sigma_winning_partner([0, 0, 0], 3) == pytest.approx(math.sqrt((4 + 1 + 1) / 2))
    assert sigma_winning_partner([0, 0], 1) == 0.0


def test_difficulty_actions_move_the_mean_block_time_by_powers_of_two():
    def mean_time(action, seed):
        env = GovernedPowEnv(EnvConfig(scenario="steady", terminate=False, drift=0.0,
                                       load_vol=0.0, fail_prob=0.0, use_region=False))
        env.reset(seed=seed)
        env.step(action)
        return np.mean([env.step(int(Action.NO_OP))[4]["mining_time"] for _ in range(300)])

    up = mean_time(int(Action.D_INCREASE), 1)
    down = mean_time(int(Action.D_DECREASE), 1)
    assert 2.5 < up / down < 6.5  # two bits apart: 4x in expectation


def test_started_miner_waits_for_spin_up_and_stopped_miner_leaves():
    env = GovernedPowEnv(EnvConfig(scenario="steady", terminate=False, spin_up=1e9,
                                   use_region=False, initial_miners=3))
    env.reset(seed=0)
    env.step(int(Action.MINER_START))
    joined = np.flatnonzero(env.in_set)
    assert len(joined) == 4
    newcomer = [j for j in joined if env.ready_at[j] > 0]
    assert len(newcomer) == 1
    winners = set()
    for _ in range(30):
        env.step(int(Action.NO_OP))
        winners.add(env.blocks[-1].partner)
    assert env.ready_at[newcomer[0]] > env.clock  # still spinning up, so it never won
    env.step(int(Action.MINER_STOP))
    assert env.in_set.sum() == 3


def test_failure_scenario_silences_half_the_set_at_the_shock():
    env = GovernedPowEnv(EnvConfig(scenario="failure", shock_at=5, terminate=False,
                                   fail_prob=0.0))
    env.reset(seed=0)
    for _ in range(5):
        env.step(int(Action.NO_OP))
    assert ((env.rates() > 0) & env.in_set).sum() == env.in_set.sum()
    env.step(int(Action.NO_OP))  # the block at the shock
    hashing = (env.rates() > 0) & env.in_set
    assert hashing.sum() == env.in_set.sum() - env.in_set.sum() // 2


def test_partner_growth_unbalances_who_wins():
    def top_share(scenario):
        shares = []
        for seed in range(3):
            env = GovernedPowEnv(EnvConfig(scenario=scenario, shock_at=10, terminate=False,
                                           max_steps=300))
            env.reset(seed=seed)
            wins = np.zeros(3)
            for t in range(250):
                info = env.step(int(Action.NO_OP))[4]
                if t > 150:
                    wins[info["partner"]] += 1
            shares.append(wins.max() / wins.sum())
        return np.mean(shares)

    assert top_share("partner") > top_share("steady") + 0.1


def test_region_from_the_calculus_brackets_the_operating_point():
    region = feasible_region(1e-6, 10.0, 2, 12, 8, 48)
    lo, hi = region.d_range[6]
    d_nominal = EnvConfig().nominal_difficulty()  # 8 s at 6 miners of 1e6 H/s
    assert lo <= d_nominal <= hi
    assert hi - lo <= 6  # the region really constrains the controller
