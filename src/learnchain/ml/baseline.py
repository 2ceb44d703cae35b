"""Experiment 5: our committed DQN against Stable-Baselines3 DQN on the same budget.

Both learners get the same network (MLP ``hidden``), the same number of environment steps,
the same replay ratio (``K`` gradient steps per env step), target period, learning rate,
batch size, Huber loss, gradient clipping, Adam and linear epsilon schedule, and both run
single-threaded. What differs is what the comparison is about: ours draws every random choice
from SHA-256 coins, runs the oracle through fixed point, and hashes/commits every gradient
step; SB3 uses numpy RNG and float observations.

Reported per learner: training wall time and env steps/s (evaluation excluded), and the
greedy policy's mean return over ``eval_episodes`` fresh episodes at the end of the budget.

Run: ``python -m learnchain.ml.baseline --steps 20000`` (needs ``stable-baselines3``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from learnchain.ml.dqn import (
    DQNConfig,
    EpsilonSchedule,
    configure_determinism,
    evaluate_greedy,
    learn_offline,
)


@dataclass(frozen=True)
class BaselineRow:
    """One learner's result on the shared budget."""

    learner: str
    env_steps: int
    train_wall_s: float
    steps_per_s: float
    mean_return: float


def sb3_available() -> bool:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return False
    return True


def run_ours(steps: int, K: int, C: int, seed: bytes, hyper: DQNConfig, eps: EpsilonSchedule,
             learning_starts: int, eval_episodes: int) -> BaselineRow:
    res = learn_offline("CartPole-v1", steps, K, seed, hyper=hyper, C=C, eps=eps,
                        learning_starts=learning_starts, eval_every=steps + 1,
                        solve_return=None)
    score = evaluate_greedy(res.params, "CartPole-v1", eval_episodes, seed + b"/final-eval")
    return BaselineRow("learnchain-dqn", res.env_steps, res.wall_time_s,
                       res.env_steps / res.wall_time_s, score)


def run_sb3(steps: int, K: int, C: int, seed: int, hyper: DQNConfig, eps: EpsilonSchedule,
            learning_starts: int, eval_episodes: int) -> BaselineRow:
    """SB3 DQN configured to match ``run_ours`` (see module docstring)."""
    model = _make_sb3(steps, K, C, seed, hyper, eps, learning_starts)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - t0
    return BaselineRow("stable-baselines3-dqn", steps, wall, steps / wall,
                       _sb3_mean_return(model, eval_episodes, 10_000))


def _make_sb3(steps: int, K: int, C: int, seed: int, hyper: DQNConfig, eps: EpsilonSchedule,
              learning_starts: int) -> Any:
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN

    return DQN(
        "MlpPolicy", gym.make("CartPole-v1"), learning_rate=hyper.lr,
        buffer_size=max(steps, 1), learning_starts=learning_starts,
        batch_size=hyper.batch_size, gamma=hyper.gamma, train_freq=1, gradient_steps=K,
        target_update_interval=max(C // max(K, 1), 1),
        exploration_fraction=min(eps.decay_steps / steps, 1.0),
        exploration_initial_eps=eps.start_ppb / 1e9, exploration_final_eps=eps.end_ppb / 1e9,
        max_grad_norm=hyper.max_grad_norm_ppb / 1e9,
        policy_kwargs={"net_arch": list(hyper.hidden), "optimizer_class": torch.optim.Adam,
                       "optimizer_kwargs": {"eps": hyper.adam_eps_ppb / 1e9}},
        seed=seed, device="cpu", verbose=0,
    )


@dataclass(frozen=True)
class SolveRow:
    """Env steps until the greedy policy first passes the solve test (None: not within budget).

    Solve test (both learners): every ``eval_every`` env steps, mean greedy return over 10
    episodes >= 195, confirmed by a mean >= 195 over 100 fresh episodes.
    """

    learner: str
    seed: int
    solved_at: int | None
    wall_s: float


def solve_ours(seed: int, budget: int = 20_000, eval_every: int = 500, K: int = 1, C: int = 200,
               hyper: DQNConfig | None = None, eps: EpsilonSchedule | None = None) -> SolveRow:
    res = learn_offline("CartPole-v1", budget, K, f"solve-{seed}".encode(),
                        hyper=hyper or DQNConfig(), C=C, eps=eps or EpsilonSchedule(),
                        eval_every=eval_every)
    return SolveRow("learnchain-dqn", seed, res.solved_at, res.wall_time_s)


def _sb3_mean_return(model: Any, episodes: int, seed0: int) -> float:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    total = 0.0
    for e in range(episodes):
        obs, _ = env.reset(seed=seed0 + e)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(int(action))
            total += float(r)
            done = term or trunc
    return total / max(episodes, 1)


def solve_sb3(seed: int, budget: int = 20_000, eval_every: int = 500, K: int = 1, C: int = 200,
              hyper: DQNConfig | None = None, eps: EpsilonSchedule | None = None,
              learning_starts: int = 500) -> SolveRow:
    """SB3 DQN with the matched configuration and the same solve test as ``solve_ours``."""
    from stable_baselines3.common.callbacks import BaseCallback

    hyper = hyper or DQNConfig()
    eps = eps or EpsilonSchedule()
    model = _make_sb3(budget, K, C, seed, hyper, eps, learning_starts)
    solved: list[int] = []

    class _Solve(BaseCallback):
        def _on_step(self) -> bool:
            t = self.num_timesteps
            if t % eval_every:
                return True
            if _sb3_mean_return(self.model, 10, 1_000 * t) >= 195.0 and (
                    _sb3_mean_return(self.model, 100, 10**7 + 1_000 * t) >= 195.0):
                solved.append(t)
                return False
            return True

    configure_determinism()
    t0 = time.perf_counter()
    model.learn(total_timesteps=budget, callback=_Solve())
    return SolveRow("stable-baselines3-dqn", seed, solved[0] if solved else None,
                    time.perf_counter() - t0)


def compare_with_sb3(steps: int = 20_000, K: int = 1, C: int = 200, seed: int = 0,
                     hyper: DQNConfig | None = None, eps: EpsilonSchedule | None = None,
                     learning_starts: int = 500, eval_episodes: int = 100
                     ) -> list[BaselineRow]:
    """Run both learners on the same budget; rows are ours first, then SB3 (if installed)."""
    configure_determinism()
    hyper = hyper or DQNConfig()
    eps = eps or EpsilonSchedule()
    rows = [run_ours(steps, K, C, f"baseline-{seed}".encode(), hyper, eps, learning_starts,
                     eval_episodes)]
    if sb3_available():
        rows.append(run_sb3(steps, K, C, seed, hyper, eps, learning_starts, eval_episodes))
    return rows


def format_rows(rows: list[BaselineRow]) -> str:
    head = f"{'learner':<24}{'env steps':>10}{'train s':>10}{'steps/s':>10}{'mean return':>13}"
    lines = [head]
    for r in rows:
        lines.append(f"{r.learner:<24}{r.env_steps:>10}{r.train_wall_s:>10.1f}"
                     f"{r.steps_per_s:>10.0f}{r.mean_return:>13.1f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--K", type=int, default=1)
    ap.add_argument("--C", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-episodes", type=int, default=100)
    ap.add_argument("--solve-seeds", type=int, default=0,
                    help="also measure env steps to solve over this many seeds per learner")
    a = ap.parse_args()
    print(format_rows(compare_with_sb3(a.steps, a.K, a.C, a.seed,
                                       eval_episodes=a.eval_episodes)))
    if a.solve_seeds:
        learners = [solve_ours] + ([solve_sb3] if sb3_available() else [])
        for fn in learners:
            for sd in range(a.solve_seeds):
                r = fn(sd, budget=a.steps, K=a.K, C=a.C)
                print(f"solve {r.learner:<24} seed={r.seed} solved_at={r.solved_at} "
                      f"wall={r.wall_s:.1f}s", flush=True)


if __name__ == "__main__":
    main()
