"""Small versions of the five rlpow experiments: same code paths, tiny budgets, real outputs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from learnchain.cli.rlpow import rlpow_app
from learnchain.sim import rlpow_experiments as ex


def test_learning_small_writes_json_and_plot(tmp_path):
    summary = ex.run_learning(tmp_path, ex.small_learning_config())
    assert {(r["mode"], r["nodes"]) for r in summary["table"]} == {
        ("shared", 1), ("shared", 2), ("own", 1), ("own", 2)}
    data = json.loads((tmp_path / "learning.json").read_text())
    assert len(data["runs"]) == 4 and (tmp_path / "learning.png").stat().st_size > 0
    for run in data["runs"]:
        # N nodes race for every height: total compute is N times the on-chain work
        assert run["total_grad_steps"] == run["nodes"] * run["onchain_grad_steps"] > 0


def test_tamper_small_is_detected_at_the_tampered_height(tmp_path):
    summary = ex.run_tamper(tmp_path, ex.TamperConfig(blocks=12, positions=(1, 11)))
    assert summary["all_detected_at_j"]
    errors = {r["field"]: r["replay_error"] for r in summary["rows"]}
    assert errors["R"].startswith("reward does not replay")
    assert errors["S"].startswith("transition does not replay")
    assert (tmp_path / "tamper.png").exists()


def test_attack_small_rates_are_probabilities_and_grow_with_alpha(tmp_path):
    summary = ex.run_attack(tmp_path, ex.AttackConfig(trials=60))
    rows = summary["rows"]
    assert all(0 <= r["win_rate"] <= 1 for r in rows)
    longest = {r["alpha"]: r["win_rate"] for r in rows
               if r["rule"] == "longest" and not r["lookahead"]}
    assert longest[0.1] <= longest[0.5]


def test_verify_cost_small_spot_check_is_cheaper_than_full(tmp_path):
    summary = ex.run_verify_cost(tmp_path, ex.VerifyCostConfig(Ks=(8,), blocks=3, warmup=4))
    by_s = {r["s"]: r for r in summary["rows"]}
    assert by_s[1]["verify_ms"] < by_s[8]["verify_ms"]


def test_dqn_quality_small_runs_both_learners(tmp_path):
    pytest.importorskip("stable_baselines3")
    summary = ex.run_dqn_quality(tmp_path, steps=600, solve_seeds=0)
    learners = [r["learner"] for r in summary["throughput"]]
    assert learners == ["learnchain-dqn", "stable-baselines3-dqn"]
    assert (tmp_path / "dqn_quality.json").exists()


def test_the_cli_runs_an_experiment_command(tmp_path):
    result = CliRunner().invoke(rlpow_app, ["experiment", "tamper", "--small",
                                            "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["all_detected_at_j"] is True


def test_devnet_small_converges_with_every_node_auditing(tmp_path):
    cfg = ex.DevnetConfig(nodes=4, blocks=60, eval_every=30, eval_episodes=2,
                          params={"K": 2, "learning_starts": 10})
    lines: list[str] = []
    summary = ex.run_devnet(tmp_path, cfg, log=lines.append)
    assert summary["converged"] and summary["height"] == 60
    assert sum(summary["audited_steps"].values()) > 0
    assert len(lines) == 2 and "greedy θ_after" in lines[0]
    assert (tmp_path / "devnet.png").exists()
