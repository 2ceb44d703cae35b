"""One (s, r, d) in full: every quantity, nominal and robust, and which constraints bind.

What `learnchain calculus eval` prints. Kept apart from the solver (``robust``): it asks the
exact reference for the tuple and its unit neighbours instead of searching.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from learnchain.governance import calculus as calc
from learnchain.governance.config import CalculusConfig
from learnchain.governance.robust import ConstraintCheck, robust_check_exact, robust_cost_exact


@dataclass(frozen=True)
class TupleReport:
    """Every quantity of one (s, r, d), nominal and robust, and what binds."""

    s: int
    r: int
    d: int
    nominal: dict[str, float]
    checks: dict[str, ConstraintCheck]
    robust_cost: float
    binding: dict[str, list[str]]

    @property
    def feasible(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "s": self.s,
            "r": self.r,
            "d": self.d,
            "feasible": self.feasible,
            "nominal": self.nominal,
            "robust": {
                k: {
                    "value": c.value,
                    "bound": c.bound,
                    "ok": c.ok,
                    "worst_s": c.worst_s,
                    "worst_d": c.worst_d,
                }
                for k, c in self.checks.items()
            },
            "robust_cost": self.robust_cost,
            "binding": self.binding,
        }


def evaluate_tuple(cfg: CalculusConfig, s: int, r: int, d: int) -> TupleReport:
    """Evaluate one tuple exactly and say which constraints bind.

    A constraint *binds* when a unit step of one decision variable (s±1, r-1, d±1) inside the
    search ranges would violate it: those are the moves the constraint forbids.
    """
    if s < 1 or r < 0 or d < 0:
        raise ValueError("need s >= 1, r >= 0 and d >= 0")
    q = calc.exact_quantities(
        s,
        r,
        d,
        hash_time=cfg.hash_time,
        tau_u=cfg.tau_u,
        tau_l=cfg.tau_l,
        mu=cfg.mu,
        tvc=cfg.tvc,
        tfc=cfg.tfc,
    )
    nominal = {
        "lambda": float(q.lam),
        "y": float(q.y),
        "one_minus_y": float(1 - q.y),
        "p_failure": float(q.failure),
        "expected_rounds": float(q.expected_rounds),
        "expected_time_s": float(q.expected_rounds) * cfg.hash_time,
        "p_time_gt_tau_u": float(q.p_slow),
        "p_time_lt_tau_l": float(q.p_fast),
        "p_dispute": float(q.dispute),
        "pool_ratio": float(Fraction(cfg.pool_l, s) ** cfg.pool_c),
        "cost": float(q.cost),
    }
    checks = robust_check_exact(cfg, s, r, d) if s - cfg.u_s >= 1 else {}
    if not checks:
        raise ValueError(f"s={s} must exceed u_s={cfg.u_s}")
    binding: dict[str, list[str]] = {name: [] for name in checks}
    moves = {"s-1": (s - 1, r, d), "s+1": (s + 1, r, d), "r-1": (s, r - 1, d),
             "d-1": (s, r, d - 1), "d+1": (s, r, d + 1)}
    for move, (s2, r2, d2) in moves.items():
        if s2 - cfg.u_s < 1 or r2 < 0 or d2 < 0:
            continue
        if not (cfg.s_l <= s2 <= cfg.s_u and cfg.r_l <= r2 <= cfg.r_u and cfg.d_l <= d2 <= cfg.d_u):
            continue
        other = robust_check_exact(cfg, s2, r2, d2)
        for name, c in other.items():
            if checks[name].ok and not c.ok:
                binding[name].append(move)
    return TupleReport(
        s=s,
        r=r,
        d=d,
        nominal=nominal,
        checks=checks,
        robust_cost=robust_cost_exact(cfg, s, r, d),
        binding=binding,
    )
