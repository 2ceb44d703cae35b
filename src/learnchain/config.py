"""Node configuration: one TOML file per node, every option with a default that works locally."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learnchain.core.errors import ConfigError


@dataclass
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8645


@dataclass
class MiningConfig:
    enabled: bool = True
    key: str = "keys/node.json"
    password_file: str = "keys/password.txt"
    min_block_interval_ms: int = 1000
    max_block_txs: int = 2000


@dataclass
class P2PConfig:
    enabled: bool = True
    bootstrap: list = field(default_factory=list)
    max_peers: int = 16
    tick_interval_ms: int = 2000
    key: str = "keys/node.json"
    password_file: str = "keys/password.txt"
    peers: str = "permissioned"
    """"permissioned": only node keys the genesis lists (`permissioned_nodes`, else its
    consortium members) or governance has made members may connect; "open": any key."""


PEER_MODES = ("permissioned", "open")


@dataclass
class StorageConfig:
    """What a node keeps on disk beyond blocks, receipts and state.

    ``archive_work`` (rlpow): also write every intermediate training blob of this node's own
    blocks to SQLite, so it can serve audits of old blocks to peers syncing from far behind.
    Off by default (a pruned node): those blobs then live only in a bounded in-memory cache of
    ``recent_work_mb`` MiB, which serves the audits of recent blocks that gossip and catch-up
    need; every block's parameters (θ_after) and proof manifest are always kept, so the chain
    stays verifiable and the next block can start from them. (Issue #20 measured 7.2 GB in
    9 minutes for an archival 4-node rlpow devnet.)

    ``keep_blocks`` (rlpow, pruned nodes): parameter blobs are kept only for the last
    ``keep_blocks`` heights plus each learner's state at the window's start (what verifying
    the next block, a reorg inside the window and a peer's sync need); older blocks keep their
    hashes in headers and their proof manifests (consensus/rlpow_pruning.py).
    ``light_sync``: blocks more than ``keep_blocks`` below the best linked headers a peer
    showed, whose blobs no peer still holds, are accepted with every check that reads no
    parameter blob (false: wait for an archival peer instead).
    """

    archive_work: bool = False
    recent_work_mb: int = 64
    keep_blocks: int = 256
    light_sync: bool = True

    backend: str = "local"
    path: str = "content.sqlite"
    ipfs_repo: str = "ipfs"
    swarm_key_file: str = ""


@dataclass
class NodeConfig:
    datadir: Path
    genesis: str = "genesis.json"
    database: str = "chain.sqlite"
    api: ApiConfig = field(default_factory=ApiConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    p2p: P2PConfig = field(default_factory=P2PConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)

    def path(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.datadir / p

    @classmethod
    def load(cls, datadir: Path) -> NodeConfig:
        path = Path(datadir) / "node.toml"
        if not path.exists():
            raise ConfigError(f"no node.toml in {datadir}; create one with "
                              f"`learnchain init --datadir {datadir}`")
        try:
            plain = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        return cls.from_plain(Path(datadir), plain, str(path))

    @classmethod
    def from_plain(cls, datadir: Path, plain: dict[str, Any], source: str) -> NodeConfig:
        config = cls(datadir=datadir)
        sections = {"api": config.api, "mining": config.mining, "p2p": config.p2p,
                    "storage": config.storage}
        for key, value in plain.items():
            if key in sections:
                if not isinstance(value, dict):
                    raise ConfigError(f"{source}: [{key}] must be a table")
                _assign(sections[key], value, f"{source}: [{key}]")
            elif key in ("genesis", "database"):
                if not isinstance(value, str):
                    raise ConfigError(f"{source}: '{key}' must be a path string")
                setattr(config, key, value)
            else:
                raise ConfigError(f"{source}: unknown option '{key}'; options: genesis, "
                                  "database, [api], [mining], [p2p], [storage]")
        if config.storage.backend not in ("local", "ipfs"):
            raise ConfigError(f"{source}: [storage] backend must be 'local' or 'ipfs'")
        if config.p2p.peers not in PEER_MODES:
            raise ConfigError(f"{source}: [p2p] peers must be one of {', '.join(PEER_MODES)}, "
                              f"not {config.p2p.peers!r}")
        if config.storage.keep_blocks < 1:
            raise ConfigError(f"{source}: [storage] keep_blocks must be at least 1")
        if not 0 < config.api.port < 65536:
            raise ConfigError(f"{source}: [api] port must be in 1..65535")
        return config

    def to_toml(self) -> str:
        m, a = self.mining, self.api
        return (
            f'genesis = "{self.genesis}"\ndatabase = "{self.database}"\n\n'
            f'[api]\nhost = "{a.host}"\nport = {a.port}\n\n'
            f'[mining]\nenabled = {str(m.enabled).lower()}\nkey = "{m.key}"\n'
            f'password_file = "{m.password_file}"\n'
            f"min_block_interval_ms = {m.min_block_interval_ms}\n"
            f"max_block_txs = {m.max_block_txs}\n\n"
            f"[p2p]\nenabled = {str(self.p2p.enabled).lower()}\n"
            f"bootstrap = {json.dumps(self.p2p.bootstrap)}\n"
            f"max_peers = {self.p2p.max_peers}\ntick_interval_ms = {self.p2p.tick_interval_ms}\n"
            f'key = "{self.p2p.key}"\npassword_file = "{self.p2p.password_file}"\n'
            f'# "permissioned" admits only consortium node keys; "open" admits any key\n'
            f'peers = "{self.p2p.peers}"\n\n'
            f"[storage]\narchive_work = {str(self.storage.archive_work).lower()}\n"
            f"recent_work_mb = {self.storage.recent_work_mb}\n"
            f"keep_blocks = {self.storage.keep_blocks}\n"
            f"light_sync = {str(self.storage.light_sync).lower()}\n"
            f'backend = "{self.storage.backend}"\npath = "{self.storage.path}"\n'
            f'ipfs_repo = "{self.storage.ipfs_repo}"\n'
            f'swarm_key_file = "{self.storage.swarm_key_file}"\n'
        )


def _assign(target: Any, values: dict[str, Any], where: str) -> None:
    for key, value in values.items():
        if not hasattr(target, key):
            raise ConfigError(f"{where}: unknown option '{key}'; options: "
                              f"{', '.join(vars(target))}")
        expected = type(getattr(target, key))
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: '{key}' must be {expected.__name__}, got {value!r}")
        setattr(target, key, value)
