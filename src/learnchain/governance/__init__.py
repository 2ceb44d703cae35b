"""Governance analytics: the mining calculus for a consortium-run proof-of-work chain.

The submodules are pure analysis code (no network, no chain state) so the governance engine
can call them to pick (miners s, nonce bits r, difficulty d) and to audit partner hash power.
"""

from learnchain.governance.config import CalculusConfig, CalculusConfigError, load_config, preset
from learnchain.governance.robust import (
    OptimisationResult,
    Solution,
    evaluate_tuple,
    optimise,
    solve_region,
)

__all__ = [
    "CalculusConfig",
    "CalculusConfigError",
    "OptimisationResult",
    "Solution",
    "evaluate_tuple",
    "load_config",
    "optimise",
    "preset",
    "solve_region",
]
