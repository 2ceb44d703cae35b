"""A real node process driven through the CLI: send, include, kill -9, resume, verify.

This is the issue's acceptance narrative: one terminal runs `learnchain node start`, a second
sends a transfer and sees it included; the database survives `kill -9` during mining and the
restarted node resumes with `chain verify` clean.
"""

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from learnchain.net.server import free_port

pytestmark = pytest.mark.network


def cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "learnchain.cli.main", *args],
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"learnchain {' '.join(args)} failed:\n{result.stdout}\n"
                             f"{result.stderr}")
    return result


def start_node(datadir):
    return subprocess.Popen([sys.executable, "-m", "learnchain.cli.main", "node", "start",
                             "--datadir", str(datadir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_height(port, at_least, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            height = httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=2).json()["height"]
            if height >= at_least:
                return height
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"node did not reach height {at_least}")


def test_send_kill_restart_verify(tmp_path):
    datadir, port = tmp_path / "node", free_port()
    init = json.loads(cli("init", "--datadir", str(datadir), "--difficulty", "12", "--port",
                          str(port), "--block-interval-ms", "200", "--fast-kdf", "--json").stdout)
    bob = init["accounts"]["bob"]
    node = start_node(datadir)
    try:
        wait_height(port, 2)
        sent = json.loads(cli("tx", "send", "--datadir", str(datadir), "--from", "alice",
                              "--to", bob, "--amount", "42", "--json").stdout)
        assert sent["status"] == "included" and sent["receipt"]["success"]
        balance = httpx.get(f"http://127.0.0.1:{port}/v1/accounts/{bob}").json()["balance"]
        assert balance == 1_000_042
        height_before_kill = wait_height(port, sent["height"] + 2)
    finally:
        node.send_signal(signal.SIGKILL)
        node.wait(timeout=10)
    restarted = start_node(datadir)
    try:
        assert wait_height(port, height_before_kill + 1) > height_before_kill
        refused = cli("tx", "send", "--datadir", str(datadir), "--from", "alice", "--to", bob,
                      "--amount", "2000000", "--json", check=False)
        assert refused.returncode == 3  # included, but failed: scripts must see it
        assert json.loads(refused.stdout)["receipt"]["error"].startswith("insufficient funds")
    finally:
        restarted.send_signal(signal.SIGKILL)
        restarted.wait(timeout=10)
    verify = cli("chain", "verify", "--datadir", str(datadir), "--json")
    report = json.loads(verify.stdout)
    assert report["ok"] and report["height"] > height_before_kill
    shown = json.loads(cli("chain", "show", "--datadir", str(datadir), "--last", "3",
                           "--json").stdout)
    assert len(shown) == 3 and shown[-1]["height"] == report["height"]


def test_cli_errors_name_the_fix(tmp_path):
    missing = cli("chain", "show", "--datadir", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode == 1 and "learnchain init" in missing.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "node.toml").write_text("[api]\nport = 'eighty'\n")
    bad = cli("chain", "show", "--datadir", str(tmp_path / "bad"), check=False)
    assert bad.returncode == 1 and "'port' must be int" in bad.stderr


def test_keys_commands(tmp_path):
    keys = tmp_path / "keys"
    env = {**os.environ, "LEARNCHAIN_PASSWORD": "pw"}
    made = subprocess.run([sys.executable, "-m", "learnchain.cli.main", "keys", "new", "carol",
                           "--dir", str(keys), "--json"], capture_output=True, text=True,
                          env=env, timeout=60)
    address = json.loads(made.stdout)["address"]
    listed = json.loads(cli("keys", "list", "--dir", str(keys), "--json").stdout)
    assert listed == [{"name": "carol", "address": address, "path": str(keys / "carol.json")}]
    shown = subprocess.run([sys.executable, "-m", "learnchain.cli.main", "keys", "show",
                            str(keys / "carol.json"), "--json"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert json.loads(shown.stdout)["address"] == address
    wrong = subprocess.run([sys.executable, "-m", "learnchain.cli.main", "keys", "show",
                            str(keys / "carol.json")], capture_output=True, text=True,
                           env={**env, "LEARNCHAIN_PASSWORD": "bad"}, timeout=60)
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
