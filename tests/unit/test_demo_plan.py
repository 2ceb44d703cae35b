"""The demo day's plan, without starting a node: lanes, refusals, option checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learnchain.cli.main import app
from learnchain.core.errors import ConfigError
from learnchain.demo.day import lanes, run_day


@pytest.mark.parametrize("engine", ["pow", "rlpow", "pole"])
@pytest.mark.parametrize("quick", [False, True])
def test_lanes_run_each_step_a_to_e_exactly_once(engine: str, quick: bool) -> None:
    plan = lanes(engine, quick)
    assert sorted("".join(plan)) == list("abcde")
    if engine == "pole":  # its PoLe step signs with every node key: nothing runs beside it
        assert plan == ["abcde"]
    else:  # steps that share keys (a/b: dev accounts; d/e: node keys) share a lane
        assert any({"a", "b"} <= set(lane) for lane in plan)
        assert any({"d", "e"} <= set(lane) for lane in plan)


def test_a_used_workdir_is_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "devnet").mkdir()
    (tmp_path / "devnet" / "devnet.json").write_text(json.dumps([]))
    with pytest.raises(ConfigError, match="earlier day"):
        run_day(quick=True, workdir=tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--engine", "raft"], "--engine must be pow, rlpow or pole"),
    (["--only", "xz"], "--only takes letters among a-f"),
])
def test_bad_options_are_refused_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["demo", *args])
    assert result.exit_code != 0
    assert message in result.output
