"""Figure 12's formulas pinned at the published tuples, against an independent mpmath evaluation.

The reference below is written from the paper's equations directly (no shared code with
learnchain.governance.paper): y, λ, eq. (7), (10), (16), (5), at 200 decimal digits.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.governance.paper import (
    PaperConfig,
    PaperConfigError,
    config_from_mapping,
    configuration,
    exact_check,
    exact_values,
    lam_of,
    load_paper_config,
    to_fraction,
)
from learnchain.governance.paper_solver import point_ok

REPO_TABLE1 = __import__("pathlib").Path(__file__).resolve().parents[3] / "experiments" / \
    "calculus" / "table1.toml"


def reference(s: int, r: int, d: int, hash_time: Fraction = Fraction(1, 50 * 10**9)) -> dict:
    """Eqs. (4), (7), (9), (10), (16), (5) with Table 1's constants, 200 digits."""
    with mpmath.workdps(200):
        t = mpmath.mpf(hash_time.numerator) / hash_time.denominator
        lam = (2**r) // s
        y = (1 - mpmath.mpf(2) ** -d) ** s
        e = (1 - y ** (lam + 1) - (lam + 1) * (1 - y) * y ** (lam + 1)) / (1 - y)
        a = math.ceil(Fraction(300) / hash_time - 1)
        w = (1 - mpmath.mpf(2) ** -d) ** (math.floor(Fraction(1, 10_000) / hash_time) + 1)
        return {
            "failure": y ** (lam + 1),
            "expected_time": t * e,
            "tail": y ** (a + 1) - y ** (lam + 1),
            "dispute": 1 + (s - 1) * w**s - s * w ** (s - 1),
            "cost": mpmath.mpf(2) / 10**12 * e * s + 3000 * s,
        }


PUBLISHED_TUPLES = [(18, 48, d) for d in range(34, 42)] + [(24, 49, d) for d in range(34, 41)]


@pytest.mark.parametrize("s,r,d", PUBLISHED_TUPLES)
def test_formulas_match_an_independent_evaluation(s: int, r: int, d: int) -> None:
    cfg = PaperConfig()
    got = exact_values(cfg, s, r, d, lam_of(r, s))
    ref = reference(s, r, d)
    for key, want in ref.items():
        assert abs(got[key] - want) <= abs(want) * mpmath.mpf(10) ** -25, key


def test_published_costs_and_times_to_the_printed_digits() -> None:
    cfg = PaperConfig()
    cost = {d: exact_values(cfg, 18, 48, d, lam_of(48, 18))["cost"] for d in (34, 35, 41)}
    assert mpmath.nstr(cost[41], 12) == "54004.3980465"
    assert mpmath.nstr(cost[35], 12) == "54000.0687195"
    assert mpmath.nstr(cost[34], 12) == "54000.0343597"
    # the published τ_u boundary (0.06871, 0.06872] is T·E^5(noR) at d = 34
    t5 = exact_values(cfg, 5, 48, 34, lam_of(48, 18))["expected_time"]
    assert mpmath.mpf("0.06871") < t5 <= mpmath.mpf("0.06872")
    # ... and no point of the literal box [13, 18] x [31, 37] lands there
    for sp in range(13, 19):
        for dp in range(31, 38):
            t = exact_values(cfg, sp, 48, dp, lam_of(48, sp))["expected_time"]
            assert not mpmath.mpf("0.06871") < t <= mpmath.mpf("0.06872")


def test_tail_probability_turns_negative_and_its_soundness_constraint_catches_it() -> None:
    cfg = PaperConfig()  # A = ceil(th/T - 1) + 1 = 1.5e13
    assert cfg.a_tail == 15 * 10**12
    lam47 = lam_of(47, 18)  # 7.8e12 < A - 1
    v = exact_values(cfg, 18, 47, 36, lam47)
    assert v["tail"] < 0  # eq. (10) outside its range of validity
    assert exact_check(cfg, "tail", 18, 47, 36, lam47, 18)  # δ >= negative: vacuous ...
    assert not exact_check(cfg, "nonce_th", 18, 47, 36, lam47, 18)  # ... soundness says no
    assert exact_check(cfg, "nonce_th", 18, 48, 36, lam_of(48, 18), 18)


def test_failure_bound_is_epsilon_not_delta() -> None:
    c1 = PaperConfig()
    lam = lam_of(48, 18)
    # failure at d = 43 is about 1.3e-14: below delta = 1e-9 but above epsilon = 2^-64
    f = exact_values(c1, 18, 48, 43, lam)["failure"]
    assert mpmath.mpf(2) ** -64 < f < mpmath.mpf(10) ** -9
    assert not exact_check(c1, "failure", 18, 48, 43, lam, 18)
    assert exact_check(c1.with_(epsilon="1e-9"), "failure", 18, 48, 43, lam, 18)


def test_pool_bound_is_exact_and_needs_l_below_s() -> None:
    cfg = PaperConfig()  # (4/s)^6 <= 1e-3  <=>  s >= 13
    assert exact_check(cfg, "pool", 13, 48, 40, 1, 18)
    assert not exact_check(cfg, "pool", 12, 48, 40, 1, 18)
    assert not exact_check(cfg.with_(l_pool=20), "pool", 13, 48, 40, 1, 18)
    c3 = configuration("C3")  # δ3 = 1e-4  <=>  s >= 19
    assert exact_check(c3, "pool", 19, 48, 40, 1, 24)
    assert not exact_check(c3, "pool", 18, 48, 40, 1, 24)


SMALL = PaperConfig(s_l=2, s_u=9, r_l=20, r_u=30, d_l=14, d_u=26, u_s=1, u_d=1,
                    mu=Fraction(1, 10**6), th=Fraction(1, 1000), tau_u=Fraction(1, 10**5),
                    delta=Fraction(1, 10**6), epsilon=Fraction(1, 10**6), delta1=Fraction(9, 10),
                    th_prime=Fraction(1, 10**7), reading="literal")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["failure", "time_upper", "tail", "fast", "dispute", "nonce_th"]),
       st.integers(2, 9), st.integers(20, 30), st.integers(14, 26), st.integers(0, 1),
       st.integers(-1, 1))
def test_vectorised_verdicts_equal_the_exact_ones(name: str, s: int, r: int, d: int, j: int,
                                                  k: int) -> None:
    ok, _ = point_ok(SMALL, name, ("sub", j, "own", k))
    sp, dp = s - j, max(d + k, 0)
    want = sp >= 1 and exact_check(SMALL, name, sp, r, dp, lam_of(r, sp) if sp >= 1 else 0, s)
    assert bool(ok[s - SMALL.s_l, r - SMALL.r_l, d - SMALL.d_l]) == want


def test_table1_file_is_the_default_configuration() -> None:
    assert load_paper_config(REPO_TABLE1) == PaperConfig()
    cfg = PaperConfig()
    assert (cfg.s_l, cfg.s_u, cfg.r_l, cfg.r_u, cfg.d_l, cfg.d_u) == (4, 80, 24, 64, 4, 64)
    assert (cfg.u_s, cfg.u_d, cfg.c, cfg.l_pool, cfg.top_p) == (5, 3, 6, 4, 5)
    assert cfg.epsilon == Fraction(1, 2**64) and cfg.delta == Fraction(1, 10**9)
    assert cfg.alpha == Fraction(3, 2) and cfg.mu == Fraction(1, 10_000)
    assert cfg.hash_time == Fraction(1, 50 * 10**9)


def test_config_errors_name_the_field() -> None:
    assert to_fraction("2^-64") == Fraction(1, 2**64)
    assert to_fraction("1/(50e9)") == Fraction(1, 50 * 10**9)
    with pytest.raises(PaperConfigError, match=r"^delta2"):
        config_from_mapping({"security": {"delta2": 1.5}})
    with pytest.raises(PaperConfigError, match=r"^tvc"):
        config_from_mapping({"tvc": "cheap"})
    with pytest.raises(PaperConfigError, match=r"^disabled"):
        config_from_mapping({"disabled": ["speed"]})
    with pytest.raises(PaperConfigError, match=r"^bogus"):
        config_from_mapping({"bogus": 1})
    with pytest.raises(PaperConfigError, match=r"^alpha"):
        config_from_mapping({"alpha": 0.5})
