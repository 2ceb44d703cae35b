"""Every numeric claim of the whitepaper's §9, recomputed under a reading, with a match verdict.

A *claim* is one published statement (a table column, a prose sentence).  :func:`reproduce`
runs the Figure 21 algorithm for each claim under the requested readings and returns rows of
(published, computed, match) so the document and ``learnchain calculus reproduce`` print the
same table.  Published costs are compared at the number of decimals they are printed with,
accepting both rounding to nearest and rounding up (the paper says "rounded up" but prints
54000.27 for 54000.2749).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from learnchain.governance.paper import (
    HASH_TIME_READINGS,
    TX_RATES,
    PaperConfig,
    configuration,
)
from learnchain.governance.paper_solver import Figure21Result, figure21, solve

Row = tuple[int, int, int, str | None]  # published (s, r, d, cost as printed or None)


@dataclass(frozen=True)
class Claim:
    """One published statement and how to check it."""

    key: str
    where: str
    text: str
    check: Callable[[Callable[..., Figure21Result], PaperConfig], tuple[bool, str]]


def cost_matches(exact: str, printed: str) -> bool:
    """Printed cost equals the exact one rounded to nearest or up at the printed decimals."""
    n = len(printed.split(".")[1]) if "." in printed else 0
    q = Decimal(1).scaleb(-n)
    v = Decimal(exact)
    return Decimal(printed) in (v.quantize(q, ROUND_HALF_EVEN), v.quantize(q, ROUND_CEILING))


def _fmt_rows(res: Figure21Result) -> str:
    if not res.rows:
        return "infeasible"
    return ", ".join(f"({r.s},{r.r},{r.d},{Decimal(r.cost_exact):.3f})" for r in res.rows)


def _rows_match(res: Figure21Result, rows: list[Row]) -> bool:
    if len(res.rows) != len(rows):
        return False
    for got, (s, r, d, cost) in zip(res.rows, rows, strict=True):
        if (got.s, got.r, got.d) != (s, r, d):
            return False
        if cost is not None and not cost_matches(got.cost_exact, cost):
            return False
    return True


def _tau(tx: int, rate: str) -> Fraction:
    return Fraction(tx, TX_RATES[rate])


def _table(cfg_name: str, tx: int, rate: str, rows: list[Row]) -> Callable[..., Any]:
    def check(run: Callable[..., Figure21Result], base: PaperConfig) -> tuple[bool, str]:
        res = run(configuration(cfg_name, base), _tau(tx, rate))
        return _rows_match(res, rows), _fmt_rows(res)
    return check


def _top(cfg_name: str, tx: int, rates: tuple[str, ...], s: int, r: int,
         ds: list[int]) -> Callable[..., Any]:
    """Claim "(s, r, d) for d in ds" (ds[0] only = the top tuple) at every listed rate."""
    def check(run: Callable[..., Figure21Result], base: PaperConfig) -> tuple[bool, str]:
        outs, ok = [], True
        for rate in rates:
            res = run(configuration(cfg_name, base), _tau(tx, rate))
            got = res.triples()
            want = [(s, r, d) for d in ds]
            good = got[: len(want)] == want if len(ds) == 1 else got == want
            ok &= good
            outs.append(f"{rate}: " + (_short(got) if got else "infeasible"))
        return ok, "; ".join(outs)
    return check


def _short(triples: list[tuple[int, int, int]]) -> str:
    sr = {(s, r) for s, r, _ in triples}
    if len(sr) == 1:
        s, r = next(iter(sr))
        ds = [d for *_, d in triples]
        return f"({s},{r},d) d={min(ds)}..{max(ds)}"
    return ", ".join(f"({s},{r},{d})" for s, r, d in triples)


def _sweep(cfg_name: str, sizes: range, s: int, r: int, ds: list[int]) -> Callable[..., Any]:
    def check(run: Callable[..., Figure21Result], base: PaperConfig) -> tuple[bool, str]:
        bad = []
        for tx in sizes:
            for rate in TX_RATES:
                got = run(configuration(cfg_name, base), _tau(tx, rate)).triples()
                if got != [(s, r, d) for d in ds]:
                    bad.append(f"{tx}/{rate}: {_short(got) if got else 'infeasible'}")
        n = len(sizes) * len(TX_RATES)
        return not bad, f"{n - len(bad)}/{n} as claimed" + (f"; differ: {'; '.join(bad)}"
                                                              if bad else "")
    return check


def _boundary(tau: str, feasible: bool) -> Callable[..., Any]:
    def check(run: Callable[..., Figure21Result], base: PaperConfig) -> tuple[bool, str]:
        res = run(configuration("C2", base), Fraction(tau))
        if not feasible:
            return not res.rows, "infeasible" if not res.rows else _fmt_rows(res)
        ok = _rows_match(res, [(18, 48, 34, "54000.03")]) and \
            res.rows[0].r_feasible == tuple(range(48, 65))
        rr = f" r in {res.rows[0].r_feasible[0]}..{res.rows[0].r_feasible[-1]}" if res.rows \
            else ""
        return ok, _fmt_rows(res) + rr
    return check


def _r_range(run: Callable[..., Figure21Result], base: PaperConfig) -> tuple[bool, str]:
    """Every reported tuple of Tables 2-3 and C2/C3 stays feasible for r < r' <= 64."""
    bad, n = [], 0
    for name in ("C1", "C2", "C3"):
        for tx in (1454, 50_000):
            for rate in TX_RATES:
                for row in run(configuration(name, base), _tau(tx, rate)).rows:
                    n += 1
                    if row.r_feasible != tuple(range(row.r, base.r_u + 1)):
                        bad.append(f"{name} {tx}/{rate} ({row.s},{row.r},{row.d}): "
                                   f"{row.r_feasible[:1]}..{row.r_feasible[-1:]}")
    return (n > 0 and not bad), f"{n - len(bad)}/{n} tuples" + (f"; {bad[:3]}" if bad else "")


def _min_s(run: Callable[..., Figure21Result], base: PaperConfig) -> tuple[bool, str]:
    outs, ok = [], True
    for rate in TX_RATES:
        cfg = configuration("C1", base).with_(tau_u=_tau(1454, rate))
        reg = solve(cfg)
        s_ok = reg.s_values[reg.feasible.any(axis=(1, 2))]
        smin = int(s_ok.min()) if s_ok.size else None
        ok &= smin == 18
        outs.append(f"{rate}: min s = {smin}")
    return ok, "; ".join(outs)


def _t2(d_hi: int, n: int, s: int = 18, r: int = 48) -> list[Row]:
    costs = {41: "54004.4", 40: "54002.2", 39: "54001.1", 38: "54000.55", 37: "54000.27",
             36: "54000.138", 35: "54000.07", 34: "54000.035"}
    return [(s, r, d, costs[d] if s == 18 else None) for d in range(d_hi, d_hi - n, -1)]


ALL_RATES = ("bitcoin", "paypal", "visa")
SWEEP_ALL = range(50_000, 500_001, 50_000)
SWEEP_100K = range(100_000, 500_001, 50_000)

CLAIMS: list[Claim] = [
    Claim("T2-bitcoin", "Table 2", "C1, τ_u=1454/7: (18,48,41..37), costs 54004.4 .. 54000.27",
          _table("C1", 1454, "bitcoin", _t2(41, 5))),
    Claim("T2-paypal", "Table 2", "C1, τ_u=1454/100: same five tuples",
          _table("C1", 1454, "paypal", _t2(41, 5))),
    Claim("T2-visa", "Table 2", "C1, τ_u=1454/7000: only (18,48,35,54000.07), (18,48,34,54000.035)",
          _table("C1", 1454, "visa", _t2(35, 2))),
    Claim("T2-min-s", "§9 prose", "all three rates need at least 18 miners (C1)", _min_s),
    Claim("C2-top", "§9 C2", "C2 top tuple: bitcoin (18,48,40), paypal (18,48,40)",
          _top("C2", 1454, ("bitcoin", "paypal"), 18, 48, [40])),
    Claim("C2-visa", "§9 C2", "C2 visa top tuple stays (18,48,35)",
          _top("C2", 1454, ("visa",), 18, 48, [35])),
    Claim("C3-bp", "§9 C3", "C3 bitcoin, paypal: top 5 = (24,49,d), 36<=d<=40",
          _top("C3", 1454, ("bitcoin", "paypal"), 24, 49, [40, 39, 38, 37, 36])),
    Claim("C3-visa", "§9 C3", "C3 visa: only (24,49,35), (24,49,34)",
          _top("C3", 1454, ("visa",), 24, 49, [35, 34])),
    Claim("B-0.06871", "§9 boundary", "C2 infeasible at τ_u = 0.06871",
          _boundary("0.06871", False)),
    Claim("B-0.06872", "§9 boundary", "C2 at τ_u = 0.06872: only (18,r,34,54000.03), 48<=r<=64",
          _boundary("0.06872", True)),
    Claim("T3-bitcoin", "Table 3", "C1, τ_u=50000/7: (18,48,41..37) as Table 2",
          _table("C1", 50_000, "bitcoin", _t2(41, 5))),
    Claim("T3-paypal", "Table 3", "C1, τ_u=50000/100: (18,48,41..37)",
          _table("C1", 50_000, "paypal", _t2(41, 5))),
    Claim("T3-visa", "Table 3", "C1, τ_u=50000/7000: (18,48,40..36), costs 54002.2 .. 54000.138",
          _table("C1", 50_000, "visa", _t2(40, 5))),
    Claim("A-C2-50k", "§9 ant", "C2, ant=50000: all rates (18,48,d), 36<=d<=40",
          _top("C2", 50_000, ALL_RATES, 18, 48, [40, 39, 38, 37, 36])),
    Claim("A-C3-50k", "§9 ant", "C3, ant=50000: all rates (24,49,d), 36<=d<=40",
          _top("C3", 50_000, ALL_RATES, 24, 49, [40, 39, 38, 37, 36])),
    Claim("S-C1", "§9 sweep", "C1, ant=50000..500000: all rates (18,48,d), 37<=d<=41",
          _sweep("C1", SWEEP_ALL, 18, 48, [41, 40, 39, 38, 37])),
    Claim("S-C2", "§9 sweep", "C2, ant=100000..500000: all rates (18,48,d), 36<=d<=40",
          _sweep("C2", SWEEP_100K, 18, 48, [40, 39, 38, 37, 36])),
    Claim("S-C2-50k", "§9 sweep", "C2, ant=50000: needs >= 49 nonce bits and >= 24 miners",
          _top("C2", 50_000, ALL_RATES, 24, 49, [40, 39, 38, 37, 36])),
    Claim("S-C3", "§9 sweep", "C3, ant=50000..500000: all rates (24,49,d), 36<=d<=40",
          _sweep("C3", SWEEP_ALL, 24, 49, [40, 39, 38, 37, 36])),
    Claim("R-range", "§9 nonce", "every optimal tuple stays feasible for r < r' <= 64", _r_range),
]

#: The paper's own contradictions: claims that cannot all hold at once, whatever the model.
CONTRADICTIONS: list[tuple[str, str, str]] = [
    ("T3-visa", "S-C1", "Table 3 gives d=36..40 at ant=50000/Visa in C1; the sweep says 37..41 "
     "for every ant from 50000"),
    ("A-C2-50k", "S-C2-50k", "C2 at ant=50000 is (18,48,36..40) in the text after Table 3 and "
     "'at least 49 bits and 24 miners' in the sweep summary (that is C3's answer)"),
]

READING_COLUMNS: dict[str, dict[str, Any]] = {
    "literal": {"reading": "literal", "hash_time": HASH_TIME_READINGS["prose"]},
    "literal-tableT": {"reading": "literal", "hash_time": HASH_TIME_READINGS["table"]},
    "best": {"reading": "published", "hash_time": HASH_TIME_READINGS["prose"]},
    "best-tableT": {"reading": "published", "hash_time": HASH_TIME_READINGS["table"]},
}


def _runner() -> tuple[Callable[..., Figure21Result], dict[str, float]]:
    """Memoised Figure 21 runs (many claims share a configuration), with timings."""
    memo: dict[Any, Figure21Result] = {}
    stats = {"runs": 0.0, "seconds": 0.0}

    def run(cfg: PaperConfig, tau: Fraction) -> Figure21Result:
        c = cfg.with_(tau_u=tau)
        key = (c.name, c.reading, c.hash_time, c.delta, c.delta3, c.tau_u)
        if key not in memo:
            t0 = time.perf_counter()
            memo[key] = figure21(c)
            stats["runs"] += 1
            stats["seconds"] += time.perf_counter() - t0
        return memo[key]
    return run, stats


def reproduce(columns: tuple[str, ...] = ("literal", "best"),
              base: PaperConfig | None = None,
              progress: Callable[[str], None] | None = None,
              only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Check every claim (or the keys in ``only``) under every requested reading; JSON-ready."""
    claims = [c for c in CLAIMS if only is None or c.key in only]
    out_rows: list[dict[str, Any]] = [
        {"key": c.key, "where": c.where, "published": c.text} for c in claims]
    summary: dict[str, Any] = {}
    for col in columns:
        opts = READING_COLUMNS[col]
        b = (base or PaperConfig()).with_(**opts)
        run, stats = _runner()
        matched = 0
        for claim, row in zip(claims, out_rows, strict=True):
            if progress:
                progress(f"{col}: {claim.key}")
            ok, text = claim.check(run, b)
            row[col] = {"match": ok, "computed": text}
            matched += ok
        summary[col] = {"matched": matched, "claims": len(claims),
                        "optimisations": int(stats["runs"]),
                        "seconds": stats["seconds"],
                        "mean_seconds": stats["seconds"] / max(stats["runs"], 1)}
    consistent = len(claims) - sum(1 for a, b, _ in CONTRADICTIONS
                                   if {a, b} <= {c.key for c in claims})
    return {"claims": out_rows, "summary": summary,
            "contradictions": [{"a": a, "b": b, "why": why} for a, b, why in CONTRADICTIONS],
            "max_matchable": consistent}


def match_count_text(result: dict[str, Any]) -> str:
    parts = [f"{col}: {v['matched']}/{v['claims']}" for col, v in result["summary"].items()]
    return "; ".join(parts) + f" (at most {result['max_matchable']} can hold together)"




def markdown(result: dict[str, Any]) -> str:
    """The side-by-side table of docs/experiments/mining-calculus.md §4, as markdown."""
    cols = list(result["summary"])
    head = "| claim | where | published | " + " | ".join(cols) + " |"
    lines = [head, "|" + " --- |" * (3 + len(cols))]
    for row in result["claims"]:
        cells = [("✓ " if row[c]["match"] else "✗ ") + row[c]["computed"].replace("|", "/")
                 for c in cols]
        lines.append(f"| {row['key']} | {row['where']} | {row['published']} | "
                     + " | ".join(cells) + " |")
    lines.append("| **matched** | | | " + " | ".join(
        f"**{result['summary'][c]['matched']}/{result['summary'][c]['claims']}**"
        for c in cols) + " |")
    return "\n".join(lines) + "\n"
