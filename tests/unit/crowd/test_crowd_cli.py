"""`learnchain crowd …` against a real in-process node over HTTP, and the offline commands."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learnchain.apps.crowd.experiments import Sandbox
from learnchain.cli.main import app
from learnchain.core.crypto import save_keystore
from learnchain.net.server import ApiServer
from learnchain.testing import dev_key

runner = CliRunner()


def cli(*args: str) -> dict | list:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_analyze_only_all_true_without_cost_and_the_cost_condition():
    report = cli("crowd", "analyze", "--r", "1000", "--d", "200", "--n", "2")
    assert report["only_all_true"] and report["survivors"] == {"W1": ["t"], "W2": ["t"]}
    assert report["table_one"]["t,t"] == [500, 500]
    costly = cli("crowd", "analyze", "--r", "900", "--d", "200", "--n", "3", "--cost", "50")
    assert not costly["only_all_true"]
    assert costly["survivors"]["W1"] == ["t", "f"]
    assert costly["honesty_survives_below_cost"] == costly["closed_form"] == 400
    assert costly["coalition_survivors"]["2"] == ["σ2", "σ3"]
    bad = runner.invoke(app, ["crowd", "analyze", "--r", "10", "--d", "3"])
    assert bad.exit_code == 1 and "even d" in " ".join(bad.output.split())


def test_programs_and_make_input(tmp_path: Path):
    rows = cli("crowd", "programs")
    assert {(r["program"], r["version"]) for r in rows} >= {("eval-classifier", 1),
                                                          ("train-mlp", 1)}
    info = cli("crowd", "make-input", "--program", "train-logreg", "--dataset", "wine",
               "--out", str(tmp_path / "x.cbor"))
    assert (tmp_path / "x.cbor").stat().st_size == info["size"]


def test_experiment_writes_json_and_plot(tmp_path: Path):
    summary = cli("crowd", "experiment", "--tasks", "4", "--population",
                  "honest=3,junk=1,lazy=1", "--out", str(tmp_path))
    assert summary["settled"] + summary["cancelled"] == 4
    assert Path(summary["files"]["png"]).stat().st_size > 10_000
    data = json.loads(Path(summary["files"]["json"]).read_text())
    assert set(data["per_strategy"]) == {"honest", "junk", "lazy"}


@pytest.fixture
def served(tmp_path: Path):
    box = Sandbox(["req", "w0", "w1"])
    keys = tmp_path / "keys"
    save_keystore(dev_key("req"), keys / "req.json", "pw", light=True)
    (keys / "password.txt").write_text("pw\n")
    stop = threading.Event()

    def mine() -> None:
        while not stop.wait(0.1):
            box.node.mine(1)

    miner = threading.Thread(target=mine, daemon=True)
    with ApiServer(box.node.node) as server:
        miner.start()
        yield box, server.url, tmp_path
        stop.set()
        miner.join(timeout=10)


def test_publish_list_and_show_over_http(served):
    _box, url, datadir = served
    cli("crowd", "make-input", "--subset", "64", "--out", str(datadir / "in.cbor"))
    common = ["--node", url, "--key", "req", "--datadir", str(datadir)]
    result = cli("crowd", "publish", "--input", str(datadir / "in.cbor"), "--deposit", "100",
                 "--reward", "300", *common)
    assert result == {"task_id": 0}
    listed = cli("crowd", "list", "--node", url)
    assert [t["id"] for t in listed] == [0]
    task = cli("crowd", "task", "0", "--node", url)
    assert task["deposit"] == 100 and task["n"] == 2
    refused = runner.invoke(app, ["crowd", "settle", "0", *common])
    # too early: still joining (or, on a slow machine, past the join window), never 'settle'
    assert refused.exit_code == 1 and "needs 'settle'" in " ".join(refused.output.split())
