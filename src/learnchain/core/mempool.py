"""Pending transactions: nonce-ordered per sender, paid for, bounded, and evicted by fee rate.

Admission asks for everything a block would: a valid signature, a known app and method, a
nonce in the sender's window, a fee at least the governed `fee_per_byte` times the encoded
size, and a balance that covers the fees of all the sender's pending transactions. Keys with
no funds therefore cannot occupy any slot. When the pool is full, a transaction paying a
higher fee rate evicts the last pending nonce of the sender of the lowest-paying pending
transaction, so filling the pool costs fees and cannot lock honest users out.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections.abc import Iterable

from learnchain.apps.consensus import fee_per_byte
from learnchain.core.chain import Chain
from learnchain.core.errors import InvalidTransaction
from learnchain.core.execution import account_nonce, recover_senders, validate_transaction
from learnchain.core.fees import check_affordable, validate_fee
from learnchain.core.types import Transaction

RATE_SCALE = 1_000_000


def fee_rate(tx: Transaction) -> int:
    """Fee per encoded byte in millionths (an integer, so ordering is exact)."""
    return tx.fee * RATE_SCALE // tx.size


class Mempool:
    def __init__(self, chain: Chain, capacity: int = 20_000, per_sender: int = 256) -> None:
        self.chain = chain
        self.capacity = capacity
        self.per_sender = per_sender
        self.lock = threading.Lock()
        self._by_sender: dict[bytes, dict[int, Transaction]] = {}
        self._txs: dict[bytes, Transaction] = {}
        # (fee rate, arrival, hash) of every admitted transaction; entries of transactions
        # that have left the pool are skipped when met, and the heap is rebuilt when they pile up.
        self._by_rate: list[tuple[int, int, bytes]] = []
        self._arrival = itertools.count()

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    def add(self, tx: Transaction) -> bool:
        """Admit a transaction; False if already pending. Raises InvalidTransaction."""
        if tx.hash in self._txs:
            return False
        (signer,) = recover_senders([tx], self.chain.sig_cache)
        validate_transaction(tx, self.chain.genesis_config.chain_id, self.chain.executor.apps,
                             signer, None)
        with self.chain.lock, self.lock:
            state = self.chain.state
            state_nonce = account_nonce(state, tx.sender)
            if tx.nonce < state_nonce:
                raise InvalidTransaction(f"nonce {tx.nonce} is replayed (already used); the "
                                         f"sender's next nonce is {state_nonce}")
            if tx.nonce >= state_nonce + self.per_sender:
                raise InvalidTransaction(f"nonce {tx.nonce} is too far ahead of the sender's "
                                         f"next nonce {state_nonce} (at most {self.per_sender} "
                                         "pending)")
            validate_fee(tx, fee_per_byte(self.chain.consensus_params()))
            pending = self._by_sender.get(tx.sender, {})
            if tx.nonce in pending:
                raise InvalidTransaction(f"a different transaction with nonce {tx.nonce} is "
                                         "already pending for this sender")
            check_affordable(state, tx, pending.values())
            if len(self._txs) >= self.capacity:
                self._evict_for(tx)
            self._by_sender.setdefault(tx.sender, {})[tx.nonce] = tx
            self._txs[tx.hash] = tx
            heapq.heappush(self._by_rate, (fee_rate(tx), next(self._arrival), tx.hash))
        return True

    def _evict_for(self, tx: Transaction) -> None:
        """Make room for `tx` by evicting the lowest-rate pending transaction, if `tx` pays more."""
        heap = self._by_rate
        while heap and heap[0][2] not in self._txs:
            heapq.heappop(heap)
        rate = fee_rate(tx)
        if not heap or heap[0][0] >= rate:
            lowest = heap[0][0] if heap else 0
            raise InvalidTransaction(
                f"the mempool is full ({self.capacity} transactions) and this fee rate "
                f"({rate / RATE_SCALE:.6f} per byte) does not beat the lowest pending "
                f"({lowest / RATE_SCALE:.6f}); pay a higher fee or retry later")
        sender = self._txs[heap[0][2]].sender
        if sender == tx.sender:
            raise InvalidTransaction("the mempool is full and the lowest-paying pending "
                                     "transaction is this sender's own; retry later")
        # The lowest-paying sender gives up its last nonce: a run is only as good as its
        # cheapest member, and dropping the tail leaves no gap in front of anything.
        self._remove_from(sender, max(self._by_sender[sender]))

    def _remove_from(self, sender: bytes, nonce: int) -> None:
        """Drop the sender's pending nonces >= `nonce` (they depend on it). Lock held."""
        pending = self._by_sender.get(sender, {})
        for n in [n for n in pending if n >= nonce]:
            self._txs.pop(pending.pop(n).hash, None)
        if not pending:
            self._by_sender.pop(sender, None)
        self._compact()

    def _compact(self) -> None:
        if len(self._by_rate) > 2 * len(self._txs) + 1024:
            self._by_rate = [e for e in self._by_rate if e[2] in self._txs]
            heapq.heapify(self._by_rate)

    def next_nonce(self, sender: bytes) -> int:
        """The nonce a new transaction from `sender` should use, counting pending ones."""
        with self.chain.lock:
            nonce = account_nonce(self.chain.state, sender)
        pending = self._by_sender.get(sender, {})
        while nonce in pending:
            nonce += 1
        return nonce

    def select(self, limit: int) -> list[Transaction]:
        """Executable transactions, highest fee rate first, each sender's in nonce order
        (a merge of per-sender nonce runs by the rate of each sender's next transaction)."""
        chosen: list[Transaction] = []
        with self.chain.lock, self.lock:
            ready: list[tuple[int, int, bytes, int]] = []
            for order, (sender, pending) in enumerate(self._by_sender.items()):
                nonce = account_nonce(self.chain.state, sender)
                if nonce in pending:
                    ready.append((-fee_rate(pending[nonce]), order, sender, nonce))
            heapq.heapify(ready)
            while ready and len(chosen) < limit:
                _, order, sender, nonce = heapq.heappop(ready)
                pending = self._by_sender[sender]
                chosen.append(pending[nonce])
                if nonce + 1 in pending:
                    heapq.heappush(ready, (-fee_rate(pending[nonce + 1]), order, sender,
                                           nonce + 1))
        return chosen

    def prune(self) -> None:
        """Drop what the head state has made stale (included or replaced)."""
        with self.chain.lock, self.lock:
            for sender in list(self._by_sender):
                nonce = account_nonce(self.chain.state, sender)
                pending = self._by_sender[sender]
                for stale in [n for n in pending if n < nonce]:
                    self._txs.pop(pending.pop(stale).hash, None)
                if not pending:
                    del self._by_sender[sender]
            self._compact()

    def drop(self, txs: Iterable[Transaction]) -> None:
        """Forget transactions a block builder found invalid (e.g. a fee the sender can no
        longer pay), with the sender's later nonces that depended on them."""
        with self.lock:
            for tx in txs:
                if tx.hash in self._txs:
                    self._remove_from(tx.sender, tx.nonce)

    def readd(self, txs: tuple[Transaction, ...]) -> None:
        """Give transactions of blocks undone by a reorg another chance to be included."""
        for tx in txs:
            with contextlib.suppress(InvalidTransaction):
                self.add(tx)

    def pending(self) -> list[Transaction]:
        with self.lock:
            return [tx for p in self._by_sender.values() for tx in p.values()]
