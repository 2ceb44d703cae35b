"""Bounded, insertion-ordered sets of blocks a node holds off its canonical chain.

Side blocks and orphans are accepted from peers before anyone knows whether they will ever
matter, so what a peer can make a node keep is capped by count AND by bytes (a count cap alone
lets a few maximum-size blocks use a lot of memory or disk). The oldest entry goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class BlockBudget:
    max_count: int
    max_bytes: int
    entries: OrderedDict[bytes, tuple[int, int]] = field(default_factory=OrderedDict)
    bytes: int = 0

    def add(self, block_hash: bytes, height: int, size: int) -> None:
        if block_hash in self.entries:
            return
        self.entries[block_hash] = (height, size)
        self.bytes += size

    def discard(self, block_hash: bytes) -> None:
        entry = self.entries.pop(block_hash, None)
        if entry is not None:
            self.bytes -= entry[1]

    def over(self) -> bool:
        return len(self.entries) > self.max_count or self.bytes > self.max_bytes

    def oldest(self) -> bytes:
        return next(iter(self.entries))

    def at_or_below(self, height: int) -> list[bytes]:
        return [h for h, (ht, _) in self.entries.items() if ht <= height]

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, block_hash: object) -> bool:
        return block_hash in self.entries
