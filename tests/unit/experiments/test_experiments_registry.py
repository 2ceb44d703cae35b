"""The experiments registry: every experiment is registered, light to import, and complete."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from learnchain.experiments.base import DIFFERS, INCONCLUSIVE, REPRODUCED, mean_ci
from learnchain.experiments.registry import EXPERIMENTS, resolve
from learnchain.experiments.report import overall

SRC = Path(__file__).resolve().parents[3] / "src" / "learnchain"


def test_every_experiment_family_is_registered():
    names = set(EXPERIMENTS)
    for family in ("rlpow-learning", "rlpow-tamper", "rlpow-attack", "rlpow-verify-cost",
                   "collab-good-bad", "collab-market", "crowd", "market", "calculus",
                   "calculus-sweep", "governance-engine", "pole-sml", "pole-devnet"):
        assert family in names
    for exp in EXPERIMENTS.values():
        assert exp.quick_size and exp.full_size and exp.title
        assert exp.source in {"000", "001", "002", "003", "004", "project"}
        assert (SRC / exp.module).is_file(), exp.module


def test_resolve_keeps_registry_order_and_rejects_unknown_names():
    assert [e.name for e in resolve(["market", "crowd"])] == ["crowd", "market"]
    with pytest.raises(KeyError, match="nope"):
        resolve(["market", "nope"])


def test_importing_the_registry_loads_no_heavy_library():
    code = ("import json, sys\nimport learnchain.experiments.registry\n"
            "import learnchain.experiments.fanout\nprint(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    loaded = {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}
    assert not loaded & {"torch", "matplotlib", "ray", "sklearn", "numpy", "gymnasium"}


def test_overall_verdict_is_the_worst_claim():
    def entry(*verdicts: str) -> dict:
        return {"claims": [{"verdict": v} for v in verdicts]}

    assert overall(entry(REPRODUCED, REPRODUCED)) == REPRODUCED
    assert overall(entry(REPRODUCED, INCONCLUSIVE)) == INCONCLUSIVE
    assert overall(entry(INCONCLUSIVE, DIFFERS, REPRODUCED)) == DIFFERS
    assert overall({"error": "boom", "claims": []}) == "error"


def test_mean_ci_widens_with_spread():
    tight, wide = mean_ci([1.0, 1.1, 0.9]), mean_ci([0.0, 1.0, 2.0])
    assert tight["mean"] == pytest.approx(1.0) and wide["mean"] == pytest.approx(1.0)
    assert 0 < tight["ci95"] < wide["ci95"]
    assert mean_ci([3.0]) == {"mean": 3.0, "ci95": 0.0, "n": 1}
