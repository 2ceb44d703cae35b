"""Partner hash shares: exact checks, the 1/P impossibility, and balanced allocations."""

from __future__ import annotations

from fractions import Fraction

import pytest

from learnchain.governance import calculus as calc
from learnchain.governance.consortium import (
    Consortium,
    ConsortiumError,
    MachineType,
    check_allocation,
    min_identical_machines,
    optimise_allocation,
    share_bound_possible,
    share_lower_bound,
)

FAST = MachineType("asic", hash_time=0.002e-9, tvc=1e-16, tfc=0.01)
SLOW = MachineType("gpu", hash_time=0.008e-9, tvc=2e-16, tfc=0.004)


def test_shares_are_relative_hash_power() -> None:
    c = Consortium((FAST, SLOW), ("a", "b", "c"), ((1, 0), (0, 4), (1, 4)))
    shares = c.shares()
    assert shares == {"a": Fraction(1, 4), "b": Fraction(1, 4), "c": Fraction(1, 2)}
    report = check_allocation(c, 0.33)
    assert report.violations == ["c"] and not report.ok
    assert report.consecutive_win["c"] == Fraction(1, 4)
    assert check_allocation(c, 0.51, delta3=0.2, c=2).pool_violations == ["c"]


def test_bound_is_strict_and_exact() -> None:
    c = Consortium((FAST,), ("a", "b", "c"), ((1,), (1,), (1,)))
    assert check_allocation(c, Fraction(1, 3)).violations == ["a", "b", "c"]
    assert check_allocation(c, 0.34).ok


def test_impossibility_of_one_third_with_three_partners() -> None:
    assert not share_bound_possible(3, 0.33)
    assert share_bound_possible(4, 0.33)
    assert min_identical_machines(3, 0.33) is None
    s = min_identical_machines(4, 0.33)
    assert s is not None
    # brute force: the smallest s whose most even split keeps every partner below 0.33
    best = next(n for n in range(1, 100) if Fraction(-(-n // 4), n) < Fraction(33, 100))
    assert s == best


def test_optimised_allocation_balances_and_meets_the_bound() -> None:
    counts = [10, 13]
    alloc = optimise_allocation(counts, (FAST, SLOW), ("a", "b", "c", "d"))
    assert alloc.machines_per_type() == counts
    report = check_allocation(alloc, 0.33)
    assert report.ok
    lower = share_lower_bound(counts, (FAST, SLOW), 4)
    assert report.max_share >= lower
    assert report.max_share - lower < Fraction(1, 10)


def test_identical_machines_split_evenly_and_caps_are_respected() -> None:
    alloc = optimise_allocation([10], (FAST,), ("a", "b", "c"))
    assert sorted(row[0] for row in alloc.holdings) == [3, 3, 4]
    capped = optimise_allocation([10], (FAST,), ("a", "b", "c"), caps=[1, 5, 5])
    held = [row[0] for row in capped.holdings]
    assert held[0] == 1 and sum(held) == 10 and max(held) == 5
    with pytest.raises(ConsortiumError, match="caps"):
        optimise_allocation([10], (FAST,), ("a", "b"), caps=[1, 1])


def test_consortium_feeds_the_group_model() -> None:
    c = Consortium((FAST, SLOW), ("a", "b"), ((2, 1), (1, 3)))
    groups = c.to_groups()
    assert [g.count for g in groups] == [3, 4]
    p = calc.group_dispute(groups, 40, 0.01)
    assert 0 <= p <= 1
    assert calc.group_cost(groups, 50, 40) > 0


def test_bad_consortium_inputs() -> None:
    with pytest.raises(ConsortiumError, match="hash_time"):
        MachineType("x", 0.0)
    with pytest.raises(ConsortiumError, match="holdings"):
        Consortium((FAST,), ("a", "b"), ((1,),))
    with pytest.raises(ConsortiumError, match="holdings\\[a\\]"):
        Consortium((FAST,), ("a",), ((1, 2),))
    with pytest.raises(ConsortiumError, match="no machines"):
        Consortium((FAST,), ("a",), ((0,),))
    with pytest.raises(ConsortiumError, match="max_share"):
        check_allocation(Consortium((FAST,), ("a",), ((1,),)), 1.5)
