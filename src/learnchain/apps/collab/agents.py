"""Off-chain agents and an in-process chain for simulations, tests and benchmarks.

`LocalChain` runs a real learnchain node in memory with a settable clock, so a simulation can
jump days ahead between blocks while every contribution still goes through signing, block
building, execution and import. Agents decide off-chain (with their own randomness) and act
only through transactions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from learnchain.apps.consensus import fee_per_byte
from learnchain.core.crypto import PrivateKey, to_checksum_address
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Receipt, Transaction
from learnchain.node import Node, open_chain

GENESIS_MS = 1_767_225_600_000
DAY_S = 86_400


class TxFailed(Exception):
    """A transaction was included but the app refused it (its receipt carries the reason)."""


@dataclass
class LocalChain:
    """A single-node chain with instant sealing and a clock the caller moves."""

    funded: dict[bytes, int]
    chain_id: int = 1337
    start_ms: int = GENESIS_MS
    miner: PrivateKey = field(default_factory=lambda: PrivateKey.from_seed(b"collab-miner"))

    def __post_init__(self) -> None:
        miner = to_checksum_address(self.miner.address)
        self.now_ms = [self.start_ms]
        genesis = GenesisConfig(
            chain_id=self.chain_id, timestamp_ms=self.start_ms, extra_apps=["collab"],
            apps={"bank": {"allocations": {to_checksum_address(a): v
                                           for a, v in self.funded.items()}},
                  "identity": {"members": [miner], "identities": {miner: ["miner"]}},
                  "consensus": {"params": {"difficulty": 0}, "miners": [miner],
                                "controller": miner}})
        self.chain = open_chain(":memory:", genesis, clock=lambda: self.now_ms[0])
        self.node = Node(self.chain, self.miner, max_block_txs=100_000)
        self.nonces: dict[bytes, int] = {}

    # ----- time --------------------------------------------------------------------------

    @property
    def time(self) -> int:
        """Current clock in whole seconds (the next block's time)."""
        return self.now_ms[0] // 1000

    def set_time(self, seconds: int) -> None:
        self.now_ms[0] = max(self.now_ms[0], seconds * 1000)

    # ----- transactions ------------------------------------------------------------------

    def tx(self, key: PrivateKey, app: str, method: str, args: dict[str, Any]) -> Transaction:
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        rate = fee_per_byte(self.chain.consensus_params())
        return Transaction(self.chain_id, key.address, nonce, app, method, args
                           ).with_minimum_fee(rate).signed(key)

    def submit(self, key: PrivateKey, method: str, args: dict[str, Any],
               app: str = "collab") -> Transaction:
        tx = self.tx(key, app, method, args)
        if not self.node.submit(tx):
            raise TxFailed(f"the mempool refused {method}")
        return tx

    def block(self) -> dict[bytes, Receipt]:
        """Produce one block at the current clock; receipts by transaction hash."""
        block = self.node.produce_block()
        assert block is not None
        return {r.tx_hash: r for r in self.chain.receipts(block.hash) or []}

    def call(self, key: PrivateKey, method: str, args: dict[str, Any],
             app: str = "collab") -> Any:
        """Submit one transaction, put it in a block, and return its result or raise."""
        tx = self.submit(key, method, args, app)
        receipt = self.block()[tx.hash]
        if not receipt.success:
            raise TxFailed(receipt.error)
        return receipt.result

    def query(self, method: str, args: dict[str, Any], app: str = "collab") -> Any:
        return self.chain.query(app, method, args)

    def balance(self, address: bytes) -> int:
        return int(self.chain.query("bank", "balance", {"address": address}))

    def escrow(self, model_id: int) -> int:
        return int(self.chain.query("bank", "escrow", {"app": "collab",
                                                       "escrow": f"m{model_id}"}))


@dataclass
class Agent:
    """A contributor with a habit: how often it adds data, what it will deposit, honesty.

    A good agent labels correctly (bar rare mistakes); a bad agent flips labels. Deposits are
    drawn around `mean_deposit`; the agent only adds when the required deposit is at most its
    draw, like the reference simulation's agents.
    """

    name: str
    key: PrivateKey
    good: bool = True
    mean_deposit: int = 50
    stdev_deposit: int = 10
    mean_wait_s: int = 600
    prob_mistake: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    next_time: int = 0
    contributions: list[int] = field(default_factory=list)

    @property
    def address(self) -> bytes:
        return self.key.address

    def schedule(self, now: int) -> None:
        self.next_time = now + max(1, int(self.rng.expovariate(1 / self.mean_wait_s)))

    def deposit_budget(self) -> int:
        return max(0, int(self.rng.gauss(self.mean_deposit, self.stdev_deposit)))

    def label_for(self, true_label: int, num_classes: int = 2) -> int:
        """The label this agent submits for a sample whose true label is `true_label`."""
        flip = not self.good or self.rng.random() < self.prob_mistake
        return (true_label + 1) % num_classes if flip else true_label


def agent_keys(names: Sequence[str], seed: bytes = b"collab-agent") -> dict[str, PrivateKey]:
    return {name: PrivateKey.from_seed(seed + b"/" + name.encode()) for name in names}
