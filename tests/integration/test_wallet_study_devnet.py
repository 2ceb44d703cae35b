"""The study flow (publish, match, opt in, deliver, pay) from the CLI against a devnet of real
node processes: two nodes, the patients and proxies spread over both, exact balances."""

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

# 41 s on a quiet machine, 88 s under load: slow; the same flow runs non-slow in process over
# HTTP (tests/integration/test_wallet_routes.py::test_study_flow_over_http_with_exact_balances)
pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture
def devnet(tmp_path):
    nodes = create_devnet(tmp_path, 2, base_port=free_port_range(2), difficulty=4,
                          block_interval_ms=300, fast_kdf=True)
    start_devnet(tmp_path)
    yield tmp_path, nodes
    for pid in json.loads((tmp_path / "pids.json").read_text()).values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_cli_study_scenario_on_real_processes(devnet):
    root, nodes = devnet
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(
            len((node_info(n.url) or {}).get("peers", [])) == 1 for n in nodes):
        time.sleep(0.25)
    result = subprocess.run([sys.executable, "-m", "learnchain.cli.main", "wallet",
                             "study-scenario", "--devnet", str(root), "--json"],
                            capture_output=True, text=True, timeout=600, env={**os.environ})
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    report = json.loads(result.stdout)
    assert report["ok"], report["checks"]
    assert report["matched"] == 2 and report["counts"]["paid"] == 2
