"""Every command in README.md's ``sh`` blocks is run by CI and what it prints is checked.

* Each ``.venv/bin/learnchain …`` line runs here as written plus ``--json``; its output must
  parse and pass the content check registered for it in ``CHECKS`` (not just exit 0). The
  README shows long experiments at the size CI runs (its comments give the full size and
  time); ``python tests/integration/test_readme_commands.py --full`` runs those full sizes
  (``FULL``), e.g. before publishing numbers.
* ``make test`` is what CI runs (``.ci/run``); ``make demo`` and ``learnchain demo`` are run
  by the demo's own test (``ELSEWHERE``).
* ``test_every_readme_command_is_run_and_checked`` (no network, instant) fails when a README
  command has no check, a check or full form names no README command, or an ``ELSEWHERE``
  test is missing: adding a command to the README means adding its check here.

Deviations from the literal text, so runs never collide with other nodes on the machine or
take minutes of key derivation: ``init`` and ``devnet up`` get free ports and the test-only
fast KDF, ``devnet up`` gets ``--detach``, ``node start`` runs in the background until the end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PREFIX = ".venv/bin/learnchain "
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

# README commands another test or CI step runs: pattern -> (file, text it must contain). An
# entry whose file does not exist (yet) does not count: the command must then have a check.
ELSEWHERE: dict[str, tuple[str, str]] = {
    r"^make test$": (".ci/run", "make test"),
    r"^make demo$": ("tests/integration/test_demo_day.py", "demo"),
    r"^\.venv/bin/learnchain demo\b": ("tests/integration/test_demo_day.py", "demo"),
}
# `make` targets run here as the learnchain command their Makefile recipe runs.
MAKE_RUNS = {"make demo": "demo"}

# Groups whose README commands need no running node: run in their own test (another worker).
STANDALONE = re.compile(r"^(sim|calculus|rlpow|collab|crowd|market|pole|governance experiment)\b")


def readme_commands(text: str) -> list[str]:
    """Every command line of the README's ``sh`` blocks, without its trailing comment."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = re.split(r"\s+#", line)[0].strip()
            if command and not line.startswith("#"):
                out.append(command)
    return out


def readme_python(text: str) -> str:
    return re.findall(r"```python\n(.*?)```", text, re.S)[0]


# ----- content checks: one per README command (regex on the command after PREFIX) --------

Check = Callable[[Any, Path], None]


def _files_exist(paths: Any, workdir: Path) -> None:
    values = paths.values() if isinstance(paths, dict) else paths
    files = [Path(p) for p in values if isinstance(p, str)]
    assert files, f"no files reported: {paths!r}"
    for f in files:
        assert (f if f.is_absolute() else workdir / f).exists(), f"{f} was not written"


def _init(v: Any, _: Path) -> None:
    assert ADDRESS.match(v["node"]) and set(v["accounts"]) == {"alice", "bob"}, v
    assert re.match(r"^0x[0-9a-f]{64}$", v["genesis"]), v


def _keys_list(v: Any, _: Path) -> None:
    names = {k["name"] for k in v}
    assert {"node", "alice", "bob"} <= names, names
    assert all(ADDRESS.match(k["address"]) for k in v), v


def _tx_send(v: Any, _: Path) -> None:
    assert v["status"] == "included" and v["receipt"]["success"] is True, v


def _balance(v: Any, _: Path) -> None:
    assert v["balance"] == 1_000_005, v  # genesis funds plus the 5 sent above


def _tx_status(v: Any, _: Path) -> None:
    assert v["status"] == "included" and v["receipt"]["success"] is True, v


def _chain_show(v: Any, _: Path) -> None:
    assert isinstance(v, list) and v and all("height" in b for b in v), v
    assert max(b["height"] for b in v) >= 1


def _chain_block(v: Any, _: Path) -> None:
    assert v["height"] == 3 and re.match(r"^0x[0-9a-f]{64}$", v["hash"]), v


def _chain_verify(v: Any, _: Path) -> None:
    assert v["ok"] is True and v["height"] >= 3, v


def _devnet_up(nodes: int) -> Check:
    def check(v: Any, _: Path) -> None:
        assert len(v["pids"]) == nodes, v
    return check


def _devnet_status(v: Any, _: Path) -> None:
    assert len(v) == 4 and all(n["info"] and n["info"]["height"] >= 1 for n in v), v
    assert all(n["disk_bytes"] > 0 for n in v), v


def _wallet_scenario(v: Any, _: Path) -> None:
    assert v["ok"] is True and v["checks"] and all(v["checks"].values()), v
    assert v["access_log"] >= 1 and v["records"] >= 1, v


def _governance_engine(v: Any, _: Path) -> None:
    assert v["policy"] == "engine" and v["decisions"] == 5, v


def _devnet_down(purge: bool) -> Check:
    def check(v: Any, _: Path) -> None:
        assert v["stopped"] == 4 and v["purged"] is purge, v
        assert v["freed_bytes"] > 0 if purge else v["freed_bytes"] is None, v
    return check


def _sim_run(v: Any, w: Path) -> None:
    assert v["nodes"] == 20 and v["canonical_height"] >= 60, v
    assert v["stale_blocks"] >= 1 and v["reorgs"] >= 1, "the partitioned halves compete"
    _files_exist(v["files"], w)


def _calculus_optimize(v: Any, _: Path) -> None:
    assert v["rows"] and all({"s", "r", "d", "cost"} <= set(r) for r in v["rows"]), v


def _calculus_reproduce(v: Any, _: Path) -> None:
    assert v["claims"] and all("published" in c and "best" in c for c in v["claims"]), v


def _rlpow_chain_show(v: Any, _: Path) -> None:
    rows = [b for b in v if b.get("height", 0) >= 1]
    assert rows, v
    assert {"S", "A", "R", "return"} <= set(rows[-1]["rl"]), rows[-1]


def _chain_policy(v: Any, _: Path) -> None:
    assert v["height"] >= 1 and v["episodes"] >= 1, v
    assert v["mean_return"] >= 1 and isinstance(v["solved"], bool), v  # CartPole: ≥ 1 a step


def _rlpow_learning(v: Any, w: Path) -> None:
    assert v["table"] and {r["mode"] for r in v["table"]} == {"shared", "own"}, v
    assert all(r["runs"] >= 1 and r["median_height"] > 0 for r in v["table"]), v


def _collab_good_bad(v: Any, w: Path) -> None:
    stats = v["stats"]
    assert stats["seeds"] == 1, stats  # the paper's claim: good contributors gain, bad lose
    assert stats["good_net_coins"][0] > 0 > stats["bad_net_coins"][0], stats


def _crowd_analyze(v: Any, _: Path) -> None:
    assert v["honesty_survives_below_cost"] == v["closed_form"] == 433, v


def _crowd_experiment(v: Any, w: Path) -> None:
    assert v["settled"] + v["cancelled"] == 30 and v["correct"] >= 1, v
    assert v["payoff_per_worker"]["honest"] > v["payoff_per_worker"]["lazy"], v
    _files_exist(v["files"], w)


def _market_solve(v: Any, _: Path) -> None:
    assert v["price"] > 0.5 and v["capacity_binds"] is True and v["demand"] == 3.0, v


def _market_experiment(v: Any, w: Path) -> None:
    claims = v["claims"]["mining"]
    assert claims and all(c["holds"] for c in claims), claims


def _governance_experiment(v: Any, w: Path) -> None:
    assert v["summary"], v
    _files_exist(v["files"], w)


def _pole_sml(v: Any, _: Path) -> None:
    assert v["rows"] and all(r["honest_ppm"] > r["copy_ppm"] for r in v["rows"]), v


def _pole_devnet(v: Any, _: Path) -> None:
    assert v["problems"] == [], v["problems"]
    assert v["results"]["pole"]["pole_blocks"] >= 1, v["results"]["pole"]


CHECKS: dict[str, Check] = {
    r"^init\b": _init,
    r"^node start\b": lambda v, _: None,  # no output: the test waits for height 3 on its API
    r"^keys list\b": _keys_list,
    r"^tx send\b": _tx_send,
    r"^balance bob\b": _balance,
    r"^tx status\b": _tx_status,
    r"^chain show --datadir data\b": _chain_show,
    r"^chain block 3\b": _chain_block,
    r"^chain verify\b": _chain_verify,
    r"^devnet up --nodes 4\s*$": _devnet_up(4),
    r"^devnet status\b": _devnet_status,
    r"^wallet scenario\b": _wallet_scenario,
    r"^governance engine\b": _governance_engine,
    r"^devnet down\s*$": _devnet_down(False),
    r"^sim run experiments/sim/partition\.toml\b": _sim_run,
    r"^calculus optimize\b": _calculus_optimize,
    r"^calculus reproduce\b": _calculus_reproduce,
    r"^devnet up --nodes 4 --engine rlpow\b": _devnet_up(4),
    r"^chain show --datadir devnet/node1\b": _rlpow_chain_show,
    r"^chain policy\b": _chain_policy,
    r"^devnet down --purge\b": _devnet_down(True),
    r"^rlpow experiment learning\b": _rlpow_learning,
    r"^collab experiment good-bad\b": _collab_good_bad,
    r"^crowd analyze\b": _crowd_analyze,
    r"^crowd experiment\b": _crowd_experiment,
    r"^market solve\b": _market_solve,
    r"^market experiment\b": _market_experiment,
    r"^governance experiment\b": _governance_experiment,
    r"^pole experiment sml\b": _pole_sml,
    r"^pole experiment devnet\b": _pole_devnet,
}

# The full size of each README command CI runs smaller (run with --full; not in CI).
FULL: dict[str, str] = {
    "sim run experiments/sim/partition.toml --blocks 60 --out experiments/out/partition":
        "sim run experiments/sim/partition.toml --out experiments/out/partition",
    "rlpow experiment learning --small": "rlpow experiment learning",
    "collab experiment good-bad --seeds 1 --days 2": "collab experiment good-bad",
    "governance experiment --quick": "governance experiment",
    "pole experiment sml --widths 4,16 --models logreg": "pole experiment sml",
    "pole experiment devnet --tasks 1 --no-compare-pow": "pole experiment devnet --tasks 3",
}


def _demo(v: Any, _: Path) -> None:
    assert v["verified"] is True and v["height"] >= 6, v


CHECKS[r"^demo$"] = _demo  # `make demo` (Makefile: `learnchain demo`)


def as_learnchain(line: str) -> str | None:
    """The learnchain command a README line runs (None: not a learnchain command)."""
    if line.startswith(PREFIX):
        return line[len(PREFIX):]
    return MAKE_RUNS.get(line)


def check_for(command: str) -> Check:
    matches = [c for p, c in CHECKS.items() if re.search(p, command)]
    assert len(matches) == 1, f"{command!r}: {len(matches)} checks match (want exactly 1)"
    return matches[0]


def elsewhere(line: str) -> tuple[str, str] | None:
    for pattern, (path, needle) in ELSEWHERE.items():
        if (re.search(pattern, line) and (ROOT / path).exists()
                and needle in (ROOT / path).read_text()):
            return path, needle
    return None


# ----- running ------------------------------------------------------------------------------

def _free_ports(count: int) -> int:
    from learnchain.net.server import free_port_range

    return free_port_range(count)


def _wait_for(url: str, what: str, ready: Any, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready(httpx.get(url, timeout=2).json()):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} not ready within {timeout} s")


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "200"}
    env.pop("LEARNCHAIN_PASSWORD", None)
    return env


def run_readme(workdir: Path, select: Callable[[str], bool],
               full: bool = False) -> list[tuple[str, Any]]:
    """Run the README's `learnchain` commands that `select` picks, in order, in `workdir`;
    each output is parsed and checked. Returns (command, parsed --json output)."""
    text = README.read_text()
    if not (workdir / "experiments").exists():
        shutil.copytree(ROOT / "experiments", workdir / "experiments",
                        ignore=shutil.ignore_patterns("out"))
    env = _env()
    api_port, devnet_base = _free_ports(1), _free_ports(4)
    learnchain = [sys.executable, "-m", "learnchain.cli.main"]
    results: list[tuple[str, Any]] = []
    tx_hash: str | None = None
    node: subprocess.Popen[bytes] | None = None
    try:
        for line in readme_commands(text):
            command = as_learnchain(line)
            if command is None or elsewhere(line) or not select(line):
                continue
            check = check_for(command)
            command = FULL.get(command, command) if full else command
            args = [tx_hash if a == "<hash>" else a for a in shlex.split(command)]
            if args[:2] == ["node", "start"]:
                node = subprocess.Popen([*learnchain, *args], cwd=workdir, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _wait_for(f"http://127.0.0.1:{api_port}/v1/status", "node",
                          lambda s: s["height"] >= 3)
                results.append((line, None))
                continue
            if args[0] == "init":
                args += ["--port", str(api_port), "--fast-kdf"]
            if args[:2] == ["devnet", "up"]:
                args += ["--base-port", str(devnet_base), "--fast-kdf"]
                args += [] if "--detach" in args else ["--detach"]
            # chain policy needs a block with stored parameters (a young devnet has none);
            # with --full it waits until the policy is solved, as the README says it will be.
            deadline = time.monotonic() + (900 if "chain policy" in line else 0)
            while True:
                done = subprocess.run([*learnchain, *args, "--json"], cwd=workdir, env=env,
                                      capture_output=True, text=True, timeout=3600)
                if time.monotonic() > deadline or (done.returncode == 0 and not (
                        full and "chain policy" in line and not json.loads(done.stdout)["solved"])):
                    break
                time.sleep(2)
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
            value = json.loads(done.stdout)
            check(value, workdir)
            if args[:2] == ["tx", "send"]:
                tx_hash = value["hash"]
            if args[:2] == ["devnet", "up"]:  # every node, not just the first: status checks all
                for i in range(len(value["pids"])):
                    _wait_for(f"http://127.0.0.1:{devnet_base + i}/p2p/v1/info",
                              f"devnet node {i}", lambda info: info["height"] >= 1)
            results.append((line, value))
        if node is not None:
            code = readme_python(text).replace("8645", str(api_port))
            done = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            success, _, balance = done.stdout.split()
            assert success == "True" and int(balance) == 1_000_010, done.stdout  # 2nd 5 sent
            results.append(("README python example", done.stdout.split()))
    finally:
        if node is not None:
            node.kill()
            node.wait(timeout=30)
        if (workdir / "devnet").exists():
            subprocess.run([*learnchain, "devnet", "down", "--purge"], cwd=workdir, env=env,
                           capture_output=True, timeout=120)
    return results


def _is_standalone(line: str) -> bool:
    return bool(STANDALONE.match(as_learnchain(line) or ""))


def _is_pole_devnet(line: str) -> bool:
    return bool(re.match(r"^pole experiment devnet\b", as_learnchain(line) or ""))


def _is_devnet_part(line: str) -> bool:
    """A README line at or after the first `devnet up` (the devnet walkthrough)."""
    commands = readme_commands(README.read_text())
    first = next(i for i, c in enumerate(commands) if (as_learnchain(c) or "").startswith(
        "devnet up"))
    return line in commands[first:]


def test_every_readme_command_is_run_and_checked():
    commands = readme_commands(README.read_text())
    assert len(commands) >= 20
    makefile = (ROOT / "Makefile").read_text()
    for line in commands:
        if elsewhere(line) is not None:
            continue
        command = as_learnchain(line)
        assert command is not None, f"README command {line!r}: no test or CI step runs it"
        if line in MAKE_RUNS:
            target = line.split()[1]
            recipe = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
            assert f"learnchain {command}" in recipe, f"{line!r} no longer runs {command!r}"
        check_for(command)
    shown = [c for c in map(as_learnchain, commands) if c is not None]
    for pattern in CHECKS:
        assert any(re.search(pattern, c) for c in shown) or pattern == r"^demo$", (
            f"check {pattern!r}: no such command")
    for short in FULL:
        assert short in shown, f"FULL names {short!r}, which the README does not show"


# Four tests, so four workers run the README's minutes of subprocesses side by side.
@pytest.mark.network
@pytest.mark.timeout(1800)  # a few minutes of subprocesses; generous for a loaded machine
def test_readme_node_commands(tmp_path: Path):
    results = dict(run_readme(tmp_path, lambda line: not _is_standalone(line)
                              and not _is_devnet_part(line)))
    assert results["README python example"][0] == "True"
    assert len(results) >= 10


@pytest.mark.network
@pytest.mark.timeout(1800)
def test_readme_devnet_commands(tmp_path: Path):
    results = run_readme(tmp_path, lambda line: not _is_standalone(line)
                         and _is_devnet_part(line))
    assert len(results) >= 9


@pytest.mark.network
@pytest.mark.timeout(1800)
def test_readme_experiment_commands(tmp_path: Path):
    results = run_readme(tmp_path, lambda line: _is_standalone(line)
                         and not _is_pole_devnet(line))
    assert len(results) >= 10


@pytest.mark.network
@pytest.mark.timeout(1800)
def test_readme_pole_devnet_command(tmp_path: Path):
    assert len(run_readme(tmp_path, _is_pole_devnet)) == 1


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="readme-") as tmp:
        for command, output in run_readme(Path(tmp), lambda line: True,
                                          full="--full" in sys.argv):
            print(f"ok  {command}  ({len(json.dumps(output))} bytes of JSON)")
