"""`learnchain tx`: sign, send and follow transactions (light imports only, see common.py).

Exit codes: 0 success, 1 error (bad input, node unreachable or refusing), 3 the transaction
was included but its execution failed (the receipt's error is printed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    NODE_URL_OPTION,
    PASSWORD_FILE_OPTION,
    CommandFailed,
    console,
    emit_json,
    friendly_errors,
    load_key,
    node_url,
    quiet_status,
    resolve_address,
)

TX_FAILED_EXIT = 3

tx_app = typer.Typer(help="Sign and send transactions to a running node.", no_args_is_help=True)

FROM_OPTION = typer.Option(..., "--from", help="Sender: keystore path or key name.")
WAIT_OPTION = typer.Option(True, "--wait/--no-wait",
                           help="Wait until the transaction is in a block (and exit 3 if it "
                                "failed).")
DRY_RUN_OPTION = typer.Option(False, "--dry-run",
                              help="Sign and print the raw transaction hex; send nothing.")
TIMEOUT_OPTION = typer.Option(60.0, "--timeout", help="Seconds to wait for inclusion.")


def _args(text: str) -> dict[str, Any]:
    from learnchain.net.jsonview import from_json

    try:
        value = json.loads(Path(text).read_text() if Path(text).is_file() else text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--args is neither a JSON file nor JSON text: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("--args must be a JSON object")
    return from_json(value)


@tx_app.command("send")
@friendly_errors
def tx_send(sender: str = FROM_OPTION,
            to: str = typer.Option(..., "--to", help="Recipient: 0x address or key name."),
            amount: int = typer.Option(..., min=1, help="Amount in base units."),
            datadir: Path = DATADIR_OPTION, node: str | None = NODE_URL_OPTION,
            password_file: Path | None = PASSWORD_FILE_OPTION,
            wait: bool = WAIT_OPTION, timeout: float = TIMEOUT_OPTION,
            dry_run: bool = DRY_RUN_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Transfer tokens (bank.transfer)."""
    _send(datadir, node, sender, password_file, "bank", "transfer",
          {"to": resolve_address(to, datadir), "amount": amount}, wait, timeout, dry_run,
          as_json)


@tx_app.command("call")
@friendly_errors
def tx_call(sender: str = FROM_OPTION,
            app_name: str = typer.Option(..., "--app", help="App name (see /v1/apps)."),
            method: str = typer.Option(..., "--method", help="Transaction method of the app."),
            args: str = typer.Option("{}", "--args",
                                     help='JSON object or file; "0x…" strings are bytes.'),
            datadir: Path = DATADIR_OPTION, node: str | None = NODE_URL_OPTION,
            password_file: Path | None = PASSWORD_FILE_OPTION,
            wait: bool = WAIT_OPTION, timeout: float = TIMEOUT_OPTION,
            dry_run: bool = DRY_RUN_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Call any app method."""
    _send(datadir, node, sender, password_file, app_name, method, _args(args), wait, timeout,
          dry_run, as_json)


@tx_app.command("sign")
@friendly_errors
def tx_sign(sender: str = FROM_OPTION,
            app_name: str = typer.Option("bank", "--app", help="App name."),
            method: str = typer.Option("transfer", "--method", help="Transaction method."),
            args: str = typer.Option(..., "--args",
                                     help='JSON object or file; "0x…" strings are bytes.'),
            chain_id: int | None = typer.Option(None, "--chain-id",
                                                help="Sign offline with this chain id "
                                                     "(default: ask the node)."),
            nonce: int | None = typer.Option(None, "--nonce",
                                             help="Sign offline with this nonce "
                                                  "(default: ask the node)."),
            fee: int | None = typer.Option(None, "--fee",
                                           help="Total fee in base units (default: the least "
                                                "the chain's fee_per_byte allows; offline: "
                                                "--fee-per-byte)."),
            fee_per_byte: int = typer.Option(0, "--fee-per-byte",
                                             help="Offline signing: the chain's fee rate "
                                                  "(`learnchain init` chains use 1)."),
            datadir: Path = DATADIR_OPTION, node: str | None = NODE_URL_OPTION,
            password_file: Path | None = PASSWORD_FILE_OPTION,
            dry_run: bool = typer.Option(True, "--dry-run/--submit",
                                         help="Only print the raw hex (default), or submit."),
            as_json: bool = JSON_OPTION) -> None:
    """Sign a transaction and print its raw hex (docs/transactions.md), e.g. for
    `POST /v1/transactions` from another machine. Offline with --chain-id and --nonce."""
    from learnchain.client import Client, build_transaction

    key = load_key(sender, datadir, password_file)
    parsed = _args(args)
    if chain_id is not None and nonce is not None:
        tx = build_transaction(key, chain_id=chain_id, nonce=nonce, app=app_name,
                               method=method, args=parsed, fee=fee, fee_per_byte=fee_per_byte)
    else:
        tx = Client(node_url(datadir, node)).sign(key, app_name, method, parsed,
                                                  chain_id=chain_id, nonce=nonce, fee=fee)
    if not dry_run:
        Client(node_url(datadir, node)).submit(tx)
    _print_signed(tx, as_json, submitted=not dry_run)


def _print_signed(tx: Any, as_json: bool, submitted: bool) -> None:
    out = {"hash": "0x" + tx.hash.hex(), "raw": "0x" + tx.encoded.hex(), "submitted": submitted}
    if as_json:
        emit_json(out)
    else:
        console.print(out["raw"], soft_wrap=True, highlight=False)


def _send(datadir: Path, node: str | None, sender: str, password_file: Path | None,
          app_name: str, method: str, args: dict[str, Any], wait: bool, timeout: float,
          dry_run: bool, as_json: bool) -> None:
    from learnchain.client import Client

    client = Client(node_url(datadir, node))
    key = load_key(sender, datadir, password_file)
    if dry_run:
        _print_signed(client.sign(key, app_name, method, args), as_json, submitted=False)
        return
    tx = client.send(key, app_name, method, args)
    tx_hash = "0x" + tx.hash.hex()
    if not wait:
        if as_json:
            emit_json({"hash": tx_hash, "status": "pending"})
        else:
            console.print(f"tx {tx_hash} submitted")
        return
    with quiet_status("waiting for inclusion…", as_json):
        receipt = client.wait_for_receipt(tx.hash, timeout=timeout, raise_on_failure=False)
    _report(receipt.raw | {"hash": tx_hash}, as_json)


def _report(found: dict[str, Any], as_json: bool) -> None:
    """Print a transaction's status; a failed receipt makes the exit code 3."""
    failed = found.get("status") == "included" and not found["receipt"]["success"]
    if as_json:
        emit_json(found)
    elif found.get("status") == "included":
        receipt = found["receipt"]
        verdict = "[green]succeeded[/]" if receipt["success"] else "[red]failed[/]"
        console.print(f"tx {found['hash']} included in block {found['height']}: {verdict}")
    else:
        console.print(f"tx {found['hash']}: {found.get('status')}")
    if failed:
        raise CommandFailed(f"transaction failed: {found['receipt']['error']}", TX_FAILED_EXIT)


@tx_app.command("status")
@friendly_errors
def tx_status(tx_hash: str = typer.Argument(..., help="0x transaction hash."),
              datadir: Path = DATADIR_OPTION, node: str | None = NODE_URL_OPTION,
              wait: bool = typer.Option(False, "--wait/--no-wait",
                                        help="Wait until it is in a block."),
              timeout: float = TIMEOUT_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Pending, or included (block, height, receipt). Exit 3 if it failed, 1 if unknown."""
    from learnchain.client import Client

    if not tx_hash.startswith("0x") or len(tx_hash) != 66:
        raise ValueError("a transaction hash is 0x followed by 64 hex digits")
    client = Client(node_url(datadir, node))
    digest = bytes.fromhex(tx_hash[2:])
    with quiet_status("waiting for inclusion…", as_json or not wait):
        found = client.wait_for(digest, timeout=timeout) if wait else client.tx_status(digest)
    _report(found | {"hash": tx_hash}, as_json)
