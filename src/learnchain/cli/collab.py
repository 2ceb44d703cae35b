"""`learnchain collab …`: shared models on the chain, and the two headline experiments.

Commands that change the chain sign with a keystore and send through a node's HTTP API; the
`experiment` commands need no node: they run an in-process chain and write JSON + PNG plots.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    PUBLISH_OPTION,
    emit_json,
    err_console,
    experiment_folder,
    friendly_errors,
    load_key,
    report_experiment,
    resolve_address,
)

collab_app = typer.Typer(help="Collaborative models: add data, claim deposits, predict.",
                         no_args_is_help=True)
experiment_app = typer.Typer(help="Run the collab experiments (in-process chain).",
                             no_args_is_help=True)
collab_app.add_typer(experiment_app, name="experiment")

NODE_OPTION = typer.Option("http://127.0.0.1:8645", "--node", help="Node HTTP API URL.")
KEY_OPTION = typer.Option(..., "--key", "-k", help="Keystore path or key name in <datadir>/keys.")
PASSWORD_OPTION = typer.Option(None, "--password-file", help="File holding the password.")
MODEL_OPTION = typer.Option(..., "--model", "-m", help="Model id.")
LABEL_OPTION = typer.Option(..., "--label", help="The sample's label.")
DATA_OPTION = typer.Option(None, "--data", help="Input as comma-separated integers.")
TEXT_OPTION = typer.Option(None, "--text", help="Input text, encoded by the model's encoder.")
PAID_KEY_OPTION = typer.Option(None, "--key", "-k",
                               help="Keystore path or key name (paid predictions).")
WAIT_OPTION = typer.Option(True, "--wait/--no-wait", help="Wait until the transaction is in a "
                           "block.")
ALWAYS_JSON = typer.Option(True, "--json", help="Print JSON (these commands always do; "
                           "accepted so every command takes --json).")


def NodeClient(url: str) -> Any:
    """The node's API client, imported on use (CLI start-up); tests may replace it."""
    from learnchain.net.client import NodeClient as Client

    return Client(url)


def args_from_json(value: Any) -> Any:
    from learnchain.net.jsonview import from_json

    return from_json(value)


def _send(node: str, key_name: str, datadir: Path, password_file: Path | None, method: str,
          args: dict[str, Any], wait: bool) -> Any:
    client = NodeClient(node)
    key = load_key(key_name, datadir, password_file)
    tx = client.send(key, "collab", method, args)
    if not wait:
        return {"tx": "0x" + tx.hash.hex(), "status": "submitted"}
    return client.wait_for(tx.hash)


def _json_arg(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    path = Path(text)
    raw = path.read_text() if path.exists() else text
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is neither a JSON file nor JSON text: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return args_from_json(value)


def _input(client: Any, model_id: int, data: str | None, text: str | None) -> list[int]:
    """Integer input from `--data 1,2,3` or from `--text` via the model's named encoder."""
    from learnchain.apps.collab.encoders import Encoder

    if data is not None:
        return [int(v) for v in data.split(",") if v.strip()]
    if text is None:
        raise ValueError("give --data (comma-separated integers) or --text")
    encoder = Encoder.from_plain(client.query("collab", "model", {"model_id": model_id})
                                 ["encoder"])
    return encoder.encode(text)


@collab_app.command()
@friendly_errors
def create(model: str = typer.Option(None, "--model-json", help="Model JSON (file or text)."),
           model_type: str = typer.Option(None, "--type", help="Model type, when no JSON."),
           params: str = typer.Option(None, "--params", help="Model params JSON."),
           encoder: str = typer.Option('{"type": "indices"}', "--encoder",
                                      help="Encoder JSON: how text becomes integer input."),
           mechanism: str = typer.Option("stakeable", "--mechanism",
                                        help="Incentive mechanism: stakeable, points or "
                                             "market."),
           mechanism_params: str = typer.Option(None, "--mechanism-params",
                                               help="Mechanism parameters JSON."),
           name: str = typer.Option("", "--name", help="Display name of the model."),
           key: str = KEY_OPTION, node: str = NODE_OPTION, datadir: Path = DATADIR_OPTION,
           password_file: Path | None = PASSWORD_OPTION,
           wait: bool = WAIT_OPTION,
        as_json: bool = ALWAYS_JSON) -> None:
    """Deploy a model: learnchain JSON, a reference (0xDeCA10B) model file, or empty by type.

    A reference file's floats are converted here as the reference's deployer does (×10^9,
    Math.round) and its featureIndices go into the encoder; pass the reference's encoder
    name, e.g. --encoder '{"type": "IMDB vocab", "vocabulary": {...}}' (or a JSON file).
    """
    from learnchain.apps.collab.interop import from_reference, is_reference_model
    from learnchain.apps.collab.models import build_model, load_model

    encoder_spec = _json_arg(encoder, "--encoder")
    if model:
        raw = json.loads(Path(model).read_text() if Path(model).exists() else model)
        if is_reference_model(raw):
            converted = from_reference(raw)
            doc = converted.model.export()
            if converted.feature_indices:
                encoder_spec["feature_indices"] = converted.feature_indices
        else:
            doc = load_model(raw).export()
    elif model_type:
        doc = build_model(model_type, _json_arg(params, "--params")).export()
    else:
        raise ValueError("give --model-json or --type")
    emit_json(_send(node, key, datadir, password_file, "create_model", {
        "model": doc, "encoder": encoder_spec, "mechanism": mechanism,
        "mechanism_params": _json_arg(mechanism_params, "--mechanism-params"), "name": name},
        wait))


@collab_app.command()
@friendly_errors
def add(model_id: int = MODEL_OPTION, label: int = LABEL_OPTION,
        data: str = DATA_OPTION, text: str = TEXT_OPTION,
        deposit: int = typer.Option(0, "--deposit", help="Most you will deposit/stake."),
        key: str = KEY_OPTION, node: str = NODE_OPTION, datadir: Path = DATADIR_OPTION,
        password_file: Path | None = PASSWORD_OPTION,
        wait: bool = WAIT_OPTION,
        as_json: bool = ALWAYS_JSON) -> None:
    """Add one labelled sample (only the required deposit is taken)."""
    values = _input(NodeClient(node), model_id, data, text)
    emit_json(_send(node, key, datadir, password_file, "add_data",
                    {"model_id": model_id, "data": values, "label": label,
                     "deposit": deposit}, wait))


@collab_app.command()
@friendly_errors
def refund(model_id: int = MODEL_OPTION,
           contribution: int = typer.Option(0, "--contribution", "-c",
                                             help="Contribution index."),
           key: str = KEY_OPTION, node: str = NODE_OPTION, datadir: Path = DATADIR_OPTION,
           password_file: Path | None = PASSWORD_OPTION,
           wait: bool = WAIT_OPTION,
        as_json: bool = ALWAYS_JSON) -> None:
    """Reclaim a deposit (or a point, or market winnings)."""
    emit_json(_send(node, key, datadir, password_file, "refund",
                    {"model_id": model_id, "contribution": contribution}, wait))


@collab_app.command()
@friendly_errors
def report(model_id: int = MODEL_OPTION,
           contribution: int = typer.Option(0, "--contribution", "-c",
                                             help="Contribution index."),
           author: str = typer.Option(None, "--author", help="Market: whose balance to take (0x "
                                      "address or key name)."),
           key: str = KEY_OPTION, node: str = NODE_OPTION, datadir: Path = DATADIR_OPTION,
           password_file: Path | None = PASSWORD_OPTION,
           wait: bool = WAIT_OPTION,
        as_json: bool = ALWAYS_JSON) -> None:
    """Take (part of) a bad or abandoned deposit."""
    args: dict[str, Any] = {"model_id": model_id, "contribution": contribution}
    if author:
        args["author"] = resolve_address(author, datadir)
    emit_json(_send(node, key, datadir, password_file, "report", args, wait))


@collab_app.command()
@friendly_errors
def predict(model_id: int = MODEL_OPTION, data: str = DATA_OPTION,
            text: str = TEXT_OPTION,
            fee: int = typer.Option(0, "--fee", help="Pay good contributors (a transaction)."),
            key: str = PAID_KEY_OPTION, node: str = NODE_OPTION,
            datadir: Path = DATADIR_OPTION,
            password_file: Path | None = PASSWORD_OPTION,
        as_json: bool = ALWAYS_JSON) -> None:
    """Predict for free (a query), or with a fee shared by good contributors."""
    client = NodeClient(node)
    values = _input(client, model_id, data, text)
    if fee:
        if key is None:
            raise ValueError("a paid prediction needs --key")
        emit_json(_send(node, key, datadir, password_file, "predict",
                        {"model_id": model_id, "data": values, "fee": fee}, True))
        return
    emit_json({"prediction": client.query("collab", "prediction",
                                          {"model_id": model_id, "data": values})})


@collab_app.command()
@friendly_errors
def show(model_id: int = MODEL_OPTION, node: str = NODE_OPTION,
         test: Path = typer.Option(None, "--test", help="JSON {data: [...], labels: [...]}: "
                                   "report accuracy on it."),
        as_json: bool = ALWAYS_JSON) -> None:
    """A model's definition, counters, contributors (with badges) and optional accuracy."""
    client = NodeClient(node)
    out: dict[str, Any] = {"model": client.query("collab", "model", {"model_id": model_id}),
                           "contributors": client.query("collab", "contributors",
                                                        {"model_id": model_id})}
    if test is not None:
        sample = json.loads(test.read_text())
        out["accuracy"] = client.query("collab", "evaluate", {
            "model_id": model_id, "data": sample["data"], "labels": sample["labels"]})
    out["escrow"] = client.query("bank", "escrow", {"app": "collab",
                                                    "escrow": f"m{model_id}"})
    emit_json(out)


@collab_app.command()
@friendly_errors
def call(method: str = typer.Argument(..., help="Any collab transaction, e.g. market_open."),
         args: str = typer.Option("{}", "--args", help="JSON args (file or text); 0x… = bytes."),
         key: str = KEY_OPTION, node: str = NODE_OPTION, datadir: Path = DATADIR_OPTION,
         password_file: Path | None = PASSWORD_OPTION,
         wait: bool = WAIT_OPTION,
        as_json: bool = ALWAYS_JSON) -> None:
    """Send any collab transaction (market_open, market_reveal, extend_model, …)."""
    emit_json(_send(node, key, datadir, password_file, method, _json_arg(args, "--args"), wait))


EXPERIMENT_OUT = typer.Option(None, "--out", help="Output folder (default "
                              "experiments/out/collab).")


@experiment_app.command("good-bad")
@friendly_errors
def experiment_good_bad(out: Path | None = EXPERIMENT_OUT,
                        days: int = typer.Option(14, "--days", help="Simulated days."),
                        seed: int = typer.Option(0, "--seed", help="First seed."),
                        seeds: int = typer.Option(10, "--seeds", help="Number of seeds."),
                        model: str = typer.Option("naive_bayes", "--model",
                                                  help="naive_bayes or sparse_perceptron."),
                        publish: bool = PUBLISH_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Good vs bad agent under deposit, refund and take, over several seeds: balances and
    accuracy with 95% confidence bands, and a verdict derived from the numbers."""
    from rich.progress import Progress

    from learnchain.apps.collab.experiments import GoodBadConfig, run_good_bad

    folder = experiment_folder("collab", out, publish)
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(f"good-bad, {seeds} seeds", total=seeds)
        result = run_good_bad(folder, GoodBadConfig(days=days, seed=seed, model=model),
                              seeds=seeds,
                              progress=lambda done: bar.update(task, completed=done))
    report_experiment("collab experiment good-bad",
                      {"stats": result["stats"], "verdict": result["verdict"]}, folder, as_json)


@experiment_app.command("market")
@friendly_errors
def experiment_market(out: Path | None = EXPERIMENT_OUT,
                      seed: int = typer.Option(0, "--seed", help="Random seed."),
                      group: bool = typer.Option(True, "--group/--no-group",
                                                 help="Group contributions per agent."),
                      reset: bool = typer.Option(True, "--reset/--no-reset",
                                                 help="Reset the model when the market opens."),
                      publish: bool = PUBLISH_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Prediction market with 3 good and 2 bad agents; plots balances and profits."""
    from learnchain.apps.collab.experiments import MarketConfig, run_market

    folder = experiment_folder("collab", out, publish)
    summary = run_market(folder, MarketConfig(seed=seed, group_contributions=group,
                                              reset_model=reset))
    summary.pop("config")
    report_experiment("collab experiment market", summary, folder, as_json)
