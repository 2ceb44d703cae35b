"""Step (f): the governance engine corrects the block time after a miner stops.

The engine of `governance/live.py` (the shipped DQN policy, `data/governance_engine.json`)
governs the day's governed-PoW devnet as its genesis controller (node 0's key): every decision
is a signed `consensus.set_params` / `set_miners` transaction. The step

1. starts the engine with a target block time well above the day's (the devnet ran its other
   steps at its minimum block interval, at a difficulty far too low for that target), and waits
   until the mean of the last 8 block times is in the band [0.5, 1.5] × the robust target
   (0.8 × target, docs/governance.md) — the engine raised the difficulty with its txs;
2. kills one node process with SIGKILL (a miner stops without a word);
3. waits for blocks mined without it and for the mean block time to be back in the band,
   counting the controller transactions the engine sent after the kill.

Only governed PoW has a difficulty to steer: with ``--engine rlpow`` or ``pole`` the step is
skipped and says why (the live engine refuses other engines, `LiveError`).

On a 2-core machine the survivors take over the CPU the killed process used, so losing one of
several miners changes the hash rate less than on separate machines; the step reports the
block times before and after the kill and the transactions the engine needed, whatever they
were.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from learnchain.core.crypto import load_keystore, parse_address
from learnchain.demo.common import Day, StepResult, wait_until
from learnchain.scaffold import DEV_PASSWORD

BAND = (0.5, 1.5)  # × robust target


def _smoothed(live: Any) -> float | None:
    from learnchain.governance.features import smoothed_time

    head = int(live.client.status()["height"])
    blocks = live.recent_blocks(head, len(live.config.pool))
    if len(blocks) < live.config.window:
        return None
    return float(smoothed_time(blocks, live.config.window))


def _in_band(live: Any) -> float | None:
    t = _smoothed(live)
    rt = live.config.robust_target
    return t if t is not None and BAND[0] * rt <= t <= BAND[1] * rt else None


def run(day: Day) -> StepResult:
    step = "f"
    result = StepResult(step, "governance: the engine corrects block time after a miner stops")
    if day.engine != "pow":
        result.status = "skipped"
        result.what = (f"not applicable to engine {day.engine}: the governance engine steers "
                       "the difficulty of governed PoW only (run with --engine pow)")
        return result
    from learnchain.cli.governance import DEFAULT_ENGINE
    from learnchain.governance.engine import DQNEngine
    from learnchain.governance.live import LiveConfig, LiveEngine
    from learnchain.governance.validation import Bounds

    key = load_keystore(day.nodes[0].datadir / "keys" / "node.json", DEV_PASSWORD)
    pool = [parse_address(n.address) for n in day.nodes]
    config = LiveConfig(target=day.profile.governance_target_s, pool=pool,
                        partner_of={a: i for i, a in enumerate(pool)},
                        bounds=Bounds(d_min=1, d_max=40, s_min=2, s_max=len(pool)))
    client = day.client(0)
    live = LiveEngine(client, key, DQNEngine.load(DEFAULT_ENGINE), config,
                      day.root / "governance.json")
    start_difficulty = int(client.query("consensus", "params", {})["params"]["difficulty"])
    stop = threading.Event()
    runner = threading.Thread(target=live.run, kwargs={"until": lambda _: stop.is_set()},
                              name="governance-engine", daemon=True)
    runner.start()
    try:
        rt = config.robust_target
        day.say(step, f"engine steering towards {rt:.1f} s blocks from difficulty "
                      f"{start_difficulty}")
        day.tick(step)
        before = wait_until(lambda: _in_band(live), 300, "the block time to reach the band",
                            poll=0.5)
        d_before = int(client.query("consensus", "params", {})["params"]["difficulty"])
        txs_before = live.state.governance_txs
        miners = {m.lower() for m in client.query("consensus", "params", {})["miners"]}
        # the engine may have changed the miner set: stop the last node that still mines
        victim = max((i for i, n in enumerate(day.nodes)
                      if i > 0 and n.address.lower() in miners), default=len(day.nodes) - 1)
        os.kill(day.pids[victim], signal.SIGKILL)
        day.killed.add(victim)
        killed_at = int(client.status()["height"])
        day.say(step, f"in band ({before:.2f} s, difficulty {d_before}); node {victim} killed "
                      f"at height {killed_at}")
        day.tick(step)
        wait_until(lambda: int(client.status()["height"])
                   >= killed_at + day.profile.blocks_after_kill, 300,
                   "the surviving miners to mine", poll=0.5)
        peak = _smoothed(live)
        after = wait_until(lambda: _in_band(live), 300, "the block time back in the band",
                           poll=0.5)
        day.tick(step)
    finally:
        stop.set()
        runner.join(timeout=30)
    d_after = int(client.query("consensus", "params", {})["params"]["difficulty"])
    history = [r for r in live.state.history if "tx" in r]
    after_kill = [r for r in history if r["height"] >= killed_at]
    for r in (history[:1] + after_kill[:2]):
        found = client.transaction(bytes.fromhex(r["tx"][2:]))
        if found["status"] == "included":
            result.txs.append(r["tx"])
            result.heights.append(int(found["height"]))
    result.details = {
        "target_s": config.target, "robust_target_s": rt, "band": [BAND[0] * rt, BAND[1] * rt],
        "difficulty": {"start": start_difficulty, "before_kill": d_before, "end": d_after},
        "block_time_s": {"in_band_before_kill": before, "after_kill": peak, "end": after},
        "killed_node": victim, "killed_at_height": killed_at,
        "governance_txs": {"before_kill": txs_before,
                           "after_kill": live.state.governance_txs - txs_before},
        "decisions": live.state.decisions, "invalid_actions": live.state.invalid_actions}
    more = live.state.governance_txs - txs_before
    band = f"[{BAND[0] * rt:.1f}, {BAND[1] * rt:.1f}] s"
    ending = (f"{more} controller txs after the kill (difficulty {d_before} → {d_after}) and "
              f"the block time is {after:.2f} s, in the band {band}" if more else
              f"the engine needed no transaction: the block time stayed in the band {band} "
              f"({after:.2f} s)")
    result.what = (f"{txs_before} controller txs took difficulty {start_difficulty} → "
                   f"{d_before} and the mean block time to {before:.2f} s (robust target "
                   f"{rt:.1f} s); node {victim} killed at height {killed_at}, block time then "
                   f"{peak or 0:.2f} s; {ending}")
    return result
