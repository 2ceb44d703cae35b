"""Benchmark of the run-time governance engine (issue 17).

Run: ``python benchmarks/bench_governance_engine.py``.  Prints

1. the engine's decision latency per block (feature preprocessing + Q-network forward pass +
   §8.8 validation, single-threaded torch) against the expected block time at the mining
   calculus's optimum, for the engine's own network configuration and for the whitepaper's
   Table 1 configuration (target: ratio <= 0.01), and
2. simulated blocks per second of the governed-PoW environment against a bare Gymnasium
   CartPole-v1 step measured in the same run (report only; one env step is a whole mining
   race of up to 12 machines plus the calculus-region lookup).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from learnchain.governance.config import preset
from learnchain.governance.engine import DQNEngine, EngineConfig, train_engine
from learnchain.governance.engine_limits import calculus_optimum, region_config
from learnchain.governance.env import EnvConfig, GovernedPowEnv
from learnchain.governance.validation import ActionValidator

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "learnchain" / "data" / \
    "governance_engine.json"


def engine() -> DQNEngine:
    if SHIPPED.exists():
        return DQNEngine.load(SHIPPED)
    # latency depends on the architecture only: an untrained engine of the same shape
    return train_engine(EnvConfig(), EngineConfig(train_steps=50, learning_starts=100), 0)[0]


def decision_latency(eng: DQNEngine, n: int = 2000) -> float:
    env = GovernedPowEnv(EnvConfig(scenario="steady", terminate=False))
    env.reset(seed=0)
    validator = ActionValidator(env.cfg.bounds)
    times = []
    for i in range(n):
        state = env.control_state()
        t0 = time.perf_counter()
        action = eng.decide(env.blocks, state)
        validator.filter(action, state, env.region())
        times.append(time.perf_counter() - t0)
        if i % 20 == 0:
            env.step(4)
    return statistics.median(times)


def steps_per_s(make, n: int = 5000) -> float:
    env = make()
    env.reset(seed=0)
    env.action_space.seed(0)
    t0 = time.perf_counter()
    for _ in range(n):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    return n / (time.perf_counter() - t0)


def main() -> None:
    eng = engine()
    lat = decision_latency(eng)
    env_cfg = EnvConfig()
    own = calculus_optimum(region_config(1.0 / env_cfg.base_rate, env_cfg.target,
                                         env_cfg.bounds.s_min, env_cfg.bounds.s_max,
                                         env_cfg.bounds.d_min, env_cfg.bounds.d_max))
    paper = calculus_optimum(preset("C1"))
    print(f"decision latency (median of 2000): {lat * 1e6:.0f} us")
    for label, opt in (("engine network", own), ("whitepaper C1", paper)):
        print(f"  calculus optimum {label}: s={opt.s} r={opt.r} d={opt.d}, expected block "
              f"time {opt.block_time:.3g} s -> latency / block time = "
              f"{lat / opt.block_time:.2e} (target <= 0.01)")
    import gymnasium as gym

    ours = max(steps_per_s(lambda: GovernedPowEnv(EnvConfig())) for _ in range(2))
    bare = max(steps_per_s(lambda: gym.make("CartPole-v1").unwrapped) for _ in range(2))
    plain = max(steps_per_s(lambda: GovernedPowEnv(EnvConfig(use_region=False)))
                for _ in range(2))
    print(f"env steps/s: governed PoW {ours:,.0f}, without calculus region {plain:,.0f}, "
          f"bare CartPole-v1 {bare:,.0f} -> ratio {ours / bare:.3f} "
          f"({plain / bare:.3f} without region)")


if __name__ == "__main__":
    main()
