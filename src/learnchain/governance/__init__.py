"""Governance analytics: the mining calculus for a consortium-run proof-of-work chain.

The submodules are pure analysis code (no network, no chain state) so the governance engine
can call them to pick (miners s, nonce bits r, difficulty d) and to audit partner hash power.

Names are resolved lazily (PEP 562): ``learnchain.governance.config`` is imported by the CLI at
start-up and must not drag in SciPy through ``robust``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CalculusConfig": "config",
    "CalculusConfigError": "config",
    "load_config": "config",
    "preset": "config",
    "OptimisationResult": "robust",
    "Solution": "robust",
    "evaluate_tuple": "robust",
    "optimise": "robust",
    "solve_region": "robust",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
