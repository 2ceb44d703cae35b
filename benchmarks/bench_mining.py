"""Mining: header hashes per second vs a tight raw hashlib.sha256 loop over the same bytes.

Target ratio >= 0.8. The miner hashes the header's constant prefix once and only the 8-byte
seal per attempt (midstate), so it can beat hashing the whole header each time.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_of, timed
from learnchain.consensus.pow import search_nonce
from learnchain.testing import dev_genesis, dev_key, make_node

N = 400_000


def header_bytes() -> bytes:
    tn = make_node(dev_genesis())
    candidate, _ = tn.chain.build_candidate([], dev_key("miner").address)
    return candidate.header.encoded


def raw_rate(data: bytes) -> float:
    sha = hashlib.sha256

    def loop() -> None:
        for _ in range(N):
            sha(data).digest()

    return N / timed(loop)


def miner_rate(data: bytes) -> float:
    prefix = data[:-8]
    stop = threading.Event()
    elapsed = timed(lambda: search_nonce(prefix, range(N), 256, stop))
    return N / elapsed


def main() -> None:
    data = header_bytes()
    raw = best_of(3, lambda: raw_rate(data))
    mined = best_of(3, lambda: miner_rate(data))
    print(f"header size: {len(data)} bytes")
    print(f"raw hashlib.sha256(header).digest(): {raw:,.0f} H/s")
    print(f"learnchain miner (midstate, target compare, stop checks): {mined:,.0f} H/s")
    print(f"ratio miner / raw = {mined / raw:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
