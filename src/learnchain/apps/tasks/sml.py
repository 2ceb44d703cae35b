"""The Secure Mapping Layer experiment: what a copied model is worth at another address.

For each mapping width w the victim (address A) trains behind its mapping M_A; we report its
test accuracy (honest), the same bytes evaluated behind the thief's mapping M_B (naive copy),
and an adaptive re-mapping attack: the mappings are public (coins on chain data and addresses),
so the thief regresses the victim's integer logits on its own SML features over the public
training split (one least-squares solve) and quantises the result (remap). A fresh honest
training at B (`fresh_b`) is the cost the thief wanted to avoid. All accuracies are the
consensus integer accuracies in ppm.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learnchain.apps.tasks import models as M
from learnchain.core.encoding import sha256

VICTIM = sha256(b"sml-victim")[:20]
THIEF = sha256(b"sml-thief")[:20]


@dataclass(frozen=True)
class SmlRow:
    kind: str
    width: int
    honest_ppm: int
    copy_ppm: int
    remap_ppm: int
    fresh_b_ppm: int
    train_s: float
    remap_s: float


def remap_attack(layers: list[tuple[np.ndarray, np.ndarray]], data: M.Dataset,
                 m_a: np.ndarray | None, m_b: np.ndarray | None, kind: str) -> bytes:
    """Fit the thief's first layer so its pre-activations match the victim's (least squares)."""
    h_a = M.mapped(data.x, m_a).astype(np.float64)
    h_b = M.mapped(data.x, m_b).astype(np.float64)
    w, b = layers[0]
    target = h_a @ (w / float(1 << M.PARAM_BITS))  # victim's first-layer output without bias
    sol, *_ = np.linalg.lstsq(h_b, target, rcond=None)
    first = (M.quantise(sol), b)
    return M.encode_params(kind, [first, *layers[1:]])


def run_one(kind: str, width: int, *, seed: bytes = b"sml", hp: dict[str, int] | None = None,
            ) -> SmlRow:
    dataset = "iris" if kind == "logreg" else "digits"
    train, test = M.split(dataset, sha256(seed + b"split"))
    hp = hp or ({"max_iter": 100} if kind == "logreg" else
                {"hidden": 32, "epochs": 20, "lr_ppm": 10_000, "batch": 64})
    task_seed = sha256(seed + b"task")
    m_a = M.sml_matrix(task_seed, VICTIM, train.features, width)
    m_b = M.sml_matrix(task_seed, THIEF, train.features, width)
    d_in = width or train.features
    hidden = hp.get("hidden", 0)
    t0 = time.perf_counter()
    params = M.train(kind, train, m_a, hp, seed)
    train_s = time.perf_counter() - t0
    layers = M.decode_params(params, kind, d_in, train.classes, hidden)
    t0 = time.perf_counter()
    remapped = remap_attack(layers, train, m_a, m_b, kind)
    remap_s = time.perf_counter() - t0
    fresh = M.train(kind, train, m_b, hp, seed + b"b")
    return SmlRow(
        kind, width, M.accuracy_ppm(layers, test, m_a), M.accuracy_ppm(layers, test, m_b),
        M.accuracy_ppm(M.decode_params(remapped, kind, d_in, train.classes, hidden), test, m_b),
        M.accuracy_ppm(M.decode_params(fresh, kind, d_in, train.classes, hidden), test, m_b),
        round(train_s, 4), round(remap_s, 4))


def run(kinds: tuple[str, ...] = ("logreg", "mlp"), widths: tuple[int, ...] = (4, 8, 16, 32, 64),
        out: Path | None = None, mlp_epochs: int = 20) -> list[SmlRow]:
    rows = [run_one(kind, w, hp=None if kind == "logreg" else
                    {"hidden": 32, "epochs": mlp_epochs, "lr_ppm": 10_000, "batch": 64})
            for kind in kinds for w in widths]
    if out is not None:
        write(rows, out)
    return rows


def write(rows: list[SmlRow], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "sml.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    kinds = sorted({r.kind for r in rows})
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        sub = [r for r in rows if r.kind == kind]
        xs = [r.width for r in sub]
        for field, label in (("honest_ppm", "honest (own mapping)"),
                             ("copy_ppm", "naive copy at another address"),
                             ("remap_ppm", "adaptive re-mapping attack"),
                             ("fresh_b_ppm", "fresh training at thief's address")):
            ax.plot(xs, [getattr(r, field) / 1e4 for r in sub], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_title(f"Secure Mapping Layer, {kind} ({'iris' if kind == 'logreg' else 'digits'})")
        ax.set_xlabel("SML width w (mapped features)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sml.png", dpi=120)
    plt.close(fig)


def summary(rows: list[SmlRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
