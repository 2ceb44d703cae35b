"""`learnchain calculus` on the published configurations, driven through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from learnchain.cli.calculus import calculus_app

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "experiments" / "calculus" / "folded"
runner = CliRunner()


def test_optimize_prints_the_result_table() -> None:
    result = runner.invoke(calculus_app, ["optimize", str(CONFIGS / "c1.toml")])
    assert result.exit_code == 0, result.output
    assert "optimum: s=33 r=49 d=43" in result.output
    assert "robust cost" in result.output


def test_optimize_json_and_overrides() -> None:
    result = runner.invoke(
        calculus_app, ["optimize", str(CONFIGS / "c3.toml"), "--json", "--set", "u_d=0"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["feasible"] is True
    assert data["constants"]["u_d"] == 0 and data["constants"]["delta3"] == 1e-4
    assert data["optimum"]["s"] >= 101
    assert data["table"][0]["d"] >= data["optimum"]["d"]


def test_optimize_max_d_objective_from_the_command_line() -> None:
    result = runner.invoke(calculus_app, ["optimize", str(CONFIGS / "c2.toml"), "--objective",
                                          "max_d", "--budget", "0.34", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["objective"] == "max_d"
    assert data["optimum"]["cost"] <= 0.34


def test_infeasible_configuration_exits_nonzero() -> None:
    result = runner.invoke(calculus_app, ["optimize", str(CONFIGS / "c1-visa.toml")])
    assert result.exit_code == 1
    assert "no robustly feasible" in result.output


def test_eval_prints_every_quantity_and_binding_constraints() -> None:
    result = runner.invoke(calculus_app, ["eval", "--s", "33", "--r", "49", "--d", "43",
                                          "--preset", "C1", "--model", "folded"])
    assert result.exit_code == 0, result.output
    for word in ("p_failure", "expected_rounds", "p_dispute", "pool", "robustly feasible",
                 "d-1", "s-1"):
        assert word in result.output
    as_json = runner.invoke(calculus_app, ["eval", "--s", "33", "--r", "48", "--d", "43",
                                           "--preset", "C1", "--json", "--model", "folded"])
    data = json.loads(as_json.output)
    assert data["feasible"] is False
    assert data["robust"]["failure"]["ok"] is False


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "folded"\n[uncertainty]\nu_s = 5\n[bounds]\ns_l = 3\n')
    result = runner.invoke(calculus_app, ["optimize", str(bad)])
    assert result.exit_code == 2
    assert "u_s" in result.output
    result = runner.invoke(calculus_app, ["eval", "--s", "3", "--r", "4", "--d", "2", "--set",
                                          "delta=1.5", "--model", "folded"])
    assert result.exit_code == 2 and "delta" in result.output


def test_strict_mode_refuses_defaults() -> None:
    result = runner.invoke(calculus_app, ["optimize", str(CONFIGS / "c1.toml"), "--strict"])
    assert result.exit_code == 2
    assert "tvc: missing constant" in result.output
    full = runner.invoke(calculus_app, ["optimize", str(CONFIGS / "table1.toml"), "--strict"])
    assert full.exit_code == 0, full.output


def test_sweep_quick_writes_results_and_plots(tmp_path: Path) -> None:
    result = runner.invoke(calculus_app, ["sweep", "--out", str(tmp_path), "--quick"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results.json").exists()
    assert (tmp_path / "feasible_d_vs_rate.png").stat().st_size > 1000
    assert (tmp_path / "cost_vs_s.png").stat().st_size > 1000
    assert "C2 feasibility boundary" in result.output
