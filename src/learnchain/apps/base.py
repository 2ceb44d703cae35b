"""The App seam: how deterministic applications read and write state, move money, and fail.

Apps are plain Python classes. A method becomes callable by transactions with `@tx_method`
and readable for free with `@query_method`; the registry of methods is what lets a node reject
a transaction for an unknown method before it is ever included. Apps never read clocks, files,
the network or floats: everything they may use arrives in the context.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from cbor2 import dumps as _dumps

from learnchain.core.crypto import ADDRESS_SIZE
from learnchain.core.errors import LearnchainError
from learnchain.core.state import Overlay, StateView, WorldState, decode_stored

F = TypeVar("F", bound=Callable[..., Any])


class AppError(LearnchainError):
    """An application rule refused a call; the transaction's writes are reverted."""


def tx_method(func: F) -> F:
    func.__learnchain_tx__ = True  # type: ignore[attr-defined]
    return func


def query_method(func: F) -> F:
    func.__learnchain_query__ = True  # type: ignore[attr-defined]
    return func


@dataclass(frozen=True)
class BlockInfo:
    chain_id: int
    height: int
    timestamp_ms: int
    parent_hash: bytes
    proposer: bytes

    @property
    def time(self) -> int:
        """Block time in whole seconds, the unit apps' deadlines are written in."""
        return self.timestamp_ms // 1000


class Bank:
    """Balances and escrows, shared by every app through the context.

    Apps can only spend the funds of the account that signed the transaction and the escrows
    they own; minting is reserved to consensus rewards and genesis allocations (`mint`), which
    the state transition calls directly and no app method can reach.
    """

    NAMESPACE = "bank"

    def __init__(self, source: Overlay | WorldState) -> None:
        self._source = source

    def _get(self, key: str) -> int:
        raw = self._source.get_raw(f"{self.NAMESPACE}/{key}")
        return 0 if raw is None else int(decode_stored(raw))

    def _set(self, key: str, value: int) -> None:
        # Balances are ints checked by `_check_amount`; cbor2's encoding of an int is already
        # the canonical (shortest) one, so the generic encoder's type walk is skipped.
        full = f"{self.NAMESPACE}/{key}"
        self._source.set_raw(full, None if value == 0 else _dumps(value))  # type: ignore[union-attr]

    @staticmethod
    def _account(address: bytes) -> str:
        return "bal/" + address.hex()

    @staticmethod
    def _escrow(owner_app: str, escrow_id: str) -> str:
        return f"esc/{owner_app}/{escrow_id}"

    def balance(self, address: bytes) -> int:
        return self._get(self._account(address))

    def escrow_balance(self, owner_app: str, escrow_id: str) -> int:
        return self._get(self._escrow(owner_app, escrow_id))

    def total_supply(self) -> int:
        return self._get("supply")

    def _debit(self, key: str, amount: int, what: str) -> None:
        have = self._get(key)
        if have < amount:
            raise AppError(f"insufficient funds in {what}: has {have}, needs {amount}")
        self._set(key, have - amount)

    def _credit(self, key: str, amount: int) -> None:
        self._set(key, self._get(key) + amount)

    def transfer(self, src: bytes, dst: bytes, amount: int) -> None:
        _check_amount(amount)
        _check_address(dst)
        self._debit(self._account(src), amount, "account 0x" + src.hex())
        self._credit(self._account(dst), amount)

    def debit_fee(self, src: bytes, amount: int) -> None:
        """Take a transaction fee (the state transition pairs it with `credit_fees`)."""
        self._debit(self._account(src), amount, "account 0x" + src.hex())

    def credit_fees(self, dst: bytes, amount: int) -> None:
        """Credit the fees debited from a block's senders to its proposer (no new money)."""
        self._credit(self._account(dst), amount)

    def mint(self, dst: bytes, amount: int) -> None:
        _check_amount(amount)
        self._credit(self._account(dst), amount)
        self._credit("supply", amount)

    def to_escrow(self, src: bytes, owner_app: str, escrow_id: str, amount: int) -> None:
        _check_amount(amount)
        self._debit(self._account(src), amount, "account 0x" + src.hex())
        self._credit(self._escrow(owner_app, escrow_id), amount)

    def from_escrow(self, owner_app: str, escrow_id: str, dst: bytes, amount: int) -> None:
        _check_amount(amount)
        _check_address(dst)
        self._debit(self._escrow(owner_app, escrow_id), amount, f"escrow {escrow_id}")
        self._credit(self._account(dst), amount)

    def between_escrows(self, owner_app: str, src_id: str, dst_id: str, amount: int) -> None:
        _check_amount(amount)
        self._debit(self._escrow(owner_app, src_id), amount, f"escrow {src_id}")
        self._credit(self._escrow(owner_app, dst_id), amount)


class AppBank:
    """The bank as one app sees it within one call: the signer's funds and its own escrows."""

    def __init__(self, bank: Bank, app: str, sender: bytes | None) -> None:
        self._bank = bank
        self._app = app
        self._sender = sender

    def balance(self, address: bytes) -> int:
        return self._bank.balance(address)

    def escrow_balance(self, escrow_id: str) -> int:
        return self._bank.escrow_balance(self._app, escrow_id)

    def pay(self, dst: bytes, amount: int) -> None:
        """Move the transaction signer's funds to `dst`."""
        self._bank.transfer(self._signer(), dst, amount)

    def deposit(self, escrow_id: str, amount: int) -> None:
        """Move the signer's funds into one of this app's escrows."""
        self._bank.to_escrow(self._signer(), self._app, escrow_id, amount)

    def release(self, escrow_id: str, dst: bytes, amount: int) -> None:
        """Pay out of one of this app's escrows."""
        self._bank.from_escrow(self._app, escrow_id, dst, amount)

    def move(self, src_id: str, dst_id: str, amount: int) -> None:
        self._bank.between_escrows(self._app, src_id, dst_id, amount)

    def _signer(self) -> bytes:
        if self._sender is None:
            raise AppError("no transaction signer here: end-of-block code can only move escrows")
        return self._sender


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise AppError(f"amount must be a non-negative integer, got {amount!r}")


def _check_address(address: bytes) -> None:
    if not isinstance(address, bytes) or len(address) != ADDRESS_SIZE:
        raise AppError("address must be 20 bytes")


@dataclass
class CallContext:
    """Everything an app call may use: who, when, its state, the bank, chain randomness."""

    app: str
    sender: bytes | None
    block: BlockInfo
    tx_hash: bytes
    overlay: Overlay
    events: list[dict[str, Any]] = field(default_factory=list)
    _counter: int = 0

    @property
    def state(self) -> StateView:
        return StateView(self.overlay, self.app, writable=True)

    @property
    def bank(self) -> AppBank:
        return AppBank(Bank(self.overlay), self.app, self.sender)

    def read(self, app: str) -> StateView:
        """Read-only view of another app's state (e.g. identity roles)."""
        return StateView(self.overlay, app, writable=False)

    def emit(self, kind: str, **data: Any) -> None:
        self.events.append({"app": self.app, "kind": kind, **data})

    def random_bytes(self) -> bytes:
        """h(parent hash ‖ app ‖ tx hash ‖ counter): unpredictable before the parent exists."""
        self._counter += 1
        seed = self.block.parent_hash + self.app.encode() + b"\x00" + self.tx_hash
        return hashlib.sha256(seed + self._counter.to_bytes(8, "big")).digest()

    def random_below(self, n: int) -> int:
        """Uniform integer in [0, n) by rejection, so no value is favoured."""
        if n <= 0:
            raise AppError("random range must be positive")
        bound = (1 << 256) - ((1 << 256) % n)
        while True:
            value = int.from_bytes(self.random_bytes(), "big")
            if value < bound:
                return value % n


class App:
    """Base of every app. Subclasses set `name` and decorate their methods."""

    name: ClassVar[str] = ""
    tx_methods: ClassVar[dict[str, str]] = {}
    query_methods: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tx_methods = {}
        cls.query_methods = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if getattr(value, "__learnchain_tx__", False):
                    cls.tx_methods[attr] = attr
                if getattr(value, "__learnchain_query__", False):
                    cls.query_methods[attr] = attr

    def has_method(self, method: str) -> bool:
        return method in self.tx_methods

    def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        if method not in self.tx_methods:
            raise AppError(f"app {self.name!r} has no method {method!r}; "
                           f"methods: {', '.join(sorted(self.tx_methods))}")
        return getattr(self, method)(ctx, args)

    def query(self, state: StateView, method: str, args: dict[str, Any]) -> Any:
        if method not in self.query_methods:
            raise AppError(f"app {self.name!r} has no query {method!r}; "
                           f"queries: {', '.join(sorted(self.query_methods))}")
        return getattr(self, method)(state, args)

    def genesis(self, ctx: CallContext, config: dict[str, Any]) -> None:
        """Initial state from the genesis file's section for this app."""

    def end_block(self, ctx: CallContext) -> None:
        """Deadlines and settlement that happen with time, not with a transaction."""


class Args:
    """Typed access to transaction arguments with errors that name the argument."""

    def __init__(self, args: dict[str, Any]) -> None:
        self._args = args

    def _get(self, name: str, kind: type | tuple[type, ...], what: str, default: Any) -> Any:
        if name not in self._args:
            if default is not _REQUIRED:
                return default
            raise AppError(f"missing argument {name!r} ({what})")
        value = self._args[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise AppError(f"argument {name!r} must be {what}, got {type(value).__name__}")
        return value

    def int(self, name: str, *, minimum: int | None = 0, default: Any = None) -> int:
        value = self._get(name, int, "an integer", _REQUIRED if default is None else default)
        if minimum is not None and value < minimum:
            raise AppError(f"argument {name!r} must be at least {minimum}, got {value}")
        return value

    def str(self, name: str, *, default: Any = None, max_len: int = 256) -> str:
        value = self._get(name, str, "a string", _REQUIRED if default is None else default)
        if len(value) > max_len:
            raise AppError(f"argument {name!r} is longer than {max_len} characters")
        return value

    def bytes(self, name: str, *, size: int | None = None, default: Any = None) -> bytes:
        value = self._get(name, bytes, "bytes", _REQUIRED if default is None else default)
        if size is not None and len(value) != size:
            raise AppError(f"argument {name!r} must be {size} bytes, got {len(value)}")
        return value

    def address(self, name: str) -> bytes:
        return self.bytes(name, size=ADDRESS_SIZE)

    def list(self, name: str, *, default: Any = None) -> list[Any]:
        return self._get(name, list, "a list", _REQUIRED if default is None else default)

    def dict(self, name: str, *, default: Any = None) -> dict[str, Any]:
        return self._get(name, dict, "a map", _REQUIRED if default is None else default)

    def bool(self, name: str, *, default: Any = None) -> bool:
        return self._get(name, bool, "true or false", _REQUIRED if default is None else default)


_REQUIRED = object()


def query_context(state: WorldState) -> Bank:
    """Read-only bank for queries and the API."""
    return Bank(state)
