import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          max_examples=100)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _single_thread_torch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")



# Scheduling for `make test` (`-n 4 --dist worksteal` on 2 cores): the suite is bound by a few
# tests that run node processes for minutes while mostly waiting on blocks. worksteal first
# hands each worker an equal contiguous slice of the collection, then moves the tails of long
# queues to idle workers. So the collection is laid out as four slices of equal length, each
# starting with its share of the long tests (longest first, balanced by the seconds they took
# on an idle 2-core machine at -n 2), and those waits overlap the CPU-bound unit tests instead
# of queueing behind each other. The estimates only order tests; nothing asserts on them.
EXPECTED_SECONDS = {
    "test_readme_commands.py::test_readme_devnet_commands": 95,
    "test_readme_commands.py::test_readme_pole_devnet_command": 62,
    "test_readme_commands.py::test_readme_experiment_commands": 60,
    "test_readme_commands.py::test_readme_node_commands": 15,
    "test_demo_day.py::test_quick_day_every_step_succeeds_on_chain": 68,
    "test_governance_devnet.py::": 42,
    "test_rlpow_fraud_devnet.py::": 40,
    "test_http_network.py::test_rlpow_processes_learn_together": 21,
    "test_http_network.py::test_four_processes_agree": 19,
    "test_rlpow_experiments.py::test_attack_small": 15,
    "test_crowd_devnet.py::": 14,
    "test_cli_node.py::test_send_kill_restart_verify": 13,
    "test_demo_day.py::test_interrupted_day": 13,
    "test_rlpow_uncles_devnet.py::": 12,
    "test_experiments_fanout.py::test_ray_fan_out": 11,
    "test_http_network.py::test_devnet_cli_up_status_down": 11,
    "test_wallet_routes.py::test_study_flow": 9,
}
SLICES = 4


def _expected_seconds(item: pytest.Item) -> float:
    return max((s for key, s in EXPECTED_SECONDS.items() if key in item.nodeid), default=0.0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    long = sorted((i for i in items if _expected_seconds(i)), key=_expected_seconds,
                  reverse=True)
    slices: list[list[pytest.Item]] = [[] for _ in range(SLICES)]
    load = [0.0] * SLICES
    for item in long:  # longest-processing-time-first onto the least loaded slice
        k = load.index(min(load))
        slices[k].append(item)
        load[k] += _expected_seconds(item)
    rest = [i for i in items if not _expected_seconds(i)]
    taken, remaining = 0, len(items)
    for k, part in enumerate(slices):  # the same slice lengths worksteal cuts
        size = remaining // (SLICES - k)
        remaining -= size
        fill = rest[taken:taken + max(0, size - len(part))]  # a small selection runs out
        part.extend(fill)
        taken += len(fill)
    items[:] = [item for part in slices for item in part] + rest[taken:]
