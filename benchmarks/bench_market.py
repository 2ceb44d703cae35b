"""Market settlement per step against plain transfers, through block production.

One market step is the provider's `post_price` (the app re-derives the exact integer
Stackelberg optimum from every joined consumer's declared utility before accepting it) plus one
`buy` per consumer. The baseline is the same number of plain `bank.transfer` transactions in a
block of the same chain, timed in the same round, so state size and machine load match. The
ratio printed is median(transfer block time / market step block time): 1.0 means a market step
costs what the same count of transfers costs.

Run: python benchmarks/bench_market.py [--consumers 3 64] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from learnchain.apps.market.stackelberg import CONCAVE, TULLOCK, Consumer, best_integer_price
from learnchain.testing import TestNode, dev_genesis, dev_key, make_node


def _block(tn: TestNode, txs: list[tuple[str, str, str, dict[str, Any]]]) -> float:
    tn.clock.advance(1000)
    start = time.perf_counter()
    for sender, app, method, args in txs:
        tn.send(sender, app, method, args)
    block = tn.node.produce_block()
    elapsed = time.perf_counter() - start
    receipts = tn.chain.receipts(block.hash)
    failed = [r.error for r in receipts if not r.success]
    assert len(receipts) == len(txs) and not failed, f"failed: {failed[:3]}"
    return elapsed


def measure(consumers: int, rounds: int) -> dict[str, float]:
    names = [f"c{i}" for i in range(consumers)]
    tn = make_node(dev_genesis(funded={"cpp": 10**15, **{n: 10**15 for n in names}},
                               extra_apps=["market"], block_reward=0))
    capacity = 10**9
    tn.send("cpp", "market", "open", {"capacity": capacity, "unit_cost": 5_000,
                                      "price_cap": 1_000_000})
    tn.mine()
    people = []
    for i, name in enumerate(names):
        family = CONCAVE if i % 2 == 0 else TULLOCK
        value = 20_000 + 997 * i
        people.append(Consumer(family, value))
        tn.send(name, "market", "join", {"market": 0, "family": family, "value": value})
    tn.mine()
    bob = dev_key("bob").address
    ratios, market_times, transfer_times = [], [], []
    for r in range(rounds + 1):
        remaining = tn.chain.query("market", "market", {"market": 0})["remaining"]
        price, _ = best_integer_price(people, 5_000, capacity=remaining, price_cap=1_000_000)
        step = [("cpp", "market", "post_price", {"market": 0, "price": price})]
        step += [(n, "market", "buy", {"market": 0, "units": 1}) for n in names]
        transfers = [(n, "bank", "transfer", {"to": bob, "amount": 1})
                     for n in ["cpp", *names]]
        t_market = _block(tn, step)
        t_transfer = _block(tn, transfers)
        if r == 0:
            continue
        market_times.append(t_market)
        transfer_times.append(t_transfer)
        ratios.append(t_transfer / t_market)
    return {"consumers": consumers, "txs_per_step": consumers + 1,
            "ratio": statistics.median(ratios),
            "market_step_ms": 1000 * min(market_times),
            "transfers_ms": 1000 * min(transfer_times)}


def main() -> list[dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, nargs="+", default=[3, 64])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    results = [measure(n, opts.rounds) for n in opts.consumers]
    if opts.json:
        print(json.dumps(results, indent=2))
        return results
    for res in results:
        print(f"market step with {res['consumers']} consumers ({res['txs_per_step']} txs): "
              f"{res['market_step_ms']:.2f} ms vs {res['transfers_ms']:.2f} ms of transfers; "
              f"transfer/step ratio {res['ratio']:.2f} (median of rounds)")
    return results


if __name__ == "__main__":
    main()
