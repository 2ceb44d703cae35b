"""The market experiment's small version and the CLI around it."""

import json

from typer.testing import CliRunner

from learnchain.apps.market.experiments import MarketExperimentConfig, run_market_experiment
from learnchain.cli.main import app


def test_mining_scenario_reproduces_the_seed_price_and_shortage():
    config = MarketExperimentConfig.scenario_named("mining")
    result = run_market_experiment(config)
    steps = result["steps"]
    assert all(s["price"] == 1.0 for s in steps)          # the seed's "1.0000": the cap
    assert all(s["bought"]["c3"] == 0 for s in steps)      # the third miner drops out
    assert steps[0]["bought"] == {"c1": 2, "c2": 1, "c3": 0}
    assert any(s["refused"] for s in steps)                # "could not get resources"
    assert steps[-1]["remaining_after"] == 0
    assert all(claim["holds"] for claim in result["claims"])


def test_scarcity_scenario_price_rises_as_capacity_runs_out():
    result = run_market_experiment(MarketExperimentConfig.scenario_named("scarcity"))
    steps = result["steps"]
    assert steps[0]["price"] == 1.2247                     # ⌊√1.5 · 10⁴⌋ / 10⁴ with ample capacity
    short = [s for s in steps if s["capacity_before"] < 4]
    assert short and all(s["price"] > steps[0]["price"] for s in short)
    plentiful = [s for s in steps if s["capacity_before"] >= 8]
    assert min(s["consumer_profit"]["c1"] for s in plentiful) > max(
        s["consumer_profit"]["c1"] for s in short)         # rewards are higher when plentiful
    assert all(sum(s["bought"].values()) <= s["capacity_before"] for s in steps)


def test_cli_experiment_writes_plots_and_json(tmp_path):
    result = CliRunner().invoke(app, ["market", "experiment", "--scenario", "mining",
                                      "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["claims"]["mining"][0]["holds"]
    assert (tmp_path / "market_mining.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "market_mining.json").read_text())["steps"]


def test_cli_solve_prints_the_worked_example():
    result = CliRunner().invoke(app, ["market", "solve", "--values", "4,3,2", "--cost", "0.5",
                                      "--capacity", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["price"] == 1.5
    bad = CliRunner().invoke(app, ["market", "solve", "--values", "10,6", "--family", "tullock"])
    assert bad.exit_code == 1 and "price cap" in bad.output
