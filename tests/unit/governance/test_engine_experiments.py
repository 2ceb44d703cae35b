"""The governance-engine experiment (small version) and its CLI."""

import json

import pytest
from typer.testing import CliRunner

from learnchain.cli.main import app
from learnchain.governance.baselines import make_baseline
from learnchain.governance.engine import EngineConfig
from learnchain.governance.engine_experiments import (
    CONTROLLERS,
    METRICS,
    ExperimentConfig,
    confidence,
    run_episode,
    run_experiment,
)
from learnchain.governance.env import EnvConfig

TINY = EngineConfig(hidden=(16, 16), batch_size=16, train_steps=120, learning_starts=40,
                    grad_steps=1)


def test_small_experiment_writes_results_table_and_plots(tmp_path):
    cfg = ExperimentConfig(seeds=2, horizon=40, shock_at=15, scenarios=("failure", "surge"),
                           engine=TINY)
    res = run_experiment(cfg, tmp_path)
    assert set(res["summary"]) == {"failure", "surge"}
    for by in res["summary"].values():
        assert set(by) == set(CONTROLLERS)
        for ms in by.values():
            assert set(ms) == set(METRICS) and ms["p99"]["n"] == 2
    assert res["summary"]["surge"]["fixed"]["gov_txs"]["mean"] == 0.0
    for name in ("results.json", "table.md", "governance_engine_metrics.png",
                 "governance_engine_traces.png", "engines/engine_seed1.json"):
        assert (tmp_path / name).exists(), name
    assert json.loads((tmp_path / "results.json").read_text())["config"]["seeds"] == 2


def test_recovery_is_counted_from_the_shock_and_capped_by_the_horizon():
    metrics, trace = run_episode(make_baseline("fixed", 8.0), EnvConfig(), "surge", 1, 120, 40)
    assert 0 <= metrics["recovery"] <= 80 and len(trace["time"]) == 120
    assert metrics["gov_txs"] == 0 and 0 < metrics["top_share"] <= 1


def test_confidence_interval_is_student_t():
    ci = confidence([1.0, 2.0, 3.0])
    assert ci["mean"] == 2.0 and ci["ci95"] == pytest.approx(2.484, rel=1e-3)


def test_cli_trains_an_engine_and_rejects_bad_policies(tmp_path):
    runner = CliRunner()
    out = tmp_path / "engine.json"
    res = runner.invoke(app, ["governance", "train", "--steps", "60", "--out", str(out),
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["params_hash"] and out.exists()
    bad = runner.invoke(app, ["governance", "engine", "--datadir", str(tmp_path),
                              "--policy", "greedy"])
    assert bad.exit_code == 1 and "--policy must be one of" in bad.output
    missing = runner.invoke(app, ["governance", "engine", "--datadir", str(tmp_path)])
    assert missing.exit_code == 1 and "no devnet" in missing.output


@pytest.mark.slow
def test_cli_quick_experiment_regenerates_table_and_plots(tmp_path):
    res = CliRunner().invoke(app, ["governance", "experiment", "--quick", "--out",
                                   str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["files"]) == 2
