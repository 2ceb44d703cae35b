"""`sim run` shows progress as height/target; reporting it changes nothing in the run."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from learnchain.cli.main import app
from learnchain.sim import scenario as sc
from learnchain.sim.scenario import Scenario, run_scenario


def test_progress_reports_are_monotone_and_do_not_change_the_run(monkeypatch):
    monkeypatch.setattr(sc, "PROGRESS_EVENTS", 200)  # many pauses in a short run
    scenario = Scenario(seed=5, nodes=6, blocks=15, degree=2, tx_per_s=0.5)
    steps: list[tuple[int, int]] = []
    _, with_progress = run_scenario(scenario, progress=lambda d, t: steps.append((d, t)))
    _, without = run_scenario(scenario)
    assert with_progress.to_json() == without.to_json()
    assert len(steps) > 2 and all(t == 15 for _, t in steps)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps) and steps[-1][0] == 15


def test_sim_run_json_lists_its_files(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text("seed = 1\nnodes = 4\nblocks = 5\ndegree = 2\n")
    result = CliRunner().invoke(app, ["sim", "run", str(toml), "--out", str(tmp_path / "o"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "canonical_height" in out and str(tmp_path / "o" / "metrics.json") in out["files"]
