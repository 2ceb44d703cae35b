"""Tables I and II of the seed, every cell measured from real settlements on a chain.

Each cell is its own task with its own workers (dev keys), all tasks running side by side in
one in-process chain; a cell's utilities are the workers' balance changes, i.e. what
`CrowdApp.settle` actually paid minus the deposit. The expected values are the seed's formulas.
"""

from __future__ import annotations

from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd.experiments import Sandbox, reference_model
from learnchain.apps.crowd.game import coalition_strategies

D, R = 1000, 2400
AS_WORKER = {"t": "honest", "f": "junk", "e": "lazy", "x": "eck", "s": "coalition"}


def run_cells(cells: list[list[str]]) -> list[list[int]]:
    """One task per cell (a list of per-seat strategies); returns each seat's net gain."""
    names = [f"c{i}s{j}" for i, cell in enumerate(cells) for j in range(len(cell))]
    box = Sandbox(["req", *names])
    data = ml.eval_input("digits", reference_model(), 512)
    ids = box.publish_many("req", [{"data": data, "n": len(cell), "deposit": D, "reward": R}
                                   for cell in cells])
    workers = []
    for i, (cell, task_id) in enumerate(zip(cells, ids, strict=True)):
        for j, strategy in enumerate(cell):
            workers.append(box.worker(f"c{i}s{j}", AS_WORKER[strategy], tasks=frozenset([task_id]),
                                      coalition=b"coalition-%d" % i))
    before = {n: box.balance(n) for n in names}
    box.run(workers, ids, max_blocks=100)
    for task_id, cell in zip(ids, cells, strict=True):
        task = box.task(task_id)
        assert task["status"] == "settled" and len(task["workers"]) == len(cell)
    return [[box.balance(f"c{i}s{j}") - before[f"c{i}s{j}"] for j in range(len(cell))]
            for i, cell in enumerate(cells)]


def test_table_one_every_cell():
    """Two workers, σ_e (no commit, or an E_ck result) / σ_t / σ_f."""
    r, d = R, D
    seed_table = {("e", "e"): (-d, -d), ("e", "t"): (-d, -d / 2), ("e", "f"): (-d, -d / 2),
                  ("t", "e"): (-d / 2, -d), ("t", "t"): (r / 2, r / 2),
                  ("t", "f"): (-d / 2, -d / 2), ("f", "e"): (-d / 2, -d),
                  ("f", "t"): (-d / 2, -d / 2), ("f", "f"): (-d / 2, -d / 2)}
    # σ_e played both ways the seed names: never committing ("e") and an E_ck result ("x")
    cells, expected = [], []
    for (a, b), utilities in seed_table.items():
        for a2 in ("ex" if a == "e" else a):
            for b2 in ("ex" if b == "e" else b):
                cells.append([a2, b2])
                expected.append([int(u) for u in utilities])
    assert run_cells(cells) == expected


def test_table_two_every_cell_for_coalitions_up_to_n_minus_one():
    """n = 4 workers, a coalition C of size k = 1, 2, 3, strategies σ_1…σ_7, situations I–III.

    The seed's table prints σ_2's entries for situations II and III the other way round
    (kr/n under II); its own clauses pay r/n only when all n results are equal, i.e. when
    every outsider is true (situation III), which is what the chain does (docs/crowd.md).
    """
    n, r, d = 4, R, D
    outsiders = {"I": ["e"], "II": ["f"], "III": []}
    cells, expected = [], []
    for k in (1, 2, 3):
        for s in coalition_strategies(k):
            p, q, l = s.p, s.q, s.l  # noqa: E741 - the seed's symbols
            family = s.name[:2]
            seed_formula = {
                "σ1": {"I": -k * d, "II": -k * d, "III": -k * d},
                "σ2": {"I": -k * d / 2, "II": -k * d / 2, "III": k * r / n},
                "σ3": {sit: -k * d / 2 for sit in outsiders},
                "σ4": {sit: -p * d / 2 - l * d for sit in outsiders},
                "σ5": {sit: -q * d / 2 - l * d for sit in outsiders},
                "σ6": {sit: -(p + q) * d / 2 for sit in outsiders},
                "σ7": {sit: -(p + q) * d / 2 - l * d for sit in outsiders},
            }[family]
            members = s.members()
            for sit, first in outsiders.items():
                rest = first + ["t"] * (n - k - len(first))
                cells.append(members + rest)
                expected.append((k, s.name, sit, int(seed_formula[sit])))
    measured = run_cells(cells)
    got = [(k, name, sit, sum(m[:k])) for (k, name, sit, _), m in zip(expected, measured,
                                                                        strict=True)]
    assert got == expected
