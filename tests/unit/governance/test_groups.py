"""§7: the group model (Figure 14/15) as published, its variants, and eq. (79)'s hash power."""

from __future__ import annotations

import itertools
from fractions import Fraction

import mpmath
import pytest

from learnchain.governance import groups
from learnchain.governance.consortium import (
    Consortium,
    ConsortiumError,
    MachineType,
    check_hash_power,
    hash_power,
)
from learnchain.governance.paper import PaperConfig, PaperConfigError, exact_values, lam_of

T_PROSE = Fraction(1, 50 * 10**9)
ASIC = groups.GroupType(T_PROSE, Fraction(2, 10**12), Fraction(3000), 0, 26, 4, 6)
FAST = groups.GroupType(T_PROSE / 2, Fraction(1, 10**12), Fraction(4500), 0, 26, 4, 6)


def _cfg(*types: groups.GroupType, **opts: str) -> groups.GroupConfig:
    return groups.GroupConfig(types, 8, 28, 44, 52, 30, 44, options=groups.GroupOptions(**opts))


def test_one_group_equals_the_single_type_formulas() -> None:
    cfg = _cfg(ASIC)
    v = groups.group_values(cfg, [18], 48, 41)
    ref = exact_values(PaperConfig(), 18, 48, 41, lam_of(48, 18))
    g = v["groups"][0]
    assert float(mpmath.log(ref["failure"])) == pytest.approx(g["ln_failure"], rel=1e-12)
    assert float(ref["expected_time"]) == pytest.approx(g["time"], rel=1e-12)
    dispute = groups.group_dispute(cfg, [18], 41)
    assert abs(dispute - ref["dispute"]) <= ref["dispute"] * mpmath.mpf(10) ** -30


def test_dispute_of_two_identical_groups_is_that_of_their_union() -> None:
    cfg = _cfg(ASIC, ASIC)
    two = groups.group_dispute(cfg, [7, 11], 31)
    one = groups.group_dispute(_cfg(ASIC), [18], 31)
    assert abs(two - one) <= one * mpmath.mpf(10) ** -40


def test_minimum_is_the_paper_default_and_joint_is_never_looser() -> None:
    """ε >= min_i y_i^(λ+1) (35) accepts tuples the joint product also accepts, never fewer."""
    paper, joint = _cfg(ASIC, FAST), _cfg(ASIC, FAST, failure="joint", tail="joint")
    for counts in itertools.product(range(0, 9, 2), range(0, 9, 2)):
        if sum(counts) == 0:
            continue
        for d in (38, 42, 44):
            a = groups.constraints(paper, counts, 46, d)
            b = groups.constraints(joint, counts, 46, d)
            if a["failure"]:
                assert b["failure"]
            if a["tail"]:
                assert b["tail"]
    # and at a point where one group alone is too slow the joint product is strictly looser
    lone = groups.constraints(paper, [4, 4], 46, 40)
    both = groups.constraints(joint, [4, 4], 46, 40)
    assert lone["failure"] is False and both["failure"] is True


def test_printed_fast_bound_is_reversed() -> None:
    """(48) as printed (δ1 <= max) rejects a tuple whose fast probabilities are all tiny."""
    cfg = groups.GroupConfig((ASIC, FAST), 2, 40, 40, 60, 20, 60, th_prime=Fraction(1, 10**9),
                             delta1=Fraction(1, 10))
    printed = groups.constraints(cfg, [10, 10], 50, 40)["fast"]
    intended = groups.constraints(
        groups.GroupConfig(cfg.types, 2, 40, 40, 60, 20, 60, th_prime=cfg.th_prime,
                           delta1=cfg.delta1, options=groups.GroupOptions(fast="max")),
        [10, 10], 50, 40)["fast"]
    assert printed is False and intended is True


def test_robust_optimum_matches_brute_force() -> None:
    cfg = groups.GroupConfig((ASIC, FAST), 8, 28, 46, 50, 33, 38,
                             options=groups.GroupOptions(fast="max"))
    cfg = groups.GroupConfig(
        (groups.GroupType(ASIC.hash_time, ASIC.tvc, ASIC.tfc, 19, 24, 4, 6),
         groups.GroupType(FAST.hash_time, FAST.tvc, FAST.tfc, 0, 2, 1, 0)),
        19, 26, 46, 50, 33, 38, options=groups.GroupOptions(fast="max"), u_s=4)
    best = groups.optimise(cfg)
    brute = None
    for counts in itertools.product(range(19, 25), range(0, 3)):
        if not groups.constraints_bounds_ok(cfg, counts):
            continue
        for d in range(33, 39):
            for r in range(46, 51):
                if groups.robust_feasible(cfg, counts, r, d):
                    c = groups.robust_cost(cfg, counts, r, d)
                    if brute is None or (c, -d) < (brute[0], -brute[3]):
                        brute = (c, counts, r, d)
                    break
    assert best is not None and brute is not None
    assert (best["cost"], tuple(best["counts"]), best["r"], best["d"]) == brute


def test_group_config_errors() -> None:
    with pytest.raises(PaperConfigError, match=r"^fast"):
        groups.GroupOptions(fast="sometimes")
    with pytest.raises(PaperConfigError, match=r"^s_lo"):
        groups.GroupType(T_PROSE, Fraction(0), Fraction(0), 5, 2)
    cfg = groups.group_config_from_mapping({
        "types": [{"hash_time": "1/(50e9)", "s_lo": 0, "s_hi": 4}],
        "s_l": 1, "s_u": 4, "r_l": 30, "r_u": 40, "d_l": 20, "d_u": 30, "delta": "2^-64"})
    assert cfg.delta == Fraction(1, 2**64)
    with pytest.raises(PaperConfigError, match="s_l"):
        groups.group_config_from_mapping({"types": []})


def test_hash_power_is_relative_to_the_other_partners() -> None:
    fast = MachineType("asic", hash_time=2e-12)
    slow = MachineType("gpu", hash_time=8e-12)
    c = Consortium((fast, slow), ("a", "b", "c"), ((1, 0), (0, 4), (1, 4)))
    assert hash_power(c, 2) == 1  # c holds half: as much as the others together
    assert hash_power(c, 0) == Fraction(1, 3)
    assert hash_power(c, 0, "share") == Fraction(1, 4)
    for p in range(3):
        hp, share = hash_power(c, p), hash_power(c, p, "share")
        assert share == hp / (1 + hp)
    rep = check_hash_power(c)
    assert rep["violations"] == ["a", "b", "c"]  # 1/3 is not < 0.33; c's 1 certainly not
    assert check_hash_power(c, measure="share", cap=1, high=Fraction(1, 3))["violations"] == \
        ["c"]
    with pytest.raises(ConsortiumError):
        hash_power(Consortium((fast,), ("solo",), ((3,),)), 0)
