"""Genesis: the configuration every node of a chain must share, and the block it defines.

The genesis block commits to the hash of the whole configuration (rules, engine, initial state),
so two nodes with different settings can never believe they are on the same chain.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from learnchain.core.encoding import encode, hash_value
from learnchain.core.errors import ConfigError, EncodingError

DEFAULT_CHAIN_ID = 1337


def wall_genesis_time() -> int:
    """Now, rounded down to the second, for genesis files created on this machine."""
    import time

    return time.time_ns() // 1_000_000_000 * 1000


@dataclass(frozen=True)
class GenesisConfig:
    chain_id: int = DEFAULT_CHAIN_ID
    timestamp_ms: int = 1_767_225_600_000
    engine: str = "pow"
    engine_config: dict[str, Any] = field(default_factory=dict)
    fork_choice: str = "most-work"
    max_future_ms: int = 15_000
    max_reorg_depth: int = 100
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra_apps: list[str] = field(default_factory=list)
    permissioned_nodes: list[str] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def hash(self) -> bytes:
        return hash_value(self.to_plain())

    @classmethod
    def from_plain(cls, plain: Any, source: str = "genesis") -> GenesisConfig:
        if not isinstance(plain, dict):
            raise ConfigError(f"{source}: expected a JSON object at the top level")
        known = set(cls.__dataclass_fields__)
        unknown = set(plain) - known
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}; "
                              f"known fields: {', '.join(sorted(known))}")
        try:
            encode(plain)
        except EncodingError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        config = cls(**plain)
        config.validate(source)
        return config

    def validate(self, source: str = "genesis") -> None:
        def need(cond: bool, field_name: str, message: str) -> None:
            if not cond:
                raise ConfigError(f"{source}: field '{field_name}' {message}")

        need(isinstance(self.chain_id, int) and self.chain_id > 0, "chain_id",
             "must be a positive integer")
        need(isinstance(self.timestamp_ms, int) and self.timestamp_ms >= 0, "timestamp_ms",
             "must be a non-negative integer (milliseconds since 1970)")
        need(isinstance(self.engine, str), "engine", "must be an engine name such as 'pow'")
        from learnchain.consensus.base import FORK_CHOICE_RULES

        need(self.fork_choice in FORK_CHOICE_RULES, "fork_choice",
             f"must be one of {', '.join(FORK_CHOICE_RULES)}")
        need(isinstance(self.max_future_ms, int) and self.max_future_ms >= 0, "max_future_ms",
             "must be a non-negative integer")
        need(isinstance(self.max_reorg_depth, int) and self.max_reorg_depth >= 1,
             "max_reorg_depth", "must be an integer of at least 1")
        need(isinstance(self.apps, dict), "apps", "must be an object of per-app settings")

    @classmethod
    def load(cls, path: Path) -> GenesisConfig:
        try:
            plain = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read genesis file {path}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"genesis file {path} is not valid JSON: {exc}") from None
        return cls.from_plain(plain, source=str(path))

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_plain(), indent=2) + "\n")
