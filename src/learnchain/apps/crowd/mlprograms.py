"""The seed's two ML instantiations (§V) as deterministic programs P(x; r).

* `eval_classifier` — the model-purchase check: a coin-chosen subset of a test set, output the
  bit string of which samples the model classifies correctly (unpredictable before the coin).
* `train_logreg`, `train_mlp` — training with every random draw ``h(r ‖ ctr)``: the bootstrap
  sample, the initial weights and each minibatch come from `learnchain.ml.coins`, and BLAS /
  PyTorch run on one thread, so honest workers on the same software agree bit for bit.

Inputs are canonical CBOR maps of integers, strings and bytes (no floats: hyperparameters are
integers in thousandths). Models travel in one format, ``dense-v1``: a list of float64 layers
(``relu`` between them, argmax at the end), so a trained model can be the input of an
evaluation task. scikit-learn and PyTorch are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

from learnchain.core.encoding import decode, encode
from learnchain.ml.coins import coin_below, coin_indices, coin_stream

DATASETS = ("digits", "breast_cancer", "wine", "iris", "synthetic40k")
MODEL_FORMAT = "dense-v1"


class ProgramInputError(ValueError):
    """The input blob is not a valid input of this program."""


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """BLAS (numpy/scipy/sklearn) on one thread: the recorded setting workers must share."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


# ----- data --------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test), standardised on the training split (float64).

    Data ships inside scikit-learn (no download); `synthetic40k` is `make_classification`
    with a fixed seed, large enough for a 10,000-sample evaluation subset.
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if name == "synthetic40k":
        x, y = datasets.make_classification(n_samples=40_000, n_features=20, n_informative=12,
                                            n_redundant=4, n_classes=2, class_sep=1.5,
                                            flip_y=0.01, random_state=0)
    elif name in DATASETS:
        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    else:
        raise ProgramInputError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    x_tr, x_te, y_tr, y_te = train_test_split(np.asarray(x, dtype=np.float64), np.asarray(y),
                                              test_size=0.3, random_state=0, stratify=y)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0
    return ((x_tr - mean) / std, y_tr.astype(np.int64), (x_te - mean) / std,
            y_te.astype(np.int64))


# ----- models ------------------------------------------------------------------------------


def model_to_bytes(layers: list[tuple[np.ndarray, np.ndarray]], classes: list[int]) -> bytes:
    """``dense-v1``: [(W: in×out, b: out) …] as little-endian float64, plus class labels."""
    plain = [[int(w.shape[0]), int(w.shape[1]), np.ascontiguousarray(w, "<f8").tobytes(),
              np.ascontiguousarray(b, "<f8").tobytes()] for w, b in layers]
    return encode({"format": MODEL_FORMAT, "layers": plain, "classes": [int(c) for c in classes]})


def model_from_bytes(data: bytes) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    try:
        plain = decode(data)
        if plain.get("format") != MODEL_FORMAT:
            raise ProgramInputError(f"model format must be {MODEL_FORMAT!r}")
        layers = []
        for rows, cols, w, b in plain["layers"]:
            layers.append((np.frombuffer(w, "<f8").reshape(rows, cols),
                           np.frombuffer(b, "<f8").reshape(cols)))
        return layers, np.asarray(plain["classes"], dtype=np.int64)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ProgramInputError(f"not a {MODEL_FORMAT} model: {exc}") from None


def predict(model: bytes, x: np.ndarray) -> np.ndarray:
    layers, classes = model_from_bytes(model)
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return classes[np.argmax(h, axis=1)]


# ----- inputs ------------------------------------------------------------------------------


def _input(data: bytes, fields: dict[str, type]) -> dict[str, Any]:
    try:
        plain = decode(data)
    except Exception as exc:  # any decode failure is a bad input
        raise ProgramInputError(f"input is not canonical CBOR: {exc}") from None
    if not isinstance(plain, dict):
        raise ProgramInputError("input must be a CBOR map")
    for name, kind in fields.items():
        if not isinstance(plain.get(name), kind):
            raise ProgramInputError(f"input field {name!r} must be {kind.__name__}")
    return plain


def eval_input(dataset: str, model: bytes, subset: int) -> bytes:
    return encode({"dataset": dataset, "model": model, "subset": subset})


def train_logreg_input(dataset: str, *, sample: int, c_milli: int = 1000,
                       max_iter: int = 200) -> bytes:
    return encode({"dataset": dataset, "sample": sample, "c_milli": c_milli,
                   "max_iter": max_iter})


def train_mlp_input(dataset: str, *, hidden: int = 32, steps: int = 200, batch: int = 32,
                    lr_milli: int = 100) -> bytes:
    return encode({"dataset": dataset, "hidden": hidden, "steps": steps, "batch": batch,
                   "lr_milli": lr_milli})


# ----- programs ----------------------------------------------------------------------------


def coin_subset(r: bytes, label: str, population: int, k: int) -> np.ndarray:
    """k distinct indices of [0, population): partial Fisher-Yates, swap i with h(r‖i)-draw."""
    if not 0 < k <= population:
        raise ProgramInputError(f"subset size {k} must be in [1, {population}]")
    perm = np.arange(population)
    for i in range(k):
        j = i + coin_below(r, label, i, population - i)
        perm[i], perm[j] = perm[j], perm[i]
    return perm[:k]


def eval_classifier(data: bytes, r: bytes) -> bytes:
    """Bits (MSB first) of 'the model classifies sample i correctly' on a coin-chosen subset."""
    spec = _input(data, {"dataset": str, "model": bytes, "subset": int})
    k = spec["subset"]
    if k % 8:
        raise ProgramInputError("subset size must be a multiple of 8 (whole bytes of bits)")
    _, _, x_te, y_te = load_dataset(spec["dataset"])
    idx = coin_subset(r, "crowd/eval/subset", len(y_te), k)
    with single_thread():
        correct = predict(spec["model"], x_te[idx]) == y_te[idx]
    return np.packbits(correct.astype(np.uint8)).tobytes()


def train_logreg(data: bytes, r: bytes) -> bytes:
    """Logistic regression (lbfgs, deterministic) on a bootstrap sample drawn by h(r‖ctr)."""
    from sklearn.linear_model import LogisticRegression

    spec = _input(data, {"dataset": str, "sample": int, "c_milli": int, "max_iter": int})
    x_tr, y_tr, _, _ = load_dataset(spec["dataset"])
    if not 2 <= spec["sample"] <= 10 * len(y_tr) or spec["c_milli"] < 1:
        raise ProgramInputError("sample must be in [2, 10·|train|] and c_milli >= 1")
    idx = np.asarray(coin_indices(r, "crowd/logreg/bootstrap", 0, len(y_tr), spec["sample"]))
    with single_thread():
        clf = LogisticRegression(C=spec["c_milli"] / 1000, max_iter=spec["max_iter"])
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(x_tr[idx], y_tr[idx])
    w, b = clf.coef_.T, clf.intercept_
    if w.shape[1] == 1:  # binary: score > 0 means the second class
        w, b = np.hstack([np.zeros_like(w), w]), np.array([0.0, b[0]])
    return model_to_bytes([(w, b)], list(clf.classes_))


def train_mlp(data: bytes, r: bytes) -> bytes:
    """One-hidden-layer MLP: weights U(±1/√fan_in) from h(r‖·), SGD on h(r‖step) minibatches."""
    import torch

    spec = _input(data, {"dataset": str, "hidden": int, "steps": int, "batch": int,
                         "lr_milli": int})
    if not (1 <= spec["hidden"] <= 1024 and 0 <= spec["steps"] <= 100_000
            and 1 <= spec["batch"] <= 4096 and spec["lr_milli"] >= 1):
        raise ProgramInputError("hidden, steps, batch or lr_milli out of range")
    x_tr, y_tr, _, _ = load_dataset(spec["dataset"])
    classes = np.unique(y_tr)
    target = torch.from_numpy(np.searchsorted(classes, y_tr))
    x = torch.from_numpy(x_tr.astype(np.float32))
    torch.set_num_threads(1)
    shapes = {"w1": (x.shape[1], spec["hidden"]), "b1": (spec["hidden"],),
              "w2": (spec["hidden"], len(classes)), "b2": (len(classes),)}
    fan_in = {"w1": x.shape[1], "b1": x.shape[1], "w2": spec["hidden"], "b2": spec["hidden"]}
    params = {}
    for name, shape in shapes.items():
        count = int(np.prod(shape))
        words = np.frombuffer(coin_stream(r, f"crowd/mlp/init/{name}", 4 * count), dtype=">u4")
        unit = words.astype(np.float64) / 2.0**32  # [0, 1)
        bound = 1.0 / np.sqrt(fan_in[name])
        values = ((2.0 * unit - 1.0) * bound).astype(np.float32).reshape(shape)
        params[name] = torch.from_numpy(values.copy()).requires_grad_(True)
    lr = spec["lr_milli"] / 1000
    for step in range(spec["steps"]):
        idx = torch.tensor(coin_indices(r, "crowd/mlp/batch", step, len(y_tr), spec["batch"]))
        hidden = torch.relu(x[idx] @ params["w1"] + params["b1"])
        loss = torch.nn.functional.cross_entropy(hidden @ params["w2"] + params["b2"],
                                                 target[idx])
        grads = torch.autograd.grad(loss, list(params.values()))
        with torch.no_grad():
            for p, g in zip(params.values(), grads, strict=True):
                p -= lr * g
    out = {k: v.detach().numpy().astype(np.float64) for k, v in params.items()}
    return model_to_bytes([(out["w1"], out["b1"]), (out["w2"], out["b2"])], list(classes))


def accuracy_ppm(model: bytes, dataset: str) -> int:
    """Test-set accuracy in parts per million (for reports; not used in consensus)."""
    _, _, x_te, y_te = load_dataset(dataset)
    with single_thread():
        return int(np.sum(predict(model, x_te) == y_te)) * 1_000_000 // len(y_te)
