"""The state transition: validate transactions, run them through apps, mint the reward.

`execute_block` is the one function that turns (state, block contents) into (write set,
receipts). Producers and verifiers both call it, so a block that builds is a block that
verifies. An app error reverts only its transaction; an invalid transaction invalidates a
block under verification and is skipped (left out) while building.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from learnchain.apps.base import App, AppError, Bank, BlockInfo, CallContext
from learnchain.apps.consensus import fee_per_byte, read_params
from learnchain.consensus.base import ConsensusParams
from learnchain.core import sigworker
from learnchain.core.crypto import HIGH_S_MESSAGE, is_high_s
from learnchain.core.errors import InvalidTransaction
from learnchain.core.fees import pay_fees, take_fee, validate_fee
from learnchain.core.state import Overlay, StateView, WorldState, Writes
from learnchain.core.types import Receipt, Transaction

SYSTEM = "sys"
PARALLEL_RECOVERY_MIN = 64
RECOVERY_CHUNK = 256
FIRST_CHUNK = 64
IN_FLIGHT_EXTRA = 2  # chunks queued beyond one per worker, so workers never wait for one


class SignatureCache:
    """Senders already recovered (e.g. when a transaction entered the mempool), by tx hash."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._senders: dict[bytes, bytes] = {}

    def get(self, tx_hash: bytes) -> bytes | None:
        return self._senders.get(tx_hash)

    def put(self, tx_hash: bytes, sender: bytes) -> None:
        if len(self._senders) >= self.capacity:
            self._senders.pop(next(iter(self._senders)))
        self._senders[tx_hash] = sender


def recover_senders_lazy(txs: Sequence[Transaction],
                         cache: SignatureCache | None = None) -> Iterator[bytes | None]:
    """Signers in order, recovered by worker processes while the caller consumes them.

    Execution of transaction i overlaps with the recovery of later ones on the other core;
    this is what keeps block import close to raw signature speed. The work is queued when
    this is called (not when the first signer is asked for), so a caller can start it early.
    """
    cached = [cache.get(tx.hash) if cache else None for tx in txs]
    missing = [tx for tx, sender in zip(txs, cached, strict=True) if sender is None]
    if (len(missing) >= PARALLEL_RECOVERY_MIN and sigworker.workers_wanted() > 0
            and all(len(tx.signature) == 65 for tx in missing)):
        chunks, start, size = [], 0, FIRST_CHUNK
        while start < len(missing):
            chunks.append(missing[start:start + size])
            start, size = start + size, min(size * 2, RECOVERY_CHUNK)
        recovered: Iterator[bytes | None] = iter(_Recovery(chunks))
    else:
        recovered = (_recover_or_none(tx) for tx in missing)
    return _in_order(txs, cached, recovered, cache)


def _in_order(txs: Sequence[Transaction], cached: list[bytes | None],
              recovered: Iterator[bytes | None],
              cache: SignatureCache | None) -> Iterator[bytes | None]:
    for tx, sender in zip(txs, cached, strict=True):
        if sender is None:
            sender = next(recovered)
            if cache is not None and sender is not None:
                cache.put(tx.hash, sender)
        yield sender


class _Recovery:
    """Signers chunk by chunk, in order, from worker processes and from this process.

    Workers take chunks from the front, a few ahead of the one being consumed. When the next
    result is not ready (workers still starting, or without a core on a busy machine), this
    process takes the last chunk no worker has been given and recovers it one signature at a
    time until the result it waits for arrives, then reaches its own chunks in order. No
    signature is recovered twice, and a starved pool degrades to in-process speed.
    """

    def __init__(self, chunks: list[list[Transaction]]) -> None:
        self.chunks = chunks
        self.futures: dict[int, Any] = {}
        self.next = 0  # the next chunk to give a worker
        self.end = len(chunks)  # chunks at or after this index are this process's
        self.own: dict[int, list[bytes | None]] = {}
        self.ahead = sigworker.workers_wanted() + IN_FLIGHT_EXTRA
        self._top_up(0)

    def _top_up(self, current: int) -> None:
        while self.next < self.end and self.next - current < self.ahead:
            future = sigworker.submit([tx.encoded for tx in self.chunks[self.next]])
            if future is None:  # no pool (any more): the rest is recovered here
                self.end = self.next
                return
            self.futures[self.next] = future
            self.next += 1

    def _help(self) -> bool:
        """One signature of useful work while waiting; False when there is none to take."""
        for index in range(self.end, len(self.chunks)):
            done = self.own.setdefault(index, [])
            if len(done) < len(self.chunks[index]):
                done.append(_recover_or_none(self.chunks[index][len(done)]))
                return True
        if self.end > self.next:
            self.end -= 1
            return True
        return False

    def _in_process(self, index: int) -> Iterator[bytes | None]:
        done = self.own.get(index, [])
        yield from done
        yield from (_recover_or_none(tx) for tx in self.chunks[index][len(done):])

    def __iter__(self) -> Iterator[bytes | None]:
        for index in range(len(self.chunks)):
            if index < self.end:
                self._top_up(index)
            if index >= self.end:
                yield from self._in_process(index)
                continue
            future = self.futures.pop(index)
            while not future.done() and self._help():
                pass
            try:
                batch = future.result()
            except Exception:  # a broken worker must not decide validity: finish in-process
                sigworker.disable()
                for rest in range(index, len(self.chunks)):
                    yield from self._in_process(rest)
                return
            yield from batch


def _recover_or_none(tx: Transaction) -> bytes | None:
    try:
        return tx.recover_signer()
    except InvalidTransaction:
        return None


def recover_senders(txs: Sequence[Transaction],
                    cache: SignatureCache | None = None) -> list[bytes | None]:
    return list(recover_senders_lazy(txs, cache))


def nonce_key(address: bytes) -> str:
    return f"{SYSTEM}/nonce/{address.hex()}"


def account_nonce(source: WorldState | Overlay, address: bytes) -> int:
    raw = source.get_raw(nonce_key(address))
    return 0 if raw is None else int.from_bytes(raw, "big")


def validate_transaction(tx: Transaction, chain_id: int, apps: Mapping[str, App],
                         signer: bytes | None, expected_nonce: int | None) -> None:
    """Raise InvalidTransaction with the first rule the transaction breaks."""
    if tx.chain_id != chain_id:
        raise InvalidTransaction(f"wrong chain id {tx.chain_id}; this chain is {chain_id}")
    if signer is None:
        if is_high_s(tx.signature):
            raise InvalidTransaction(f"invalid signature: {HIGH_S_MESSAGE}")
        raise InvalidTransaction("invalid signature: it does not recover a public key")
    if signer != tx.sender:
        raise InvalidTransaction("invalid signature: it was not made by the sender's key")
    app = apps.get(tx.app)
    if app is None:
        raise InvalidTransaction(f"unknown app {tx.app!r}; apps on this chain: "
                                 f"{', '.join(sorted(apps))}")
    if not app.has_method(tx.method):
        raise InvalidTransaction(f"app {tx.app!r} has no method {tx.method!r}; methods: "
                                 f"{', '.join(sorted(app.tx_methods))}")
    if expected_nonce is not None and tx.nonce != expected_nonce:
        kind = "replayed (already used)" if tx.nonce < expected_nonce else "gapped (too high)"
        raise InvalidTransaction(f"nonce {tx.nonce} is {kind}; the sender's next nonce is "
                                 f"{expected_nonce}")


@dataclass
class ExecutionResult:
    writes: Writes
    receipts: list[Receipt]
    included: list[Transaction]
    rejected: list[tuple[Transaction, str]] = field(default_factory=list)


class Executor:
    """Runs blocks for one chain configuration (chain id, apps, consensus engine)."""

    def __init__(self, chain_id: int, apps: Mapping[str, App], engine: Any) -> None:
        self.chain_id = chain_id
        self.apps = dict(sorted(apps.items()))
        self.engine = engine

    def consensus_params(self, source: WorldState | Overlay) -> ConsensusParams:
        return read_params(StateView(source, "consensus", writable=False))

    def genesis_writes(self, config: Mapping[str, Any], info: BlockInfo) -> Writes:
        overlay = Overlay(WorldState())
        for name, app in self.apps.items():
            ctx = CallContext(name, None, info, b"genesis", overlay)
            app.genesis(ctx, dict(config.get(name, {})))
        return overlay.writes

    def execute(self, world: WorldState, info: BlockInfo, txs: Iterable[Transaction],
                senders: Iterable[bytes | None] | None, *, strict: bool,
                reward: int = 0,
                extra_mints: Sequence[tuple[bytes, int]] = ()) -> ExecutionResult:
        """Apply `txs` in order on an overlay of `world` (world itself is not changed).

        strict=True (verifying): the first invalid transaction raises InvalidTransaction.
        strict=False (building): invalid transactions are left out and reported.
        """
        txs = list(txs)
        if senders is None:
            senders = recover_senders_lazy(txs)
        block_overlay = Overlay(world)
        result = ExecutionResult({}, [], [])
        rate = fee_per_byte(self.consensus_params(world))  # in force at the parent
        fees = 0
        for tx, signer in zip(txs, senders, strict=True):
            try:
                validate_transaction(tx, self.chain_id, self.apps, signer,
                                     account_nonce(block_overlay, tx.sender))
                validate_fee(tx, rate)
                take_fee(block_overlay, tx)
            except InvalidTransaction as exc:
                if strict:
                    raise InvalidTransaction(f"transaction {tx.hash.hex()[:16]}: {exc}") from None
                result.rejected.append((tx, str(exc)))
                continue
            fees += tx.fee
            block_overlay.set_raw(nonce_key(tx.sender), (tx.nonce + 1).to_bytes(8, "big"))
            result.receipts.append(self._run(block_overlay, info, tx))
            result.included.append(tx)
        for name, app in self.apps.items():
            end_overlay = Overlay(block_overlay)
            try:
                app.end_block(CallContext(name, None, info, b"end-block", end_overlay))
                end_overlay.commit()
            except AppError:
                pass
        pay_fees(block_overlay, info.proposer, fees)
        if reward:
            Bank(block_overlay).mint(info.proposer, reward)
        for address, amount in extra_mints:  # engine-defined (rlpow uncles), in header order
            if amount:
                Bank(block_overlay).mint(address, amount)
        result.writes = block_overlay.writes
        return result

    def _run(self, block_overlay: Overlay, info: BlockInfo, tx: Transaction) -> Receipt:
        tx_overlay = Overlay(block_overlay)
        ctx = CallContext(tx.app, tx.sender, info, tx.hash, tx_overlay)
        try:
            result = self.apps[tx.app].call(ctx, tx.method, tx.args)
            receipt = Receipt(tx.hash, True, None, result, tuple(ctx.events))
            receipt.hash  # noqa: B018 - encodes now, so a non-plain result is this tx's failure
        except AppError as exc:
            return Receipt(tx.hash, False, str(exc))
        except Exception as exc:  # an app bug must not split the network: treat as a revert
            return Receipt(tx.hash, False, f"internal error in app {tx.app}: "
                           f"{type(exc).__name__}: {exc}")
        tx_overlay.commit()
        return receipt
