"""Bad calculus configurations fail with one error type naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnchain.governance.config import (
    HASH_TIME_READINGS,
    CalculusConfig,
    CalculusConfigError,
    config_from_mapping,
    load_config,
    preset,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"s_l": 10, "s_u": 5}, "s_l"),
        ({"r_l": 9, "r_u": 3}, "r_l"),
        ({"d_l": 20, "d_u": 19}, "d_l"),
        ({"u_s": 2, "s_l": 2}, "u_s"),
        ({"u_s": 5, "s_l": 3}, "u_s"),
        ({"u_s": -1}, "u_s"),
        ({"u_d": -1}, "u_d"),
        ({"delta": 1.5}, "delta"),
        ({"delta2": -0.1}, "delta2"),
        ({"delta3": 2.0}, "delta3"),
        ({"delta_fast": float("nan")}, "delta_fast"),
        ({"hash_time": 0.0}, "hash_time"),
        ({"tau_u": -1.0}, "tau_u"),
        ({"mu": 0.0}, "mu"),
        ({"tvc": -1.0}, "tvc"),
        ({"s_l": 1.5}, "s_l"),
        ({"objective": "fastest"}, "objective"),
        ({"objective": "max_d"}, "budget"),
        ({"lambda_reading": "both"}, "lambda_reading"),
        ({"top_p": 0}, "top_p"),
        ({"pool_c": 0}, "pool_c"),
        ({"s_l": 0, "u_s": 0}, "s_l"),
    ],
)
def test_invalid_values_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(CalculusConfigError) as info:
        CalculusConfig(**changes)  # type: ignore[arg-type]
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")
    assert "fix:" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_constant_is_named_when_all_are_required() -> None:
    data = {"constants": {"tvc": 1.0, "tfc": 1.0, "hash_time": "table", "tau_u": 1.0,
                          "tau_l": 0.0}}
    with pytest.raises(CalculusConfigError, match=r"^mu: missing constant"):
        config_from_mapping(data, require_all=True)


def test_unknown_keys_are_rejected_with_the_valid_ones() -> None:
    with pytest.raises(CalculusConfigError, match=r"security\.delta4: unknown key"):
        config_from_mapping({"security": {"delta4": 0.1}})
    with pytest.raises(CalculusConfigError, match=r"^speed: unknown key"):
        config_from_mapping({"speed": 3})


def test_shortcuts_resolve() -> None:
    cfg = config_from_mapping({
        "constants": {"hash_time": "prose", "tau_u": {"tx_per_block": 1454, "tx_rate": "visa"}},
        "security": {"delta": "2^-64"},
    })
    assert cfg.hash_time == HASH_TIME_READINGS["prose"] == 1 / 50e9
    assert cfg.tau_u == pytest.approx(1454 / 7000)
    assert cfg.delta == 2.0**-64
    with pytest.raises(CalculusConfigError, match="hash_time"):
        config_from_mapping({"constants": {"hash_time": "datasheet"}})
    with pytest.raises(CalculusConfigError, match=r"tau_u\.tx_rate"):
        config_from_mapping({"constants": {"tau_u": {"tx_per_block": 10}}})
    with pytest.raises(CalculusConfigError, match=r"tau_u\.tx_rate"):
        config_from_mapping({"constants": {"tau_u": {"tx_per_block": 10, "tx_rate": "amex"}}})
    with pytest.raises(CalculusConfigError, match="delta"):
        config_from_mapping({"security": {"delta": "2^-x"}})
    with pytest.raises(CalculusConfigError, match="delta2"):
        config_from_mapping({"security": {"delta2": "often"}})


def test_load_files(tmp_path: Path) -> None:
    for name in ("c1", "c2", "c3", "table1", "c2-max-d"):
        cfg = load_config(REPO / "experiments" / "calculus" / "folded" / f"{name}.toml")
        assert cfg.name
    c2 = load_config(REPO / "experiments" / "calculus" / "folded" / "c2.toml")
    assert c2 == preset("C2")
    bad = tmp_path / "bad.toml"
    bad.write_text("[bounds]\ns_l = 9\ns_u = 3\n")
    with pytest.raises(CalculusConfigError, match=r"^s_l: lower bound 9 exceeds"):
        load_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[bounds\n")
    with pytest.raises(CalculusConfigError, match="invalid TOML"):
        load_config(broken)
    with pytest.raises(CalculusConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_presets_and_copies() -> None:
    assert preset("C3").delta3 == 1e-4
    with pytest.raises(CalculusConfigError, match="preset"):
        preset("C9")
    cfg = preset("C1").with_(mu=0.5)
    assert cfg.mu == 0.5 and cfg.m_mu == 0.5 // cfg.hash_time + 1
    with pytest.raises(CalculusConfigError, match="mu"):
        cfg.with_(mu=-1.0)
