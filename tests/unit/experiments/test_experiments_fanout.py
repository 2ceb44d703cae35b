"""Scale-out: a multi-seed run gives the same numbers serially, over processes and over Ray."""

from __future__ import annotations

import importlib.util

import pytest

from learnchain.experiments.apps import good_bad_job
from learnchain.experiments.fanout import fan_out


def _jobs(tmp_path, tag):
    return [(1, seed, str(tmp_path / tag / f"seed{seed}")) for seed in (0, 1)]


def _summaries(runs):
    return [r["summary"] for r in runs]


def test_process_fan_out_equals_the_serial_run(tmp_path):
    seen = []
    serial = fan_out(good_bad_job, _jobs(tmp_path, "serial"), workers=1)
    parallel = fan_out(good_bad_job, _jobs(tmp_path, "pool"), workers=2,
                       progress=lambda done, total: seen.append((done, total)))
    assert _summaries(parallel) == _summaries(serial)
    assert serial[0]["summary"]["config"]["seed"] == 0
    assert serial[1]["summary"]["config"]["seed"] == 1
    assert serial[0]["series"] != serial[1]["series"]  # the seed matters
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    assert (tmp_path / "pool" / "seed1" / "collab_good_bad.png").is_file()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is an optional extra (pip install 'learnchain[ray]'); "
                           "not installed, so the Ray fan-out is not tested here")
def test_ray_fan_out_on_a_local_instance_equals_the_serial_run(tmp_path):
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        via_ray = fan_out(good_bad_job, _jobs(tmp_path, "ray"), ray_address="local")
    finally:
        ray.shutdown()
    serial = fan_out(good_bad_job, _jobs(tmp_path, "serial"), workers=1)
    assert _summaries(via_ray) == _summaries(serial)
