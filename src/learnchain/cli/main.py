"""`learnchain`: run nodes, manage keys, send transactions, inspect and verify chains.

How the CLI stays fast (``learnchain --help`` ≈ a bare Typer app, see
benchmarks/bench_cli_startup.py and tests/unit/cli/test_cli_imports.py):

* each command group lives in its own ``learnchain/cli/<group>.py`` and is registered below with
  one ``app.add_typer(<group>_app, name="<group>")`` line;
* a group module imports only typer, rich, the standard library and ``learnchain.cli.common``
  at top level; everything else (crypto, HTTP, the chain, torch, scipy, sklearn, matplotlib,
  gymnasium, fhir, …) is imported inside the command function that uses it;
* option defaults must not need a heavy module either: use ``None`` and resolve inside.
"""

from __future__ import annotations

import threading
from pathlib import Path

import typer

from learnchain import __version__
from learnchain.cli.calculus import calculus_app
from learnchain.cli.chain import chain_app
from learnchain.cli.collab import collab_app
from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    NODE_URL_OPTION,
    console,
    emit_json,
    friendly_errors,
    resolve_address,
)
from learnchain.cli.crowd import crowd_app, worker_command
from learnchain.cli.devnet import devnet_app
from learnchain.cli.finality import finality_app
from learnchain.cli.governance import governance_app
from learnchain.cli.keys import keys_app
from learnchain.cli.market import market_app
from learnchain.cli.node import node_app
from learnchain.cli.pole import pole_app
from learnchain.cli.reproduce import reproduce_command
from learnchain.cli.rlpow import rlpow_app
from learnchain.cli.sim import sim_app
from learnchain.cli.tx import tx_app
from learnchain.cli.wallet import wallet_app

app = typer.Typer(help="learnchain: a blockchain whose work is machine learning.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
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
app.add_typer(pole_app, name="pole")
app.add_typer(crowd_app, name="crowd")
app.command("worker")(worker_command)
app.add_typer(governance_app, name="governance")
app.add_typer(wallet_app, name="wallet")
app.command("reproduce")(reproduce_command)
app.add_typer(finality_app, name="finality")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"learnchain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """learnchain: a blockchain whose work is machine learning."""


# ----- init ----------------------------------------------------------------------------


@app.command()
@friendly_errors
def init(datadir: Path = DATADIR_OPTION,
         difficulty: int = typer.Option(14, help="Leading zero bits required of block hashes."),
         port: int = typer.Option(8645, help="API port on 127.0.0.1."),
         force: bool = typer.Option(False, help="Start an initialised datadir over: deletes its "
                                    "chain and REPLACES its keys (old ones are moved to "
                                    "keys.replaced-<time>/)."),
         block_interval_ms: int = typer.Option(1000, help="Minimum time between own blocks."),
         fast_kdf: bool = typer.Option(False, hidden=True,
                                       help="Weak keystore KDF, for tests only."),
         open_peers: bool = typer.Option(False, help="Admit any peer key (default: only "
                                                     "consortium node keys)."),
         as_json: bool = JSON_OPTION) -> None:
    """Create genesis, node config and dev keys (node, alice, bob) with working defaults."""
    from learnchain.core.crypto import to_checksum_address
    from learnchain.scaffold import init_datadir

    result = init_datadir(datadir, difficulty=difficulty, port=port, force=force,
                          light_kdf=fast_kdf, block_interval_ms=block_interval_ms,
                          open_peers=open_peers)
    summary = {"datadir": str(datadir), "node": to_checksum_address(result.node_address),
               "accounts": {n: to_checksum_address(a) for n, a in result.accounts.items()},
               "genesis": "0x" + result.genesis.hash.hex(),
               "replaced_keys": None if result.replaced_keys is None
               else str(result.replaced_keys)}
    if as_json:
        emit_json(summary)
        return
    if result.replaced_keys is not None:
        console.print(f"[yellow]replaced the keys of {datadir}: the old ones are in "
                      f"{result.replaced_keys}/[/]")
    console.print(f"[green]initialised[/] {datadir}: node {summary['node']}")
    for name, address in summary["accounts"].items():
        console.print(f"  dev account {name}: {address}")
    console.print(f"start it with: learnchain node start --datadir {datadir}")
    console.print("[yellow]keys/password.txt holds the dev password; "
                  "use your own keys for anything real[/]")


# ----- balance -------------------------------------------------------------------------


@app.command()
@friendly_errors
def balance(who: str = typer.Argument(..., help="0x address or key name (e.g. alice)."),
            datadir: Path = DATADIR_OPTION, node: str | None = NODE_URL_OPTION,
            as_json: bool = JSON_OPTION) -> None:
    """Balance and nonce of an account, from the running node (or the stored chain)."""
    from learnchain.cli.common import node_url
    from learnchain.client import ApiClientError, Client
    from learnchain.core.crypto import to_checksum_address

    address = resolve_address(who, datadir)
    try:
        info = Client(node_url(datadir, node)).account(address)
        out = {"address": info["address"], "balance": info["balance"],
               "nonce": info["state_nonce"], "source": "node"}
    except ApiClientError:
        if node is not None or not (datadir / "node.toml").exists():
            raise
        from learnchain.apps.base import Bank
        from learnchain.cli.chain import open_datadir_chain
        from learnchain.core.execution import account_nonce

        chain = open_datadir_chain(datadir)
        out = {"address": to_checksum_address(address),
               "balance": Bank(chain.state).balance(address),
               "nonce": account_nonce(chain.state, address),
               "source": f"stored chain at height {chain.height} (node not running)"}
    if as_json:
        emit_json(out)
    else:
        console.print(f"{out['address']}  balance {out['balance']}  nonce {out['nonce']}"
                      + ("" if out["source"] == "node" else f"  ({out['source']})"))


# ----- demo ----------------------------------------------------------------------------


@app.command()
@friendly_errors
def demo(engine: str = typer.Option("pow", help="Consensus of the day's devnet: pow (governed "
                                    "proof of work), rlpow or pole. Steps that do not apply "
                                    "to it say so."),
         quick: bool = typer.Option(False, "--quick", help="A smaller day of about a minute "
                                    "(3 nodes, fewer samples, shorter waits)."),
         nodes: int = typer.Option(None, help="Node processes (default 4, or 3 with --quick)."),
         workdir: Path | None = typer.Option(None, help="Keep the devnets, logs and keys here "
                                             "(default: a temporary folder, deleted)."),
         only: str = typer.Option("abcdef", help="Run only these steps (letters a-f)."),
         as_json: bool = JSON_OPTION) -> None:
    """A scripted day on a devnet of real node processes: collaborative model, crowd task,
    PoLe task, patient wallet, study payment, governance after a miner stops (docs/demo.md)."""
    from learnchain.demo.day import run_day

    if engine not in ("pow", "rlpow", "pole"):
        raise typer.BadParameter("--engine must be pow, rlpow or pole")
    if not only or set(only) - set("abcdef"):
        raise typer.BadParameter("--only takes letters among a-f, e.g. --only abf")
    only = "".join(sorted(set(only)))
    if as_json:
        summary = run_day(engine=engine, quick=quick, nodes=nodes, workdir=workdir, only=only)
        emit_json(summary)
    else:
        from learnchain.demo.render import DayProgress, print_summary

        console.print(f"[bold]learnchain day[/] · engine {engine} · "
                      f"{'quick' if quick else 'full'} · every node is a real process")
        with DayProgress(console) as progress:
            summary = run_day(engine=engine, quick=quick, nodes=nodes, workdir=workdir,
                              only=only, on_event=progress)
        print_summary(console, summary)
    if not summary["ok"] or not summary["clean_shutdown"]:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    threading.current_thread().name = "main"
    main()
