"""Interoperability with the reference (0xDeCA10B): its model files and its `addClass`.

`from_reference` reads the JSON model files the reference's UI deploys (`model-interfaces.ts`:
naive Bayes, dense or sparse nearest centroid, dense or sparse perceptron, including the older
`bias` / `intents` spellings of its examples) and builds the learnchain model the reference's
deployer would have put on-chain: every float is converted as its `convertNum`
(`Math.round(x·10^9)`), a perceptron's learning rate defaults to 0.5 and naive Bayes'
smoothing to 1, and classes keep JavaScript's `Object.entries` order (integer-like names first,
ascending, then insertion order). The conversion runs on the client: consensus data holds no
floats, so what reaches the chain is the integer document of `models.export`.

`class_entries` is the pure rule behind the `add_class` transaction: the state a new class of
a naive Bayes or (sparse) nearest-centroid model starts with, checked as the contracts do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from learnchain.apps.base import AppError
from learnchain.apps.collab.encoders import js_round
from learnchain.apps.collab.models import (
    CHUNK,
    SCALE,
    DensePerceptron,
    DictStore,
    Model,
    NaiveBayes,
    NearestCentroid,
    SparseNearestCentroid,
    SparsePerceptron,
)

REFERENCE_TYPES = ("naive bayes", "nearest centroid classifier",
                   "dense nearest centroid classifier", "sparse nearest centroid classifier",
                   "perceptron", "dense perceptron", "sparse perceptron")
DEFAULT_LEARNING_RATE = 0.5
DEFAULT_SMOOTHING = 1
DATA_COUNT_LIMIT = 2 ** (256 - 64 - 1)
E_DIMS = "Data doesn't have the correct number of dimensions."
E_DATA_COUNT = "Data count is too large."


@dataclass
class ReferenceModel:
    """A reference model file converted: the model plus the feature indices it selects."""

    model: Model
    feature_indices: list[int] = field(default_factory=list)


def is_reference_model(doc: Any) -> bool:
    """A reference file has no learnchain `format` and one of the reference's type names."""
    return (isinstance(doc, dict) and "format" not in doc
            and str(doc.get("type", "")).lower() in REFERENCE_TYPES)


def convert_num(value: Any) -> int:
    """The reference deployer's `convertNum`: Math.round(value · 10^9)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AppError(f"expected a number in the model file, got {value!r}")
    return js_round(float(value) * SCALE)


def js_entries(mapping: Any, what: str) -> list[tuple[str, Any]]:
    """`Object.entries` order: array-index keys ascending first, then insertion order."""
    if isinstance(mapping, list):
        return [(str(i), v) for i, v in enumerate(mapping)]
    if not isinstance(mapping, dict):
        raise AppError(f"model file '{what}' must be an object")

    def is_index(key: str) -> bool:
        return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") \
            and int(key) < 2**32 - 1

    indices = sorted((k for k in mapping if is_index(k)), key=int)
    return [(k, mapping[k]) for k in indices] + [(k, v) for k, v in mapping.items()
                                                 if not is_index(k)]


def _int(value: Any, what: str, minimum: int = 0) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AppError(f"'{what}' must be an integer >= {minimum}")
    return value


def _names(doc: dict[str, Any]) -> list[str]:
    names = doc.get("classifications")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise AppError("model file 'classifications' must be a non-empty list of names")
    return names


def _feature_indices(doc: dict[str, Any]) -> list[int]:
    raw = doc.get("featureIndices")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AppError("model file 'featureIndices' must be a list")
    return [_int(i, "featureIndices") for i in raw]


def from_reference(doc: dict[str, Any]) -> ReferenceModel:
    """The learnchain model a reference model file deploys as (see the module docs)."""
    if not is_reference_model(doc):
        raise AppError(f"not a reference model file; its 'type' must be one of "
                       f"{', '.join(REFERENCE_TYPES)}")
    kind = str(doc["type"]).lower()
    if kind.endswith("perceptron"):
        return _perceptron(doc, kind)
    if kind == "naive bayes":
        return ReferenceModel(_naive_bayes(doc))
    return ReferenceModel(_centroids(doc, kind), _feature_indices(doc))


def _perceptron(doc: dict[str, Any], kind: str) -> ReferenceModel:
    names = _names(doc)
    weights = [convert_num(w) for w in (doc.get("weights") or [])]
    sparse: list[tuple[int, int]] = []
    if kind == "sparse perceptron":
        for key, w in js_entries(doc.get("sparseWeights") or {}, "sparseWeights"):
            if not key.isdigit():
                raise AppError("model file 'sparseWeights' keys must be feature indices")
            sparse.append((int(key), convert_num(w)))
    elif doc.get("sparseWeights"):
        raise AppError("a dense perceptron has no 'sparseWeights'")
    intercept = convert_num(doc.get("intercept", doc.get("bias", 0)))
    rate = convert_num(doc.get("learningRate") or DEFAULT_LEARNING_RATE)
    indices = _feature_indices(doc)
    if indices and len(indices) != len(weights) + len(sparse):
        raise AppError("The number of features must match the number of weights.")
    params = {"classes": names, "intercept": intercept, "learning_rate": rate}
    if kind == "sparse perceptron":
        state = {i: w for i, w in enumerate(weights)}
        state.update(sparse)
        store = DictStore({f"w/{i}": w for i, w in sorted(state.items()) if w})
        return ReferenceModel(SparsePerceptron(params, store), indices)
    if not weights:
        raise AppError("a dense perceptron file needs its 'weights'")
    model = DensePerceptron({**params, "dims": len(weights)}, DictStore())
    model.write_vector("w", weights)
    return ReferenceModel(model, indices)


def _naive_bayes(doc: dict[str, Any]) -> NaiveBayes:
    names = _names(doc)
    counts, features = doc.get("classCounts"), doc.get("featureCounts")
    if not isinstance(counts, list) or len(counts) != len(names):
        raise AppError("The number of classifications must match the number of _classCounts.")
    if not isinstance(features, list) or len(features) != len(names):
        raise AppError("The number of classifications must match the number of "
                       "_featureCounts.")
    smoothing = convert_num(doc.get("smoothingFactor") or DEFAULT_SMOOTHING)
    model = NaiveBayes({"classes": names, "smoothing": smoothing,
                        "total_features": _int(doc.get("totalNumFeatures"), "totalNumFeatures",
                                               1)}, DictStore())
    for k in range(len(names)):
        model.store.set_many(class_entries(model, k, {"num_samples": counts[k],
                                                      "feature_counts": features[k]}))
    return model


def _centroids(doc: dict[str, Any], kind: str) -> Model:
    entries = js_entries(doc.get("centroids", doc.get("intents")), "centroids")
    if not entries:
        raise AppError("At least one class is required.")
    infos = []
    for name, info in entries:
        if not isinstance(info, dict):
            raise AppError(f"model file centroid {name!r} must be an object")
        infos.append((name, info.get("centroid"), _int(info.get("dataCount"), "dataCount")))
    names = [name for name, _, _ in infos]
    if kind == "sparse nearest centroid classifier":
        sparse_model = SparseNearestCentroid({"classes": names}, DictStore())
        for k, (_, centroid, count) in enumerate(infos):
            pairs = [[_int(int(f) if isinstance(f, str) and f.isdigit() else f, "feature"),
                      convert_num(v)] for f, v in js_entries(centroid, "centroid")]
            sparse_model.store.set_many(class_entries(sparse_model, k, {
                "centroid": pairs, "data_count": count}))
        return sparse_model
    first = infos[0][1]
    if not isinstance(first, list) or not first:
        raise AppError("a dense centroid must be a non-empty list of numbers")
    dense = NearestCentroid({"classes": names, "dims": len(first)}, DictStore())
    for k, (_, centroid, count) in enumerate(infos):
        if not isinstance(centroid, list) or len(centroid) != len(first):
            raise AppError(f"Found a centroid with {len(centroid or [])} dimensions. "
                           f"Expected: {len(first)}.")
        dense.store.set_many(class_entries(dense, k, {
            "centroid": [convert_num(v) for v in centroid], "data_count": count}))
    return dense


# ===== addClass ==========================================================================


def class_entries(model: Model, k: int, spec: dict[str, Any]) -> dict[str, Any]:
    """The state entries of a new class k (the contracts' `addClass`), checked; pure.

    naive Bayes: {num_samples, feature_counts: [[feature, count], …]} — a feature listed
    twice keeps its last count and both add to the class total, as the contract does;
    nearest centroid: {centroid: [int × dims], data_count}; sparse nearest centroid:
    {centroid: [[feature, value], …], data_count}. Values are already scaled by 10^9.
    """
    if not isinstance(model, NaiveBayes | NearestCentroid | SparseNearestCentroid):
        raise AppError(f"a {model.kind} model cannot add classes (a perceptron has exactly 2)")
    if not isinstance(spec, dict):
        raise AppError("a class needs a map of its initial values")
    if isinstance(model, NaiveBayes):
        samples = _int(spec.get("num_samples"), "num_samples")
        if samples >= 2**64 - 1:
            raise AppError("There are too many samples for the class.")
        entries: dict[str, Any] = {f"n/{k}": samples}
        total = 0
        for f, count in _pairs(spec.get("feature_counts"), "feature_counts"):
            if count >= 2**32:
                raise AppError("A feature count in the class would become too high.")
            entries[f"f/{k}/{f}"] = count
            total += count
        if total >= 2**65:
            raise AppError("There are too many features.")
        entries[f"t/{k}"] = total
        return {key: v for key, v in entries.items() if v or not key.startswith("f/")}
    count = _int(spec.get("data_count"), "data_count")
    if count >= DATA_COUNT_LIMIT:
        raise AppError(E_DATA_COUNT)
    if isinstance(model, NearestCentroid):
        centroid = spec.get("centroid")
        if not isinstance(centroid, list) or len(centroid) != model.params["dims"]:
            raise AppError(E_DIMS)
        values = model.check_input(centroid)
        entries = {f"c/{k}/{c}": values[c * CHUNK:(c + 1) * CHUNK]
                   for c in range(math.ceil(len(values) / CHUNK))}
        entries[f"n/{k}"] = count
        return entries
    entries = {f"n/{k}": count}
    squared = 0
    for f, v in _pairs(spec.get("centroid"), "centroid"):
        entries[f"v/{k}/{f}"] = [v, count]
        squared += v * v
    entries[f"sm/{k}"] = squared
    return entries


def _pairs(raw: Any, what: str) -> list[tuple[int, int]]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise AppError(f"'{what}' must be a list of [feature, value] pairs")
    pairs = []
    for pair in raw:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise AppError(f"'{what}' must be a list of [feature, value] pairs")
        feature = _int(pair[0], what)
        if feature >= 2**32:
            raise AppError("A feature index is too high.")
        pairs.append((feature, _int(pair[1], what)))
    return pairs
