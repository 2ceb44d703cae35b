"""`make demo`: a scripted day on a devnet of real node processes, with a closing summary.

The day starts an N-node devnet (`learnchain.devnet`: one `learnchain node start` process per
node, real HTTP between them) with the collab, wallet, crowd and tasks apps, then runs six
steps, each a module of this package that drives the nodes over their HTTP API:

  (a) collab.py      a collaborative model gets good and bad contributions
  (b) crowd.py       a crowd task is computed by two worker processes and settled
  (c) pole.py        a PoLe task is won by the best model (on a second PoLe devnet unless the
                     day's engine is pole; that devnet runs beside steps a, b, d, e)
  (d) wallet.py      a patient stores FHIR records, grants doctors through 2-of-3 proxies,
                     the doctors read, the patient sees the access log
  (e) wallet.py      a study pays a patient
  (f) governance.py  the governance engine corrects the block time after a miner stops

A step that fails is marked failed and the day goes on; a step that does not apply to the
chosen engine says so (skipped). Every node and worker process the day started is stopped when
it ends, fails or is interrupted (Ctrl-C, SIGTERM): `shutdown` is in a ``finally`` and the
summary says whether every process was gone afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from learnchain.core.crypto import load_keystore
from learnchain.demo.common import (
    Day,
    Profile,
    StepResult,
    devnet_pids,
    stop_processes,
    wait_until,
)
from learnchain.devnet import create_devnet, node_info, start_devnet
from learnchain.net.server import free_port_range
from learnchain.scaffold import DEV_ACCOUNTS, DEV_PASSWORD

APPS = ("collab", "wallet", "crowd", "tasks")
TITLES = {"a": "collaborative model", "b": "crowd task", "c": "PoLe task",
          "d": "patient wallet", "e": "study payment", "f": "governance engine"}
TICKS = {"a": 4, "b": 3, "c": 4, "d": 6, "e": 5, "f": 3}  # progress-bar steps per step


def _steps() -> dict[str, Callable[[Day], StepResult]]:
    from learnchain.demo import collab, crowd, governance, pole, wallet

    return {"a": collab.run, "b": crowd.run, "c": pole.run, "d": wallet.run_access,
            "e": wallet.run_study, "f": governance.run}


def _children() -> list[int]:
    """Our own child processes (Linux /proc): nodes and workers are all started by us."""
    me, found = os.getpid(), []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                status = (entry / "status").read_text()
                ppid = int(status.split("PPid:", 1)[1].split()[0])
                if ppid == me:
                    found.append(int(entry.name))
    return found


def shutdown(day: Day) -> bool:
    """Stop every worker and node process of the day; True when none is left.

    The devnets' pid files name the nodes; a final sweep also stops any other child process
    (a PoLe devnet the side thread was starting at that very moment)."""
    day.stopping = True
    for proc in day.processes:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
    pids = [*devnet_pids(day.root)]
    for root in day.extra_roots:
        pids += devnet_pids(root)
    left = stop_processes(pids)
    for root in (day.root, *day.extra_roots):
        (root / "pids.json").unlink(missing_ok=True)
    left += stop_processes(_children(), grace=5.0)
    return not left and all(p.poll() is not None for p in day.processes)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (KeyboardInterrupt), so the ``finally`` cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _run_step(day: Day, fn: Callable[[Day], StepResult], step: str) -> StepResult:
    t0 = time.monotonic()
    try:
        result = fn(day)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one failed step must not end the day
        result = StepResult(step, TITLES[step], status="failed",
                            what=f"{type(exc).__name__}: {exc}"[:500])
    result.seconds = round(time.monotonic() - t0, 1)
    return result


def start(root: Path, engine: str, profile: Profile,
          say: Callable[[str, str], None]) -> Day:
    """Create the devnet (keys, genesis, configs); `day.pids` is filled by starting it."""
    nodes = create_devnet(root, profile.nodes, base_port=free_port_range(profile.nodes),
                          difficulty=profile.difficulty,
                          block_interval_ms=profile.block_interval_ms, fast_kdf=True,
                          engine=engine, extra_apps=APPS)
    day = Day(root, nodes, {}, engine, profile,
              [load_keystore(n.datadir / "keys" / "node.json", DEV_PASSWORD) for n in nodes],
              {name: load_keystore(root / "keys" / f"{name}.json", DEV_PASSWORD)
               for name in DEV_ACCOUNTS})
    return day


def wait_ready(day: Day, timeout: float = 240.0) -> None:
    n = len(day.nodes)

    def ready() -> bool:
        infos = [node_info(node.url) for node in day.nodes]
        return all(i and i.get("height", 0) >= 2 and len(i.get("peers", [])) >= n - 1
                   for i in infos)

    wait_until(ready, timeout, f"{n} nodes mining and connected", poll=0.5)


def run_day(*, engine: str = "pow", quick: bool = False, nodes: int | None = None,
            workdir: Path | None = None, only: str = "abcdef",
            on_event: Callable[[str, str, str], None] | None = None) -> dict[str, Any]:
    """Run the day; ``on_event(kind, step, text)`` sees progress ("say", "tick", "done",
    "start"). Returns the summary (every step's result)."""
    profile = Profile.quick(nodes or 3) if quick else Profile.full(nodes or 4)
    emit = on_event or (lambda _k, _s, _t: None)
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack, _sigterm_interrupts():
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="learnchain-day-")))
        root = Path(workdir).resolve() / "devnet"
        emit("say", "setup", f"starting a {profile.nodes}-node {engine} devnet in {root}")
        day = start(root, engine, profile, lambda s, t: emit("say", s, t))
        day.say = lambda s, t: emit("say", s, t)
        day.tick = lambda s: emit("tick", s, "")
        results: dict[str, StepResult] = {}
        clean = False
        try:
            day.pids = start_devnet(root)
            wait_ready(day)
            emit("done", "setup", f"{profile.nodes} nodes mining at height "
                                  f"{day.client(0).status()['height']}")
            steps = {k: v for k, v in _steps().items() if k in only}
            background = None
            if "c" in steps and engine != "pole":  # its own devnet: run it beside the others
                fn = steps.pop("c")

                def side() -> None:
                    emit("start", "c", "")
                    results["c"] = _run_step(day, fn, "c")
                    emit("done", "c", results["c"].status)

                background = threading.Thread(target=side, name="demo-pole", daemon=True)
                background.start()
            for step, fn in steps.items():
                if step == "f" and background is not None:
                    background.join()  # the engine measures block times: no PoLe training
                emit("start", step, "")
                results[step] = _run_step(day, fn, step)
                emit("done", step, results[step].status)
            if background is not None:
                background.join()
        finally:
            emit("say", "shutdown", "stopping every node and worker process")
            clean = shutdown(day)
    ordered = [results[k].to_json() for k in "abcdef" if k in results]
    return {"engine": engine, "profile": profile.name, "nodes": profile.nodes,
            "steps": ordered, "ok": all(r["status"] != "failed" for r in ordered)
            and len(ordered) == len(only),
            "clean_shutdown": clean, "seconds": round(time.monotonic() - t0, 1)}
