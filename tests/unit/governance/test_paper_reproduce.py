"""Figure 21 and the §9 reproduction: the published reading matches, the literal one does not."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from learnchain.cli.calculus import calculus_app
from learnchain.governance.paper import PaperConfig, configuration, robust_check_exact
from learnchain.governance.paper_solver import figure21, removal, solve
from learnchain.governance.reproduce import CONTRADICTIONS, cost_matches, reproduce

runner = CliRunner()


def test_removal_keeps_one_tuple_per_d_as_written() -> None:
    rows = [(18, 48, 41, 5.0), (18, 49, 41, 5.0), (19, 48, 41, 6.0), (18, 48, 40, 4.0)]
    assert removal(rows) == [(18, 48, 41, 5.0), (18, 48, 40, 4.0)]
    # case 1 fires on "r' < r" even when the other tuple is dearer: order matters (documented)
    assert removal([(17, 50, 9, 1.0), (18, 48, 9, 2.0)]) == [(18, 48, 9, 2.0)]
    assert removal([(18, 48, 9, 2.0), (17, 50, 9, 1.0)]) == [(17, 50, 9, 1.0)]


def test_alpha_is_a_plain_multiplier_and_p_caps_the_rows() -> None:
    cfg = configuration("C1")
    res = figure21(cfg)
    assert res.c_m is not None and all(r.cost <= 1.5 * res.c_m for r in res.rows)
    assert len(res.rows) == 5
    assert [r.d for r in figure21(cfg.with_(top_p=2)).rows] == [41, 40]
    # alpha = 1 keeps only tuples at the minimal cost c_m (the lowest feasible d)
    tight = figure21(cfg.with_(alpha=1))
    assert [r.d for r in tight.rows] == [34]


def test_published_reading_reproduces_table2_and_the_boundary() -> None:
    c1 = configuration("C1")
    got = figure21(c1).rows
    assert [(r.s, r.r, r.d) for r in got] == [(18, 48, d) for d in (41, 40, 39, 38, 37)]
    for row, printed in zip(got, ("54004.4", "54002.2", "54001.1", "54000.55", "54000.27"),
                            strict=True):
        assert cost_matches(row.cost_exact, printed)
        assert row.r_feasible == tuple(range(48, 65))
    c2 = configuration("C2")
    assert not figure21(c2.with_(tau_u=Fraction("0.06871"))).rows
    edge = figure21(c2.with_(tau_u=Fraction("0.06872"))).rows
    assert [(r.s, r.r, r.d) for r in edge] == [(18, 48, 34)]
    assert cost_matches(edge[0].cost_exact, "54000.03")


def test_every_reported_tuple_survives_the_bigfloat_recheck() -> None:
    res = figure21(configuration("C3").with_(tau_u=Fraction(1454, 7000)))
    assert [(r.s, r.r, r.d) for r in res.rows] == [(24, 49, 35), (24, 49, 34)]
    assert not res.dropped_by_bigfloat
    for r in res.rows:
        assert all(robust_check_exact(res_cfg := configuration("C3"), r.s, r.r, r.d).values())
        assert res_cfg.delta3 == Fraction(1, 10**4)


def test_literal_reading_differs_from_table2() -> None:
    lit = figure21(configuration("C1", reading="literal"))
    assert (lit.rows[0].s, lit.rows[0].r, lit.rows[0].d) == (18, 49, 40)  # not (18, 48, 41)


def test_table_hash_time_cannot_give_r48() -> None:
    """With T = 0.002e-9 the soundness constraint needs λ > 1.5e14, so r >= 52 for s = 18."""
    res = figure21(configuration("C1", hash_time="table"))
    assert all(r.r >= 52 for r in res.rows)


def test_u_s_at_least_s_l_is_allowed() -> None:
    cfg = PaperConfig(reading="literal", u_s=6, s_u=20, r_u=52, d_l=30, d_u=44)
    reg = solve(cfg)  # s' = s - 6 <= 0 for s <= 6: those points are infeasible, not errors
    assert not reg.feasible[: 7 - cfg.s_l].any()


def test_claims_subset_and_match_counts() -> None:
    res = reproduce(("best",), only=("T2-visa", "C3-visa", "B-0.06871"))
    assert res["summary"]["best"]["matched"] == 3
    assert {c["key"] for c in res["claims"]} == {"T2-visa", "C3-visa", "B-0.06871"}
    assert len(CONTRADICTIONS) == 2


@pytest.mark.slow
def test_full_reproduction_matches_every_consistent_claim() -> None:
    res = reproduce(("literal", "best"))
    assert res["summary"]["best"]["matched"] == res["max_matchable"] == 18
    failing = {c["key"] for c in res["claims"] if not c["best"]["match"]}
    assert failing == {"S-C1", "S-C2-50k"}
    assert res["summary"]["literal"]["matched"] < 18


def test_reproduce_cli_json() -> None:
    out = runner.invoke(calculus_app, ["reproduce", "--columns", "best", "--claims",
                                       "T2-bitcoin,B-0.06872", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["summary"]["best"]["matched"] == 2
    bad = runner.invoke(calculus_app, ["reproduce", "--columns", "nope"])
    assert bad.exit_code == 2 and "--columns" in bad.output


def test_optimize_and_eval_on_the_paper_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    table1 = Path(__file__).resolve().parents[3] / "experiments" / "calculus" / "table1.toml"
    out = runner.invoke(calculus_app, ["optimize", str(table1), "--json"])
    assert out.exit_code == 0, out.output
    assert [row["d"] for row in json.loads(out.output)["rows"]] == [41, 40, 39, 38, 37]
    ev = runner.invoke(calculus_app, ["eval", "--s", "18", "--r", "47", "--d", "40",
                                      "--preset", "C1", "--json"])
    data = json.loads(ev.output)
    assert data["feasible"] is False and data["constraints"]["nonce_th"]["nominal"] is False
    bad = tmp_path / "bad.toml"
    bad.write_text("delta2 = 3\n")
    res = runner.invoke(calculus_app, ["optimize", str(bad)])
    assert res.exit_code == 2 and "delta2" in res.output


def test_calculus_cli_does_not_import_torch() -> None:
    code = ("import sys, learnchain.cli.calculus; "
            "assert 'torch' not in sys.modules; assert 'scipy' not in sys.modules; "
            "assert 'mpmath' not in sys.modules; assert 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
