"""One experiments layer: every experiment of learnchain, registered in one place.

Each :class:`~learnchain.experiments.base.Experiment` takes a :class:`RunSpec` (quick or full
size, output folder, seeds, worker processes, optional Ray address) and returns an
:class:`Outcome`: JSON-ready results, the PNG plots it wrote, the seeds it used, and each
source paper's published claim next to the measured value with a verdict. The experiments
themselves stay where they are (``sim/rlpow_experiments.py``, ``apps/*/experiments.py``,
``governance/*``); the adapters in this package only call their run functions.

`learnchain reproduce` (``learnchain.cli.reproduce``) runs them and writes one report. Nothing
here imports torch, matplotlib or ray at module top level: the CLI imports the registry.
"""
