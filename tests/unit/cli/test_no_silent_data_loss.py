"""No silent data loss: one node per datadir, no devnet/datadir replaced without --force,
secrets 0600, experiment output never lands in docs/ by accident."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learnchain.cli.common import experiment_folder
from learnchain.cli.main import app
from learnchain.core.crypto import PrivateKey, save_keystore, write_secret
from learnchain.core.errors import ConfigError
from learnchain.datadir_lock import DatadirLock, DatadirLocked, PortInUse, check_port_free
from learnchain.devnet import create_devnet, disk_usage, load_devnet, remove_devnet_files
from learnchain.scaffold import init_datadir

runner = CliRunner()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_second_lock_on_a_datadir_is_refused_and_names_the_holder(tmp_path):
    with DatadirLock(tmp_path), pytest.raises(DatadirLocked,
                                              match=rf"in use by pid {os.getpid()}"):
        DatadirLock(tmp_path).acquire()
    DatadirLock(tmp_path).acquire().release()  # released on exit: usable again


def test_lock_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from learnchain.datadir_lock import DatadirLock\n"
         f"DatadirLock(Path({str(tmp_path)!r})).acquire()\nprint('held', flush=True)\n"
         "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DatadirLocked, match=rf"in use by pid {holder.pid}"):
            DatadirLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    DatadirLock(tmp_path).acquire().release()  # the kernel dropped the dead holder's lock


def test_port_in_use_is_refused():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(PortInUse, match="in use"):
            check_port_free("127.0.0.1", busy.getsockname()[1])


def test_node_start_refuses_a_locked_datadir_before_opening_anything(tmp_path):
    datadir = tmp_path / "node"
    init_datadir(datadir, light_kdf=True)
    with DatadirLock(datadir):
        result = runner.invoke(app, ["node", "start", "--datadir", str(datadir)])
    assert result.exit_code == 1
    assert f"in use by pid {os.getpid()}" in result.output
    assert not (datadir / "chain.sqlite").exists()  # nothing was opened


def test_node_start_refuses_a_busy_port_before_opening_anything(tmp_path):
    datadir = tmp_path / "node"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        init_datadir(datadir, light_kdf=True, port=busy.getsockname()[1])
        result = runner.invoke(app, ["node", "start", "--datadir", str(datadir)])
    assert result.exit_code == 1 and "is in use" in result.output
    assert not (datadir / "chain.sqlite").exists()


def test_init_refuses_then_force_says_it_replaces_keys_and_keeps_the_old_ones(tmp_path):
    datadir = tmp_path / "d"
    first = init_datadir(datadir, light_kdf=True)
    again = runner.invoke(app, ["init", "--datadir", str(datadir), "--fast-kdf"])
    assert again.exit_code == 1 and "replaces its keys" in again.output
    old_node = (datadir / "keys" / "node.json").read_text()
    forced = runner.invoke(app, ["init", "--datadir", str(datadir), "--fast-kdf", "--force"])
    assert forced.exit_code == 0 and "replaced the keys" in forced.output
    backups = list(datadir.glob("keys.replaced-*"))
    assert len(backups) == 1 and (backups[0] / "node.json").read_text() == old_node
    assert first.node_address.hex() in old_node.lower()


def test_init_refuses_under_a_running_node(tmp_path):
    datadir = tmp_path / "d"
    init_datadir(datadir, light_kdf=True)
    with DatadirLock(datadir), pytest.raises(DatadirLocked):
        init_datadir(datadir, light_kdf=True, force=True)


def test_secrets_are_created_0600(tmp_path):
    init_datadir(tmp_path / "d", light_kdf=True)
    keys = tmp_path / "d" / "keys"
    assert mode(keys) == 0o700
    for name in ("node.json", "alice.json", "bob.json", "password.txt"):
        assert mode(keys / name) == 0o600, name
    save_keystore(PrivateKey.generate(), tmp_path / "k" / "x.json", "pw", light=True)
    assert mode(tmp_path / "k" / "x.json") == 0o600
    write_secret(tmp_path / "s.txt", "secret")
    assert mode(tmp_path / "s.txt") == 0o600
    made = runner.invoke(app, ["keys", "new", "carol", "--dir", str(tmp_path / "k2"), "--json"],
                         env={"LEARNCHAIN_PASSWORD": "pw"})
    assert made.exit_code == 0, made.output
    assert mode(tmp_path / "k2" / "carol.json") == 0o600


def test_devnet_up_refuses_to_replace_an_existing_devnet_without_force(tmp_path):
    root = tmp_path / "dn"
    create_devnet(root, 2, fast_kdf=True)
    marker = root / "node0" / "chain.sqlite"
    marker.write_bytes(b"precious")
    with pytest.raises(ConfigError, match="already holds a devnet"):
        create_devnet(root, 3, fast_kdf=True)
    assert marker.read_bytes() == b"precious"
    refused = runner.invoke(app, ["devnet", "up", "--dir", str(root), "--nodes", "3",
                                  "--fast-kdf", "--detach"])
    assert refused.exit_code == 1 and "--force" in refused.output
    assert marker.read_bytes() == b"precious"
    create_devnet(root, 3, fast_kdf=True, force=True)
    assert not marker.exists() and len(load_devnet(root)) == 3
    for i in range(3):
        assert mode(root / f"node{i}" / "keys" / "password.txt") == 0o600


def test_devnet_down_purge_deletes_only_the_devnet(tmp_path):
    root = tmp_path / "dn"
    create_devnet(root, 2, fast_kdf=True)
    (root / "notes.txt").write_text("mine")
    assert disk_usage(root) > 0
    status = runner.invoke(app, ["devnet", "status", "--dir", str(root), "--json"])
    assert all(n["disk_bytes"] > 0 for n in json.loads(status.stdout))
    down = runner.invoke(app, ["devnet", "down", "--dir", str(root), "--purge", "--json"])
    assert down.exit_code == 0, down.output
    assert json.loads(down.stdout)["freed_bytes"] > 0
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
    (root / "notes.txt").unlink()
    create_devnet(root, 1, fast_kdf=True)
    remove_devnet_files(root)
    assert not root.exists()


def test_devnet_nodes_prune_training_blobs_unless_archival(tmp_path):
    from learnchain.config import NodeConfig

    create_devnet(tmp_path / "a", 1, fast_kdf=True, engine="rlpow")
    assert NodeConfig.load(tmp_path / "a" / "node0").storage.archive_work is False
    create_devnet(tmp_path / "b", 1, fast_kdf=True, engine="rlpow", archive_work=True)
    assert NodeConfig.load(tmp_path / "b" / "node0").storage.archive_work is True


def test_experiment_output_never_reaches_docs_without_publish(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert experiment_folder("rlpow", None, False) == Path("experiments/out/rlpow")
    assert experiment_folder("rlpow", None, True) == Path("docs/experiments/rlpow")
    with pytest.raises(ValueError, match="--publish"):
        experiment_folder("rlpow", Path("docs/experiments/rlpow"), False)
    assert experiment_folder("x", Path("elsewhere"), False) == Path("elsewhere")
    result = runner.invoke(app, ["rlpow", "experiment", "tamper", "--small", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["out"] == "experiments/out/rlpow"
    assert (tmp_path / "experiments/out/rlpow/tamper.json").exists()
    assert not (tmp_path / "docs").exists()
