"""Banned peer keys with expiry, kept in the node's SQLite file so a restart forgets nothing.

A ban names a node key (the address of its public key) and the chain-clock millisecond when it
ends. Expired bans are ignored and purged; the table never holds more than `MAX_BANS` rows
(the bans that end soonest go first), so a peer that makes up keys cannot grow it without end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from learnchain.storage.sqlite_store import SqliteStore

MAX_BANS = 10_000

_SCHEMA = "CREATE TABLE IF NOT EXISTS peer_bans (node BLOB PRIMARY KEY, until_ms INTEGER NOT NULL)"


class BanList:
    def __init__(self, store: SqliteStore, clock: Callable[[], int],
                 lock: threading.RLock | None = None) -> None:
        self.store, self.clock = store, clock
        self.lock = lock or threading.RLock()  # the chain's: one connection, one writer
        with self.lock:
            store.conn.execute(_SCHEMA)
            self._cache: dict[bytes, int] = {
                bytes(n): u for n, u in store.conn.execute("SELECT node, until_ms FROM peer_bans")}

    def ban(self, node_id: bytes, until_ms: int) -> None:
        with self.lock:
            self._cache[node_id] = max(until_ms, self._cache.get(node_id, 0))
            self.store.conn.execute("INSERT OR REPLACE INTO peer_bans VALUES (?, ?)",
                                    (node_id, self._cache[node_id]))
            if len(self._cache) > MAX_BANS:
                self.purge()

    def purge(self) -> None:
        """Forget expired bans, then the soonest-ending ones while over MAX_BANS."""
        with self.lock:
            now = self.clock()
            gone = [n for n, u in self._cache.items() if u <= now]
            if len(self._cache) - len(gone) > MAX_BANS:
                alive = sorted((u, n) for n, u in self._cache.items() if u > now)
                gone += [n for _, n in alive[:len(alive) - MAX_BANS]]
            for node_id in gone:
                self._cache.pop(node_id, None)
            self.store.conn.executemany("DELETE FROM peer_bans WHERE node=?",
                                        [(n,) for n in gone])

    def until(self, node_id: bytes) -> int | None:
        """When the ban on `node_id` ends, or None if it is not banned now."""
        until = self._cache.get(node_id)
        return until if until is not None and until > self.clock() else None

    def lift(self, node_id: bytes) -> None:
        with self.lock:
            self._cache.pop(node_id, None)
            self.store.conn.execute("DELETE FROM peer_bans WHERE node=?", (node_id,))

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, bytes) and self.until(node_id) is not None

    def __iter__(self) -> Iterator[bytes]:
        return iter([n for n in self._cache if n in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)
