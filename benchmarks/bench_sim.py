"""Simulation speed: simulated blocks per wall-second for a 100-node PoW network.

Target: the 100-node, 1,000-block scenario (experiments/sim/pow-100.toml) under a minute.
Pass a smaller block count as the first argument for a quick look.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from learnchain.sim.scenario import Scenario, run_scenario

SCENARIO = Path(__file__).parent.parent / "experiments" / "sim" / "pow-100.toml"


def main() -> None:
    scenario = Scenario.from_toml(SCENARIO)
    if len(sys.argv) > 1:
        scenario.blocks = int(sys.argv[1])
    started = time.perf_counter()
    network, metrics = run_scenario(scenario)
    wall = time.perf_counter() - started
    print(f"{scenario.nodes} nodes, {metrics.canonical_height} canonical blocks "
          f"({metrics.blocks_produced} produced, stale rate {metrics.stale_rate}), "
          f"{metrics.simulated_s:.0f} simulated s, {network.delivered:,} messages")
    print(f"wall time {wall:.1f} s -> {metrics.canonical_height / wall:.1f} simulated blocks per "
          f"wall-second; simulated/wall time ratio {metrics.simulated_s / wall:.0f}x")
    print(f"every block verified by every node: {metrics.converged and 'yes (converged)'}")


if __name__ == "__main__":
    main()
