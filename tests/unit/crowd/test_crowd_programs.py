"""Programs P(x; r): registered and versioned, deterministic, bit-identical across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd import rules as R
from learnchain.apps.crowd.experiments import reference_model
from learnchain.apps.crowd.programs import ProgramSpec, get_program, register_program, run_program
from learnchain.core.encoding import decode, encode

SEED = bytes(range(32))
INPUTS = {
    "eval-classifier": lambda: ml.eval_input("digits", reference_model(), 512),
    "train-logreg": lambda: ml.train_logreg_input("breast_cancer", sample=300, max_iter=100),
    "train-mlp": lambda: ml.train_mlp_input("digits", hidden=16, steps=60, batch=16),
}

SCRIPT = """
import hashlib, sys
from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd.experiments import reference_model
from learnchain.apps.crowd.programs import run_program
inputs = {
    "eval-classifier": lambda: ml.eval_input("digits", reference_model(), 512),
    "train-logreg": lambda: ml.train_logreg_input("breast_cancer", sample=300, max_iter=100),
    "train-mlp": lambda: ml.train_mlp_input("digits", hidden=16, steps=60, batch=16),
}
for name, make in inputs.items():
    out = run_program(name, 1, make(), bytes(range(32)), 2)
    print(name, hashlib.sha256(out).hexdigest())
"""


def _digests_in_subprocess() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, check=True, timeout=600).stdout
    return dict(line.split() for line in out.strip().splitlines())


def test_honest_results_are_bit_identical_across_processes():
    here = {name: R.sha256(run_program(name, 1, make(), SEED, 2)).hex()
            for name, make in INPUTS.items()}
    assert _digests_in_subprocess() == here


@pytest.mark.parametrize("name", list(INPUTS))
def test_outputs_depend_on_the_coin_and_stay_out_of_eck(name):
    data = INPUTS[name]()
    result = run_program(name, 1, data, SEED, 2)
    outputs = decode(result)
    assert len(outputs) == 2 and outputs[0] != outputs[1]
    assert R.eck_reason(result, {"coins": 2, "input": R.sha256(data), "eck": []}) is None
    assert run_program(name, 1, data, SEED, 2) == result


def test_trained_models_are_good_classifiers_and_can_be_evaluated():
    for name in ("train-logreg", "train-mlp"):
        data = INPUTS[name]()
        model = decode(run_program(name, 1, data, SEED, 1))[0]
        dataset = decode(data)["dataset"]
        assert ml.accuracy_ppm(model, dataset) > 750_000  # 60 SGD steps: a quick model
    bits = ml.eval_classifier(ml.eval_input("digits", reference_model(), 512), SEED)
    assert len(bits) == 64 and R.precision_ppm(encode([bits]), 1) > 900_000


def test_bad_program_inputs_are_named():
    with pytest.raises(ml.ProgramInputError, match="multiple of 8"):
        ml.eval_classifier(ml.eval_input("digits", reference_model(), 100), SEED)
    with pytest.raises(ml.ProgramInputError, match="unknown dataset"):
        ml.eval_classifier(ml.eval_input("mnist", reference_model(), 8), SEED)
    with pytest.raises(ml.ProgramInputError, match="dense-v1"):
        ml.eval_classifier(ml.eval_input("digits", b"\xa0", 8), SEED)
    with pytest.raises(ml.ProgramInputError, match="canonical CBOR"):
        ml.train_logreg(b"\xff", SEED)
    with pytest.raises(R.UnknownProgram, match="registered"):
        get_program("eval-classifier", 2)


def test_a_published_version_cannot_change_meaning():
    spec = get_program("train-mlp", 1)
    register_program(spec)  # same spec: fine
    with pytest.raises(ValueError, match="already registered"):
        register_program(ProgramSpec("train-mlp", 1, "train", "x:y", "other"))
