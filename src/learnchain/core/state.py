"""Key-value world state, layered overlays for per-transaction revert, and the state root.

The world state is a map str → canonical bytes held in memory and mirrored to the store. Blocks
execute in an overlay whose write set becomes the block's journal (redo + undo), so a reorg can
roll back and re-apply without re-executing. The state root is a hash chain over write sets,
which every node computes identically and a replay from genesis reproduces; a running checksum
over all entries lets a restarted node confirm the state it loaded is the state it committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from learnchain.core.encoding import decode, encode, sha256

_MOD = 1 << 256
_MISSING = object()

Writes = dict[str, bytes | None]


def decode_stored(raw: bytes) -> Any:
    """Decode bytes this node itself wrote to state: canonical by construction, so the strict
    decoder's re-encoding check would only cost time."""
    return cbor2.loads(raw)


def entry_digest(key: str, value: bytes) -> int:
    return int.from_bytes(hashlib.sha256(key.encode() + b"\x00" + value).digest(), "big")


def state_root(parent_root: bytes, writes: Mapping[str, bytes | None]) -> bytes:
    body = encode([[k, writes[k]] for k in sorted(writes)], trusted=True)
    return sha256(b"learnchain-state" + parent_root + sha256(body))


@dataclass
class Journal:
    """What a block changed: `writes` re-applies it, `undo` rolls it back."""

    writes: Writes
    undo: Writes

    def to_bytes(self) -> bytes:
        return encode({"writes": self.writes, "undo": self.undo}, trusted=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> Journal:
        plain = decode(data)
        return cls(plain["writes"], plain["undo"])


class WorldState:
    """The state at the canonical head."""

    def __init__(self, data: dict[str, bytes] | None = None) -> None:
        self.data: dict[str, bytes] = dict(data or {})
        self.checksum = sum(entry_digest(k, v) for k, v in self.data.items()) % _MOD

    def get_raw(self, key: str) -> bytes | None:
        return self.data.get(key)

    def get_raw_many(self, keys: Iterable[str]) -> list[bytes | None]:
        get = self.data.get
        return [get(key) for key in keys]

    def apply(self, writes: Mapping[str, bytes | None]) -> Writes:
        """Apply a write set and return the undo set that reverses it."""
        undo: Writes = {}
        data = self.data
        checksum = self.checksum
        for key, value in writes.items():
            old = data.get(key)
            undo[key] = old
            if old is not None:
                checksum -= entry_digest(key, old)
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
                checksum += entry_digest(key, value)
        self.checksum = checksum % _MOD
        return undo


class Overlay:
    """Pending writes over a parent; `commit` folds them into the parent, dropping reverts them."""

    def __init__(self, parent: WorldState | Overlay) -> None:
        self.parent = parent
        self.writes: Writes = {}

    def get_raw(self, key: str) -> bytes | None:
        source: WorldState | Overlay = self
        while isinstance(source, Overlay):
            value = source.writes.get(key, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[return-value]
            source = source.parent
        return source.data.get(key)

    def get_raw_many(self, keys: Iterable[str]) -> list[bytes | None]:
        """`get_raw` of several keys, walking the layers once (sparse models read ~15)."""
        layers = []
        source: WorldState | Overlay = self
        while isinstance(source, Overlay):
            layers.append(source.writes)
            source = source.parent
        base = source.data
        out: list[bytes | None] = []
        for key in keys:
            for writes in layers:
                value = writes.get(key, _MISSING)
                if value is not _MISSING:
                    out.append(value)  # type: ignore[arg-type]
                    break
            else:
                out.append(base.get(key))
        return out

    def set_raw(self, key: str, value: bytes | None) -> None:
        self.writes[key] = value

    def commit(self) -> None:
        if isinstance(self.parent, Overlay):
            self.parent.writes.update(self.writes)
        else:
            self.parent.apply(self.writes)
        self.writes = {}

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.get_raw(key)
        return default if raw is None else decode_stored(raw)

    def set(self, key: str, value: Any) -> None:
        self.set_raw(key, encode(value))

    def delete(self, key: str) -> None:
        self.set_raw(key, None)


class StateView:
    """An app's namespaced window onto state; read-only unless built over an overlay."""

    def __init__(self, source: WorldState | Overlay, namespace: str, *, writable: bool) -> None:
        self._source = source
        self._prefix = namespace + "/"
        self._writable = writable

    def get(self, key: str, default: Any = None) -> Any:
        raw = self._source.get_raw(self._prefix + key)
        return default if raw is None else decode_stored(raw)

    def raw(self, key: str) -> bytes | None:
        """The stored canonical bytes (e.g. to cache a parsed value by its bytes)."""
        return self._source.get_raw(self._prefix + key)

    def get_many(self, keys: list[str], prefix: str = "") -> list[Any]:
        """`get(prefix + key)` for several keys (None where absent)."""
        full = self._prefix + prefix
        raws = self._source.get_raw_many([full + key for key in keys])
        return [None if raw is None else cbor2.loads(raw) for raw in raws]

    def has(self, key: str) -> bool:
        return self._source.get_raw(self._prefix + key) is not None

    def set(self, key: str, value: Any) -> None:
        self._require_writable()
        self._source.set_raw(self._prefix + key, encode(value))  # type: ignore[union-attr]

    def set_many(self, items: dict[str, Any], prefix: str = "") -> None:
        self._require_writable()
        full = self._prefix + prefix
        set_raw = self._source.set_raw  # type: ignore[union-attr]
        for key, value in items.items():
            # ints (model weights) are canonical as cbor2 writes them: no type walk needed
            set_raw(full + key, cbor2.dumps(value) if type(value) is int else encode(value))

    def delete(self, key: str) -> None:
        self._require_writable()
        self._source.set_raw(self._prefix + key, None)  # type: ignore[union-attr]

    def _require_writable(self) -> None:
        if not self._writable:
            raise PermissionError("this state view is read-only (queries cannot write)")


def snapshot_items(state: WorldState, prefix: str) -> Iterable[tuple[str, bytes]]:
    """Entries under a prefix, for tools and tests (not for apps: iteration order is not state)."""
    return ((k, v) for k, v in sorted(state.data.items()) if k.startswith(prefix))
