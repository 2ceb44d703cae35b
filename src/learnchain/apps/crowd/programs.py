"""Registered, versioned, deterministic programs P(x; r) the crowd app can outsource.

Every node ships the same registry, so `TaskPublish` can refuse an unknown (id, version)
before anyone deposits. The registry itself is light (names and import paths); the programs'
code, which imports scikit-learn or PyTorch, loads only when a worker runs one.

A task's result is ``encode([P(x; r_0), …, P(x; r_{m-1})])`` with ``r_j = h(seed ‖ j)``: the
program runs once per coin (the seed's multiple-coins heuristic against low-entropy junk), and
inside a run every random draw is ``h(r_j ‖ ctr)`` (`learnchain.ml.coins`), §V.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from learnchain.apps.crowd.rules import UnknownProgram
from learnchain.core.encoding import encode
from learnchain.ml.coins import derive_seed


@dataclass(frozen=True)
class ProgramSpec:
    """One program version. `kind` is ``eval`` (output: bit string of correct predictions,
    usable with the purchase rule) or ``train`` (output: model parameters)."""

    id: str
    version: int
    kind: str
    entry: str
    summary: str

    def load(self) -> Callable[[bytes, bytes], bytes]:
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(module), name)


_ML = "learnchain.apps.crowd.mlprograms"
PROGRAMS: dict[tuple[str, int], ProgramSpec] = {}


def register_program(spec: ProgramSpec) -> None:
    """Add a program version; an (id, version) pair, once published, never changes meaning."""
    key = (spec.id, spec.version)
    if key in PROGRAMS and PROGRAMS[key] != spec:
        raise ValueError(f"program {spec.id} v{spec.version} is already registered differently")
    PROGRAMS[key] = spec


for _spec in (
    ProgramSpec("eval-classifier", 1, "eval", f"{_ML}:eval_classifier",
                "bit string of correct predictions of a model on a coin-chosen test subset"),
    ProgramSpec("train-logreg", 1, "train", f"{_ML}:train_logreg",
                "scikit-learn logistic regression on a coin-drawn bootstrap sample"),
    ProgramSpec("train-mlp", 1, "train", f"{_ML}:train_mlp",
                "small PyTorch MLP, coin-drawn init and minibatches, single-threaded"),
):
    register_program(_spec)


def get_program(program: str, version: int) -> ProgramSpec:
    spec = PROGRAMS.get((program, version))
    if spec is None:
        known = ", ".join(f"{p} v{v}" for p, v in sorted(PROGRAMS))
        raise UnknownProgram(f"program {program!r} version {version} is not registered; "
                             f"registered: {known}")
    return spec


def coin(seed: bytes, j: int) -> bytes:
    """r_j = h(seed ‖ j): the coin of the j-th run."""
    return derive_seed(seed, j)


def run_program(program: str, version: int, data: bytes, seed: bytes, coins: int) -> bytes:
    """The full task result: one output per coin, as canonical CBOR."""
    fn = get_program(program, version).load()
    return encode([fn(data, coin(seed, j)) for j in range(coins)])
