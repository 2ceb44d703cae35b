"""`learnchain reproduce NAME --quick --json`: real experiments end to end, and the report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from learnchain.cli.main import app


def test_reproduce_two_cheap_experiments_writes_results_plots_and_report(tmp_path):
    out = tmp_path / "repro"
    result = CliRunner().invoke(app, ["reproduce", "market", "calculus", "--quick", "--json",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["experiment"] for r in data["summary"]] == ["market", "calculus"]
    for row in data["summary"]:
        assert row["claims"] > 0
        assert row["verdict"] in {"reproduced", "differs", "inconclusive"}
    for name in ("market", "calculus"):
        saved = json.loads((out / name / "result.json").read_text())
        assert saved["spec"]["quick"] is True
        assert saved["claims"] and all(c["published"] and c["measured"]
                                       for c in saved["claims"])
        assert all((out / name).joinpath(p.split("/")[-1]).is_file() for p in saved["plots"])
        assert saved["plots"] and saved["plots"][0].endswith(".png")
    # the market's seed claim about refusals is known not to hold in this design
    market = json.loads((out / "market" / "result.json").read_text())
    refusals = [c for c in market["claims"] if "could not get resources" in c["published"]]
    assert refusals and refusals[0]["verdict"] == "differs" and refusals[0]["why"]
    report = (out / "report.md").read_text()
    assert "| experiment | source | size | seeds | verdict | claims reproduced | time (s) |" \
        in report
    table = [line for line in report.splitlines() if line.startswith("| market |")
             or line.startswith("| calculus |")]
    assert len(table) == 2
    assert "quick runs" in report
    assert "![market](market/market_scarcity.png)" in report


def test_reproduce_rejects_unknown_names_and_missing_selection(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["reproduce", "no-such", "--quick", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "no-such" in bad.output
    none = runner.invoke(app, ["reproduce", "--quick", "--out", str(tmp_path)])
    assert none.exit_code == 2 and "--all" in none.output
    listed = runner.invoke(app, ["reproduce", "--list", "--json"])
    assert listed.exit_code == 0
    assert "governance-engine" in {r["name"] for r in json.loads(listed.stdout)}


def test_publish_writes_docs_reproduction_with_working_plot_links(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["reproduce", "collab-market", "--quick", "--publish",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "docs" / "reproduction.md").read_text()
    assert "| collab-market | 004 |" in report
    links = [line[line.index("](") + 2:-1] for line in report.splitlines()
             if line.startswith("![")]
    assert links and all((tmp_path / "docs" / link).is_file() for link in links)
    saved = json.loads((tmp_path / "docs/experiments/reproduction/collab-market/result.json")
                       .read_text())
    assert saved["seeds"] == [0] and saved["claims"][0]["verdict"] == "reproduced"
