"""Local multi-process networks on loopback: generate, start, watch, stop.

Everything lives under one folder: `genesis.json`, shared dev accounts in `keys/`, and one
`nodeN/` data directory per node with its own key, `node.toml`, database and log.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from learnchain.config import ApiConfig, NodeConfig
from learnchain.core.crypto import (
    PrivateKey,
    save_keystore,
    to_checksum_address,
    write_secret,
)
from learnchain.core.errors import ConfigError
from learnchain.core.genesis import GenesisConfig, wall_genesis_time
from learnchain.scaffold import DEV_ACCOUNTS, DEV_ALLOCATION, DEV_FEE_PER_BYTE, DEV_PASSWORD


@dataclass(frozen=True)
class DevnetNode:
    index: int
    datadir: Path
    url: str
    address: str


def create_devnet(root: Path, nodes: int, *, base_port: int = 8700, difficulty: int = 16,
                  block_interval_ms: int = 2000, fast_kdf: bool = False,
                  engine: str = "pow", env: str = "CartPole-v1",
                  consensus_params: dict[str, Any] | None = None, force: bool = False,
                  archive_work: bool = False, design: str | None = None,
                  extra_apps: tuple[str, ...] = ("collab", "wallet")) -> list[DevnetNode]:
    """Keys, genesis and configs for N nodes; `engine` is "pow", "pole" or "rlpow" (`env`).

    `consensus_params` overrides genesis consensus parameters (e.g. rlpow's ``K``). An existing
    devnet in `root` is never replaced silently: it takes ``force`` (which deletes its data).
    `archive_work` makes rlpow nodes keep every training blob (see config.StorageConfig).
    `design` picks rlpow's design (``"lineage"``, the default, or ``"uncles"``: every node's
    candidate work reaches the one shared learner, docs/consensus-rlpow.md §8).
    """
    if nodes < 1:
        raise ConfigError("--nodes must be at least 1")
    if design is not None and engine != "rlpow":
        raise ConfigError(f"--design is an rlpow option; engine {engine!r} has no designs")
    if design is not None:
        from learnchain.consensus.rlpow_uncles import DESIGNS

        if design not in DESIGNS:
            raise ConfigError(f"--design must be one of {', '.join(DESIGNS)}, not {design!r}")
    root = root.resolve()
    if (root / "pids.json").exists():
        raise ConfigError(f"{root} has a running devnet; stop it with `learnchain devnet down`")
    if (root / "devnet.json").exists():
        if not force:
            old = load_devnet(root)
            raise ConfigError(
                f"{root} already holds a devnet ({len(old)} nodes, "
                f"{format_bytes(disk_usage(root))} on disk); restart it with `learnchain devnet "
                f"start`, delete it with `learnchain devnet down --purge`, or pass --force to "
                "replace it (its chains and keys are deleted)")
        remove_devnet_files(root)
    root.mkdir(parents=True, exist_ok=True)
    keys = [PrivateKey.generate() for _ in range(nodes)]
    accounts = {name: PrivateKey.generate() for name in DEV_ACCOUNTS}
    for name, key in accounts.items():
        save_keystore(key, root / "keys" / f"{name}.json", DEV_PASSWORD, light=fast_kdf)
    write_secret(root / "keys" / "password.txt", DEV_PASSWORD + "\n")
    addresses = [to_checksum_address(k.address) for k in keys]
    if engine in ("pow", "pole"):  # pole: governed PoW between PoLe settlements
        engine_config: dict[str, Any] = {}
        params: dict[str, Any] = {"difficulty": difficulty}
        fork_choice = "most-work"
    elif engine == "rlpow":
        from learnchain.consensus.rlpow import DEVNET_RLPOW_PARAMS, default_rlpow_params

        engine_config = {"env": env, "replay": "shared"}
        if design not in (None, "lineage"):  # the default stays out (same genesis as before)
            engine_config["design"] = design
        params = {**default_rlpow_params(), **DEVNET_RLPOW_PARAMS}
        fork_choice = "longest-then-reward-sum"
    else:
        raise ConfigError(f"--engine must be pow, pole or rlpow, not {engine!r}")
    params.setdefault("fee_per_byte", DEV_FEE_PER_BYTE)
    params.update(consensus_params or {})
    if engine == "pole" and "tasks" not in extra_apps:
        extra_apps = (*extra_apps, "tasks")  # the engine settles the tasks app's tasks
    genesis = GenesisConfig(
        timestamp_ms=wall_genesis_time(), permissioned_nodes=addresses, extra_apps=list(extra_apps),
        engine=engine, engine_config=engine_config, fork_choice=fork_choice,
        apps={
            # node keys are funded too: governed miners earn no block reward (whitepaper
            # Assumption 2), and the controller (node 0) pays fees for governance transactions
            "bank": {"allocations": {to_checksum_address(k.address): DEV_ALLOCATION
                                     for k in [*accounts.values(), *keys]}},
            "identity": {"members": addresses, "identities": {a: ["miner"] for a in addresses}},
            "consensus": {"params": params, "miners": addresses, "controller": addresses[0]},
        },
    )
    genesis.save(root / "genesis.json")
    urls = [f"http://127.0.0.1:{base_port + i}" for i in range(nodes)]
    out = []
    for i, key in enumerate(keys):
        datadir = root / f"node{i}"
        save_keystore(key, datadir / "keys" / "node.json", DEV_PASSWORD, light=fast_kdf)
        write_secret(datadir / "keys" / "password.txt", DEV_PASSWORD + "\n")
        for stale in ("chain.sqlite", "chain.sqlite-wal", "chain.sqlite-shm"):
            (datadir / stale).unlink(missing_ok=True)
        config = NodeConfig(datadir=datadir, genesis="../genesis.json",
                            api=ApiConfig(port=base_port + i))
        config.mining.min_block_interval_ms = block_interval_ms
        config.p2p.bootstrap = [u for u in urls if u != urls[i]]
        config.storage.archive_work = archive_work
        (datadir / "node.toml").write_text(config.to_toml())
        out.append(DevnetNode(i, datadir, urls[i], addresses[i]))
    (root / "devnet.json").write_text(json.dumps(
        [{"index": n.index, "datadir": str(n.datadir), "url": n.url, "address": n.address}
         for n in out], indent=2))
    return out


def load_devnet(root: Path) -> list[DevnetNode]:
    path = root / "devnet.json"
    if not path.exists():
        raise ConfigError(f"no devnet in {root}; create one with `learnchain devnet up`")
    return [DevnetNode(d["index"], Path(d["datadir"]), d["url"], d["address"])
            for d in json.loads(path.read_text())]


def start_node(node: DevnetNode) -> subprocess.Popen[bytes]:
    log = open(node.datadir / "node.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "learnchain.cli.main", "node", "start",
                             "--datadir", str(node.datadir)], stdout=log, stderr=log,
                            start_new_session=True)


def start_devnet(root: Path) -> dict[int, int]:
    pids = {n.index: start_node(n).pid for n in load_devnet(root)}
    (root / "pids.json").write_text(json.dumps(pids))
    return pids


def stop_devnet(root: Path) -> int:
    path = root / "pids.json"
    if not path.exists():
        return 0
    stopped = 0
    for pid in json.loads(path.read_text()).values():
        try:
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for pid in json.loads(path.read_text()).values():
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except ProcessLookupError:
                break
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    path.unlink()
    return stopped


def disk_usage(path: Path) -> int:
    """Bytes of every regular file under ``path`` (what ``du`` would count, roughly)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def format_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def remove_devnet_files(root: Path) -> None:
    """Delete what ``create_devnet`` made under ``root`` (node folders, keys, genesis, the
    devnet record); other files a user put there are left alone."""
    for node in load_devnet(root):
        shutil.rmtree(node.datadir, ignore_errors=True)
    shutil.rmtree(root / "keys", ignore_errors=True)
    for name in ("genesis.json", "devnet.json", "pids.json"):
        (root / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        root.rmdir()  # only if nothing else is left


def node_info(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    try:
        return httpx.get(f"{url}/p2p/v1/info", timeout=timeout).json()
    except (httpx.HTTPError, ValueError):
        return None
