"""Consortium model: who owns the mining machines, and how much hash power each partner holds.

Machines come in g physical types (different hash times and costs) and are owned by P partners.
In the random-oracle race a partner wins a block with probability equal to its share of the
total hash rate, so an honest-majority style governance rule becomes a bound on every share
(e.g. every partner below 0.33), and the pool bound of the calculus becomes
``share^c <= δ3`` for a partner winning c consecutive blocks.  Shares are computed with
:class:`fractions.Fraction` so a bound like 1/3 is decided exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from learnchain.governance.calculus import MinerGroup


class ConsortiumError(ValueError):
    """Invalid consortium description; the message names the field."""


@dataclass(frozen=True)
class MachineType:
    """A physical miner model: hash time T (s/hash) and its per-machine costs."""

    name: str
    hash_time: float
    tvc: float = 0.0
    tfc: float = 0.0

    def __post_init__(self) -> None:
        if not self.hash_time > 0:
            raise ConsortiumError(f"MachineType.hash_time must be > 0 for {self.name!r}")

    @property
    def rate(self) -> Fraction:
        """Hashes per second, exact."""
        return 1 / Fraction(self.hash_time)


@dataclass(frozen=True)
class Consortium:
    """holdings[p][k] = number of machines of type k owned by partner p."""

    types: tuple[MachineType, ...]
    partners: tuple[str, ...]
    holdings: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if not self.types:
            raise ConsortiumError("types: at least one machine type is needed")
        if len(self.holdings) != len(self.partners):
            raise ConsortiumError(
                f"holdings: {len(self.holdings)} rows for {len(self.partners)} partners"
            )
        for name, row in zip(self.partners, self.holdings, strict=True):
            if len(row) != len(self.types):
                raise ConsortiumError(
                    f"holdings[{name}]: {len(row)} entries for {len(self.types)} machine types"
                )
            if any(n < 0 for n in row):
                raise ConsortiumError(f"holdings[{name}]: machine counts must be >= 0")
        if self.total_rate() == 0:
            raise ConsortiumError("holdings: the consortium owns no machines")

    def partner_rate(self, p: int) -> Fraction:
        return sum(
            (n * t.rate for n, t in zip(self.holdings[p], self.types, strict=True)), Fraction(0)
        )

    def total_rate(self) -> Fraction:
        return sum((self.partner_rate(p) for p in range(len(self.partners))), Fraction(0))

    def shares(self) -> dict[str, Fraction]:
        """Relative hash power of each partner (= probability of winning a block)."""
        total = self.total_rate()
        return {name: self.partner_rate(p) / total for p, name in enumerate(self.partners)}

    def machines_per_type(self) -> list[int]:
        return [sum(row[k] for row in self.holdings) for k in range(len(self.types))]

    def to_groups(self) -> list[MinerGroup]:
        """One calculus group per machine type (ownership does not change the race)."""
        return [
            MinerGroup(count=n, hash_time=t.hash_time, tvc=t.tvc, tfc=t.tfc)
            for n, t in zip(self.machines_per_type(), self.types, strict=True)
        ]


@dataclass(frozen=True)
class AllocationReport:
    """Outcome of checking an allocation against the share and pool bounds."""

    shares: dict[str, Fraction]
    max_share: Fraction
    bound: Fraction
    violations: list[str]
    consecutive_win: dict[str, Fraction]
    pool_violations: list[str]

    @property
    def ok(self) -> bool:
        return not self.violations and not self.pool_violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "shares": {k: float(v) for k, v in self.shares.items()},
            "max_share": float(self.max_share),
            "bound": float(self.bound),
            "violations": self.violations,
            "consecutive_win": {k: float(v) for k, v in self.consecutive_win.items()},
            "pool_violations": self.pool_violations,
            "ok": self.ok,
        }


def check_allocation(
    consortium: Consortium,
    max_share: float | Fraction = Fraction(33, 100),
    *,
    delta3: float | None = None,
    c: int = 2,
) -> AllocationReport:
    """Every partner strictly below ``max_share``; optionally share^c <= δ3 for each partner."""
    bound = Fraction(max_share)
    if not 0 < bound <= 1:
        raise ConsortiumError(f"max_share must be in (0, 1], got {max_share}")
    shares = consortium.shares()
    violations = [name for name, sh in shares.items() if sh >= bound]
    wins = {name: sh**c for name, sh in shares.items()}
    pool_viol: list[str] = []
    if delta3 is not None:
        if not 0 <= delta3 <= 1:
            raise ConsortiumError(f"delta3 must be in [0, 1], got {delta3}")
        pool_viol = [name for name, w in wins.items() if w > Fraction(delta3)]
    return AllocationReport(
        shares=shares,
        max_share=max(shares.values()),
        bound=bound,
        violations=violations,
        consecutive_win=wins,
        pool_violations=pool_viol,
    )


def share_bound_possible(n_partners: int, max_share: float | Fraction) -> bool:
    """Shares sum to 1, so P partners all strictly below b needs P·b > 1 (0.33 needs P >= 4)."""
    return n_partners * Fraction(max_share) > 1


def min_identical_machines(n_partners: int, max_share: float | Fraction) -> int | None:
    """Fewest identical machines whose most even split keeps every partner below the bound.

    The most even split gives the largest partner ⌈s/P⌉ machines, so we need ⌈s/P⌉/s < b.
    Returns None when no machine count can work.
    """
    b = Fraction(max_share)
    if n_partners < 1:
        raise ConsortiumError("n_partners must be >= 1")
    if not share_bound_possible(n_partners, b):
        return None
    s = 1
    while Fraction(math.ceil(s / n_partners), s) >= b:
        s += 1
    return s


def optimise_allocation(
    machine_counts: Sequence[int],
    types: Sequence[MachineType],
    partners: Sequence[str],
    *,
    caps: Sequence[int] | None = None,
) -> Consortium:
    """Split the machines among partners to minimise the largest hash share.

    Longest-processing-time greedy (largest machines first, each to the currently weakest
    partner with capacity left) followed by single-machine moves and swaps that lower the
    maximum.  For identical machines this is optimal; in general :func:`share_lower_bound`
    certifies how far from optimal the result can be.
    """
    if len(machine_counts) != len(types):
        raise ConsortiumError("machine_counts: one count per machine type is needed")
    if not partners:
        raise ConsortiumError("partners: at least one partner is needed")
    if caps is not None and len(caps) != len(partners):
        raise ConsortiumError("caps: one cap per partner is needed")
    if caps is not None and sum(caps) < sum(machine_counts):
        raise ConsortiumError("caps: partners cannot hold all machines under these caps")
    n_p = len(partners)
    holdings = [[0] * len(types) for _ in range(n_p)]
    rates = [Fraction(0)] * n_p
    owned = [0] * n_p
    order = sorted(range(len(types)), key=lambda k: types[k].rate, reverse=True)
    for k in order:
        for _ in range(machine_counts[k]):
            candidates = [p for p in range(n_p) if caps is None or owned[p] < caps[p]]
            p = min(candidates, key=lambda q: (rates[q], q))
            holdings[p][k] += 1
            rates[p] += types[k].rate
            owned[p] += 1
    _improve(holdings, rates, owned, types, caps)
    return Consortium(
        types=tuple(types),
        partners=tuple(partners),
        holdings=tuple(tuple(row) for row in holdings),
    )


def _improve(
    holdings: list[list[int]],
    rates: list[Fraction],
    owned: list[int],
    types: Sequence[MachineType],
    caps: Sequence[int] | None,
) -> None:
    """Local search: move one machine off the strongest partner while the maximum drops."""
    n_p = len(holdings)
    for _ in range(10_000):
        top = max(range(n_p), key=lambda q: rates[q])
        current = rates[top]
        best: tuple[Fraction, int, int] | None = None
        for k, t in enumerate(types):
            if holdings[top][k] == 0:
                continue
            for q in range(n_p):
                if q == top or (caps is not None and owned[q] >= caps[q]):
                    continue
                new_max = max(current - t.rate, rates[q] + t.rate)
                if new_max < current and (best is None or new_max < best[0]):
                    best = (new_max, k, q)
        if best is None:
            return
        _, k, q = best
        holdings[top][k] -= 1
        holdings[q][k] += 1
        rates[top] -= types[k].rate
        rates[q] += types[k].rate
        owned[top] -= 1
        owned[q] += 1


def share_lower_bound(machine_counts: Sequence[int], types: Sequence[MachineType],
                      n_partners: int) -> Fraction:
    """No allocation can do better than max(1/P, largest single machine / total)."""
    total = sum((n * t.rate for n, t in zip(machine_counts, types, strict=True)), Fraction(0))
    largest = max((t.rate for n, t in zip(machine_counts, types, strict=True) if n), default=0)
    return max(Fraction(1, n_partners), largest / total)


# --------------------------------------------------------------------------- eqs. (78)-(80)
def hash_power(consortium: Consortium, p: int, measure: str = "others") -> Fraction:
    """Eq. (79): partner p's hash rate over the *other* partners' (``measure="others"``).

    ``measure="share"`` is our variant, p's fraction of the whole consortium: that is the
    probability of winning a block in the random-oracle race, the quantity a 33 % attack
    threshold is about.  The two are related by share = hp / (1 + hp), so eq. (80)'s 0.33 on
    the paper's measure is a 24.8 % share.
    """
    mine = consortium.partner_rate(p)
    if measure == "share":
        return mine / consortium.total_rate()
    if measure != "others":
        raise ConsortiumError(f"measure must be 'others' or 'share', got {measure!r}")
    others = consortium.total_rate() - mine
    if others == 0:
        raise ConsortiumError("hash power relative to the others needs at least two partners "
                              "with machines")
    return mine / others


def check_hash_power(consortium: Consortium, *, high: float | Fraction = Fraction(33, 100),
                     low: float | Fraction = 0, measure: str = "others",
                     cap: float | Fraction = Fraction(33, 100)) -> dict[str, Any]:
    """Eq. (80): max(0, low) < hashPower(l) < min(0.33, high) for every partner, exactly."""
    lo = max(Fraction(0), Fraction(low))
    hi = min(Fraction(cap), Fraction(high))
    powers = {name: hash_power(consortium, p, measure)
              for p, name in enumerate(consortium.partners)}
    bad = [name for name, hp in powers.items() if not lo < hp < hi]
    return {"measure": measure, "low": float(lo), "high": float(hi),
            "hash_power": {k: float(v) for k, v in powers.items()}, "violations": bad,
            "ok": not bad}
