"""Real processes: a node and two independent `learnchain worker` processes over HTTP.

The two honest workers fetch the input from the node's content store, compute the
evaluation program on their own, agree bit for bit, and are paid exactly d + floor(r/n).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from learnchain import polling
from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd.experiments import reference_model
from learnchain.apps.crowd.programs import run_program
from learnchain.apps.crowd.rules import sha256
from learnchain.core.crypto import PrivateKey, load_keystore, save_keystore
from learnchain.devnet import create_devnet, start_devnet
from learnchain.net.client import NodeClient
from learnchain.net.jsonview import from_json
from learnchain.net.server import free_port_range
from learnchain.scaffold import DEV_PASSWORD

pytestmark = pytest.mark.network

D, R = 1000, 2001


def wait_until(predicate, timeout=120.0, what="condition"):
    return polling.wait_until(predicate, timeout, what, poll=0.2, errors=(Exception,))


def test_two_worker_processes_agree_bit_for_bit_and_are_paid_exactly(tmp_path: Path):
    nodes = create_devnet(tmp_path, 1, base_port=free_port_range(1), difficulty=4,
                          block_interval_ms=400, fast_kdf=True, extra_apps=("crowd",))
    pids = start_devnet(tmp_path)
    workers: list[subprocess.Popen] = []
    try:
        client = NodeClient(nodes[0].url)
        wait_until(lambda: client.status()["height"] >= 1, what="the node mining")
        keys = tmp_path / "keys"
        alice = load_keystore(keys / "alice.json", DEV_PASSWORD)
        bob = load_keystore(keys / "bob.json", DEV_PASSWORD)
        carol = PrivateKey.generate()
        save_keystore(carol, keys / "carol.json", DEV_PASSWORD, light=True)
        funded = client.send(alice, "bank", "transfer", {"to": carol.address, "amount": 10_000})
        client.wait_for(funded.hash)
        data = ml.eval_input("digits", reference_model(), 512)
        digest = client.put_content(data)
        tx = client.send(alice, "crowd", "publish", {
            "program": "eval-classifier", "version": 1, "input": digest, "n": 2, "deposit": D,
            "reward": R, "delta_p": 200, "delta_c": 60, "delta_o": 60})
        assert client.wait_for(tx.hash)["receipt"]["success"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
        for name in ("bob", "carol"):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "learnchain.cli.main", "worker", "--node", nodes[0].url,
                 "--key", name, "--datadir", str(tmp_path), "--poll", "0.3",
                 "--exit-after", "1", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True))
        outputs = [json.loads(w.communicate(timeout=300)[0]) for w in workers]
        task = from_json(client.query("crowd", "task", {"task_id": 0}))
        assert task["status"] == "settled" and task["verdicts"] == ["ok", "ok"]
        expected = sha256(run_program("eval-classifier", 1, data, task["seed"], task["coins"]))
        assert task["results"] == [expected, expected]  # bit for bit, and the true result
        assert task["payouts"] == [D + R // 2, D + R // 2] and task["refund"] == R - 2 * (R // 2)
        fees = fees_paid(client, [bob.address, carol.address])
        for out, address in zip(outputs, (bob.address, carol.address), strict=True):
            # every transaction pays its fee (docs/architecture.md, Transactions)
            assert out["earnings"] == R // 2
            assert out["balance_change"] == R // 2 - fees[address] and fees[address] > 0
            assert out["finished"] == 1 and out["errors"] == []
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                w.kill()
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def fees_paid(client: NodeClient, senders: list[bytes]) -> dict[bytes, int]:
    """Fees each sender's included transactions paid, read from the node's blocks."""
    paid = dict.fromkeys(senders, 0)
    by_hex = {"0x" + a.hex(): a for a in senders}
    for height in range(1, client.status()["height"] + 1):
        for tx in client.block(height, full=True)["transactions"]:
            sender = by_hex.get(tx["sender"].lower())
            if sender is not None:
                paid[sender] += tx["fee"]
    return paid
