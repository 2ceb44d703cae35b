"""`chain verify` and `chain show` handle PoLe blocks; the pole CLI group's experiment runs."""

from __future__ import annotations

import json
from pathlib import Path

from pole_helpers import addr, pole_genesis
from typer.testing import CliRunner

from learnchain.apps.tasks import actors
from learnchain.apps.tasks import rules as R
from learnchain.cli.chain import _pole_cell
from learnchain.cli.main import app
from learnchain.core.verify import verify_store
from learnchain.testing import make_node


def test_a_stored_pole_chain_reverifies_from_genesis(tmp_path: Path) -> None:
    genesis = pole_genesis()
    db = tmp_path / "chain.sqlite"
    node = make_node(genesis, "alice", database=str(db))
    prepared = actors.prepare_task(addr("data"), 0, deadline=3)
    node.send("data", "tasks", "publish", prepared.publish_args)
    node.mine()
    task = node.chain.query("tasks", "task", {"task": 0})
    cand = actors.train_candidate(task, addr("alice"))
    node.send("alice", "tasks", "commit", cand.commit_args())
    node.mine(task["deadline"])
    node.send("data", "tasks", "open_test", prepared.open_args(0))
    node.send("alice", "tasks", "reveal", cand.reveal_args())
    while node.chain.height <= R.close_height(task):
        node.mine()
    pole_block = node.chain.block_at(R.close_height(task) + 1)
    assert pole_block is not None and "pole" in pole_block.header.engine_fields
    node.mine(2)
    report = verify_store(str(db), genesis, lambda done, total: None)
    assert report.ok and report.height == node.chain.height
    cell = _pole_cell(pole_block)
    assert cell.startswith("task 0 won by") and "1 candidates" in cell
    assert _pole_cell(node.chain.block_at(1)) == "PoW"


def test_sml_experiment_command_writes_json_and_plot(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["pole", "experiment", "sml", "--models", "logreg",
                                      "--widths", "4,16", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [r["width"] for r in rows] == [4, 16]
    assert (tmp_path / "sml.png").exists() and (tmp_path / "sml.json").exists()
