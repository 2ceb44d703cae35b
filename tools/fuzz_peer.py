"""Long fuzz run of the peer protocol: `make fuzz` (default 10^6 inputs).

Every input is an authenticated envelope with a hostile body for one of the peer message
types, an envelope with hostile sequence numbers or sender ids, or a corrupted frame (see
`learnchain.net.peer_fuzz`). The documented outcomes are acceptance (possibly with a penalty)
and `ProtocolError`; the run prints the count of everything else and exits 1 if there is any.

    python tools/fuzz_peer.py --count 1000000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from learnchain.net.peer_fuzz import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.monotonic()

    def progress(done: int, harness: object) -> None:
        rate = done / max(time.monotonic() - started, 1e-9)
        print(f"{done:>9} inputs  {rate:7.0f}/s  {dict(harness.outcomes)}",  # type: ignore[attr-defined]
              flush=True)

    harness = run(args.count, args.seed, progress)
    result = {"inputs": sum(harness.outcomes.values()), "seed": args.seed,
              "outcomes": dict(harness.outcomes), "undocumented": harness.undocumented,
              "seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(result, indent=2))
    for kind, sample in harness.samples.items():
        print(f"--- first {kind}\n{sample}", file=sys.stderr)
    return 1 if harness.undocumented else 0


if __name__ == "__main__":
    sys.exit(main())
