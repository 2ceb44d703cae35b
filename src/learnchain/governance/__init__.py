"""Governance analytics: the mining calculus for a consortium-run proof-of-work chain.

The submodules are pure analysis code (no network, no chain state) so the governance engine
can call them to pick (miners s, nonce bits r, difficulty d) and to audit partner hash power:
``paper`` / ``paper_solver`` / ``reproduce`` (the whitepaper's model, Figure 12 and Figure 21),
``groups`` (§7), ``consortium`` (eqs. 78-80) and the earlier folded model (``calculus``,
``robust``, ``config``).  Names are imported lazily so ``learnchain calculus --help`` does not
pay for numpy, scipy and mpmath.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "CalculusConfig": "learnchain.governance.config",
    "CalculusConfigError": "learnchain.governance.config",
    "load_config": "learnchain.governance.config",
    "preset": "learnchain.governance.config",
    "OptimisationResult": "learnchain.governance.robust",
    "Solution": "learnchain.governance.robust",
    "evaluate_tuple": "learnchain.governance.tuple_report",
    "optimise": "learnchain.governance.robust",
    "solve_region": "learnchain.governance.robust",
    "PaperConfig": "learnchain.governance.paper",
    "figure21": "learnchain.governance.paper_solver",
    "reproduce": "learnchain.governance.reproduce",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'learnchain.governance' has no attribute {name!r}")
