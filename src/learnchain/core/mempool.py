"""Pending transactions, ordered by sender nonce, bounded so no sender can flood a node."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict

from learnchain.core.chain import Chain
from learnchain.core.errors import InvalidTransaction
from learnchain.core.execution import account_nonce, recover_senders, validate_transaction
from learnchain.core.types import Transaction


class Mempool:
    def __init__(self, chain: Chain, capacity: int = 20_000, per_sender: int = 256) -> None:
        self.chain = chain
        self.capacity = capacity
        self.per_sender = per_sender
        self.lock = threading.Lock()
        self._by_sender: OrderedDict[bytes, dict[int, Transaction]] = OrderedDict()
        self._hashes: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._hashes

    def add(self, tx: Transaction) -> bool:
        """Admit a transaction; False if already pending. Raises InvalidTransaction."""
        if tx.hash in self._hashes:
            return False
        (signer,) = recover_senders([tx], self.chain.sig_cache)
        with self.chain.lock:
            state_nonce = account_nonce(self.chain.state, tx.sender)
        validate_transaction(tx, self.chain.genesis_config.chain_id, self.chain.executor.apps,
                             signer, None)
        if tx.nonce < state_nonce:
            raise InvalidTransaction(f"nonce {tx.nonce} is replayed (already used); the "
                                     f"sender's next nonce is {state_nonce}")
        if tx.nonce >= state_nonce + self.per_sender:
            raise InvalidTransaction(f"nonce {tx.nonce} is too far ahead of the sender's next "
                                     f"nonce {state_nonce} (at most {self.per_sender} pending)")
        with self.lock:
            if len(self._hashes) >= self.capacity:
                raise InvalidTransaction("the mempool is full; retry later")
            pending = self._by_sender.setdefault(tx.sender, {})
            old = pending.get(tx.nonce)
            if old is not None:
                raise InvalidTransaction(f"a different transaction with nonce {tx.nonce} is "
                                         "already pending for this sender")
            pending[tx.nonce] = tx
            self._hashes.add(tx.hash)
        return True

    def next_nonce(self, sender: bytes) -> int:
        """The nonce a new transaction from `sender` should use, counting pending ones."""
        with self.chain.lock:
            nonce = account_nonce(self.chain.state, sender)
        pending = self._by_sender.get(sender, {})
        while nonce in pending:
            nonce += 1
        return nonce

    def select(self, limit: int) -> list[Transaction]:
        """Runs of consecutive nonces per sender, senders in arrival order."""
        chosen: list[Transaction] = []
        with self.chain.lock, self.lock:
            for sender, pending in self._by_sender.items():
                nonce = account_nonce(self.chain.state, sender)
                while nonce in pending and len(chosen) < limit:
                    chosen.append(pending[nonce])
                    nonce += 1
                if len(chosen) >= limit:
                    break
        return chosen

    def prune(self) -> None:
        """Drop what the head state has made stale (included or replaced)."""
        with self.chain.lock, self.lock:
            for sender in list(self._by_sender):
                nonce = account_nonce(self.chain.state, sender)
                pending = self._by_sender[sender]
                for stale in [n for n in pending if n < nonce]:
                    self._hashes.discard(pending.pop(stale).hash)
                if not pending:
                    del self._by_sender[sender]

    def readd(self, txs: tuple[Transaction, ...]) -> None:
        """Give transactions of blocks undone by a reorg another chance to be included."""
        for tx in txs:
            with contextlib.suppress(InvalidTransaction):
                self.add(tx)

    def pending(self) -> list[Transaction]:
        with self.lock:
            return [tx for p in self._by_sender.values() for tx in p.values()]
