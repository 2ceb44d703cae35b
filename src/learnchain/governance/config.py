"""Constants and options of the mining calculus, with validation and TOML loading.

Every field carries a default so that a TOML file only needs to say what differs from the
baseline; defaults that the published Table 1 fixes are marked ``table1``, the ones we had to
assume (the published table was not available to us) are marked ``assumed`` in
:data:`FIELD_SOURCES`, and the reproduction document lists both.  Validation raises a single
error type whose message names the offending field and how to fix it, because these configs
are hand-edited by governance operators.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

LambdaReading = Literal["deployed", "uncertain"]
Objective = Literal["min_cost", "max_d"]
RobustCost = Literal["worst", "nominal"]

#: Hash time per miner: Table 1 prints 0.002·10^-9 s, the prose says 1/(50·10^9) s.
HASH_TIME_READINGS: dict[str, float] = {"table": 0.002e-9, "prose": 1.0 / 50e9}

#: Transactions per block in the published experiments and the three reference rates (tx/s).
TX_PER_BLOCK = 1454
TX_RATES: dict[str, float] = {"bitcoin": 7.0, "paypal": 100.0, "visa": 7000.0}


class CalculusConfigError(ValueError):
    """Raised for any invalid calculus configuration; the message names field and fix."""

    def __init__(self, field_name: str, problem: str, fix: str) -> None:
        self.field = field_name
        super().__init__(f"{field_name}: {problem} (fix: {fix})")


@dataclass(frozen=True)
class CalculusConfig:
    """All inputs of one robust optimisation (s miners, r nonce bits, d difficulty bits)."""

    # --- costs (currency units; only their ratio matters for the argmin)
    tvc: float = 1e-16  # variable cost per hash
    tfc: float = 0.01  # fixed cost per miner per block
    # --- timing
    hash_time: float = HASH_TIME_READINGS["table"]  # T, seconds per hash per miner
    tau_u: float = TX_PER_BLOCK / TX_RATES["bitcoin"]  # block must be mined within tau_u
    tau_l: float = 0.0  # ... and not faster than tau_l (0 disables)
    mu: float = 0.01  # dispute window, seconds
    # --- probability bounds
    delta: float = 1e-9  # P(failure) and P(time > tau_u)
    delta2: float = 1e-3  # P(dispute within mu)
    delta3: float = 1e-3  # pool bound l^c <= delta3 s^c
    delta_fast: float = 1e-3  # P(time < tau_l)
    pool_l: int = 1  # size of a colluding pool
    pool_c: int = 2  # consecutive blocks it must not win
    # --- integer search ranges
    s_l: int = 2
    s_u: int = 1000
    r_l: int = 1
    r_u: int = 128
    d_l: int = 1
    d_u: int = 128
    # --- strict uncertainty
    u_s: int = 1  # up to u_s of the s deployed miners may be down
    u_d: int = 1  # the effective difficulty may be off by u_d bits
    # --- objective and reporting
    objective: Objective = "min_cost"
    budget: float | None = None
    alpha: float = 0.1  # report tuples within (1 + alpha) of the optimal cost
    top_p: int = 5
    # --- readings of the ambiguous published text
    lambda_reading: LambdaReading = "deployed"
    robust_cost: RobustCost = "worst"
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def m_slow(self) -> int:
        """Rounds that fit in tau_u."""
        from learnchain.governance.calculus import rounds_within

        return rounds_within(self.tau_u, self.hash_time)

    @property
    def m_fast(self) -> int:
        """Rounds that finish strictly before tau_l."""
        from learnchain.governance.calculus import rounds_strictly_before

        return rounds_strictly_before(self.tau_l, self.hash_time)

    @property
    def m_mu(self) -> int:
        """Hashes one miner performs within the dispute window: ⌊μ/T⌋ + 1."""
        from learnchain.governance.calculus import rounds_within

        return rounds_within(self.mu, self.hash_time) + 1

    def with_(self, **changes: Any) -> CalculusConfig:
        """A validated copy with some fields changed (sweeps use this)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Where each default comes from; see docs/experiments/mining-calculus.md.
FIELD_SOURCES: dict[str, str] = {
    "tvc": "assumed",
    "tfc": "assumed",
    "hash_time": "table1 (0.002e-9 s; prose reading 2e-11 s is an option)",
    "tau_u": "table1/prose: 1454 tx per block / tx rate",
    "tau_l": "assumed (disabled)",
    "mu": "assumed",
    "delta": "configuration C1",
    "delta2": "configuration C1",
    "delta3": "configuration C1",
    "delta_fast": "assumed",
    "pool_l": "assumed",
    "pool_c": "assumed",
    "s_l": "assumed",
    "s_u": "assumed",
    "r_l": "assumed",
    "r_u": "assumed",
    "d_l": "assumed",
    "d_u": "assumed",
    "u_s": "assumed",
    "u_d": "assumed",
}

_INT_FIELDS = {"pool_l", "pool_c", "s_l", "s_u", "r_l", "r_u", "d_l", "d_u", "u_s", "u_d", "top_p"}
_PROB_FIELDS = {"delta", "delta2", "delta3", "delta_fast"}
_POSITIVE_FIELDS = {"hash_time", "tau_u", "mu"}
_NONNEG_FIELDS = {"tvc", "tfc", "tau_l", "alpha"}
_CHOICES: dict[str, tuple[str, ...]] = {
    "objective": ("min_cost", "max_d"),
    "lambda_reading": ("deployed", "uncertain"),
    "robust_cost": ("worst", "nominal"),
}


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculusConfigError(name, f"expected a number, got {value!r}", "write a number")
    if not math.isfinite(value):
        raise CalculusConfigError(name, f"must be finite, got {value!r}", "write a finite number")
    return float(value)


def validate(cfg: CalculusConfig) -> None:
    """Check types, ranges and consistency of bounds; raise CalculusConfigError on the first."""
    for name in _INT_FIELDS:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise CalculusConfigError(name, f"expected an integer, got {v!r}", "write an integer")
    for name in _PROB_FIELDS:
        v = _check_number(name, getattr(cfg, name))
        if not 0.0 <= v <= 1.0:
            raise CalculusConfigError(
                name, f"probability must lie in [0, 1], got {v!r}", "use a value between 0 and 1"
            )
    for name in _POSITIVE_FIELDS:
        if _check_number(name, getattr(cfg, name)) <= 0:
            raise CalculusConfigError(
                name, f"must be > 0, got {getattr(cfg, name)!r}", "use a positive value"
            )
    for name in _NONNEG_FIELDS:
        if _check_number(name, getattr(cfg, name)) < 0:
            raise CalculusConfigError(
                name, f"must be >= 0, got {getattr(cfg, name)!r}", "use a non-negative value"
            )
    for name, choices in _CHOICES.items():
        if getattr(cfg, name) not in choices:
            raise CalculusConfigError(
                name, f"unknown value {getattr(cfg, name)!r}", f"use one of {', '.join(choices)}"
            )
    if cfg.budget is not None and _check_number("budget", cfg.budget) < 0:
        raise CalculusConfigError("budget", f"must be >= 0, got {cfg.budget!r}", "omit or >= 0")
    if cfg.objective == "max_d" and cfg.budget is None:
        raise CalculusConfigError(
            "budget", "objective max_d needs a budget", "set budget = <max cost per block>"
        )
    for lo, hi, minimum in (("s_l", "s_u", 1), ("r_l", "r_u", 0), ("d_l", "d_u", 1)):
        lo_v, hi_v = getattr(cfg, lo), getattr(cfg, hi)
        if lo_v < minimum:
            raise CalculusConfigError(lo, f"must be >= {minimum}, got {lo_v}", f"raise {lo}")
        if lo_v > hi_v:
            raise CalculusConfigError(
                lo, f"lower bound {lo_v} exceeds upper bound {hi}={hi_v}", f"make {lo} <= {hi}"
            )
    if cfg.r_u > 1000:
        raise CalculusConfigError("r_u", f"{cfg.r_u} nonce bits is beyond the model", "r_u<=1000")
    if cfg.d_u > 1000:
        raise CalculusConfigError("d_u", f"{cfg.d_u} difficulty bits is too large", "d_u<=1000")
    if cfg.u_s < 0:
        raise CalculusConfigError("u_s", f"must be >= 0, got {cfg.u_s}", "use 0 or more")
    if cfg.u_s >= cfg.s_l:
        raise CalculusConfigError(
            "u_s",
            f"u_s={cfg.u_s} must be smaller than every candidate s (s_l={cfg.s_l})",
            "raise s_l above u_s or lower u_s",
        )
    if cfg.u_d < 0:
        raise CalculusConfigError("u_d", f"must be >= 0, got {cfg.u_d}", "use 0 or more")
    if cfg.pool_l < 0 or cfg.pool_c < 1:
        raise CalculusConfigError(
            "pool_l" if cfg.pool_l < 0 else "pool_c",
            f"need pool_l >= 0 and pool_c >= 1, got {cfg.pool_l}, {cfg.pool_c}",
            "use a non-negative pool size and at least one block",
        )
    if cfg.top_p < 1:
        raise CalculusConfigError("top_p", f"must be >= 1, got {cfg.top_p}", "use 1 or more")


# --------------------------------------------------------------------------- TOML
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "constants": ("tvc", "tfc", "hash_time", "tau_u", "tau_l", "mu"),
    "security": ("delta", "delta2", "delta3", "delta_fast", "pool_l", "pool_c"),
    "bounds": ("s_l", "s_u", "r_l", "r_u", "d_l", "d_u"),
    "uncertainty": ("u_s", "u_d"),
    "objective": ("objective", "budget", "alpha", "top_p"),
    "options": ("lambda_reading", "robust_cost"),
}
_ALL_KEYS = {f.name for f in fields(CalculusConfig)}


def _resolve_special(key: str, value: Any) -> Any:
    """Named shortcuts: hash_time = "table"/"prose", tau_u = {tx_per_block, tx_rate}, 2^-k."""
    if key == "hash_time" and isinstance(value, str):
        if value not in HASH_TIME_READINGS:
            raise CalculusConfigError(
                "hash_time", f"unknown reading {value!r}", "use 'table', 'prose' or seconds"
            )
        return HASH_TIME_READINGS[value]
    if key == "tau_u" and isinstance(value, dict):
        try:
            tx = _check_number("tau_u.tx_per_block", value["tx_per_block"])
            rate = value["tx_rate"]
        except KeyError as exc:
            raise CalculusConfigError(
                f"tau_u.{exc.args[0]}", "missing", "give tx_per_block and tx_rate"
            ) from None
        rate_v = TX_RATES.get(rate) if isinstance(rate, str) else _check_number("tau_u", rate)
        if rate_v is None or rate_v <= 0:
            raise CalculusConfigError(
                "tau_u.tx_rate", f"bad rate {rate!r}", f"a positive number or {sorted(TX_RATES)}"
            )
        return tx / rate_v
    if key.startswith("delta") and isinstance(value, str) and value.startswith("2^-"):
        try:
            return 2.0 ** -int(value[3:])
        except ValueError:
            raise CalculusConfigError(key, f"cannot parse {value!r}", "write 2^-64") from None
    return value


def config_from_mapping(
    data: dict[str, Any], *, base: CalculusConfig | None = None, require_all: bool = False
) -> CalculusConfig:
    """Build a config from a (possibly sectioned) mapping as read from TOML.

    ``require_all`` refuses to fall back to defaults, for deployments that must state every
    constant explicitly: a missing one is reported by name.
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key == "model" and value == "folded":  # the CLI's model selector, not a constant
            continue
        if key in _SECTION_KEYS and isinstance(value, dict):
            for sub_key in value:
                if sub_key not in _SECTION_KEYS[key]:
                    raise CalculusConfigError(
                        f"{key}.{sub_key}",
                        "unknown key",
                        f"valid keys in [{key}]: {', '.join(_SECTION_KEYS[key])}",
                    )
                flat[sub_key] = value[sub_key]
        elif key in _ALL_KEYS:
            flat[key] = value
        else:
            raise CalculusConfigError(
                key, "unknown key", f"use a section {sorted(_SECTION_KEYS)} or a known field"
            )
    if require_all:
        for names in _SECTION_KEYS.values():
            for name in names:
                if name not in flat and name != "budget":
                    raise CalculusConfigError(name, "missing constant", f"add {name} = <value>")
    resolved = {k: _resolve_special(k, v) for k, v in flat.items()}
    for name in ("tvc", "tfc", "hash_time", "tau_u", "tau_l", "mu", "alpha", "budget"):
        if name in resolved and isinstance(resolved[name], int) and not isinstance(
            resolved[name], bool
        ):
            resolved[name] = float(resolved[name])
    try:
        return replace(base or CalculusConfig(), **resolved)
    except TypeError as exc:  # pragma: no cover - keys are filtered above
        raise CalculusConfigError("config", str(exc), "check field names") from None


def load_config(path: str | Path, *, require_all: bool = False) -> CalculusConfig:
    """Read a TOML file; a top-level ``name`` labels the configuration in reports."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalculusConfigError(
            "config", f"file {p} not found", "pass an existing path"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise CalculusConfigError("config", f"invalid TOML in {p}: {exc}", "fix syntax") from None
    if "name" not in raw:
        raw["name"] = p.stem
    return config_from_mapping(raw, require_all=require_all)


def preset(name: str, **overrides: Any) -> CalculusConfig:
    """The published configurations C1, C2, C3 on top of the Table 1 defaults."""
    presets: dict[str, dict[str, Any]] = {
        "C1": {"delta": 1e-9, "delta2": 1e-3, "delta3": 1e-3},
        "C2": {"delta": 2.0**-64, "delta2": 1e-3, "delta3": 1e-3},
        "C3": {"delta": 2.0**-64, "delta2": 1e-3, "delta3": 1e-4},
    }
    if name not in presets:
        raise CalculusConfigError("preset", f"unknown preset {name!r}", "use C1, C2 or C3")
    return CalculusConfig(name=name, **{**presets[name], **overrides})
