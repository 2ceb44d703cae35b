"""The CLI starts fast: its module tree loads no heavy library, and every option says what it
does (help text rendered, not eaten by Rich markup)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import typer
from typer.testing import CliRunner

from learnchain.cli.main import app

HEAVY = ("torch", "sklearn", "scipy", "numpy", "matplotlib", "gymnasium", "stable_baselines3",
         "fhir", "fhir_core", "fastapi", "uvicorn", "httpx")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport json, sys\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True, timeout=120)
    return {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}


def test_importing_the_cli_loads_no_heavy_library():
    loaded = _modules_after("import learnchain.cli.main")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_and_keys_list_load_no_heavy_library(tmp_path):
    for argv in (["--help"], ["keys", "list", "--dir", str(tmp_path)], ["rlpow", "--help"],
                 ["calculus", "--help"], ["collab", "experiment", "--help"]):
        loaded = _modules_after(
            "import sys\nfrom learnchain.cli.main import app\n"
            f"sys.argv = ['learnchain', *{argv!r}]\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n")
        assert not loaded & set(HEAVY), (argv, sorted(loaded & set(HEAVY)))


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, command) of every leaf command (Typer vendors its own click: duck-typed)."""
    out = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if hasattr(command, "commands"):
            out.extend(_commands(command, path))
        else:
            out.append((path, command))
    return out


def test_every_option_of_every_command_has_help_text():
    root = typer.main.get_command(app)
    missing = [f"{path} {param.opts[0]}" for path, command in _commands(root)
               for param in command.params
               if param.param_type_name == "option" and not param.hidden and not param.help]
    assert missing == []


def test_every_command_takes_json():
    root = typer.main.get_command(app)
    exempt = {"node start"}  # runs until Ctrl-C: its output is a log, not a result
    without = [path for path, command in _commands(root) if path not in exempt
               and not any("--json" in p.opts for p in command.params)]
    assert without == []


def test_markup_like_text_in_help_and_errors_is_printed(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(app, ["node", "start", "--help"], env={"COLUMNS": "200"})
    assert "[mining]" in shown.output and "[api]" in shown.output
    (tmp_path / "node.toml").write_text("[api]\nbogus = 1\n")
    bad = runner.invoke(app, ["chain", "show", "--datadir", str(tmp_path)],
                        env={"COLUMNS": "200"})
    assert bad.exit_code == 1
    assert "[api]: unknown option 'bogus'" in bad.output


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("learnchain ")
