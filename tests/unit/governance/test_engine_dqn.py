"""The DQN engine (Figures 19-20): shape, repeatability, checkpoint, greedy decisions."""

import json

import pytest

from learnchain.governance.engine import DQNEngine, EngineConfig, train_engine
from learnchain.governance.env import EnvConfig, GovernedPowEnv
from learnchain.governance.validation import N_ACTIONS

SMALL = EngineConfig(hidden=(16, 16), batch_size=16, train_steps=160, learning_starts=40,
                     train_every=4, grad_steps=1, target_period=20)


@pytest.fixture(scope="module")
def trained():
    return train_engine(EnvConfig(k=4), SMALL, seed=7)


def test_network_has_3k_plus_feature_inputs_and_one_output_per_action(trained):
    engine, log = trained
    spec = engine._net.spec
    assert spec.obs_dim == 3 * 4 + 2 and spec.n_actions == N_ACTIONS
    assert spec.hidden == (16, 16)
    assert log.grad_steps == (160 - 40) // 4 + 1 and log.episode_returns
    assert log.compute["num_threads"] == 1


def test_same_seed_trains_the_same_parameters_and_another_seed_does_not(trained):
    engine, _ = trained
    again, _ = train_engine(EnvConfig(k=4), SMALL, seed=7)
    other, _ = train_engine(EnvConfig(k=4), SMALL, seed=8)
    assert again.params_hash == engine.params_hash
    assert other.params_hash != engine.params_hash


def test_without_a_target_network_training_still_runs_and_differs(trained):
    engine, _ = trained
    no_target, _ = train_engine(EnvConfig(k=4), EngineConfig(**{**SMALL.__dict__,
                                                                "target_period": 1}), seed=7)
    assert no_target.params_hash != engine.params_hash


def test_checkpoint_round_trip_and_corruption_is_detected(trained, tmp_path):
    engine, _ = trained
    path = tmp_path / "engine.json"
    engine.save(path)
    loaded = DQNEngine.load(path)
    assert loaded.params_hash == engine.params_hash and loaded.features == engine.features
    env = GovernedPowEnv(EnvConfig(k=4))
    env.reset(seed=1)
    state = env.control_state()
    assert loaded.decide(env.blocks, state) == engine.decide(env.blocks, state)
    assert 0 <= engine.decide(env.blocks, state) < N_ACTIONS
    data = json.loads(path.read_text())
    data["params_hash"] = "00" * 32
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="corrupt"):
        DQNEngine.load(path)
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="format"):
        DQNEngine.load(path)
