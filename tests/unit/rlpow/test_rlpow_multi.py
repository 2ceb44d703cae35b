"""Experiment 1 redone (rlpow-multi): the three designs run at equal compute, small budget."""

from __future__ import annotations

import json
from dataclasses import replace

from learnchain.experiments.registry import EXPERIMENTS
from learnchain.ml import dqn
from learnchain.ml.multi import learn_apex
from learnchain.sim import rlpow_multi as mx


def test_quick_multi_runs_every_design_writes_json_plot_and_resumes(tmp_path):
    cfg = replace(mx.quick_multi_config(), max_blocks=30, eval_every=30, eval_episodes=1,
                  confirm_episodes=1, params={"learning_starts": 20, "eps_decay_blocks": 25})
    summary = mx.run_multi(tmp_path, cfg)
    rows = {(r["design"], r["nodes"]): r for r in summary["table"]}
    assert set(rows) == {(d, n) for d in mx.DESIGNS for n in (1, 2)}
    # uncles and Ape-X put N transitions per height/round into the history, lineage one
    assert rows[("uncles", 2)]["env_steps"]["mean"] == 1 + 2 * 29
    assert rows[("apex", 2)]["env_steps"]["mean"] == 60
    assert rows[("lineage", 2)]["env_steps"]["mean"] == 30
    # with one node, the uncles design is the first design, block for block
    assert rows[("uncles", 1)]["grad_steps"] == rows[("lineage", 1)]["grad_steps"]
    for n in (1, 2):  # equal compute: every node's K steps per height are counted
        assert rows[("lineage", n)]["grad_steps"]["mean"] == n * 11
    data = json.loads((tmp_path / "multi.json").read_text())
    assert len(data["runs"]) == 6 and (tmp_path / "multi.png").stat().st_size > 10_000
    assert "| uncles | 2 |" in mx.format_table(summary)
    again = mx.run_multi(tmp_path, cfg)  # every run is cached: nothing is recomputed
    assert again["table"] == summary["table"]
    assert "rlpow-multi" in EXPERIMENTS


def test_apex_with_one_actor_is_the_single_learner():
    a = learn_apex("Inventory-v0", 1, 1, b"s", max_rounds=30, hyper=dqn.DQNConfig(hidden=(8,)),
                   learning_starts=10, eval_every=1000, solve_return=None)
    b = learn_apex("Inventory-v0", 2, 1, b"s", max_rounds=30, hyper=dqn.DQNConfig(hidden=(8,)),
                   learning_starts=10, eval_every=1000, solve_return=None)
    assert (a.env_steps, a.grad_steps) == (30, 21)
    assert (b.env_steps, b.grad_steps) == (60, 2 * 26)
