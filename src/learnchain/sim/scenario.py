"""Scenarios: a TOML file in, a reproducible simulated run out (metrics JSON and plots).

```toml
seed = 7
nodes = 100
blocks = 1000            # stop when the best chain reaches this height (or after `duration_s`)
degree = 4               # each node dials this many random peers
difficulty_bits = 20     # simulated PoW: mean solve time 2^d / total hash rate
total_hash_rate = 1e5    # hashes per second across all miners, split evenly
fork_choice = "most-work"
[link]
median_ms = 80
sigma = 0.6
bandwidth_bps = 50e6
loss = 0.0
[load]
tx_per_s = 2             # transfers submitted to random nodes
[[events]]               # scripted faults
at_s = 600
action = "partition"     # or "heal"
groups = [[0, 49], [50, 99]]   # inclusive index ranges of nodes
```
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learnchain.apps.consensus import fee_per_byte
from learnchain.core.crypto import PrivateKey
from learnchain.core.errors import ConfigError
from learnchain.core.types import Transaction
from learnchain.sim.metrics import RunMetrics, collect
from learnchain.sim.network import LinkModel, SimNetwork, sim_genesis

PROGRESS_EVENTS = 5000  # simulator events between progress reports


@dataclass
class Scenario:
    seed: int = 0
    nodes: int = 10
    blocks: int = 100
    duration_s: float | None = None
    degree: int = 4
    difficulty_bits: int = 20
    total_hash_rate: float = 1e5
    fork_choice: str = "most-work"
    link: LinkModel = field(default_factory=LinkModel)
    tx_per_s: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_toml(cls, path: Path) -> Scenario:
        try:
            plain = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read scenario {path}: {exc}") from None
        return cls.from_plain(plain, str(path))

    @classmethod
    def from_plain(cls, plain: dict[str, Any], source: str = "scenario") -> Scenario:
        plain = dict(plain)
        link = plain.pop("link", {})
        load = plain.pop("load", {})
        known = set(cls.__dataclass_fields__) - {"link", "tx_per_s"}
        unknown = set(plain) - known
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            scenario = cls(**plain, link=LinkModel(**link),
                           tx_per_s=float(load.get("tx_per_s", 0.0)))
        except TypeError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if scenario.nodes < 1 or scenario.degree < 1 or scenario.total_hash_rate <= 0:
            raise ConfigError(f"{source}: nodes, degree and total_hash_rate must be positive")
        return scenario


def _names(groups: list[list[int]]) -> list[list[str]]:
    return [[f"n{i}" for i in range(lo, hi + 1)] for lo, hi in groups]


def run_scenario(scenario: Scenario, progress: Callable[[int, int], None] | None = None
                 ) -> tuple[SimNetwork, RunMetrics]:
    """Run a scenario; ``progress(height, target)`` is called every few thousand events
    (pausing between events changes nothing: the same events run in the same order)."""
    keys = [PrivateKey.from_seed(f"sim-{scenario.seed}-{i}".encode())
            for i in range(scenario.nodes)]
    users = [PrivateKey.from_seed(f"user-{i}".encode()) for i in range(8)]
    genesis = sim_genesis(keys, funded={u.address: 10**12 for u in users},
                          fork_choice=scenario.fork_choice)
    rate = scenario.total_hash_rate / scenario.nodes
    net = SimNetwork(genesis, keys, seed=scenario.seed, link=scenario.link,
                     difficulty_bits=scenario.difficulty_bits,
                     hash_rates=[rate] * scenario.nodes)
    net.connect_random(scenario.degree)
    net.run(5)
    for event in scenario.events:
        action = event.get("action")
        if action == "partition":
            groups = _names(event["groups"])
            net.at(float(event["at_s"]), lambda g=groups: net.partition(*g))
        elif action == "heal":
            net.at(float(event["at_s"]), net.heal)
        else:
            raise ConfigError(f"scenario event action {action!r} is not partition or heal")
    submitted: dict[bytes, float] = {}
    if scenario.tx_per_s > 0:
        nonces = [0] * len(users)

        def submit() -> None:
            i = int(net.rng.integers(len(users)))
            target = net.nodes[f"n{int(net.rng.integers(scenario.nodes))}"]
            tx = Transaction(genesis.chain_id, users[i].address, nonces[i], "bank", "transfer",
                             {"to": users[(i + 1) % len(users)].address, "amount": 1}
                             ).with_minimum_fee(fee_per_byte(target.chain.consensus_params())
                                                ).signed(users[i])
            try:
                target.node.submit(tx)
                nonces[i] += 1
                submitted[tx.hash] = net.scheduler.now_ms
            except Exception:  # a stale nonce view on that node; the next draw retries
                pass
            net.scheduler.after(net.rng.exponential(1000 / scenario.tx_per_s), submit)

        net.scheduler.after(0, submit)
    net.start_mining()
    until = (None if scenario.duration_s is None
             else net.scheduler.now_ms + scenario.duration_s * 1000)
    while True:
        before = net.scheduler.events_run
        net.scheduler.run(until, lambda: net.max_height >= scenario.blocks,
                          max_events=before + PROGRESS_EVENTS)
        if progress is not None:
            progress(min(net.max_height, scenario.blocks), scenario.blocks)
        if net.scheduler.events_run - before < PROGRESS_EVENTS:
            break
    net.heal()
    net.settle(60)
    return net, collect(net, submitted)


def write_report(metrics: RunMetrics, network: SimNetwork, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics.to_json(), indent=2) + "\n")
    delays = sorted(t - trace.created_ms for trace in network.blocks.values()
                    for name, t in trace.seen_ms.items() if name != trace.producer)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if delays:
        ys = [i / len(delays) for i in range(1, len(delays) + 1)]
        axes[0].plot(delays, ys)
    axes[0].set_xlabel("block propagation delay to a node (ms)")
    axes[0].set_ylabel("CDF")
    axes[0].set_title("propagation")
    heights = [n["height"] for n in metrics.per_node]
    produced = [n["blocks_produced"] for n in metrics.per_node]
    axes[1].bar(range(len(produced)), produced)
    axes[1].set_xlabel("node")
    axes[1].set_ylabel("blocks produced")
    axes[1].set_title(f"stale rate {metrics.stale_rate:.3f}, height {max(heights)}")
    fig.tight_layout()
    path = out / "propagation.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [out / "metrics.json", path]
