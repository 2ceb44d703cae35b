"""Small versions of the five rlpow experiments: same code paths, tiny budgets, real outputs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from learnchain.cli.rlpow import rlpow_app
from learnchain.sim import rlpow_attack
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


def _fork_key(rule: str, fork: dict[str, int], rewards: list[int]) -> tuple[int, ...]:
    """The rule's key for a branch, restated from its definition (not FORK_CHOICE_RULES)."""
    height = fork["height"] + len(rewards)
    last = rewards[-1] if rewards else fork["last_r"]
    total = fork["reward_sum"] + sum(rewards)
    return {"longest": (height,), "longest-then-last-reward": (height, last),
            "longest-then-reward-sum": (height, total)}[rule]


def test_attack_small_real_forks_are_decided_by_the_observers_fork_choice(tmp_path):
    # the claims hold at 16 trials
    cfg = replace(rlpow_attack.small_attack_config(), keep_trials=True, trials=16)
    summary = rlpow_attack.run_attack(tmp_path, cfg)
    rows = {(r["alpha"], r["rule"], r["lookahead"]): r for r in summary["rows"]}
    assert len(rows) == 2 * 3 * 2 and (tmp_path / "attack.png").stat().st_size > 0
    assert json.loads((tmp_path / "attack.json").read_text())["rows"] == summary["rows"]
    for r in rows.values():
        assert all(0 <= r[k] <= 1 for k in ("win_rate", "tie_rate"))
        # every adversary block was connected, i.e. fully verified and audited, by an honest node
        assert r["verified_blocks"] == r["adversary_blocks"] > 0
        assert r["audited_steps"] == r["adversary_blocks"]  # s = 1 step per block, k = K > 0

    # the observer's head is the adversary's tip exactly when the rule's key prefers that branch
    # (a tie stays with the public branch, seen first); the rewards come from the blocks' headers
    tie_outcomes = set()
    for t in summary["trials"]:
        fork = summary["fork_point"][t["rule"]]
        adv, honest = (_fork_key(t["rule"], fork, t[b]) for b in ("adversary_r", "honest_r"))
        assert t["adversary_won"] == (adv > honest), t
        if t["rule"] != "longest" and len(t["adversary_r"]) == len(t["honest_r"]):
            tie_outcomes.add(t["adversary_won"])
    assert tie_outcomes == {True, False}  # the rewards decided some tied races each way

    longest = {a: rows[(a, "longest", False)]["win_rate"] for a in cfg.alphas}
    assert longest[0.5] > longest[0.1]
    for rule in ("longest-then-last-reward", "longest-then-reward-sum"):
        assert rows[(0.5, rule, True)]["win_rate"] >= rows[(0.5, rule, False)]["win_rate"]
    for rule in cfg.rules:  # the best of five identities' candidates earns more per block
        plain, best = (rows[(0.5, rule, la)]["mean_reward_adversary"] for la in (False, True))
        assert best > plain

    # the public branch does not depend on the variant, and one identity has nothing to choose
    by_variant = {(t["alpha"], t["rule"], t["trial"], t["lookahead"]): t
                  for t in summary["trials"]}
    for (alpha, rule, trial, lookahead), t in by_variant.items():
        plain = by_variant[(alpha, rule, trial, False)]
        assert t["honest_r"] == plain["honest_r"]
        if alpha == 0.1 and lookahead:
            assert t["adversary_r"] == plain["adversary_r"]


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
                                            "--out", str(tmp_path), "--json"])
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
