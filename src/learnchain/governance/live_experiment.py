"""The longer live run: a policy governs a fresh devnet of real node processes, a node dies.

``run_live(out, policy, duration, kill_at)`` creates a three-node governed-PoW devnet whose
genesis difficulty is far too low for the target, lets ``policy`` govern it as the genesis
controller, kills node 2 with SIGKILL at ``kill_at`` seconds, and after ``duration`` seconds
reads the whole chain back: per-block mining time, difficulty and the governance transactions.
It writes ``live_<policy>.json`` and a plot.  The short version of this run is the test
``tests/integration/test_governance_devnet.py``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from learnchain.core.crypto import load_keystore, parse_address
from learnchain.devnet import create_devnet, node_info, start_devnet
from learnchain.governance.baselines import make_baseline
from learnchain.governance.live import LiveConfig, LiveEngine
from learnchain.governance.validation import Bounds
from learnchain.net.client import NodeClient
from learnchain.net.server import free_port_range
from learnchain.scaffold import DEV_PASSWORD


def _policy(name: str, engine_file: Path, robust_target: float) -> Any:
    if name == "engine":
        from learnchain.governance.engine import DQNEngine

        return DQNEngine.load(engine_file)
    return make_baseline(name, robust_target)


def run_live(out: Path, policy: str, engine_file: Path, *, duration: float = 480.0,
             kill_at: float = 240.0, target: float = 2.5, start_difficulty: int = 12
             ) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    root = out / f"devnet-{policy}"
    nodes = create_devnet(root, 3, base_port=free_port_range(3), difficulty=start_difficulty,
                          block_interval_ms=100, fast_kdf=True)
    pids = start_devnet(root)
    try:
        deadline = time.monotonic() + 180
        while not all((node_info(n.url) or {}).get("height", 0) >= 3 for n in nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("devnet did not start mining within 180 s")
            time.sleep(0.5)
        key = load_keystore(nodes[0].datadir / "keys" / "node.json", DEV_PASSWORD)
        pool = [parse_address(n.address) for n in nodes]
        config = LiveConfig(target=target, pool=pool,
                            partner_of={a: i for i, a in enumerate(pool)},
                            bounds=Bounds(d_min=1, d_max=40, s_min=2, s_max=3))
        client = NodeClient(nodes[0].url)
        live = LiveEngine(client, key, _policy(policy, engine_file, config.robust_target),
                          config, root / "governance.json")
        stop = threading.Event()
        runner = threading.Thread(target=live.run, kwargs={"until": lambda _: stop.is_set()},
                                  daemon=True)
        t0 = time.monotonic()
        start_height = int(client.status()["height"])
        runner.start()
        time.sleep(kill_at)
        os.kill(pids[2], signal.SIGKILL)
        kill_height = int(client.status()["height"])
        time.sleep(max(duration - kill_at, 0.0))
        stop.set()
        runner.join(timeout=60)
        head = int(client.status()["height"])
        headers: list[dict[str, Any]] = []
        for start in range(start_height, head + 1, 500):
            headers += client.headers(start, min(500, head + 1 - start))
        wall = time.monotonic() - t0
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    times = [(b["timestamp_ms"] - a["timestamp_ms"]) / 1000
             for a, b in itertools.pairwise(headers)]
    heights = [h["height"] for h in headers[1:]]
    diffs = [h["engine_fields"]["difficulty"] for h in headers[1:]]
    rt = config.robust_target
    k = config.window
    smooth = [float(np.mean(times[max(0, i - k + 1):i + 1])) for i in range(len(times))]
    ki = next((i for i, h in enumerate(heights) if h > kill_height), len(heights))

    def seg(lo: int, hi: int) -> dict[str, float]:
        t = np.asarray(times[lo:hi])
        s = np.asarray(smooth[lo:hi])
        if t.size == 0:
            return {}
        return {"blocks": int(t.size), "mean_time": float(t.mean()),
                "abs_err": float(np.mean(np.abs(t - rt))),
                "window_err": float(np.mean(np.abs(s - rt))),
                "p99": float(np.percentile(t, 99))}

    half = len(times) // 4  # the first quarter is the climb from the bad genesis difficulty
    result = {
        "policy": policy, "target": target, "robust_target": rt, "wall_s": wall,
        "start_difficulty": start_difficulty, "kill_at_s": kill_at, "kill_height": kill_height,
        "blocks": len(times), "governance_txs": live.state.governance_txs,
        "invalid_actions": live.state.invalid_actions, "decisions": live.state.decisions,
        "before_kill_settled": seg(half, ki), "after_kill": seg(ki, len(times)),
        "trace": {"height": heights, "time": times, "smoothed": smooth, "difficulty": diffs},
    }
    (out / f"live_{policy}.json").write_text(json.dumps(result, indent=1))
    _plot(result, out / f"live_{policy}.png")
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = result["trace"]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(tr["height"], tr["smoothed"], lw=1, label="mean of last 8 block times")
    ax.axhline(result["robust_target"], color="k", ls="--", lw=0.8, label="robust target")
    ax.axhline(result["target"], color="r", ls=":", lw=0.8, label="target")
    ax.axvline(result["kill_height"], color="grey", lw=1, label="node 2 killed")
    ax.set_xlabel("block height")
    ax.set_ylabel("block time (s)")
    ax2 = ax.twinx()
    ax2.step(tr["height"], tr["difficulty"], color="tab:orange", lw=0.8, where="post",
             label="difficulty")
    ax2.set_ylabel("difficulty (leading zero bits)")
    ax.set_title(f"live devnet governed by '{result['policy']}' "
                 f"({result['governance_txs']} governance txs)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
