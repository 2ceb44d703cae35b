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
from learnchain.core.errors import ConfigError
from learnchain.demo.common import (
    Day,
    Profile,
    StepResult,
    devnet_pids,
    stop_processes,
    wait_connected,
)
from learnchain.devnet import create_devnet, start_devnet
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


def lanes(engine: str, quick: bool) -> list[str]:
    """Steps (a)–(e) in lanes that run side by side, each lane in order; (f) comes after all.

    Lanes never share a key (a and b use the dev accounts, d node 0's key, e node 1's), so
    their transactions cannot race for nonces. The PoLe step has its own devnet unless the
    engine is pole, where it uses every node key and runs alone, in order."""
    if engine == "pole":
        return ["abcde"]
    return ["ab", "de", "c"] if quick else ["abde", "c"]


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
        if (root / "devnet.json").exists():
            raise ConfigError(f"{workdir} holds an earlier day (its devnet, chains and keys); "
                              "choose another --workdir or delete that one")
        emit("say", "setup", f"starting a {profile.nodes}-node {engine} devnet in {root}")
        day = start(root, engine, profile, lambda s, t: emit("say", s, t))
        day.say = lambda s, t: emit("say", s, t)
        day.tick = lambda s: emit("tick", s, "")
        results: dict[str, StepResult] = {}
        clean = False
        try:
            day.pids = start_devnet(root)
            wait_connected(day.nodes, 600.0)
            emit("done", "setup", f"{profile.nodes} nodes mining at height "
                                  f"{day.client(0).status()['height']}")
            steps = {k: v for k, v in _steps().items() if k in only}

            def lane(names: str) -> None:
                for step in names:
                    if step in steps:
                        emit("start", step, "")
                        results[step] = _run_step(day, steps[step], step)
                        emit("done", step, results[step].status)

            side = [threading.Thread(target=lane, args=(names,), name=f"demo-{names}",
                                     daemon=True) for names in lanes(engine, quick)[1:]]
            for thread in side:
                thread.start()
            lane(lanes(engine, quick)[0])
            for thread in side:
                thread.join()  # the engine measures block times: no training beside it
            lane("f")
        finally:
            emit("say", "shutdown", "stopping every node and worker process")
            clean = shutdown(day)
    ordered = [results[k].to_json() for k in "abcdef" if k in results]
    return {"engine": engine, "profile": profile.name, "nodes": profile.nodes,
            "steps": ordered, "ok": all(r["status"] != "failed" for r in ordered)
            and len(ordered) == len(only),
            "clean_shutdown": clean, "seconds": round(time.monotonic() - t0, 1)}
