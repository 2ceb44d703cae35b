"""Create a ready-to-run data directory: keys, genesis and node config with working defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from learnchain.config import ApiConfig, NodeConfig
from learnchain.core.crypto import PrivateKey, save_keystore, to_checksum_address
from learnchain.core.errors import ConfigError
from learnchain.core.genesis import GenesisConfig, wall_genesis_time

DEV_PASSWORD = "learnchain-dev"
DEV_ACCOUNTS = ("alice", "bob")
DEV_ALLOCATION = 1_000_000


@dataclass(frozen=True)
class InitResult:
    datadir: Path
    node_address: bytes
    accounts: dict[str, bytes]
    genesis: GenesisConfig


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
        raise ConfigError(f"{datadir} is already initialised; pass --force to overwrite "
                          "(this deletes its chain data)")
    keys_dir = datadir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("chain.sqlite", "chain.sqlite-wal", "chain.sqlite-shm"):
        (datadir / stale).unlink(missing_ok=True)
    (keys_dir / "password.txt").write_text(password + "\n")
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
            "consensus": {"params": {"difficulty": difficulty}, "miners": [node],
                          "controller": node},
        },
    )
    genesis.save(datadir / "genesis.json")
    config = NodeConfig(datadir=datadir, api=ApiConfig(port=port))
    config.mining.min_block_interval_ms = block_interval_ms
    config.p2p.peers = "open" if open_peers else "permissioned"
    (datadir / "node.toml").write_text(config.to_toml())
    return InitResult(datadir, node_key.address, accounts, genesis)
