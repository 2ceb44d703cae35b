"""The market experiment: a provider and three consumers trade compute over time on a real chain.

Every step the provider solves its Stackelberg price off chain for the capacity it has left and
posts it (the app re-checks it exactly); each consumer then buys its integer best response (the
better of the floor and ceiling of its continuous demand) in a rotating order, and the chain
allocates first come, all or nothing. We record price, remaining capacity, allocations, refusals
and realised profits per step.

Two scenarios reproduce the seed's qualitative results:

* `scarcity`: training consumers with concave values a = (4, 3, 2) and unit cost c = 0.5. With
  ample capacity the price is √1.5; as capacity depletes it rises (1.5 with 3 units left, 7/3
  with 1), consumers get less, and a late consumer "could not get resources"; renewal refills.
* `mining`: Tullock miners R = (10, 6, 3), c = 0.2 with a price cap of 1.0. Tullock spend is the
  same at every price, so the provider's optimum is the cap: the seed's "optimal price 1.0000"
  is this boundary; the third miner drops out (the seed's "consumer 3 profit 0.0000").

Money is integer: a price of 1.0 coin per unit is `PRICE_SCALE` base units.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from learnchain.apps.market import stackelberg as sg

PRICE_SCALE = 10_000
CONSUMERS = ("c1", "c2", "c3")


@dataclass
class MarketExperimentConfig:
    scenario: str = "scarcity"
    family: str = sg.CONCAVE
    values: tuple[float, ...] = (4.0, 3.0, 2.0)
    unit_cost: float = 0.5
    price_cap: float = 5.0
    capacity: int = 24
    renew_units: int = 0
    renew_every: int = 0
    steps: int = 14
    blocks_per_step: int = 1

    @classmethod
    def scenario_named(cls, name: str) -> MarketExperimentConfig:
        if name == "scarcity":
            return cls(renew_units=2, renew_every=5)
        if name == "mining":
            return cls(scenario="mining", family=sg.TULLOCK, values=(10.0, 6.0, 3.0),
                       unit_cost=0.2, price_cap=1.0, capacity=30, steps=12)
        raise ValueError(f"unknown market scenario {name!r}; choose scarcity or mining")


@dataclass
class StepRecord:
    step: int
    price: float
    capacity_before: int
    bought: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    consumer_profit: dict[str, float] = field(default_factory=dict)
    provider_profit: float = 0.0
    remaining_after: int = 0


def _scaled(value: float) -> int:
    return round(value * PRICE_SCALE)


def integer_demand(consumer: sg.Consumer, continuous: Fraction, others: float,
                   price: float) -> int:
    """The consumer's best whole number of units: the floor or the ceiling of its demand."""
    lo = math.floor(continuous)
    options = [lo, lo + 1] if continuous > lo else [lo]
    return max(options, key=lambda x: (sg.consumer_utility(consumer, x, others, price), -x))


def run_market_experiment(config: MarketExperimentConfig,
                          progress: Any = None) -> dict[str, Any]:
    """Run the scenario through the real `market` app on an in-process chain."""
    from learnchain.testing import dev_genesis, make_node

    people = [sg.Consumer(config.family, _scaled(v)) for v in config.values]
    names = list(CONSUMERS[: len(people)])
    tn = make_node(dev_genesis(funded={"cpp": 0, **{n: 10**12 for n in names}},
                               extra_apps=["market"], block_reward=0))

    def call(sender: str, method: str, args: dict[str, Any]) -> Any:
        tx = tn.send(sender, "market", method, args)
        tn.mine(config.blocks_per_step)
        receipt = next(r for b in [tn.chain.head] for r in tn.chain.receipts(b.hash)
                       if r.tx_hash == tx.hash)
        return receipt

    opened = call("cpp", "open", {
        "capacity": config.capacity, "unit_cost": _scaled(config.unit_cost),
        "price_cap": _scaled(config.price_cap), "renew_units": config.renew_units,
        "renew_every": config.renew_every})
    assert opened.success, opened.error
    for name, person in zip(names, people, strict=True):
        receipt = call(name, "join", {"market": 0, "family": person.family,
                                      "value": person.value})
        assert receipt.success, receipt.error

    records: list[StepRecord] = []
    for step in range(config.steps):
        market = tn.chain.query("market", "market",
                                {"market": 0, "height": tn.chain.head.height + 1})
        remaining = market["remaining"]
        found = sg.best_integer_price(people, _scaled(config.unit_cost), capacity=remaining,
                                      price_cap=_scaled(config.price_cap))
        price = _scaled(config.price_cap) if found is None else found[0]
        posted = call("cpp", "post_price", {"market": 0, "price": price})
        assert posted.success, posted.error
        demand = sg.best_responses(people, price)
        total = float(sum(demand))
        record = StepRecord(step, price / PRICE_SCALE, remaining)
        order = names[step % len(names):] + names[: step % len(names)]
        for name in order:
            i = names.index(name)
            units = integer_demand(people[i], demand[i], total - float(demand[i]), price)
            if units == 0:
                record.bought[name] = 0
                continue
            receipt = call(name, "buy", {"market": 0, "units": units})
            if receipt.success:
                record.bought[name] = units
            else:
                record.bought[name] = 0
                record.refused.append(name)
        got = sum(record.bought.values())
        for name, person in zip(names, people, strict=True):
            own = record.bought[name]
            value = person.value / PRICE_SCALE
            unit_price = price / PRICE_SCALE
            record.consumer_profit[name] = sg.consumer_utility(
                sg.Consumer(person.family, value), own, got - own, unit_price) if own else 0.0
        record.provider_profit = got * (price - _scaled(config.unit_cost)) / PRICE_SCALE
        record.remaining_after = tn.chain.query("market", "market", {"market": 0})["remaining"]
        records.append(record)
        if progress is not None:
            progress(step + 1, config.steps)
    supply = tn.chain.query("bank", "supply", {})
    return {"config": asdict(config), "price_scale": PRICE_SCALE,
            "steps": [asdict(r) for r in records], "supply": supply,
            "claims": seed_claims(records, config)}


def seed_claims(records: list[StepRecord], config: MarketExperimentConfig) -> list[dict[str, Any]]:
    """The seed's printed observations next to what this run shows."""
    refusals = [(r.step, name) for r in records for name in r.refused]
    prices = [r.price for r in records]
    claims = [
        {"claim": "resources deplete over time",
         "measured": f"capacity {records[0].capacity_before} → {records[-1].remaining_after}",
         "holds": min(r.remaining_after for r in records) < records[0].capacity_before},
        {"claim": "a consumer could not get resources",
         "measured": (f"{len(refusals)} refusals, first at step {refusals[0][0]} "
                      f"({refusals[0][1]})") if refusals else "no refusals",
         "holds": bool(refusals)},
        {"claim": "the provider's price responds to scarcity",
         "measured": f"price {min(prices):.4f} … {max(prices):.4f}",
         "holds": max(prices) > min(prices)},
    ]
    if config.scenario == "mining":
        claims = [
            {"claim": "optimal price set by CPP: 1.0000",
             "measured": f"price {prices[0]:.4f} at every step: the cap (Tullock spend is "
                         "constant in p)", "holds": all(p == 1.0 for p in prices)},
            {"claim": "consumer 3 profit 0.0000",
             "measured": f"c3 bought {sum(r.bought.get('c3', 0) for r in records)} units",
             "holds": all(r.bought.get("c3", 0) == 0 for r in records)},
            claims[0], claims[1],
        ]
    return claims


def plot_market(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result["steps"]
    xs = [s["step"] for s in steps]
    names = list(steps[0]["bought"]) if steps else []
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    ax = axes[0][0]
    ax.plot(xs, [s["price"] for s in steps], marker="o", label="posted price")
    ax.set(title="Stackelberg price per step", xlabel="time step", ylabel="price (coins / unit)")
    ax.legend()
    ax = axes[0][1]
    ax.plot(xs, [s["capacity_before"] for s in steps], marker="o", label="before sales")
    ax.plot(xs, [s["remaining_after"] for s in steps], marker="x", label="after sales")
    ax.set(title="Provider capacity", xlabel="time step", ylabel="compute units")
    ax.legend()
    ax = axes[1][0]
    bottom = [0] * len(xs)
    for name in names:
        got = [s["bought"][name] for s in steps]
        ax.bar(xs, got, bottom=bottom, label=name)
        bottom = [b + g for b, g in zip(bottom, got, strict=True)]
    refused = [(s["step"], 0.2) for s in steps if s["refused"]]
    if refused:
        ax.scatter(*zip(*refused, strict=True), marker="v", color="red", zorder=3,
                   label="could not get resources")
    ax.set(title="Allocation (first come, all or nothing)", xlabel="time step",
           ylabel="compute units")
    ax.legend()
    ax = axes[1][1]
    for name in names:
        ax.plot(xs, [s["consumer_profit"][name] for s in steps], marker=".", label=name)
    ax.plot(xs, [s["provider_profit"] for s in steps], marker="s", label="provider")
    ax.set(title="Realised profit per step", xlabel="time step", ylabel="profit (coins)")
    ax.legend()
    fig.suptitle(f"Compute market, scenario '{result['config']['scenario']}'")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_and_write(scenarios: list[str], out_dir: Path,
                  progress: Any = None) -> dict[str, dict[str, Any]]:
    """Run each scenario; write `market_<scenario>.json` and `.png` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in scenarios:
        result = run_market_experiment(MarketExperimentConfig.scenario_named(name), progress)
        (out_dir / f"market_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        plot_market(result, out_dir / f"market_{name}.png")
        results[name] = result
    return results
