"""Study experiment setup: opening N wallets and importing their synthetic FHIR records.

Two paths over the same population, each on a fresh in-process node, in the same run:

* **before** — the setup as it was: publish keys for all (one block), open all wallets (one
  block, then a `wait` per transaction), seal and submit each patient's records (each client
  asks the chain for its wallet's owner key), one block, a `wait` per transaction. Each `wait`
  finds its transaction by loading and decoding its whole block and the block's receipts, so a
  block of N transactions costs O(N²) decoding;
* **after** — `study_experiment.setup_population`: the three transactions of every patient
  submitted before mining (the wallet id is computable and the records are wrapped for the
  patient's own key), receipts read once per block (`LocalChain.wait_many`).

Both sign, check and execute every transaction and seal (AES-256-GCM + Umbral) and store every
record; the chain ends with the same wallets and record counts (checked). Prints seconds per
patient and the speed-up (before / after).

Run: ``python benchmarks/bench_study_setup.py [--patients 300]``
"""

from __future__ import annotations

import argparse
import time

from learnchain.apps.wallet.study_experiment import setup_population
from learnchain.apps.wallet.synthetic import population
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld


def _world(names: list[str]) -> WalletWorld:
    world = WalletWorld.create(extra=dict.fromkeys(names, "patient"))
    world.setup()
    return world


def setup_before(world: WalletWorld, names: list[str], people: list) -> dict[str, bytes]:
    """The previous `study_experiment.run` setup, verbatim."""
    for name in names:
        world[name].chain.send(world[name].key, "wallet", "publish_keys", {
            "enc": world[name].umbral.public_bytes, "ver": world[name].umbral.verifying_bytes})
    world.test.mine()
    opened = [world.chain.send(world[n].key, "wallet", "open",
                               {"institution": world.address(INSTITUTION)}) for n in names]
    world.test.mine()
    wallets = {n: bytes(world.chain.wait(tx)["wallet"]) for n, tx in zip(names, opened,
                                                                          strict=True)}
    pending = [world[n].submit_add_many(wallets[n], p.records)[1]
               for n, p in zip(names, people, strict=True)]
    world.test.mine()
    for tx in pending:
        world.chain.wait(tx)
    return wallets


def _records(world: WalletWorld, wallets: dict[str, bytes]) -> int:
    return sum(len(world.chain.query("records", {"wallet": w})) for w in wallets.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    args = parser.parse_args()
    names = [f"synthetic-{i}" for i in range(args.patients)]
    people = population(0, args.patients)
    seconds, counts = {}, {}
    for label, fn in (("before", setup_before), ("after", setup_population)):
        world = _world(names)
        start = time.perf_counter()
        wallets = fn(world, names, people)
        seconds[label] = time.perf_counter() - start
        counts[label] = (len(wallets), _records(world, wallets))
    assert counts["before"] == counts["after"], counts
    for label in ("before", "after"):
        print(f"{label:>6}: {seconds[label]:8.2f} s for {args.patients} patients "
              f"({1000 * seconds[label] / args.patients:.1f} ms per patient; "
              f"{counts[label][1]} records)")
    print(f"speed-up (before / after): {seconds['before'] / seconds['after']:.2f}")


if __name__ == "__main__":
    main()
