"""The wallet scenario from the CLI against a devnet of real node processes.

Three node processes; the patient stores blobs through node 0, the doctors read through nodes
1 and 2 (which fetch the blocks from their permissioned peers), each proxy is backed by a
different node, and the access-log transactions gossip to every node.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from learnchain.devnet import create_devnet, node_info, start_devnet
from learnchain.net.server import free_port_range

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture
def devnet(tmp_path):
    nodes = create_devnet(tmp_path, 3, base_port=free_port_range(3), difficulty=8,
                          block_interval_ms=500, fast_kdf=True)
    start_devnet(tmp_path)
    yield tmp_path, nodes
    for pid in json.loads((tmp_path / "pids.json").read_text()).values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_cli_scenario_on_real_processes(devnet):
    root, nodes = devnet
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(
            len((node_info(n.url) or {}).get("peers", [])) == 2 for n in nodes):
        time.sleep(0.25)
    result = subprocess.run([sys.executable, "-m", "learnchain.cli.main", "wallet", "scenario",
                             "--devnet", str(root), "--json"], capture_output=True, text=True,
                            timeout=600, env={**os.environ})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"], report["checks"]
    assert report["access_log"] >= 6
