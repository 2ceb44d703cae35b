"""Scale-out: a multi-seed run gives the same numbers serially, over processes and over Ray."""

from __future__ import annotations

import importlib.util

import pytest

from learnchain.experiments.apps import crowd_job
from learnchain.experiments.fanout import fan_out


# The crowd population run is the cheapest registered multi-seed job (about a second per seed
# at 6 tasks); the fan-out machinery is the same for every experiment.
def _jobs(tmp_path, tag):
    return [(6, seed, str(tmp_path / tag / f"seed{seed}")) for seed in (0, 1)]


def test_process_fan_out_equals_the_serial_run(tmp_path):
    seen = []
    serial = fan_out(crowd_job, _jobs(tmp_path, "serial"), workers=1)
    parallel = fan_out(crowd_job, _jobs(tmp_path, "pool"), workers=2,
                       progress=lambda done, total: seen.append((done, total)))
    assert parallel == serial
    assert [r["seed"] for r in serial] == [0, 1]
    assert serial[0]["payoff_per_worker"] != serial[1]["payoff_per_worker"]  # the seed matters
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    assert (tmp_path / "pool" / "seed1" / "population.png").is_file()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is an optional extra (pip install 'learnchain[ray]'); "
                           "not installed, so the Ray fan-out is not tested here")
def test_ray_fan_out_on_a_local_instance_equals_the_serial_run(tmp_path):
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        via_ray = fan_out(crowd_job, _jobs(tmp_path, "ray"), ray_address="local")
    finally:
        ray.shutdown()
    serial = fan_out(crowd_job, _jobs(tmp_path, "serial"), workers=1)
    assert via_ray == serial
