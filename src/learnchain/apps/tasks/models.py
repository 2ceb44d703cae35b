"""PoLe models in fixed point: data sets, the Secure Mapping Layer, training, integer accuracy.

Consensus never sees a float. Features are stored as integers at scale ``2**FEATURE_BITS``;
model parameters at scale ``2**PARAM_BITS``; inference is int64 matrix products with arithmetic
right shifts (floor), ReLU and a first-index argmax, so every node computes the same accuracy
bits. Accuracies are integers in parts per million.

Secure Mapping Layer (SML): before the trainable layers, features pass through a
fixed, per-(task, address) integer matrix ``M = [P, -P]`` (``P`` full rank, drawn by coins
``h(seed ‖ address ‖ ctr)``, see `sml_matrix`) and a ReLU. A model trained behind one
address's mapping sees different features behind another address's, so a copied model is
worth little there (measured in ``sml.py``); width 0 disables it.

Training (off chain, by candidates) runs single-threaded with settings recorded in the task's
hyperparameters: scikit-learn ``LogisticRegression(solver="lbfgs", max_iter=100)`` (the seed's
model) or a small PyTorch MLP. Verification does not replay training: as in Liu et al.'s PoLe,
the accuracy on the training set (the difficulty) and on the hidden test set is the proof.
torch and scikit-learn are imported inside the training functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from learnchain.apps.base import AppError
from learnchain.core.encoding import decode, encode, sha256
from learnchain.core.errors import EncodingError
from learnchain.ml import coins

FEATURE_BITS = 4
PARAM_BITS = 16
PPM = 1_000_000
MAX_FEATURE = 1 << 12
MAX_PARAM = 1 << 24
MAX_ACTIVATION = 1 << 20
MAX_WIDTH = 256
MAX_HIDDEN = 128
DATASETS = ("iris", "digits")
MODEL_KINDS = ("logreg", "mlp")


class ModelError(AppError):
    """Model bytes or a data set that cannot be decoded or evaluated."""


@dataclass(frozen=True)
class Dataset:
    """Integer features (scale 2**FEATURE_BITS) and integer labels."""

    x: np.ndarray
    y: np.ndarray
    classes: int

    @property
    def features(self) -> int:
        return int(self.x.shape[1])

    def to_bytes(self) -> bytes:
        return encode({"d": self.features, "k": self.classes,
                       "x": self.x.astype(np.int64).ravel().tolist(), "y": self.y.tolist()})

    def digest(self) -> bytes:
        return sha256(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Dataset:
        try:
            plain = decode(data)
            d, k, xs, ys = int(plain["d"]), int(plain["k"]), plain["x"], plain["y"]
            if not (0 < d <= 1024 and 1 < k <= 100 and len(xs) == d * len(ys) and ys):
                raise ValueError("shape")
            x = np.asarray(xs, dtype=np.int64).reshape(len(ys), d)
            y = np.asarray(ys, dtype=np.int64)
        except (ValueError, TypeError, KeyError, OverflowError, AttributeError,
                EncodingError) as exc:
            raise ModelError(f"data set bytes are malformed: {exc}") from None
        if int(np.abs(x).max()) > MAX_FEATURE or int(y.min()) < 0 or int(y.max()) >= k:
            raise ModelError(f"data set values out of range (|x| <= {MAX_FEATURE}, 0 <= y < k)")
        return cls(x, y, k)


@lru_cache(maxsize=4)
def load_dataset(name: str) -> Dataset:
    """A data set shipped with scikit-learn, quantised to integers (same bits everywhere)."""
    if name not in DATASETS:
        raise ModelError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    from sklearn import datasets

    raw = datasets.load_iris() if name == "iris" else datasets.load_digits()
    x = np.rint(np.asarray(raw.data, dtype=np.float64) * (1 << FEATURE_BITS)).astype(np.int64)
    y = np.asarray(raw.target, dtype=np.int64)
    return Dataset(x, y, int(y.max()) + 1)


@lru_cache(maxsize=64)
def split(name: str, split_seed: bytes, test_ppm: int = 200_000) -> tuple[Dataset, Dataset]:
    """Public train split and the holdout pool, by coins h(split_seed ‖ row).

    Memoised (a pure function of its arguments): every reveal and PoLe block of a task needs it.
    """
    data = load_dataset(name)
    u = np.array([coins.coin_int(split_seed, "split", i) % PPM for i in range(len(data.y))])
    train, hold = u >= test_ppm, u < test_ppm
    return (Dataset(data.x[train], data.y[train], data.classes),
            Dataset(data.x[hold], data.y[hold], data.classes))


_COIN_TABLE = np.array([-1, 0, 0, 1], dtype=np.int64)  # two coin bits: -1, 0, 1 at ¼, ½, ¼


@lru_cache(maxsize=256)
def sml_matrix(seed: bytes, address: bytes, d: int, width: int) -> np.ndarray | None:
    """The SML mapping for one (task, address): ``M = [P, -P]`` cut to `width` columns.

    ``P`` is the first ``k = ⌈width/2⌉`` columns (first `d` rows) of ``L·U``, with ``L`` unit
    lower- and ``U`` unit upper-triangular and their off-diagonal entries -1, 0, 1 drawn by coins
    ``h(h("pole/sml/v2" ‖ seed ‖ address) ‖ "m" ‖ i)``. ``det(L·U) = 1``, so ``P`` has full rank
    min(d, k), and since ReLU(z) − ReLU(−z) = z the features ReLU(x·[P, −P]) keep x·P exactly:
    every address's mapping is trainable. (The first design, independent entries and one ReLU,
    zeroed most features for ~2 % of (seed, address) pairs at width 8 on Iris, so an honest full
    training missed a 60 % threshold through no fault of its own.)
    Memoised and read-only (a pure function of chain data and the address).
    """
    if width == 0:
        return None
    s = coins.hash_parts(b"pole/sml/v2", seed, address)
    k = (width + 1) // 2
    n = max(d, k)
    bits = np.asarray([coins.coin_int(s, "m", i) & 3 for i in range(2 * n * n)], dtype=np.int64)
    draws = _COIN_TABLE[bits]
    eye = np.eye(n, dtype=np.int64)
    low = np.tril(draws[:n * n].reshape(n, n), -1) + eye
    up = np.triu(draws[n * n:].reshape(n, n), 1) + eye
    p = (low @ up)[:d, :k]
    out = np.ascontiguousarray(np.concatenate([p, -p], axis=1)[:, :width])
    out.setflags(write=False)
    return out


def mapped(x: np.ndarray, m: np.ndarray | None) -> np.ndarray:
    """SML features: ReLU(x·M), clipped; the identity when there is no mapping."""
    if m is None:
        return x
    return np.clip(x @ m, 0, MAX_ACTIVATION)


# ----- parameters ----------------------------------------------------------------------------


def encode_params(kind: str, layers: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Canonical model bytes: kind and per layer (rows, cols, W flat, b) as integers."""
    return encode({"kind": kind, "layers": [[int(w.shape[0]), int(w.shape[1]),
                                             w.astype(np.int64).ravel().tolist(),
                                             b.astype(np.int64).tolist()] for w, b in layers]})


def decode_params(data: bytes, kind: str, d_in: int, classes: int,
                  hidden: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Parse and shape-check model bytes against the task's model specification."""
    try:
        plain = decode(data)
        if plain["kind"] != kind:
            raise ValueError(f"model kind {plain['kind']!r}, task wants {kind!r}")
        layers = []
        for rows, cols, w, b in plain["layers"]:
            if len(w) != rows * cols or len(b) != cols:
                raise ValueError("layer sizes disagree")
            layers.append((np.asarray(w, dtype=np.int64).reshape(rows, cols),
                           np.asarray(b, dtype=np.int64)))
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError,
                EncodingError) as exc:
        raise ModelError(f"model bytes are malformed: {exc}") from None
    shapes = [(d_in, classes)] if kind == "logreg" else [(d_in, hidden), (hidden, classes)]
    if [w.shape for w, _ in layers] != shapes:
        raise ModelError(f"model layer shapes {[w.shape for w, _ in layers]} are not {shapes}")
    if any(int(np.abs(a).max()) > MAX_PARAM for layer in layers for a in layer):
        raise ModelError(f"a model parameter exceeds {MAX_PARAM} in magnitude")
    return layers


def quantise(values: Any) -> np.ndarray:
    arr = np.rint(np.asarray(values, dtype=np.float64) * (1 << PARAM_BITS)).astype(np.int64)
    return np.clip(arr, -MAX_PARAM, MAX_PARAM)


def predict(layers: list[tuple[np.ndarray, np.ndarray]], h: np.ndarray) -> np.ndarray:
    """Integer inference: activations at scale 2**FEATURE_BITS, ReLU between layers."""
    for i, (w, b) in enumerate(layers):
        z = h @ w + (b << FEATURE_BITS)
        if i == len(layers) - 1:
            return np.argmax(z, axis=1)
        h = np.clip(z >> PARAM_BITS, 0, MAX_ACTIVATION)
    raise ModelError("a model needs at least one layer")


def accuracy_ppm(layers: list[tuple[np.ndarray, np.ndarray]], data: Dataset,
                 m: np.ndarray | None) -> int:
    """Correct predictions in parts per million (floor): the consensus accuracy."""
    correct = int(np.sum(predict(layers, mapped(data.x, m)) == data.y))
    return correct * PPM // len(data.y)


def model_hash(params: bytes) -> bytes:
    return sha256(params)


# ----- training (off chain, deterministic, single thread) -------------------------------------


def train(kind: str, data: Dataset, m: np.ndarray | None, hp: dict[str, int],
          seed: bytes) -> bytes:
    """Train a model behind mapping `m` and return its canonical fixed-point bytes."""
    from threadpoolctl import threadpool_limits

    h = mapped(data.x, m).astype(np.float64) / (1 << FEATURE_BITS)
    with threadpool_limits(limits=1):
        if kind == "logreg":
            return _train_logreg(h, data, hp)
        if kind == "mlp":
            return _train_mlp(h, data, hp, seed)
    raise ModelError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def _train_logreg(h: np.ndarray, data: Dataset, hp: dict[str, int]) -> bytes:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(solver="lbfgs", max_iter=int(hp.get("max_iter", 100)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=100 is the seed's budget
        clf.fit(h, data.y)
    coef = np.zeros((data.classes, h.shape[1]))
    icpt = np.zeros(data.classes)
    coef[clf.classes_], icpt[clf.classes_] = clf.coef_, clf.intercept_
    return encode_params("logreg", [(quantise(coef.T), quantise(icpt))])


def _train_mlp(h: np.ndarray, data: Dataset, hp: dict[str, int], seed: bytes) -> bytes:
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(coins.coin_int(seed, "torch", 0) % (1 << 63))
    hidden, epochs = int(hp.get("hidden", 32)), int(hp.get("epochs", 60))
    net = torch.nn.Sequential(torch.nn.Linear(h.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, data.classes)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(-0.1, 0.1, generator=gen))
    scale = float(max(1.0, np.abs(h).max()))
    xt = torch.tensor(h / scale)
    yt = torch.tensor(data.y)
    opt = torch.optim.Adam(net.parameters(), lr=hp.get("lr_ppm", 10_000) / PPM)
    batch = int(hp.get("batch", 64))
    for _ in range(epochs):
        perm = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    w1, b1 = net[0].weight.detach().numpy().T / scale, net[0].bias.detach().numpy()
    w2, b2 = net[2].weight.detach().numpy().T, net[2].bias.detach().numpy()
    return encode_params("mlp", [(quantise(w1), quantise(b1)), (quantise(w2), quantise(b2))])
