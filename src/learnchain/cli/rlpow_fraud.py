"""`learnchain rlpow fraud …`: audit stored blocks in full, hand a proof to a node, see verdicts.

A node audits `s` of each block's `K` training steps and publishes a fraud proof when one does
not reproduce (docs/consensus-rlpow.md §4). `audit` is the operator's full check of blocks
their node already accepted: every step replayed, a proof file written for each bad block,
to `submit` to any node (which checks it, drops the block and passes the proof on).
Light imports only (see learnchain/cli/common.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    NODE_URL_OPTION,
    console,
    emit_json,
    experiment_progress,
    friendly_errors,
    node_url,
)

fraud_app = typer.Typer(help="rlpow fraud proofs: full audits of stored blocks, submitting "
                             "a proof, the verdicts a node holds.", no_args_is_help=True)


@fraud_app.command("audit")
@friendly_errors
def audit(datadir: Path = DATADIR_OPTION,
          start: int = typer.Option(1, "--from", min=1, help="First height to audit."),
          end: int | None = typer.Option(None, "--to", min=1, help="Last height (default: "
                                                                    "the head)."),
          out: Path = typer.Option(Path("fraud-proofs"), "--out",
                                   help="Folder for the proof files of bad blocks."),
          as_json: bool = JSON_OPTION) -> None:
    """Replay every training step of the canonical blocks FROM..TO (not the s-of-K sample)
    and write a fraud proof for each block with a step that does not reproduce (exit code 2
    when one is found)."""
    from learnchain.cli.chain import open_datadir_chain
    from learnchain.consensus.rlpow_fraud import Unverifiable, audit_block

    chain = open_datadir_chain(datadir)
    if chain.engine.name != "rlpow":
        raise ValueError(f"this chain runs {chain.engine.name!r}: only rlpow blocks carry "
                         "training to audit")
    last = chain.height if end is None else min(end, chain.height)
    rows: list[dict[str, Any]] = []
    with experiment_progress("auditing blocks", as_json) as step:
        for height in range(start, last + 1):
            block = chain.block_at(height)
            if block is None:
                raise ValueError(f"the store has no canonical block at height {height}")
            row: dict[str, Any] = {"height": height, "block": "0x" + block.hash.hex()}
            if not block.header.engine_fields.get("k"):
                row["verdict"] = "no training"
            else:
                try:
                    found = audit_block(chain.engine, block)
                except Unverifiable as exc:
                    row.update(verdict="not auditable here", detail=str(exc))
                else:
                    row["steps"] = found.steps
                    if found.proof is None:
                        row["verdict"] = "ok"
                    else:
                        out.mkdir(parents=True, exist_ok=True)
                        path = out / f"fraud-{height}-{block.hash.hex()[:16]}.cbor"
                        tmp = path.with_suffix(".tmp")  # no half-written proof survives
                        tmp.write_bytes(found.proof)
                        os.replace(tmp, path)
                        row.update(verdict="bad", step=found.bad_step, detail=found.reason,
                                   proof=str(path))
            rows.append(row)
            step(height - start + 1, last - start + 1)
    chain.store.close()
    summary = {"audited": len(rows), "ok": sum(r["verdict"] == "ok" for r in rows),
               "bad": sum(r["verdict"] == "bad" for r in rows),
               "not_auditable": sum(r["verdict"] == "not auditable here" for r in rows),
               "blocks": rows}
    if as_json:
        emit_json(summary)
    else:
        _print_audit(rows, summary)
    if summary["bad"]:
        raise typer.Exit(2)  # as `chain verify`: a bad block was found


def _print_audit(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    for r in rows:
        if r["verdict"] not in ("ok", "no training"):
            console.print(f"height {r['height']} {r['block'][:18]}…: [bold]{r['verdict']}[/] "
                          f"{r.get('detail', '')}" + (f" → {r['proof']}" if "proof" in r else ""))
    console.print(f"{summary['audited']} blocks: {summary['ok']} reproduce in full, "
                  f"{summary['bad']} bad, {summary['not_auditable']} not auditable here")


@fraud_app.command("submit")
@friendly_errors
def submit(proof: Path = typer.Argument(..., exists=True, dir_okay=False,
                                        help="A proof file (from `audit`)."),
           datadir: Path = DATADIR_OPTION, node: str | None = NODE_URL_OPTION,
           as_json: bool = JSON_OPTION) -> None:
    """Hand a fraud proof to a node: if it holds, the node drops the block, bans its
    proposer as a miner and passes the proof to its peers."""
    from learnchain.net.client import NodeClient

    verdict = NodeClient(node_url(datadir, node), timeout=60).submit_fraud_proof(
        proof.read_bytes())
    if as_json:
        emit_json(verdict)
        return
    console.print(f"block {verdict['block'][:18]}… proven invalid ({verdict['reason']}); "
                  f"proposer {verdict['proposer']} banned; {verdict['undone']} block(s) undone"
                  + ("" if verdict["new"] else " (the node knew already)"))


@fraud_app.command("status")
@friendly_errors
def status(datadir: Path = DATADIR_OPTION, node: str | None = NODE_URL_OPTION,
           as_json: bool = JSON_OPTION) -> None:
    """The miners a node convicted by fraud proofs and the blocks it holds proven invalid."""
    from learnchain.net.client import NodeClient

    found = NodeClient(node_url(datadir, node)).fraud_status()
    if as_json:
        emit_json(found)
        return
    if not found["convicted"]:
        console.print("no miner convicted")
    for miner, block in found["convicted"].items():
        console.print(f"{miner} convicted by block {block[:18]}…: "
                      f"{found['invalid_blocks'].get(block, '')}")
