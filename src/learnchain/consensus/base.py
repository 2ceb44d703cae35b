"""The ConsensusEngine seam and the fork-choice rules.

An engine judges headers in two steps: `check_header` needs nothing but the header (so junk is
dropped before it costs anything), `verify` runs when the block is connected, against the
consensus parameters in force at its parent (difficulty, miner set), which governance
transactions may have changed.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from learnchain.core.errors import InvalidBlock
from learnchain.core.types import Block, BlockHeader


@dataclass(frozen=True)
class ConsensusParams:
    """Consensus settings in force for a block, read from the `consensus` app's state."""

    params: dict[str, Any]
    miners: tuple[bytes, ...]
    controller: bytes | None


@dataclass(frozen=True)
class BlockMetrics:
    """What fork-choice rules compare, accumulated from genesis along a branch."""

    height: int
    total_work: int
    last_reward: int
    reward_sum: int

    def child(self, work: int, reward: int) -> BlockMetrics:
        return BlockMetrics(self.height + 1, self.total_work + work, reward,
                            self.reward_sum + reward)

    def to_plain(self) -> list[int]:
        return [self.height, self.total_work, self.last_reward, self.reward_sum]

    @classmethod
    def from_plain(cls, plain: list[int]) -> BlockMetrics:
        return cls(*plain)


ForkKey = Callable[[BlockMetrics], tuple[int, ...]]

FORK_CHOICE_RULES: dict[str, ForkKey] = {
    "longest": lambda m: (m.height,),
    "longest-then-last-reward": lambda m: (m.height, m.last_reward),
    "longest-then-reward-sum": lambda m: (m.height, m.reward_sum),
    "most-work": lambda m: (m.total_work, m.height),
}


def fork_rule(name: str) -> ForkKey:
    try:
        return FORK_CHOICE_RULES[name]
    except KeyError:
        raise ValueError(f"unknown fork-choice rule {name!r}; "
                         f"choose one of {', '.join(FORK_CHOICE_RULES)}") from None


class ConsensusEngine(ABC):
    name: ClassVar[str]

    @abstractmethod
    def default_params(self) -> dict[str, Any]:
        """Parameters a genesis file may leave out."""

    @abstractmethod
    def validate_params(self, params: dict[str, Any]) -> None:
        """Raise ValueError naming the bad field; used for genesis and governance updates."""

    @abstractmethod
    def check_header(self, header: BlockHeader) -> None:
        """Stateless checks (e.g. the PoW target); raise InvalidBlock."""

    @abstractmethod
    def verify(self, block: Block, parent: BlockHeader, cp: ConsensusParams) -> None:
        """Full consensus checks against the parameters in force; raise InvalidBlock."""

    @abstractmethod
    def prepare(self, header: BlockHeader, cp: ConsensusParams) -> BlockHeader:
        """Fill the engine's header fields for a candidate block."""

    @abstractmethod
    def seal(self, header: BlockHeader, cp: ConsensusParams,
             stop: threading.Event) -> BlockHeader | None:
        """Do the work; None when stopped (a better head arrived) before finishing."""

    @abstractmethod
    def reward(self, header: BlockHeader, cp: ConsensusParams) -> int:
        """Tokens minted to the proposer."""

    def extra_rewards(self, header: BlockHeader, cp: ConsensusParams) -> list[tuple[bytes, int]]:
        """Tokens minted to others than the proposer (e.g. rlpow uncles), as (address, amount)."""
        return []

    def work(self, header: BlockHeader) -> int:
        return 1

    def attach(self, chain: Any) -> None:
        """Called once by the Chain that runs this engine (engines that read history need it)."""
        return None

    def sidecar(self, block: Block, limit: int | None = None) -> dict[str, bytes]:
        """Off-chain blobs (by content id) a peer needs to verify `block`; sent with it.

        Above `limit` bytes an engine may send only what every verifier needs first and let
        peers fetch the rest by content id (``missing_blobs`` / ``blob``).
        """
        return {}

    def missing_blobs(self, block: Block) -> list[bytes]:
        """Digests of off-chain blobs this node still lacks to verify `block`."""
        return []

    def blob(self, digest: bytes) -> bytes | None:
        """An off-chain blob this node can serve to a peer, by digest."""
        return None

    def accept_sidecar(self, blobs: dict[str, bytes]) -> None:
        """Store blobs received with a block; must check each blob against its content id."""
        return None

    def fork_reward(self, header: BlockHeader) -> int:
        """Reward as fork choice sees it (from the header alone)."""
        return 0

    def can_propose(self, proposer: bytes, cp: ConsensusParams) -> bool:
        return proposer in cp.miners

    def has_priority(self, proposer: bytes, parent: BlockHeader) -> bool:
        """Whether `proposer`'s next block on `parent` matters beyond the race (a PoLe winner
        settling its task). Node-local timing policy, not a rule: such a node proposes
        without its per-head jitter, so its turn does not depend on the jitter draw."""
        return False

    def check_governed(self, header: BlockHeader, cp: ConsensusParams) -> None:
        """Header-only checks against governance (declared work, proposer), cheap enough to
        run on every block before it is stored or relayed; raise InvalidBlock."""
        if not self.can_propose(header.proposer, cp):
            raise InvalidBlock(f"proposer 0x{header.proposer.hex()} is not an active miner")
