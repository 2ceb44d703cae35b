"""The CLI's plumbing: experiment commands, and node commands against an in-process chain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from learnchain.apps.collab.agents import LocalChain
from learnchain.cli import collab as cli
from learnchain.core.crypto import PrivateKey
from learnchain.core.types import Transaction
from learnchain.net.jsonview import to_json

KEY = PrivateKey.from_seed(b"collab-cli-test")


class FakeClient:
    """Stands in for NodeClient: same calls, served by a LocalChain."""

    chain: LocalChain

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, key: PrivateKey, app: str, method: str, args: dict[str, Any]) -> Transaction:
        return self.chain.submit(key, method, args, app)

    def wait_for(self, tx_hash: bytes) -> dict[str, Any]:
        receipt = self.chain.block()[tx_hash]
        return {"status": "included", "success": receipt.success, "error": receipt.error,
                "result": to_json(receipt.result)}

    def query(self, app: str, method: str, args: dict[str, Any]) -> Any:
        return to_json(self.chain.query(method, args, app))


@pytest.fixture
def fake_node(monkeypatch: pytest.MonkeyPatch) -> LocalChain:
    FakeClient.chain = LocalChain({KEY.address: 10**9})
    monkeypatch.setattr(cli, "NodeClient", FakeClient)
    monkeypatch.setattr(cli, "load_key", lambda *a: KEY)
    return FakeClient.chain


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli.collab_app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_node_commands(fake_node: LocalChain) -> None:
    common = ["--key", "k", "--node", "http://x"]
    created = invoke("create", "--type", "sparse_perceptron", "--params", '{"intercept": 0}',
                     "--encoder", '{"type": "vocabulary", "vocabulary": ["good", "bad"]}',
                     "--mechanism", "points", *common)
    assert created["success"] and created["result"] == {"model_id": 0}
    added = invoke("add", "-m", "0", "--text", "good good film", "--label", "1", *common)
    assert added["success"], added
    # "film" is not in the vocabulary: the reference's out-of-vocabulary index
    assert fake_node.query("contribution", {"model_id": 0, "contribution": 0})["data"] == [
        0, 0, 1337]
    assert invoke("predict", "-m", "0", "--text", "good", "--node", "x") == {"prediction": 1}
    shown = invoke("show", "-m", "0", "--node", "x")
    assert shown["model"]["type"] == "sparse_perceptron" and len(shown["contributors"]) == 1
    called = invoke("call", "extend_model", "--args", '{"model_id": 0, "state": {"w/9": 1}}',
                    *common)
    assert not called["success"] and "no longer initialisable" in called["error"]


def test_experiment_market_command(tmp_path: Path) -> None:
    summary = invoke("experiment", "market", "--out", str(tmp_path), "--json")
    assert summary["zero_sum"] and (tmp_path / "collab_market.png").exists()


def test_create_deploys_a_reference_model_file(fake_node: LocalChain, tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[2] / "data" / "collab"
    encoder = tmp_path / "encoder.json"
    encoder.write_text(json.dumps({"type": "IMDB vocab", "vocabulary": json.loads(
        (data / "reference_vocab.json").read_text())}))
    common = ["--key", "k", "--node", "http://x"]
    created = invoke("create", "--model-json", str(data / "reference_sparse_perceptron.json"),
                     "--encoder", str(encoder), "--mechanism", "points", *common)
    assert created["success"], created
    assert fake_node.query("export", {"model_id": 0})["state"]["w/0"] == 2_472_096_179
    assert invoke("predict", "-m", "0", "--text", "a boring dull mess", "--node", "x") == {
        "prediction": 0}
    dense = invoke("create", "--model-json", str(data / "reference_dense_perceptron.json"),
                   "--encoder", '{"type": "MobileNetV2"}', "--mechanism", "points", *common)
    assert dense["success"], dense
    assert fake_node.query("model", {"model_id": 1})["feature_indices"] == [4, 0, 2]
