"""`learnchain chain`: inspect and verify a node's stored chain (light imports only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    console,
    emit_json,
    experiment_progress,
    friendly_errors,
    human_time,
)
from learnchain.cli.finality import split_line

if TYPE_CHECKING:
    from learnchain.core.chain import Chain
    from learnchain.core.types import Block

chain_app = typer.Typer(help="Inspect and verify a node's stored chain.", no_args_is_help=True)


def open_datadir_chain(datadir: Path) -> Chain:
    """The chain stored in a datadir, read-only use (no lock: readers are safe with SQLite)."""
    from learnchain.config import NodeConfig
    from learnchain.core.genesis import GenesisConfig
    from learnchain.node import open_chain

    config = NodeConfig.load(datadir)
    genesis = GenesisConfig.load(config.path(config.genesis))
    return open_chain(config.path(config.database), genesis)


def _pole_cell(block: Block) -> str:
    """A PoLe block's settlement in one cell (task, winner, accuracies, candidate count)."""
    from learnchain.core.crypto import to_checksum_address

    s = block.header.engine_fields.get("pole")
    if s is None:
        return "PoW"
    return (f"task {s['task']} won by {to_checksum_address(s['winner'])[:10]}… train "
            f"{s['train_ppm']} test {s['test_ppm']} ppm, {len(s['candidates'])} candidates, "
            f"hp {s['hp']}")


def _block_row(block: Block) -> list[str]:
    from learnchain.core.crypto import to_checksum_address

    h = block.header
    return [str(h.height), "0x" + h.hash.hex()[:16] + "…", str(len(block.transactions)),
            to_checksum_address(h.proposer)[:12] + "…", str(h.engine_fields.get("difficulty", "")),
            human_time(h.timestamp_ms)]


@chain_app.command("show")
@friendly_errors
def chain_show(datadir: Path = DATADIR_OPTION,
               last: int = typer.Option(10, help="How many recent blocks."),
               as_json: bool = JSON_OPTION) -> None:
    """The most recent blocks of the canonical chain (with S, A, R for rlpow chains)."""
    from rich.table import Table

    from learnchain.net.jsonview import block_json

    chain = open_datadir_chain(datadir)
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
    split = split_line(chain)
    if split is not None:
        console.print(f"[bold red]{split}[/]")


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
    from learnchain.storage.blobstore import cid_of_digest

    chain = open_datadir_chain(datadir)
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
    from learnchain.net.jsonview import block_json

    chain = open_datadir_chain(datadir)
    head = chain.get_block(chain.head_hash)
    assert head is not None
    out = block_json(head)
    if chain.split is not None:
        out["split"] = chain.split.to_json()
    if as_json:
        emit_json(out)
    else:
        console.print(f"height {out['height']}  hash {out['hash']}  txs {out['tx_count']}  "
                      f"{human_time(head.header.timestamp_ms)}")
        if chain.split is not None:
            console.print(f"[bold red]{chain.split.describe()}[/]")


@chain_app.command("block")
@friendly_errors
def chain_block(block_id: str = typer.Argument(..., help="Height or 0x hash."),
                datadir: Path = DATADIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """One block with its transactions and receipts."""
    from learnchain.net.jsonview import block_json, receipt_json

    chain = open_datadir_chain(datadir)
    if block_id.startswith("0x"):
        block = chain.get_block(bytes.fromhex(block_id[2:]))
    elif block_id.isascii() and block_id.isdigit() and len(block_id) < 19:
        block = chain.block_at(int(block_id))
    else:
        raise ValueError(f"block id {block_id!r} is neither a height nor a 0x hash")
    if block is None:
        raise ValueError(f"no block {block_id} in {datadir}")
    out: dict[str, Any] = block_json(block, full=True)
    out["receipts"] = [receipt_json(r) for r in chain.receipts(block.hash) or []]
    if as_json:
        emit_json(out)
        return
    console.print(f"[bold]block {out['height']}[/] {out['hash']}")
    console.print(f"  time: {human_time(block.header.timestamp_ms)}")
    for key in ("parent", "timestamp_ms", "proposer", "state_root", "engine_fields"):
        console.print(f"  {key}: {out[key]}")
    for tx, receipt in zip(out["transactions"], out["receipts"], strict=True):
        verdict = "ok" if receipt["success"] else f"failed: {receipt['error']}"
        console.print(f"  tx {tx['hash'][:18]}… {tx['app']}.{tx['method']} "
                      f"from {tx['sender'][:12]}… nonce {tx['nonce']}: {verdict}")


@chain_app.command("verify")
@friendly_errors
def chain_verify(datadir: Path = DATADIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Re-validate from genesis and every stored record; name the first bad one (exit 2)."""
    from learnchain.config import NodeConfig
    from learnchain.core.genesis import GenesisConfig
    from learnchain.core.verify import verify_store

    config = NodeConfig.load(datadir)
    genesis = GenesisConfig.load(config.path(config.genesis))
    with experiment_progress("verifying blocks", as_json) as step:
        report = verify_store(config.path(config.database), genesis, step)
    if as_json:
        emit_json(report.__dict__)
    elif report.ok:
        console.print(f"[green]chain verified[/]: {report.height} blocks, state matches")
    else:
        console.print(f"[red]first bad record (height {report.first_bad_height})[/]: "
                      f"{report.reason}")
    if not report.ok:
        raise typer.Exit(2)
