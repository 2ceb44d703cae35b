"""Building blocks for tests, benchmarks and experiments: dev keys, genesis, in-memory nodes.

Keys derived from names (`dev_key("alice")`) are deterministic so tests read like narratives;
never use them for anything real.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from learnchain.apps.consensus import fee_per_byte
from learnchain.core.chain import Chain
from learnchain.core.crypto import PrivateKey, to_checksum_address
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block, Transaction
from learnchain.node import Node, open_chain

GENESIS_MS = 1_767_225_600_000


def dev_key(name: str) -> PrivateKey:
    return PrivateKey.from_seed(name.encode())


def dev_genesis(*, miners: Iterable[str] = ("miner",), funded: dict[str, int] | None = None,
                members: Iterable[str] = ("miner",), controller: str = "miner",
                difficulty: int = 0, block_reward: int = 50, fork_choice: str = "most-work",
                extra_apps: Iterable[str] = (), max_reorg_depth: int = 100,
                apps: dict[str, dict[str, Any]] | None = None, fee_per_byte: int | None = None,
                **overrides: Any) -> GenesisConfig:
    """A genesis where named dev keys are miners (with the miner role), members and funded.

    Transactions are free unless `fee_per_byte` is given (then it is written into the
    consensus parameters, where governance can change it).
    """
    miners, members = list(miners), list(members)
    addr = {n: to_checksum_address(dev_key(n).address)
            for n in {*miners, *members, controller, *(funded or {})}}
    sections: dict[str, dict[str, Any]] = {
        "bank": {"allocations": {addr[n]: v for n, v in (funded or {}).items()}},
        "identity": {"members": [addr[n] for n in members],
                     "identities": {addr[n]: ["miner"] for n in miners}},
        "consensus": {"params": {"difficulty": difficulty, "block_reward": block_reward},
                      "miners": [addr[n] for n in miners], "controller": addr[controller]},
    }
    if fee_per_byte is not None:
        sections["consensus"]["params"]["fee_per_byte"] = fee_per_byte
    for name, extra in (apps or {}).items():
        sections[name] = {**sections.get(name, {}), **extra}
    return GenesisConfig(timestamp_ms=GENESIS_MS, fork_choice=fork_choice,
                         max_reorg_depth=max_reorg_depth, extra_apps=list(extra_apps),
                         apps=sections, **overrides)


@dataclass
class ManualClock:
    """A clock tests move by hand (milliseconds)."""

    now_ms: int = GENESIS_MS + 1000

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@dataclass
class TestNode:
    """An in-memory node with a manual clock and a name, for narrative tests."""

    name: str
    node: Node
    clock: ManualClock
    nonces: dict[bytes, int] = field(default_factory=dict)

    __test__ = False

    @property
    def chain(self) -> Chain:
        return self.node.chain

    def tx(self, sender: str, app: str, method: str, args: dict[str, Any],
           nonce: int | None = None, fee: int | None = None) -> Transaction:
        """A signed transaction; `fee` defaults to the least the chain's fee rate allows."""
        key = dev_key(sender)
        if nonce is None:
            nonce = self.node.mempool.next_nonce(key.address)
        tx = Transaction(self.chain.genesis_config.chain_id, key.address, nonce, app, method,
                         args)
        if fee is None:
            tx = tx.with_minimum_fee(fee_per_byte(self.chain.consensus_params()))
        else:
            tx = replace(tx, fee=fee)
        return tx.signed(key)

    def send(self, sender: str, app: str, method: str, args: dict[str, Any]) -> Transaction:
        tx = self.tx(sender, app, method, args)
        self.node.submit(tx)
        return tx

    def mine(self, count: int = 1, step_ms: int = 1000) -> list[Block]:
        blocks = []
        for _ in range(count):
            self.clock.advance(step_ms)
            block = self.node.produce_block()
            assert block is not None
            blocks.append(block)
        return blocks

    def balance(self, name_or_address: str | bytes) -> int:
        address = (dev_key(name_or_address).address if isinstance(name_or_address, str)
                   else name_or_address)
        return int(self.chain.query("bank", "balance", {"address": address}))


def make_node(genesis: GenesisConfig, miner: str | None = "miner", *,
              database: str = ":memory:", clock: ManualClock | None = None) -> TestNode:
    clock = clock or ManualClock()
    chain = open_chain(database, genesis, clock=clock)
    return TestNode(miner or "observer",
                    Node(chain, dev_key(miner) if miner else None), clock)
