"""`learnchain calculus`: optimise, evaluate and sweep the mining calculus from the shell."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from learnchain.governance.config import (
    CalculusConfig,
    CalculusConfigError,
    config_from_mapping,
    load_config,
    preset,
)

calculus_app = typer.Typer(
    help="Mining calculus: choose miners s, nonce bits r and difficulty d robustly.",
    no_args_is_help=True,
)

_console = Console()
_err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Configuration mistakes become one red line and exit code 2, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (CalculusConfigError, ValueError, FileNotFoundError) as exc:
            _err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` with TOML value syntax (numbers, strings, 2^-64 shortcuts)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise CalculusConfigError(item, "override must look like key=value", "--set u_d=2")
        key, raw = (part.strip() for part in item.split("=", 1))
        try:
            out[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = raw
    return out


def _build_config(
    config: Path | None,
    preset_name: str | None,
    overrides: list[str] | None,
    strict: bool = False,
) -> CalculusConfig:
    if config is not None and preset_name is not None:
        raise CalculusConfigError("--preset", "given together with a config file", "use one")
    base = _load_folded(config, strict) if config is not None else (
        preset(preset_name) if preset_name else CalculusConfig(name="table1")
    )
    extra = _parse_overrides(overrides)
    return config_from_mapping(extra, base=base) if extra else base


def _model_of(path: Path | None) -> str:
    """``model`` key of a TOML file: "paper" (default) or "folded" (the earlier model)."""
    if path is None:
        return "paper"
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalculusConfigError("config", f"file {path} not found", "pass a path") from None
    except tomllib.TOMLDecodeError as exc:
        raise CalculusConfigError("config", f"invalid TOML in {path}: {exc}", "fix it") from None
    model = raw.get("model", "paper")
    if model not in ("paper", "folded"):
        raise CalculusConfigError("model", f"unknown model {model!r}", "paper or folded")
    return str(model)


def _load_folded(path: Path, strict: bool) -> CalculusConfig:
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    raw.pop("model", None)
    raw.setdefault("name", Path(path).stem)
    return config_from_mapping(raw, require_all=strict)


def _paper_config(config: Path | None, preset_name: str | None, overrides: list[str] | None,
                  reading: str | None = None) -> Any:
    from learnchain.governance.paper import (
        PaperConfig,
        configuration,
        load_paper_config,
    )
    from learnchain.governance.paper import (
        config_from_mapping as paper_mapping,
    )

    if config is not None:
        cfg = load_paper_config(config)
    elif preset_name is not None:
        cfg = configuration(preset_name)
    else:
        cfg = PaperConfig()
    extra = _parse_overrides(overrides)
    if reading is not None:
        extra["reading"] = reading
    return paper_mapping(extra, base=cfg) if extra else cfg


def _paper_optimize(config: Path, overrides: list[str] | None, as_json: bool) -> None:
    from learnchain.governance.paper_solver import figure21

    cfg = _paper_config(config, None, overrides)
    res = figure21(cfg)
    if as_json:
        _emit_json({**res.as_dict(), "constants": cfg.to_dict()})
        if not res.rows:
            raise typer.Exit(1)
        return
    title = (f"{cfg.name} (reading {cfg.reading}): τ_u={float(cfg.tau_u):.6g}s, "
             f"δ={float(cfg.delta):.3g}, δ3={float(cfg.delta3):.3g}, T={float(cfg.hash_time):.3g}s")
    if not res.rows:
        _console.print(f"[bold]{title}[/]\n[red]no robustly feasible (s, r, d) in the ranges[/]")
        raise typer.Exit(1)
    table = Table(title=title)
    for col in ("s", "r", "d", "cost (Figure 21)", "feasible r"):
        table.add_column(col, justify="right")
    for row in res.rows:
        rr = f"{row.r_feasible[0]}..{row.r_feasible[-1]}" if row.r_feasible else "-"
        table.add_row(str(row.s), str(row.r), str(row.d), row.cost_exact, rr)
    _console.print(table)
    _console.print(f"c_m = {res.c_m:.10g}; {res.n_robust} robustly feasible tuples; "
                   f"{res.exact_checks} exact boundary checks; {res.seconds * 1e3:.0f} ms")


def _fmt(x: float) -> str:
    return f"{x:.6g}"


OVERRIDE_OPTION = typer.Option(None, "--set", help="Override a constant, e.g. --set mu=0.001")
JSON_FLAG = typer.Option(False, "--json", help="Print machine-readable JSON.")


@calculus_app.command("optimize")
@_friendly
def optimize_cmd(
    config: Path = typer.Argument(..., help="TOML configuration (see experiments/calculus)."),
    objective: str | None = typer.Option(None, help="min_cost or max_d (overrides the file)."),
    budget: float | None = typer.Option(None, help="Cost budget for --objective max_d."),
    overrides: list[str] | None = OVERRIDE_OPTION,
    strict: bool = typer.Option(
        False, "--strict", help="Use no defaults: every constant must be in the file."
    ),
    as_json: bool = JSON_FLAG,
) -> None:
    """Exhaustive robust optimisation and Figure 21's report (folded model: model = "folded")."""
    if _model_of(config) == "paper":
        _paper_optimize(config, overrides, as_json)
        return
    from learnchain.governance.robust import optimise

    cfg = _build_config(config, None, overrides, strict)
    changes: dict[str, Any] = {}
    if objective is not None:
        changes["objective"] = objective
    if budget is not None:
        changes["budget"] = budget
    if changes:
        cfg = config_from_mapping(changes, base=cfg)
    res = optimise(cfg)
    if as_json:
        _emit_json({**res.as_dict(), "constants": cfg.to_dict()})
        return
    title = f"{cfg.name}: {cfg.objective}  (τ_u={cfg.tau_u:.6g}s, δ={cfg.delta:.3g}, " \
            f"δ2={cfg.delta2:.3g}, δ3={cfg.delta3:.3g})"
    if res.optimum is None:
        _console.print(f"[bold]{title}[/]\n[red]no robustly feasible (s, r, d) in the ranges[/]")
        raise typer.Exit(1)
    table = Table(title=title)
    for col in ("d", "r (min)", "r (max)", "s", "robust cost"):
        table.add_column(col, justify="right")
    for row in res.table:
        table.add_row(str(row.d), str(row.r), str(row.r_max), str(row.s), _fmt(row.cost))
    _console.print(table)
    o = res.optimum
    _console.print(
        f"optimum: s={o.s} r={o.r} d={o.d} cost={_fmt(o.cost)}; feasible d in "
        f"{res.feasible_d}; {res.n_feasible_pairs} feasible (s,d) pairs; "
        f"{res.exact_checks} exact boundary checks; {res.seconds * 1e3:.1f} ms"
    )


@calculus_app.command("eval")
@_friendly
def eval_cmd(
    s: int = typer.Option(..., "--s", help="Number of miners."),
    r: int = typer.Option(..., "--r", help="Nonce bits."),
    d: int = typer.Option(..., "--d", help="Difficulty (leading zero bits)."),
    config: Path | None = typer.Option(None, "--config", help="TOML configuration."),
    preset_name: str | None = typer.Option(None, "--preset", help="C1, C2 or C3."),
    overrides: list[str] | None = OVERRIDE_OPTION,
    model: str = typer.Option("paper", "--model", help="paper (Figure 12) or folded."),
    reading: str | None = typer.Option(None, "--reading", help="literal or published."),
    as_json: bool = JSON_FLAG,
) -> None:
    """Every quantity of one (s, r, d), exactly, and which constraints hold."""
    if model == "paper" and _model_of(config) == "paper":
        _paper_eval(s, r, d, config, preset_name, overrides, reading, as_json)
        return
    from learnchain.governance.tuple_report import evaluate_tuple

    cfg = _build_config(config, preset_name, overrides)
    rep = evaluate_tuple(cfg, s, r, d)
    if as_json:
        _emit_json({**rep.as_dict(), "config": cfg.name})
        return
    nominal = Table(title=f"{cfg.name}: s={s} r={r} d={d} (nominal)")
    nominal.add_column("quantity")
    nominal.add_column("value", justify="right")
    for key, value in rep.nominal.items():
        nominal.add_row(key, _fmt(value))
    _console.print(nominal)
    robust = Table(title=f"robust constraints (u_s={cfg.u_s}, u_d={cfg.u_d}, "
                         f"λ reading={cfg.lambda_reading})")
    for col in ("constraint", "worst value", "bound", "ok", "worst (s', d')", "binds on"):
        robust.add_column(col)
    for name, c in rep.checks.items():
        robust.add_row(name, _fmt(c.value), _fmt(c.bound), "yes" if c.ok else "[red]NO[/]",
                       f"({c.worst_s}, {c.worst_d})", ", ".join(rep.binding[name]) or "-")
    _console.print(robust)
    verdict = "[green]robustly feasible[/]" if rep.feasible else "[red]infeasible[/]"
    _console.print(f"{verdict}; robust cost {_fmt(rep.robust_cost)}")


@calculus_app.command("sweep")
@_friendly
def sweep_cmd(
    out: Path = typer.Option(Path("experiments/out/calculus"), "--out",
                             help="Output directory (default experiments/out/calculus)."),
    config: Path | None = typer.Option(None, "--config", help="Base constants (TOML)."),
    quick: bool = typer.Option(False, "--quick", help="Coarser sweeps (for smoke tests)."),
    as_json: bool = JSON_FLAG,
) -> None:
    """The earlier folded model's experiment set (see `reproduce` for the paper's §9)."""
    from learnchain.governance.experiments import run_all

    base = load_config(config) if config is not None else None
    results = run_all(out, base=base, quick=quick)
    if as_json:
        _emit_json(results)
        return
    table = Table(title="Published grid (1454 tx per block)")
    for col in ("config", "rate", "τ_u (s)", "s", "r", "d", "cost", "feasible d"):
        table.add_column(col)
    for row in results["published_grid"]:
        o = row["optimum"]
        table.add_row(
            row["config"], row["rate"], _fmt(row["tau_u"]),
            *(str(o[k]) for k in ("s", "r", "d")) if o else ("-", "-", "-"),
            _fmt(o["cost"]) if o else "infeasible",
            str(row["feasible_d_range"] or "-"),
        )
    _console.print(table)
    b = results["c2_feasibility_boundary"]
    _console.print(f"C2 feasibility boundary: τ_u >= {b.get('tau_u_min')} s")
    t = results["timings"]
    _console.print(
        f"{t['per_optimisation_s']['n']} optimisations, mean "
        f"{t['per_optimisation_s']['mean'] * 1e3:.1f} ms, whole set {t['total_s']:.2f} s; "
        f"files: {', '.join(results.get('files', []))}"
    )


def _paper_eval(s: int, r: int, d: int, config: Path | None, preset_name: str | None,
                overrides: list[str] | None, reading: str | None, as_json: bool) -> None:
    import mpmath

    from learnchain.governance.paper import evaluate

    cfg = _paper_config(config, preset_name, overrides, reading)
    rep = evaluate(cfg, s, r, d)
    if as_json:
        _emit_json({**rep, "config": cfg.name, "reading": cfg.reading})
        return
    table = Table(title=f"{cfg.name}: s={s} r={r} d={d} (reading {cfg.reading})")
    for col in ("quantity", "exact value"):
        table.add_column(col)
    for key, value in rep["values"].items():
        table.add_row(key, value)
    _console.print(table)
    checks = Table(title="Figure 12 constraints")
    for col in ("constraint", "nominal", "robust (reading)"):
        checks.add_column(col)
    for name, v in rep["constraints"].items():
        checks.add_row(name, "ok" if v["nominal"] else "[red]NO[/]",
                       "ok" if v["robust"] else "[red]NO[/]")
    _console.print(checks)
    verdict = "[green]robustly feasible[/]" if rep["feasible"] else "[red]infeasible[/]"
    _console.print(f"{verdict}; Cost(s, r, d) = {mpmath.nstr(mpmath.mpf(rep['cost']), 15)}")


@calculus_app.command("reproduce")
@_friendly
def reproduce_cmd(
    columns: str = typer.Option("literal,best", "--columns",
                                help="Readings: literal, best, literal-tableT, best-tableT."),
    claims: str | None = typer.Option(None, "--claims", help="Comma-separated claim keys."),
    evidence: bool = typer.Option(False, "--evidence",
                                  help="Also vary each constraint's evaluation point (slow)."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print the doc's markdown table."),
    as_json: bool = JSON_FLAG,
) -> None:
    """Every number of the whitepaper's §9 next to our readings, with a match count."""
    from rich.progress import Progress

    from learnchain.governance.reproduce import READING_COLUMNS, match_count_text, reproduce

    cols = tuple(c.strip() for c in columns.split(",") if c.strip())
    for c in cols:
        if c not in READING_COLUMNS:
            raise CalculusConfigError("--columns", f"unknown column {c!r}",
                                      f"use {', '.join(READING_COLUMNS)}")
    with Progress(console=_err, transient=True, disable=as_json) as prog:
        task = prog.add_task("reproducing §9", total=None)
        only = tuple(k.strip() for k in claims.split(",")) if claims else None
        result = reproduce(cols, progress=lambda msg: prog.update(task, description=msg),
                           only=only)
    if evidence:
        from learnchain.governance.evidence import evidence as run_evidence

        with Progress(console=_err, transient=True, disable=as_json) as prog:
            task = prog.add_task("evidence", total=None)
            result["evidence"] = run_evidence(
                progress=lambda msg: prog.update(task, description=msg))
    if as_json:
        _emit_json(result)
        return
    if as_markdown:
        from learnchain.governance.reproduce import markdown

        sys.stdout.write(markdown(result) + "match count: " + match_count_text(result) + "\n")
        return
    table = Table(title="Whitepaper §9: published vs recomputed")
    table.add_column("claim")
    table.add_column("published")
    for c in cols:
        table.add_column(c)
    for row in result["claims"]:
        table.add_row(row["key"], row["published"], *(
            ("[green]✓[/] " if row[c]["match"] else "[red]✗[/] ") + row[c]["computed"]
            for c in cols))
    _console.print(table)
    for item in result["contradictions"]:
        _console.print(f"paper inconsistency: {item['a']} vs {item['b']}: {item['why']}")
    _console.print("match count: " + match_count_text(result))
    if evidence:
        ev = Table(title="Evidence: evaluation points that keep every decisive claim")
        for col in ("constraint", "chosen (s', d', λ split)", "alternatives that also match"):
            ev.add_column(col)
        for name, v in result["evidence"]["constraints"].items():
            ch = v["chosen"]
            alts = "; ".join(f"{a['s']},{a['d']},{a['lam']}" for a in v["matching"])
            ev.add_row(name, f"{ch['s']},{ch['d']},{ch['lam']}",
                       f"{len(v['matching'])}/{v['tried']}: {alts}")
        _console.print(ev)
