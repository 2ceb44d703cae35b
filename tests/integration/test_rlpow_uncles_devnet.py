"""rlpow design=uncles across real node processes: every node's work reaches the chain.

Three node processes (``create_devnet(design="uncles")``) keep a candidate on the head and
publish it when a peer wins the height (``consensus/rlpow_siblings.py``); the next block
includes it as an uncle after checking it like a block. The test waits for agreement, then
reads the agreed chain over HTTP: blocks carry uncles of other proposers, and every node
serves the same headers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from learnchain import polling
from learnchain.core.errors import ConfigError
from learnchain.devnet import create_devnet, node_info, start_devnet
from learnchain.net.server import free_port_range

pytestmark = pytest.mark.network


def wait_until(predicate, timeout=180.0, what="condition"):
    return polling.wait_until(predicate, timeout, what, poll=0.25, errors=())


def agreed_height(nodes, at_least):
    """The lowest head height once every node is at or past `at_least`, else None."""
    infos = [node_info(n.url) for n in nodes]
    if any(i is None for i in infos) or min(i["height"] for i in infos) < at_least:
        return None
    return min(i["height"] for i in infos)


def headers(url, end):
    return httpx.get(f"{url}/v1/headers", params={"start": 1, "count": end},
                     timeout=30).json()


def test_three_uncles_nodes_agree_on_a_chain_whose_blocks_include_uncles(tmp_path):
    nodes = create_devnet(tmp_path, 3, base_port=free_port_range(3), engine="rlpow",
                          design="uncles", block_interval_ms=300, fast_kdf=True,
                          consensus_params={"K": 4, "learning_starts": 4})
    genesis = json.loads((tmp_path / "genesis.json").read_text())
    assert genesis["engine_config"]["design"] == "uncles"
    pids = start_devnet(tmp_path)
    try:
        def agreed_with_uncles():
            height = agreed_height(nodes, 10)
            if height is None:
                return None
            chains = [[h["hash"] for h in headers(n.url, height)] for n in nodes]
            if any(c != chains[0] for c in chains):
                return None  # a fork is being resolved: wait for the next look
            rows = headers(nodes[0].url, height)
            with_uncles = [h for h in rows if h["engine_fields"].get("uncles")]
            # natural forks alone give about one block in ten an uncle (two timers firing
            # within a propagation delay); published siblings give most blocks one
            return rows if len(with_uncles) >= 3 and 4 * len(with_uncles) >= len(rows) else None

        rows = wait_until(agreed_with_uncles, what="agreement on a chain with uncles")
    finally:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    logs = [(n.datadir / "node.log").read_text() for n in nodes]
    assert sum("published sibling" in log for log in logs) >= 2  # losers publish their work
    assert all(len(h["engine_fields"]["uncles"]) <= 2 for h in rows)  # N - 1 siblings at most
    proposers = {h["proposer"].lower() for h in rows}
    assert len(proposers) >= 2, "the three nodes share the heights"


def test_design_is_an_rlpow_option(tmp_path):
    with pytest.raises(ConfigError, match="rlpow option"):
        create_devnet(tmp_path, 1, engine="pow", design="uncles", fast_kdf=True)
    with pytest.raises(ConfigError, match="lineage, uncles"):
        create_devnet(tmp_path, 1, engine="rlpow", design="gossip", fast_kdf=True)
    assert not (tmp_path / "genesis.json").exists()  # refused before anything is written
    done = subprocess.run([sys.executable, "-m", "learnchain.cli.main", "devnet", "up",
                           "--dir", str(tmp_path / "dn"), "--engine", "pow", "--design",
                           "uncles", "--detach", "--fast-kdf"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "rlpow option" in done.stderr
    assert not (tmp_path / "dn" / "pids.json").exists()
