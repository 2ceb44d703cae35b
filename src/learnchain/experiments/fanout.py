"""Fan a list of independent jobs out over local processes (default) or a Ray cluster.

``fan_out(fn, jobs)`` returns ``[fn(j) for j in jobs]`` in job order whatever the backend, so a
multi-seed experiment gives the same numbers serially, over processes or over Ray. The local
path uses ``concurrent.futures.ProcessPoolExecutor`` and never imports ray; ``ray_address``
(``"local"`` or ``"ray://host:10001"`` / ``"host:6379"``) imports it on use, and an already
initialised Ray (e.g. a test's ``ray.init(num_cpus=1)``) is reused.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from learnchain.experiments.base import Progress


class RayUnavailable(RuntimeError):
    """``--ray`` was given but the optional ``ray`` extra is not installed."""


def fan_out(fn: Callable[[Any], Any], jobs: list[Any], *, workers: int = 2,
            ray_address: str | None = None, progress: Progress | None = None) -> list[Any]:
    """``[fn(j) for j in jobs]``; ``fn`` must be a picklable module-level function."""
    if ray_address is not None:
        return _ray_map(fn, jobs, ray_address, progress)
    total = len(jobs)
    if progress is not None:
        progress(0, total)
    if workers <= 1 or total <= 1:
        results = []
        for job in jobs:
            results.append(fn(job))
            if progress is not None:
                progress(len(results), total)
        return results
    with ProcessPoolExecutor(max_workers=min(workers, total)) as pool:
        futures = [pool.submit(fn, job) for job in jobs]
        for done, _ in enumerate(as_completed(futures), 1):
            if progress is not None:
                progress(done, total)
        return [f.result() for f in futures]


def _ray_map(fn: Callable[[Any], Any], jobs: list[Any], address: str,
             progress: Progress | None) -> list[Any]:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("--ray needs the optional extra: pip install 'learnchain[ray]'"
                             ) from exc
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address,
                 include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(fn)
    refs = [remote.remote(job) for job in jobs]
    total = len(refs)
    if progress is not None:
        progress(0, total)
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=1)
        if progress is not None:
            progress(total - len(pending), total)
    return list(ray.get(refs))
