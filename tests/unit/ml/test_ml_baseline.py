"""Experiment 5 harness: our DQN and SB3 DQN run on the same budget and report comparably."""

from __future__ import annotations

import pytest

from learnchain.ml import baseline

pytestmark = pytest.mark.skipif(not baseline.sb3_available(),
                                reason="stable-baselines3 not installed")


def test_tiny_comparison_runs_both_learners() -> None:
    rows = baseline.compare_with_sb3(steps=300, learning_starts=100, eval_episodes=2)
    assert [r.learner for r in rows] == ["learnchain-dqn", "stable-baselines3-dqn"]
    for r in rows:
        assert r.env_steps == 300
        assert r.steps_per_s > 0
        assert 8.0 <= r.mean_return <= 500.0
    assert "steps/s" in baseline.format_rows(rows)


@pytest.mark.slow
def test_solve_comparison_small_budget() -> None:
    ours = baseline.solve_ours(0, budget=20_000)
    theirs = baseline.solve_sb3(0, budget=20_000)
    assert ours.solved_at is not None
    assert theirs.learner == "stable-baselines3-dqn"
