"""The whitepaper's single-type mining calculus: Figure 12's constraints, Table 1's constants.

Every constraint of Figure 12 (plus Figure 13's pool bound) is a *named* constraint with its
own bound and an on/off switch, so a deployment can state exactly which guarantees it asks
for.  This module holds the configuration and the exact (arbitrary-precision) evaluation of
one point (s', r, d'); :mod:`learnchain.governance.paper_solver` decides whole grids quickly
and falls back to these functions near a bound.

Why exact: the published problem mixes probabilities such as 2^-64 with exponents of 10^13;
IEEE doubles lose ``1 - 2^-d`` for d >= 54 and the whitepaper reports that off-the-shelf
MINLP solvers declared it infeasible for that reason.  Here every integer (λ, ⌈th/T - 1⌉,
⌊μ/T⌋) is computed with :class:`fractions.Fraction` and every probability with mpmath at a
precision that grows with the exponents involved.
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import mpmath

#: Constraint names, in Figure 12 order (pool from Figure 13).
CONSTRAINTS: tuple[str, ...] = (
    "nonce_nonempty",  # λ = ⌊2^r/s⌋ >= 1: every miner owns at least one nonce
    "failure",  # ε >= y^(λ+1)                                             (4)
    "time_upper",  # τ_u >= T·E^s(noR)                                       (7), (9)
    "time_lower",  # T·E^s(noR) >= τ_l
    "nonce_th",  # ⌈th/T - 1⌉ < λ: soundness of (10)
    "tail",  # δ >= y^(⌈th/T - 1⌉ + 1) - y^(λ+1)                       (10)
    "fast_sound",  # 0 < ⌊th'/T - 1⌋: soundness of (11)
    "fast",  # δ1 >= 1 - y^(⌊th'/T - 1⌋ + 1)                         (11)
    "dispute_sound",  # 0 <= ⌊μ/T⌋
    "dispute",  # δ2 >= 1 + (s-1)·w^s - s·w^(s-1)                         (16)
    "pool",  # l < s and l^c <= δ3·s^c                                   Figure 13
)

#: Constraints whose value depends on λ (so on which s the nonce space is split for).
LAMBDA_CONSTRAINTS = frozenset({"nonce_nonempty", "failure", "time_upper", "time_lower",
                                "nonce_th", "tail"})

#: T as printed in Table 1 and as derived in the prose (one ASIC at 50 GH/s).
HASH_TIME_READINGS: dict[str, Fraction] = {
    "table": Fraction(2, 10**12),  # 0.002·10^-9 s
    "prose": Fraction(1, 50 * 10**9),  # 1/(50·10^9) = 0.02·10^-9 s
}
TX_PER_BLOCK = 1454
TX_RATES: dict[str, int] = {"bitcoin": 7, "paypal": 100, "visa": 7000}


class PaperConfigError(ValueError):
    """Invalid paper-model configuration; the message names the field and the fix."""

    def __init__(self, field_name: str, problem: str, fix: str) -> None:
        self.field = field_name
        super().__init__(f"{field_name}: {problem} (fix: {fix})")


def to_fraction(value: Any, name: str = "value") -> Fraction:
    """Exact value of a TOML number or of a string such as "2^-64", "1/(50e9)" or "1e-9"."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise PaperConfigError(name, f"expected a number, got {value!r}", "write a number")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PaperConfigError(name, f"must be finite, got {value!r}", "a finite number")
        return Fraction(repr(value))  # the decimal the user wrote, not the binary double
    if isinstance(value, str):
        text = value.replace(" ", "").replace("·", "*")
        try:
            if text.startswith("2^"):
                return Fraction(2) ** int(text[2:])
            if "/" in text:
                num, den = text.split("/", 1)
                return to_fraction(num, name) / to_fraction(den.strip("()"), name)
            if "*" in text:
                a, b = text.split("*", 1)
                return to_fraction(a, name) * to_fraction(b, name)
            if text.startswith("10^"):
                return Fraction(10) ** int(text[3:])
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise PaperConfigError(name, f"cannot parse {value!r}",
                                   'write a number, "2^-64" or "1/(50e9)"') from None
    raise PaperConfigError(name, f"expected a number, got {value!r}", "write a number")


# --------------------------------------------------------------------------- readings
#: Where in the uncertainty box a constraint is checked.
#: s: "box" = every s' in [s-u_s, s]; "s" = deployed; "s-u_s" = fewest reliable; "u_s" = u_s
#:    miners (the reading the published time results imply, see the doc).
#: d: "box" = every d' with |d-d'| <= u_d; "d"; "d-u_d"; "d+u_d"; "down" = [d-u_d, d].
#: lam: "s'" = λ = ⌊2^r/s'⌋ (Figure 12 applied to (s', r, d') literally); "s" = ⌊2^r/s⌋ (the
#:    ranges were split among the s deployed miners).
S_CHOICES = ("box", "s", "s-u_s", "u_s")
D_CHOICES = ("box", "d", "d-u_d", "d+u_d", "down")
LAM_CHOICES = ("s'", "s")


@dataclass(frozen=True)
class Where:
    """One constraint's evaluation points in the uncertainty box."""

    s: str = "box"
    d: str = "box"
    lam: str = "s'"

    def s_values(self, s: int, u_s: int) -> list[int]:
        """The s' values (>= 1 only: zero reliable miners never mine; see allow u_s >= s_l)."""
        if self.s == "box":
            vals = list(range(s - u_s, s + 1))
        elif self.s == "s":
            vals = [s]
        elif self.s == "s-u_s":
            vals = [s - u_s]
        else:
            vals = [u_s]
        return vals

    def d_offsets(self, u_d: int) -> list[int]:
        return {"box": list(range(-u_d, u_d + 1)), "d": [0], "d-u_d": [-u_d],
                "d+u_d": [u_d], "down": list(range(-u_d, 1))}[self.d]


LITERAL = {name: Where("box", "box", "s'") for name in CONSTRAINTS}

#: The reading the published tables imply (evidence in docs/experiments/mining-calculus.md):
#: the time constraints behave as if evaluated for u_s miners at the nominal d, dispute and
#: pool at the fewest reliable miners (dispute at the lowest difficulty), failure and the
#: nonce-space soundness at s - u_s and nominal d with the deployed split of the nonces.
PUBLISHED = {
    "nonce_nonempty": Where("s-u_s", "d", "s"),
    "failure": Where("s-u_s", "d", "s"),
    "time_upper": Where("u_s", "d", "s"),
    "time_lower": Where("u_s", "d", "s"),
    "nonce_th": Where("s", "d", "s"),
    "tail": Where("u_s", "d", "s"),
    "fast_sound": Where("s", "d", "s"),
    "fast": Where("u_s", "d", "s"),
    "dispute_sound": Where("s", "d", "s"),
    "dispute": Where("s-u_s", "d-u_d", "s"),
    "pool": Where("s-u_s", "d", "s"),
}

READINGS: dict[str, dict[str, Where]] = {"literal": LITERAL, "published": PUBLISHED}


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class PaperConfig:
    """Table 1 of the whitepaper (defaults), Figure 13's robustness, and the reading options."""

    s_l: int = 4
    s_u: int = 80
    r_l: int = 24
    r_u: int = 64
    d_l: int = 4
    d_u: int = 64
    tvc: Fraction = Fraction(2, 10**12)
    tfc: Fraction = Fraction(3000)
    alpha: Fraction = Fraction(3, 2)
    hash_time: Fraction = HASH_TIME_READINGS["prose"]
    th: Fraction = Fraction(300)
    th_prime: Fraction = Fraction(300)
    delta: Fraction = Fraction(1, 10**9)
    delta1: Fraction = Fraction(1)
    delta2: Fraction = Fraction(1, 1000)
    delta3: Fraction = Fraction(1, 1000)
    tau_l: Fraction = Fraction(0)
    tau_u: Fraction = Fraction(TX_PER_BLOCK, TX_RATES["bitcoin"])
    mu: Fraction = Fraction(1, 10_000)
    epsilon: Fraction = Fraction(1, 2**64)
    top_p: int = 5  # Table 1's k, Figure 21's p
    u_d: int = 3
    u_s: int = 5
    c: int = 6
    l_pool: int = 4
    #: constraints switched off (e.g. ["fast"] when δ1 = 1 makes it vacuous anyway)
    disabled: tuple[str, ...] = ()
    reading: str = "published"
    #: Figure 21 line 3 reports the nominal Cost(s, r, d); "robust" = eq. (18)'s worst case
    cost: str = "nominal"
    name: str = field(default="table1", compare=False)

    def __post_init__(self) -> None:
        validate(self)

    def where(self, constraint: str) -> Where:
        return READINGS[self.reading][constraint]

    def enabled(self) -> tuple[str, ...]:
        return tuple(c for c in CONSTRAINTS if c not in self.disabled)

    # integer thresholds, exact
    @functools.cached_property  # fields are frozen; the solver reads these per point
    def a_tail(self) -> int:
        """⌈th/T - 1⌉ + 1: the exponent of the first term of (10)."""
        return math.ceil(self.th / self.hash_time - 1) + 1

    @functools.cached_property
    def b_fast(self) -> int:
        """⌊th'/T - 1⌋ + 1: the exponent in Figure 12's version of (11)."""
        return math.floor(self.th_prime / self.hash_time - 1) + 1

    @functools.cached_property
    def m_mu(self) -> int:
        """⌊μ/T⌋ + 1: hashes one miner does within the dispute window, as in (12)."""
        return math.floor(self.mu / self.hash_time) + 1

    @functools.cached_property
    def values_key(self) -> tuple[int, ...]:
        """What Figure 12's values depend on besides (s, d, λ), as ints (cheap to hash: the
        solver looks values up hundreds of thousands of times)."""
        return (self.hash_time.numerator, self.hash_time.denominator, self.a_tail, self.b_fast,
                self.m_mu, self.tvc.numerator, self.tvc.denominator, self.tfc.numerator,
                self.tfc.denominator)

    def with_(self, **changes: Any) -> PaperConfig:
        return replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: (str(v) if isinstance(v, Fraction) else v) for k, v in out.items()}


_FRACTION_FIELDS = {f.name for f in fields(PaperConfig) if f.type in ("Fraction",)}
_INT_FIELDS = {"s_l", "s_u", "r_l", "r_u", "d_l", "d_u", "top_p", "u_d", "u_s", "c", "l_pool"}
_PROBS = ("delta", "delta1", "delta2", "delta3", "epsilon")


def _coerce(name: str, value: Any) -> Any:
    if name in _FRACTION_FIELDS:
        if name == "hash_time" and isinstance(value, str) and value in HASH_TIME_READINGS:
            return HASH_TIME_READINGS[value]
        if name == "tau_u" and isinstance(value, dict):
            return tau_from_rate(value.get("tx_per_block", TX_PER_BLOCK), value.get("tx_rate"))
        return to_fraction(value, name)
    if name == "disabled":
        return tuple(value)
    return value


def tau_from_rate(tx_per_block: Any, rate: Any) -> Fraction:
    """τ_u = transactions per block / transactions per second, as in (81)."""
    rate_v = TX_RATES.get(rate) if isinstance(rate, str) else rate
    if rate_v is None:
        raise PaperConfigError("tau_u.tx_rate", f"unknown rate {rate!r}",
                               f"a number or one of {sorted(TX_RATES)}")
    return to_fraction(tx_per_block, "tau_u.tx_per_block") / to_fraction(rate_v, "tau_u.tx_rate")


def validate(cfg: PaperConfig) -> None:
    """Types, ranges and consistency; one error type naming the field."""
    for name in _INT_FIELDS:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise PaperConfigError(name, f"expected an integer, got {v!r}", "write an integer")
    for name in _FRACTION_FIELDS:
        if not isinstance(getattr(cfg, name), Fraction):
            raise PaperConfigError(name, "internal: not exact", "build configs with with_()")
        if getattr(cfg, name) < 0:
            raise PaperConfigError(name, f"must be >= 0, got {getattr(cfg, name)}", "use >= 0")
    for name in _PROBS:
        if getattr(cfg, name) > 1:
            raise PaperConfigError(name, "a probability bound must be <= 1", "use [0, 1]")
    for name in ("hash_time", "mu"):
        if getattr(cfg, name) <= 0:
            raise PaperConfigError(name, "must be > 0", "use a positive value")
    for lo, hi, minimum in (("s_l", "s_u", 1), ("r_l", "r_u", 1), ("d_l", "d_u", 1)):
        if getattr(cfg, lo) < minimum or getattr(cfg, lo) > getattr(cfg, hi):
            raise PaperConfigError(lo, f"need {minimum} <= {lo} <= {hi}", f"fix the {lo} range")
    if cfg.r_u > 512 or cfg.d_u > 512:
        raise PaperConfigError("r_u" if cfg.r_u > 512 else "d_u", "beyond the model", "<= 512")
    if cfg.u_s < 0 or cfg.u_d < 0:
        raise PaperConfigError("u_s" if cfg.u_s < 0 else "u_d", "must be >= 0", "use 0 or more")
    if cfg.c < 1 or cfg.l_pool < 0:
        raise PaperConfigError("c", "need c >= 1 and l >= 0", "fix the pool constants")
    if cfg.alpha < 1:
        raise PaperConfigError("alpha", "Figure 21 needs alpha >= 1", "use alpha >= 1")
    if cfg.top_p < 1:
        raise PaperConfigError("top_p", "must be >= 1", "use 1 or more")
    for name in cfg.disabled:
        if name not in CONSTRAINTS:
            raise PaperConfigError("disabled", f"unknown constraint {name!r}",
                                   f"use names from {', '.join(CONSTRAINTS)}")
    if cfg.reading not in READINGS:
        raise PaperConfigError("reading", f"unknown reading {cfg.reading!r}",
                               f"use one of {', '.join(READINGS)}")
    if cfg.cost not in ("nominal", "robust"):
        raise PaperConfigError("cost", f"unknown cost {cfg.cost!r}", "nominal or robust")


def config_from_mapping(data: dict[str, Any], base: PaperConfig | None = None) -> PaperConfig:
    """Flat or sectioned mapping (as from TOML) -> config; unknown keys are errors."""
    names = {f.name for f in fields(PaperConfig)}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in names:
            for sub, v in value.items():
                if sub not in names:
                    raise PaperConfigError(f"{key}.{sub}", "unknown key",
                                           f"valid keys: {', '.join(sorted(names))}")
                flat[sub] = v
        elif key in names:
            flat[key] = value
        elif key != "model":
            raise PaperConfigError(key, "unknown key", f"valid keys: {', '.join(sorted(names))}")
    return (base or PaperConfig()).with_(**flat)


def load_paper_config(path: str | Path) -> PaperConfig:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PaperConfigError("config", f"file {p} not found", "pass an existing path") from None
    except tomllib.TOMLDecodeError as exc:
        raise PaperConfigError("config", f"invalid TOML in {p}: {exc}", "fix syntax") from None
    raw.setdefault("name", p.stem)
    return config_from_mapping(raw)


def configuration(name: str, base: PaperConfig | None = None, **changes: Any) -> PaperConfig:
    """§9's configurations: C1 = Table 1; C2: δ = 2^-64; C3: δ = 2^-64 and δ3 = 10^-4."""
    table = {
        "C1": {},
        "C2": {"delta": Fraction(1, 2**64)},
        "C3": {"delta": Fraction(1, 2**64), "delta3": Fraction(1, 10**4)},
    }
    if name not in table:
        raise PaperConfigError("configuration", f"unknown {name!r}", "use C1, C2 or C3")
    return (base or PaperConfig()).with_(name=name, **{**table[name], **changes})


# --------------------------------------------------------------------------- exact values
def lam_of(r: int, s: int) -> int:
    """λ = ⌊2^r / s⌋ in integers (2^r exceeds doubles' 53 bits for the published r)."""
    if s < 1:
        raise ValueError(f"need s >= 1 miners, got {s}")
    return (1 << r) // s


def _dps(*ints: int) -> int:
    bits = max((abs(int(v)).bit_length() for v in ints), default=1)
    return 40 + int(bits * 0.302) * 2


def exact_log_y(s: int, d: int, dps: int) -> mpmath.mpf:
    """ln y = s·ln(1 - 2^-d), at the caller's precision (d = 0 gives -inf)."""
    with mpmath.workdps(dps):
        if d <= 0:
            return mpmath.ninf
        return s * mpmath.log1p(-(mpmath.mpf(2) ** (-d)))


def exact_values(cfg: PaperConfig, s: int, r: int, d: int, lam: int) -> dict[str, mpmath.mpf]:
    """Every Figure 12 quantity at (s, r, d) with the given λ, in arbitrary precision."""
    return _exact_values(cfg.values_key, s, d, lam)


@functools.lru_cache(maxsize=8192)
def _exact_values(key: tuple[int, ...], s: int, d: int, lam: int) -> dict[str, mpmath.mpf]:
    ht_num, ht_den, a, b, m, tvc_num, tvc_den, tfc_num, tfc_den = key
    hash_time, tvc, tfc = (Fraction(ht_num, ht_den), Fraction(tvc_num, tvc_den),
                           Fraction(tfc_num, tfc_den))
    dps = _dps(1 << min(max(d, 1), 1024), lam, a, b, m, s)
    with mpmath.workdps(dps):
        ly = exact_log_y(s, d, dps)
        y = mpmath.exp(ly)
        n = lam + 1
        yn = mpmath.exp(n * ly)
        e_rounds = (1 - yn - n * (1 - y) * yn) / (1 - y) if y < 1 else mpmath.mpf(n)
        if d <= 0:
            e_rounds = mpmath.mpf(1)
        w = mpmath.exp(m * mpmath.log1p(-(mpmath.mpf(2) ** (-d)))) if d > 0 else mpmath.mpf(0)
        dispute = (1 + (s - 1) * w**s - s * w ** (s - 1)) if s >= 1 else mpmath.mpf(0)
        return {
            "lambda": mpmath.mpf(lam),
            "y": y,
            "failure": yn,
            "expected_rounds": e_rounds,
            "expected_time": e_rounds * mpmath.mpf(hash_time.numerator) / hash_time.denominator,
            "tail": mpmath.exp(a * ly) - yn,
            "fast": -mpmath.expm1(b * ly),
            "dispute": dispute,
            "cost": (mpmath.mpf(tvc.numerator) / tvc.denominator) * e_rounds * s
            + mpmath.mpf(tfc.numerator) / tfc.denominator * s,
        }


def _mpf(x: Fraction) -> mpmath.mpf:
    return _mpf_at(x.numerator, x.denominator, mpmath.mp.prec)


@functools.lru_cache(maxsize=4096)
def _mpf_at(num: int, den: int, prec: int) -> mpmath.mpf:
    with mpmath.workprec(prec):
        return mpmath.mpf(num) / den


def exact_check(cfg: PaperConfig, name: str, s: int, r: int, d: int, lam: int,
                deployed_s: int) -> bool:
    """Decide one named constraint at one point exactly (``deployed_s`` for l < s)."""
    if name == "pool":
        return cfg.l_pool < deployed_s and s >= 1 and (
            Fraction(cfg.l_pool) ** cfg.c <= cfg.delta3 * Fraction(s) ** cfg.c)
    if name == "nonce_nonempty":
        return lam >= 1
    if name == "nonce_th":
        return cfg.a_tail - 1 < lam
    if name == "fast_sound":
        return cfg.b_fast - 1 > 0
    if name == "dispute_sound":
        return cfg.m_mu - 1 >= 0
    if s < 1:
        return False
    v = exact_values(cfg, s, r, d, lam)
    with mpmath.workdps(_dps(1 << min(max(d, 1), 1024), lam, cfg.a_tail)):
        if name == "failure":
            return bool(v["failure"] <= _mpf(cfg.epsilon))
        if name == "time_upper":
            return bool(v["expected_time"] <= _mpf(cfg.tau_u))
        if name == "time_lower":
            return bool(v["expected_time"] >= _mpf(cfg.tau_l))
        if name == "tail":
            return bool(v["tail"] <= _mpf(cfg.delta))
        if name == "fast":
            return bool(v["fast"] <= _mpf(cfg.delta1))
        if name == "dispute":
            return bool(v["dispute"] <= _mpf(cfg.delta2))
    raise ValueError(f"unknown constraint {name!r}")


def robust_check_exact(cfg: PaperConfig, s: int, r: int, d: int) -> dict[str, bool]:
    """Every enabled constraint at every point of its reading (BigFloat re-check, Fig. 21 l.14).

    The nominal point (s, r, d) is always included: Figure 21 keeps only tuples that are
    feasible themselves (line 3) and robustly feasible (line 4).
    """
    out: dict[str, bool] = {}
    for name in cfg.enabled():
        where = cfg.where(name)
        points = [(s, d, lam_of(r, s) if s >= 1 else 0)]
        for sp in where.s_values(s, cfg.u_s):
            for k in where.d_offsets(cfg.u_d):
                dp = d + k
                split = sp if where.lam == "s'" else s
                points.append((sp, dp, lam_of(r, split) if split >= 1 else 0))
        out[name] = all(
            sp >= 1 and dp >= 0 and exact_check(cfg, name, sp, r, dp, lam, s)
            for sp, dp, lam in points
        )
    return out


def nominal_cost(cfg: PaperConfig, s: int, r: int, d: int) -> mpmath.mpf:
    """Cost(s, r, d) = TVC·E^s(noR)·s + TFC·s, eq. (5)."""
    return exact_values(cfg, s, r, d, lam_of(r, s))["cost"]


def robust_cost(cfg: PaperConfig, s: int, r: int, d: int) -> mpmath.mpf:
    """Eq. (18): the worst Cost(s', r, d') over s - u_s <= s' <= s, |d - d'| <= u_d."""
    best = mpmath.mpf("-inf")
    for sp in range(max(1, s - cfg.u_s), s + 1):
        for dp in range(max(0, d - cfg.u_d), d + cfg.u_d + 1):
            best = max(best, exact_values(cfg, sp, r, dp, lam_of(r, sp))["cost"])
    return best


def evaluate(cfg: PaperConfig, s: int, r: int, d: int) -> dict[str, Any]:
    """One tuple, exactly: every Figure 12 quantity and every constraint, nominal and robust."""
    if s < 1 or r < 1 or d < 0:
        raise PaperConfigError("tuple", f"need s >= 1, r >= 1, d >= 0, got {(s, r, d)}",
                               "pass positive values")
    lam = lam_of(r, s)
    vals = exact_values(cfg, s, r, d, lam)
    robust = robust_check_exact(cfg, s, r, d)
    nominal = {name: exact_check(cfg, name, s, r, d, lam, s) for name in cfg.enabled()}
    values = {k: mpmath.nstr(v, 20) for k, v in vals.items()}
    values.update({"A = ceil(th/T - 1) + 1": str(cfg.a_tail),
                   "floor(mu/T) + 1": str(cfg.m_mu),
                   "pool (l/s)^c": mpmath.nstr(mpmath.mpf(cfg.l_pool) ** cfg.c / s**cfg.c, 10)})
    return {
        "s": s, "r": r, "d": d,
        "values": values,
        "constraints": {n: {"nominal": nominal[n], "robust": robust[n]} for n in nominal},
        "feasible": all(robust.values()),
        "cost": str(vals["cost"]),
    }
