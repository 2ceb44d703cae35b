"""Create a ready-to-run data directory: keys, genesis and node config with working defaults."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from learnchain.config import ApiConfig, NodeConfig
from learnchain.core.crypto import (
    PrivateKey,
    save_keystore,
    to_checksum_address,
    write_secret,
)
from learnchain.core.errors import ConfigError
from learnchain.core.genesis import GenesisConfig, wall_genesis_time
from learnchain.datadir_lock import DatadirLock

DEV_PASSWORD = "learnchain-dev"
DEV_ACCOUNTS = ("alice", "bob")
DEV_ALLOCATION = 1_000_000
# Transactions cost a fee from the first block, so keys without funds cannot fill mempools
# (a 150-byte transfer costs 150 of the 1,000,000 each dev account starts with).
DEV_FEE_PER_BYTE = 1


@dataclass(frozen=True)
class InitResult:
    datadir: Path
    node_address: bytes
    accounts: dict[str, bytes]
    genesis: GenesisConfig
    #: where the keys this init replaced were moved (``--force`` on an initialised datadir)
    replaced_keys: Path | None = field(default=None)


def init_datadir(datadir: Path, *, difficulty: int = 14, port: int = 8645,
                 password: str = DEV_PASSWORD, light_kdf: bool = False,
                 force: bool = False, block_interval_ms: int = 1000,
                 open_peers: bool = False) -> InitResult:
    """A single-node governed-PoW chain whose node key is member, miner and controller.

    Its peer list is permissioned: genesis names the node key in `permissioned_nodes` and
    node.toml says `peers = "permissioned"`; `open_peers` writes `peers = "open"` instead.
    """
    datadir = Path(datadir)
    if (datadir / "node.toml").exists() and not force:
        raise ConfigError(f"{datadir} is already initialised; pass --force to start over "
                          "(this deletes its chain data and replaces its keys node, alice and "
                          "bob with new ones: the old keys are moved to keys.replaced-<time>/)")
    datadir.mkdir(parents=True, exist_ok=True)
    with DatadirLock(datadir):  # never re-initialise under a running node
        return _write_datadir(datadir, difficulty, port, password, light_kdf,
                              block_interval_ms, open_peers)


def _write_datadir(datadir: Path, difficulty: int, port: int, password: str, light_kdf: bool,
                   block_interval_ms: int, open_peers: bool) -> InitResult:
    keys_dir = datadir / "keys"
    replaced = None
    if any(keys_dir.glob("*.json")):
        # Never destroy a key: --force moves the old ones aside, and says where.
        replaced = datadir / f"keys.replaced-{time.strftime('%Y%m%d-%H%M%S')}"
        keys_dir.rename(replaced)
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in ("chain.sqlite", "chain.sqlite-wal", "chain.sqlite-shm"):
        (datadir / stale).unlink(missing_ok=True)
    write_secret(keys_dir / "password.txt", password + "\n")
    node_key = PrivateKey.generate()
    save_keystore(node_key, keys_dir / "node.json", password, light=light_kdf)
    accounts = {}
    for name in DEV_ACCOUNTS:
        key = PrivateKey.generate()
        save_keystore(key, keys_dir / f"{name}.json", password, light=light_kdf)
        accounts[name] = key.address
    node = to_checksum_address(node_key.address)
    genesis = GenesisConfig(
        timestamp_ms=wall_genesis_time(),
        permissioned_nodes=[node],
        extra_apps=["collab"],
        apps={
            "bank": {"allocations": {node: DEV_ALLOCATION, **{
                to_checksum_address(a): DEV_ALLOCATION for a in accounts.values()}}},
            "identity": {"members": [node], "identities": {node: ["miner", "institution"]}},
            "consensus": {"params": {"difficulty": difficulty,
                                     "fee_per_byte": DEV_FEE_PER_BYTE}, "miners": [node],
                          "controller": node},
        },
    )
    genesis.save(datadir / "genesis.json")
    config = NodeConfig(datadir=datadir, api=ApiConfig(port=port))
    config.mining.min_block_interval_ms = block_interval_ms
    config.p2p.peers = "open" if open_peers else "permissioned"
    (datadir / "node.toml").write_text(config.to_toml())
    return InitResult(datadir, node_key.address, accounts, genesis, replaced)
