"""Everyday commands and the Python client against a real node over loopback HTTP: key names
wherever an address goes, balances, tx status, raw signing, and exit codes that tell a script
a transaction failed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from learnchain.cli.main import app
from learnchain.client import Client, TransactionFailed, build_transaction
from learnchain.core.crypto import load_keystore, to_checksum_address
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Transaction
from learnchain.net.server import ApiServer
from learnchain.node import Node, open_chain
from learnchain.scaffold import DEV_PASSWORD, init_datadir

runner = CliRunner()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    datadir = tmp_path_factory.mktemp("node")
    init_datadir(datadir, difficulty=4, light_kdf=True)
    chain = open_chain(datadir / "chain.sqlite", GenesisConfig.load(datadir / "genesis.json"))
    node = Node(chain, load_keystore(datadir / "keys" / "node.json", DEV_PASSWORD),
                min_block_interval_ms=100)
    node.start()
    with ApiServer(node) as server:
        yield datadir, server.url
    node.stop()
    chain.store.close()


def cli(live: Any, *args: str) -> Any:
    datadir, url = live
    return runner.invoke(app, [*args, "--datadir", str(datadir), "--node", url, "--json"])


def key(live: Any, name: str) -> Any:
    return load_keystore(live[0] / "keys" / f"{name}.json", DEV_PASSWORD)


def test_client_transfer_query_and_receipts(live: Any):
    client = Client(live[1])
    alice, bob = key(live, "alice"), key(live, "bob")
    before = client.balance(bob.address)
    receipt = client.transfer(alice, to=to_checksum_address(bob.address), amount=7)
    assert receipt.success and receipt.height >= 1
    assert client.balance(to_checksum_address(bob.address)) == before + 7
    assert client.query("bank", "balance", {"address": bob.address}) == before + 7
    with pytest.raises(TransactionFailed, match="insufficient funds") as failed:
        client.transfer(alice, to=bob.address, amount=10**12)
    assert not failed.value.receipt.success
    kept = client.transfer(alice, to=bob.address, amount=10**12, raise_on_failure=False)
    assert not kept.success and "insufficient" in (kept.error or "")
    pending = client.call(alice, "bank", "transfer", {"to": bob.address, "amount": 1},
                          wait=False)
    assert client.wait_for_receipt(pending).success


def test_apps_lists_methods_with_argument_types(live: Any):
    apps = Client(live[1]).apps()
    transfer = apps["bank"]["methods"]["transfer"]["args"]
    assert transfer["to"] == {"type": "address", "required": True}
    assert transfer["amount"]["type"] == "integer" and transfer["amount"]["required"]
    assert apps["bank"]["queries"]["balance"]["args"]["address"]["type"] == "address"
    add = apps["collab"]["methods"]["add_data"]["args"]
    assert add["model_id"]["type"] == "integer" and add["deposit"]["required"] is False


def test_offline_signing_matches_what_the_node_accepts(live: Any):
    client = Client(live[1])
    alice, bob = key(live, "alice"), key(live, "bob")
    status, nonce = client.status(), client.account(alice.address)["nonce"]
    rate = client.fee_per_byte()
    assert rate == 1  # `learnchain init` chains charge 1 per byte
    tx = build_transaction(alice, chain_id=status["chain_id"], nonce=nonce, app="bank",
                           method="transfer", args={"to": bob.address, "amount": 3},
                           fee_per_byte=rate)
    assert tx.fee == len(tx.encoded)
    signed = cli(live, "tx", "sign", "--from", "alice", "--args",
                 json.dumps({"to": "0x" + bob.address.hex(), "amount": 3}),
                 "--chain-id", str(status["chain_id"]), "--nonce", str(nonce),
                 "--fee-per-byte", str(rate))
    assert signed.exit_code == 0, signed.output
    out = json.loads(signed.stdout)
    assert out["raw"] == "0x" + tx.encoded.hex() and out["submitted"] is False
    assert Transaction.decode(bytes.fromhex(out["raw"][2:])) == tx
    assert client.submit_raw(out["raw"]) == out["hash"]
    assert client.wait_for_receipt(out["hash"]).success


def test_everyday_commands_take_key_names_and_exit_non_zero_on_failure(live: Any):
    before = json.loads(cli(live, "balance", "bob").stdout)["balance"]
    sent = cli(live, "tx", "send", "--from", "alice", "--to", "bob", "--amount", "11")
    assert sent.exit_code == 0, sent.output
    receipt = json.loads(sent.stdout)
    assert receipt["status"] == "included" and receipt["receipt"]["success"]
    assert json.loads(cli(live, "balance", "bob").stdout)["balance"] == before + 11
    status = cli(live, "tx", "status", receipt["hash"])
    assert status.exit_code == 0 and json.loads(status.stdout)["height"] == receipt["height"]
    failed = cli(live, "tx", "send", "--from", "alice", "--to", "bob", "--amount", str(10**12))
    assert failed.exit_code == 3, failed.output
    assert "insufficient funds" in json.loads(failed.stdout)["receipt"]["error"]
    assert cli(live, "tx", "status", json.loads(failed.stdout)["hash"]).exit_code == 3
    dry = cli(live, "tx", "send", "--from", "alice", "--to", "bob", "--amount", "1",
              "--dry-run")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["raw"].startswith("0x88")
    unknown = cli(live, "tx", "status", "0x" + "ab" * 32)
    assert unknown.exit_code == 1 and "unknown transaction" in unknown.output
    nobody = cli(live, "balance", "carol")
    assert nobody.exit_code == 1 and "neither a 0x address nor a key name" in nobody.output
