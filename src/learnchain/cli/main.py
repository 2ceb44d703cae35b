"""`learnchain`: run nodes, manage keys, send transactions, inspect and verify chains."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress
from rich.table import Table

from learnchain.cli.calculus import calculus_app
from learnchain.cli.collab import collab_app
from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    console,
    emit_json,
    friendly_errors,
    load_key,
    read_password,
)
from learnchain.cli.crowd import crowd_app, worker_command
from learnchain.cli.devnet import devnet_app
from learnchain.cli.market import market_app
from learnchain.cli.pole import pole_app
from learnchain.cli.rlpow import rlpow_app
from learnchain.cli.sim import sim_app
from learnchain.config import NodeConfig
from learnchain.core.chain import Chain
from learnchain.core.crypto import (
    PrivateKey,
    keystore_address,
    parse_address,
    save_keystore,
    to_checksum_address,
)
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.net.jsonview import block_json, receipt_json
from learnchain.node import open_chain
from learnchain.storage.blobstore import cid_of_digest

app = typer.Typer(help="learnchain: a blockchain whose work is machine learning.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Create and inspect keystore files.", no_args_is_help=True)
tx_app = typer.Typer(help="Sign and send transactions to a running node.", no_args_is_help=True)
chain_app = typer.Typer(help="Inspect and verify a node's stored chain.", no_args_is_help=True)
node_app = typer.Typer(help="Run a node.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(tx_app, name="tx")
app.add_typer(chain_app, name="chain")
app.add_typer(node_app, name="node")
app.add_typer(calculus_app, name="calculus")
app.add_typer(sim_app, name="sim")
app.add_typer(devnet_app, name="devnet")
app.add_typer(collab_app, name="collab")
app.add_typer(rlpow_app, name="rlpow")
app.add_typer(market_app, name="market")
app.add_typer(crowd_app, name="crowd")
app.add_typer(pole_app, name="pole")
app.command("worker")(worker_command)


def _open(datadir: Path) -> tuple[NodeConfig, Chain]:
    config = NodeConfig.load(datadir)
    genesis = GenesisConfig.load(config.path(config.genesis))
    return config, open_chain(config.path(config.database), genesis)


# ----- init ----------------------------------------------------------------------------


@app.command()
@friendly_errors
def init(datadir: Path = DATADIR_OPTION,
         difficulty: int = typer.Option(14, help="Leading zero bits required of block hashes."),
         port: int = typer.Option(8645, help="API port on 127.0.0.1."),
         force: bool = typer.Option(False, help="Overwrite an existing data directory."),
         block_interval_ms: int = typer.Option(1000, help="Minimum time between own blocks."),
         fast_kdf: bool = typer.Option(False, hidden=True,
                                       help="Weak keystore KDF, for tests only."),
         as_json: bool = JSON_OPTION) -> None:
    """Create genesis, node config and dev keys (node, alice, bob) with working defaults."""
    from learnchain.scaffold import init_datadir

    result = init_datadir(datadir, difficulty=difficulty, port=port, force=force,
                          light_kdf=fast_kdf, block_interval_ms=block_interval_ms)
    summary = {"datadir": str(datadir), "node": to_checksum_address(result.node_address),
               "accounts": {n: to_checksum_address(a) for n, a in result.accounts.items()},
               "genesis": "0x" + result.genesis.hash.hex()}
    if as_json:
        emit_json(summary)
        return
    console.print(f"[green]initialised[/] {datadir}: node {summary['node']}")
    for name, address in summary["accounts"].items():
        console.print(f"  dev account {name}: {address}")
    console.print(f"start it with: learnchain node start --datadir {datadir}")
    console.print("[yellow]keys/password.txt holds the dev password; "
                  "use your own keys for anything real[/]")


# ----- keys ----------------------------------------------------------------------------


@keys_app.command("new")
@friendly_errors
def keys_new(name: str = typer.Argument(..., help="File name (without .json)."),
             directory: Path = typer.Option(Path("data/keys"), "--dir"),
             password_file: Path | None = typer.Option(None, help="File holding the password."),
             as_json: bool = JSON_OPTION) -> None:
    """Generate a secp256k1 key and save it as an Ethereum (v3) keystore."""
    path = directory / f"{name}.json"
    if path.exists():
        raise ValueError(f"{path} exists already; choose another name")
    key = PrivateKey.generate()
    save_keystore(key, path, read_password(password_file, confirm=True))
    if as_json:
        emit_json({"address": to_checksum_address(key.address), "path": str(path)})
    else:
        console.print(f"{to_checksum_address(key.address)}  {path}")


@keys_app.command("list")
@friendly_errors
def keys_list(directory: Path = typer.Option(Path("data/keys"), "--dir"),
              as_json: bool = JSON_OPTION) -> None:
    """Addresses of the keystores in a directory (no password needed)."""
    rows = [(p.stem, to_checksum_address(keystore_address(p)), str(p))
            for p in sorted(directory.glob("*.json"))]
    if as_json:
        emit_json([{"name": n, "address": a, "path": p} for n, a, p in rows])
        return
    table = Table("name", "address", "file")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@keys_app.command("show")
@friendly_errors
def keys_show(key: str = typer.Argument(..., help="Keystore path or name in <datadir>/keys."),
              datadir: Path = DATADIR_OPTION,
              password_file: Path | None = typer.Option(None),
              as_json: bool = JSON_OPTION) -> None:
    """Decrypt a keystore to prove the password and print its address."""
    private = load_key(key, datadir, password_file)
    out = {"address": to_checksum_address(private.address)}
    if as_json:
        emit_json(out)
    else:
        console.print(out["address"])


# ----- tx ------------------------------------------------------------------------------


def _client(datadir: Path, node: str | None) -> Any:
    from learnchain.net.client import NodeClient

    if node is None:
        config = NodeConfig.load(datadir)
        node = f"http://{config.api.host}:{config.api.port}"
    return NodeClient(node)


@tx_app.command("send")
@friendly_errors
def tx_send(sender: str = typer.Option(..., "--from", help="Keystore path or key name."),
            to: str = typer.Option(..., help="Recipient address (0x…)."),
            amount: int = typer.Option(..., min=1, help="Amount in base units."),
            datadir: Path = DATADIR_OPTION,
            node: str | None = typer.Option(None, help="Node URL (default: from node.toml)."),
            password_file: Path | None = typer.Option(None),
            wait: bool = typer.Option(True, help="Wait until the transfer is in a block."),
            as_json: bool = JSON_OPTION) -> None:
    """Transfer tokens."""
    _send(datadir, node, sender, password_file, "bank", "transfer",
          {"to": parse_address(to), "amount": amount}, wait, as_json)


@tx_app.command("call")
@friendly_errors
def tx_call(sender: str = typer.Option(..., "--from"),
            app_name: str = typer.Option(..., "--app"),
            method: str = typer.Option(...),
            args: str = typer.Option("{}", help='JSON arguments; "0x…" strings are bytes.'),
            datadir: Path = DATADIR_OPTION, node: str | None = typer.Option(None),
            password_file: Path | None = typer.Option(None),
            wait: bool = typer.Option(True), as_json: bool = JSON_OPTION) -> None:
    """Call any app method."""
    import json

    from learnchain.net.jsonview import from_json

    _send(datadir, node, sender, password_file, app_name, method, from_json(json.loads(args)),
          wait, as_json)


def _send(datadir: Path, node: str | None, sender: str, password_file: Path | None, app_name: str,
          method: str, args: dict[str, Any], wait: bool, as_json: bool) -> None:
    client = _client(datadir, node)
    key = load_key(sender, datadir, password_file)
    tx = client.send(key, app_name, method, args)
    result: dict[str, Any] = {"hash": "0x" + tx.hash.hex(), "status": "pending"}
    if wait:
        with console.status("waiting for inclusion…", spinner="dots") if not as_json else _null():
            result = {"hash": "0x" + tx.hash.hex(), **client.wait_for(tx.hash)}
    if as_json:
        emit_json(result)
    elif result["status"] == "included":
        receipt = result["receipt"]
        verdict = "[green]succeeded[/]" if receipt["success"] else \
            f"[red]failed[/]: {receipt['error']}"
        console.print(f"tx {result['hash']} included in block {result['height']}: {verdict}")
    else:
        console.print(f"tx {result['hash']} submitted")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ----- chain ---------------------------------------------------------------------------


def _block_row(block: Block) -> list[str]:
    h = block.header
    return [str(h.height), "0x" + h.hash.hex()[:16] + "…", str(len(block.transactions)),
            to_checksum_address(h.proposer)[:12] + "…", str(h.engine_fields.get("difficulty", "")),
            time.strftime("%H:%M:%S", time.gmtime(h.timestamp_ms / 1000))]


@chain_app.command("show")
@friendly_errors
def chain_show(datadir: Path = DATADIR_OPTION,
               last: int = typer.Option(10, help="How many recent blocks."),
               as_json: bool = JSON_OPTION) -> None:
    """The most recent blocks of the canonical chain (with S, A, R for rlpow chains)."""
    _, chain = _open(datadir)
    blocks = list(chain.canonical_blocks(max(0, chain.height - last + 1), chain.height))
    row_of = getattr(chain.engine, "row", None)
    if as_json:
        out = [block_json(b) for b in blocks]
        if row_of is not None:
            for entry, block in zip(out, blocks, strict=True):
                entry["rl"] = row_of(block.header)
        emit_json(out)
        return
    title = f"chain {chain.genesis_config.chain_id} · {chain.engine.name} · height {chain.height}"
    if row_of is not None:
        table = Table("height", "hash", "proposer", "S (features)", "A", "R", "return", "k",
                      title=title)
        for block in blocks:
            rl = row_of(block.header)
            features = ("" if rl["features"] is None
                        else " ".join(f"{v:+.2f}" for v in rl["features"]))
            base = _block_row(block)
            table.add_row(base[0], base[1][:12], base[3][:10], features, *(
                "" if rl[k] is None else str(rl[k]) for k in ("A", "R", "return", "k")))
    else:
        pole = chain.engine.name == "pole"
        table = Table("height", "hash", "txs", "proposer", "difficulty", "time (UTC)",
                      *(["PoLe settlement"] if pole else []), title=title)
        for block in blocks:
            table.add_row(*_block_row(block), *([_pole_cell(block)] if pole else []))
    console.print(table)


def _pole_cell(block: Block) -> str:
    """A PoLe block's settlement in one cell (task, winner, accuracies, candidate count)."""
    s = block.header.engine_fields.get("pole")
    if s is None:
        return "PoW"
    return (f"task {s['task']} won by {to_checksum_address(s['winner'])[:10]}… train "
            f"{s['train_ppm']} test {s['test_ppm']} ppm, {len(s['candidates'])} candidates, "
            f"hp {s['hp']}")


@chain_app.command("policy")
@friendly_errors
def chain_policy(datadir: Path = DATADIR_OPTION,
                 episodes: int = typer.Option(100, help="Evaluation episodes."),
                 threshold: float = typer.Option(195.0, help="Mean return that counts as "
                                                 "solved (CartPole-v1: 195)."),
                 as_json: bool = JSON_OPTION) -> None:
    """rlpow: how well the canonical chain's current policy (the head's θ_after) plays.

    Greedy episodes on the chain's own oracle, off-chain and seeded by the block hash, so the
    figure is reproducible; run it against any node's datadir while the devnet runs. A node
    that fetched only a sample of a large proof may lack the head's θ_after: the newest block
    whose θ_after it stores is evaluated, and its height is printed.
    """
    _, chain = _open(datadir)
    engine = chain.engine
    if not hasattr(engine, "greedy_params"):
        raise ValueError(f"chain policy needs an rlpow chain; this one runs {engine.name!r}")
    header = chain.head
    theta = None
    while header is not None and header.height > 0 and (
            theta := engine.greedy_params(header.hash)) is None:
        header = chain.get_header(header.parent)  # a peer's θ_after may not be stored here
    if theta is None or header is None:
        raise ValueError("no block with stored parameters yet: let the devnet run longer")
    from learnchain.ml import dqn

    score = dqn.evaluate_greedy(theta, engine.env_name, episodes, header.hash)
    out = {"height": header.height, "head_height": chain.height, "episodes": episodes,
           "mean_return": round(score, 2), "solved": score >= threshold,
           "theta_after": cid_of_digest(header.engine_fields["after"][0])}
    if as_json:
        emit_json(out)
    else:
        console.print(f"policy at height {out['height']} (head {out['head_height']}): mean "
                      f"return {out['mean_return']} over {episodes} greedy episodes "
                      f"{'≥' if out['solved'] else '<'} {threshold:g}"
                      f"{' — solved' if out['solved'] else ''}")


@chain_app.command("head")
@friendly_errors
def chain_head(datadir: Path = DATADIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The head block."""
    _, chain = _open(datadir)
    head = chain.get_block(chain.head_hash)
    assert head is not None
    out = block_json(head)
    if as_json:
        emit_json(out)
    else:
        console.print(f"height {out['height']}  hash {out['hash']}  txs {out['tx_count']}")


@chain_app.command("block")
@friendly_errors
def chain_block(block_id: str = typer.Argument(..., help="Height or 0x hash."),
                datadir: Path = DATADIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """One block with its transactions and receipts."""
    _, chain = _open(datadir)
    block = (chain.get_block(bytes.fromhex(block_id[2:])) if block_id.startswith("0x")
             else chain.block_at(int(block_id)))
    if block is None:
        raise ValueError(f"no block {block_id} in {datadir}")
    out = block_json(block, full=True)
    out["receipts"] = [receipt_json(r) for r in chain.receipts(block.hash) or []]
    if as_json:
        emit_json(out)
        return
    console.print(f"[bold]block {out['height']}[/] {out['hash']}")
    for key in ("parent", "timestamp_ms", "proposer", "state_root", "engine_fields"):
        console.print(f"  {key}: {out[key]}")
    for tx, receipt in zip(out["transactions"], out["receipts"], strict=True):
        verdict = "ok" if receipt["success"] else f"failed: {receipt['error']}"
        console.print(f"  tx {tx['hash'][:18]}… {tx['app']}.{tx['method']} "
                      f"from {tx['sender'][:12]}… nonce {tx['nonce']}: {verdict}")


@chain_app.command("verify")
@friendly_errors
def chain_verify(datadir: Path = DATADIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Re-validate the whole stored chain from genesis; report the first bad block."""
    from learnchain.core.verify import verify_store

    config = NodeConfig.load(datadir)
    genesis = GenesisConfig.load(config.path(config.genesis))
    with Progress(console=console, disable=as_json, transient=True) as progress:
        task = progress.add_task("verifying", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = verify_store(config.path(config.database), genesis, step)
    if as_json:
        emit_json(report.__dict__)
    elif report.ok:
        console.print(f"[green]chain verified[/]: {report.height} blocks, state matches")
    else:
        console.print(f"[red]first bad block at height {report.first_bad_height}[/]: "
                      f"{report.reason}")
    if not report.ok:
        raise typer.Exit(2)


# ----- node ----------------------------------------------------------------------------


@node_app.command("start")
@friendly_errors
def node_start(datadir: Path = DATADIR_OPTION,
               mine: bool | None = typer.Option(None, help="Override [mining] enabled."),
               port: int | None = typer.Option(None, help="Override [api] port.")) -> None:
    """Run a node: produce blocks, talk to peers, serve the API on loopback until Ctrl-C."""
    from learnchain.runtime import NodeRuntime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runtime = NodeRuntime(datadir, mine=mine, port=port)
    console.print(f"node at height {runtime.chain.height}, head "
                  f"0x{runtime.chain.head_hash.hex()[:16]}…; API {runtime.url}/docs")
    runtime.serve()


# ----- demo ----------------------------------------------------------------------------


@app.command()
@friendly_errors
def demo(datadir: Path | None = typer.Option(None, help="Keep the demo chain here."),
         blocks: int = typer.Option(6, help="Blocks to mine."),
         difficulty: int = typer.Option(12)) -> None:
    """Start a governed-PoW node with embedded defaults, mine blocks with transfers, summarise."""
    from learnchain.demo import run_demo

    run_demo(datadir, blocks=blocks, difficulty=difficulty, console=console)


def main() -> None:
    app()


if __name__ == "__main__":
    threading.current_thread().name = "main"
    main()
