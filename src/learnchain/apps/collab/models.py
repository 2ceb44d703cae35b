"""Shared classifiers in integer fixed point (scale 10^9) with the reference contracts' arithmetic.

Every model keeps its learnable state in a flat key → value store (ints or short int lists), so
the same code runs off-chain over a dict and on-chain over the app's state, reading and writing
only the keys one input touches. That is what keeps an update cheap: a sparse perceptron update
touches the listed features, not the whole weight vector.

Where the reference contracts rely on Solidity semantics we reproduce them explicitly:
integer division truncates toward zero (`tdiv`), the nearest-centroid distance exits early and
breaks ties toward the lower class, and the dense models require a unit-norm input whose squared
sum lies strictly within 10^11 of 10^18. The one deliberate departure is naive Bayes, which
compares exact rational scores instead of flooring after every factor (the reference underflows
to 0 on long inputs and then always answers class 0).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from learnchain.apps.base import AppError

SCALE = 10**9
"""Fixed-point scale of weights, inputs and the learning rate (the reference's `toFloat`)."""

NORM_SQUARED = SCALE * SCALE
NORM_TOLERANCE = SCALE * 100
"""A dense input's squared sum must lie strictly inside 10^18 ± 10^11 (reference rule)."""

CHUNK = 64
"""Dense vectors are stored in chunks of this many values, one state key per chunk."""

UINT256_MAX = (1 << 256) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MAX_FEATURE_INDEX = (1 << 32) - 1
FORMAT = "learnchain-collab-model/1"

_INT_ONLY = {int}

NORM_ERROR = "The provided data does not have a norm of 1."
CLASS_ERROR = "Classification is out of bounds."
INDEX_ERROR = "Not all indices are >= 0."


def tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Solidity's signed `/` does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def isqrt_floor(n: int) -> int:
    """Floor square root (the reference `Math.sqrt` is the floor Babylonian root)."""
    if n < 0:
        raise AppError("square root of a negative number")
    return math.isqrt(n)


class Store(Protocol):
    """Where a model's learnable values live; a missing key reads as None."""

    def get(self, key: str) -> Any: ...

    def get_many(self, keys: list[str]) -> list[Any]: ...

    def set(self, key: str, value: Any) -> None: ...

    def set_many(self, items: dict[str, Any]) -> None: ...


@dataclass
class DictStore:
    """An in-memory store: the off-chain form of a model and the body of its JSON export."""

    data: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def get_many(self, keys: list[str]) -> list[Any]:
        return [self.data.get(k) for k in keys]

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    def set_many(self, items: dict[str, Any]) -> None:
        self.data.update(items)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(sorted(self.data.items()))


def _as_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise AppError(f"{what} must be an integer")
    return value


def _classes(params: dict[str, Any], minimum: int) -> list[str]:
    classes = params.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise AppError("params 'classes' must be a list of class names")
    if len(classes) < minimum:
        raise AppError(f"at least {minimum} classes are required")
    return classes


class Model(ABC):
    """A classifier over integer inputs: predict, update with one labelled sample, evaluate."""

    kind: ClassVar[str] = ""
    sparse: ClassVar[bool] = True

    def __init__(self, params: dict[str, Any], store: Store) -> None:
        self.params = self.check_params(dict(params))
        self.store = store
        self.classes: list[str] = self.params["classes"]

    @classmethod
    def prepared(cls, params: dict[str, Any], store: Store) -> Model:
        """A model over already-checked params (skips validation on hot paths)."""
        model = cls.__new__(cls)
        model.params, model.store, model.classes = params, store, params["classes"]
        return model

    @classmethod
    @abstractmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Validate the fixed hyper-parameters and fill defaults."""

    @abstractmethod
    def predict(self, data: Sequence[int]) -> int: ...

    @abstractmethod
    def update(self, data: Sequence[int], label: int) -> None: ...

    def check_input(self, data: Sequence[int]) -> list[int]:
        """Shape and range of one input, before any state is read."""
        if not isinstance(data, list | tuple):
            raise AppError("data must be a list of integers")
        values = list(data)
        if not values:
            return values
        if set(map(type, values)) != _INT_ONLY:  # bool is not int here, on purpose
            raise AppError("data must be a list of integers")
        low, high = min(values), max(values)
        if self.sparse:
            if low < 0:
                raise AppError(INDEX_ERROR)
            if high > MAX_FEATURE_INDEX:
                raise AppError("A feature index is too high.")
        elif low < INT64_MIN or high > INT64_MAX:
            raise AppError("data values must fit in 64 bits")
        return values

    def check_label(self, label: int) -> int:
        if not isinstance(label, int) or isinstance(label, bool) or not (
                0 <= label < len(self.classes)):
            raise AppError(CLASS_ERROR)
        return label

    def evaluate(self, data: Sequence[Sequence[int]], labels: Sequence[int]) -> int:
        """Number of samples predicted correctly (accuracy stays a ratio of integers)."""
        if len(data) != len(labels):
            raise AppError("data and labels must have the same length")
        return sum(1 for x, y in zip(data, labels, strict=True) if self.predict(x) == y)

    def check_entry(self, key: str, value: Any) -> None:
        """Refuse state a model could not use (checked when a model is deployed or extended)."""
        check_state_entry(key, value)

    # ----- export / import ---------------------------------------------------------------

    def export(self, items: Iterable[tuple[str, Any]] | None = None) -> dict[str, Any]:
        """The portable JSON-able form; `items` lists the state when the store can't."""
        if items is None:
            if not isinstance(self.store, DictStore):
                raise AppError("this store cannot list its keys; pass them as items")
            items = self.store.items()
        return {"format": FORMAT, "type": self.kind, "params": dict(self.params),
                "state": {k: v for k, v in sorted(items)}}


def check_state_entry(key: Any, value: Any) -> None:
    """State entries are str keys with int or int-list values (JSON- and CBOR-safe)."""
    if not isinstance(key, str) or not key or len(key) > 64:
        raise AppError(f"model state key {key!r} must be a short non-empty string")
    if isinstance(value, bool):
        raise AppError(f"model state value for {key!r} must be an int or a list of ints")
    if isinstance(value, int):
        return
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                       for v in value):
        return
    raise AppError(f"model state value for {key!r} must be an int or a list of ints")


# ===== perceptrons =======================================================================


class SparsePerceptron(Model):
    """Binary perceptron over feature indices; the intercept is fixed, as in the reference.

    State: `w/{i}` → weight of feature i (missing = 0). The learning rate is already scaled,
    so a mistake moves every listed index (duplicates included) by exactly ±learning_rate.
    """

    kind = "sparse_perceptron"

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        params.setdefault("classes", ["0", "1"])
        if len(_classes(params, 2)) != 2:
            raise AppError("a perceptron has exactly 2 classes")
        params["intercept"] = _as_int(params.get("intercept", 0), "intercept")
        params["learning_rate"] = _as_int(params.get("learning_rate", SCALE), "learning_rate")
        return params

    def _weights(self, data: Sequence[int]) -> tuple[list[int], list[str], dict[int, int]]:
        """(features, their keys, weight by feature); features in a fixed order, so new keys
        are logged in that order."""
        features = sorted(set(data))
        keys = [f"w/{i}" for i in features]
        values = self.store.get_many(keys)
        return features, keys, {i: w or 0 for i, w in zip(features, values, strict=True)}

    def predict(self, data: Sequence[int]) -> int:
        data = self.check_input(data)
        weights = self._weights(data)[2]
        return 1 if self.params["intercept"] + sum(map(weights.__getitem__, data)) > 0 else 0

    def update(self, data: Sequence[int], label: int) -> None:
        data, label = self.check_input(data), self.check_label(label)
        features, keys, weights = self._weights(data)
        m = self.params["intercept"] + sum(map(weights.__getitem__, data))
        if (1 if m > 0 else 0) == label:
            return
        step = self.params["learning_rate"] if label > 0 else -self.params["learning_rate"]
        for i in data:
            weights[i] += step  # once per occurrence: duplicates move twice
        self.store.set_many(dict(zip(keys, map(weights.__getitem__, features), strict=True)))


class _DenseMixin:
    """Chunked dense vectors: `{prefix}/{chunk}` holds up to CHUNK values."""

    store: Store
    params: dict[str, Any]

    def check_entry(self, key: str, value: Any) -> None:
        check_state_entry(key, value)
        prefix, _, chunk = key.rpartition("/")
        if prefix == "w" or prefix.startswith("c/"):
            dims = self.params["dims"]
            if not chunk.isdigit() or int(chunk) * CHUNK >= dims:
                raise AppError(f"model state key {key!r} is outside the model's {dims} dims")
            size = min(CHUNK, dims - int(chunk) * CHUNK)
            if not isinstance(value, list) or len(value) != size:
                raise AppError(f"model state chunk {key!r} must be a list of {size} ints")

    def read_vector(self, prefix: str, dims: int) -> list[int]:
        values: list[int] = []
        for c in range((dims + CHUNK - 1) // CHUNK):
            chunk = self.store.get(f"{prefix}/{c}")
            size = min(CHUNK, dims - c * CHUNK)
            values.extend(chunk if chunk is not None else [0] * size)
        return values

    def write_vector(self, prefix: str, values: Sequence[int],
                     old: Sequence[int] | None = None) -> None:
        for c in range((len(values) + CHUNK - 1) // CHUNK):
            part = list(values[c * CHUNK:(c + 1) * CHUNK])
            if old is None or part != list(old[c * CHUNK:(c + 1) * CHUNK]):
                self.store.set(f"{prefix}/{c}", part)


def _check_norm(data: Sequence[int]) -> None:
    squared = sum(d * d for d in data)
    if not (NORM_SQUARED - NORM_TOLERANCE < squared < NORM_SQUARED + NORM_TOLERANCE):
        raise AppError(NORM_ERROR)


def _dims(params: dict[str, Any]) -> int:
    dims = _as_int(params.get("dims"), "dims")
    if not 0 < dims <= 100_000:
        raise AppError("dims must be between 1 and 100000")
    return dims


class DensePerceptron(_DenseMixin, Model):
    """Binary perceptron over a unit-norm dense input scaled by 10^9.

    As in the reference, the score is intercept + Σ w_i·d_i with the intercept at scale 10^9
    and the products at scale 10^18 (so the intercept barely matters); on a mistake each
    weight moves by ±trunc(d_i·lr / 10^9). State: `w/{chunk}`.
    """

    kind = "dense_perceptron"
    sparse = False

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        params.setdefault("classes", ["0", "1"])
        if len(_classes(params, 2)) != 2:
            raise AppError("a perceptron has exactly 2 classes")
        params["dims"] = _dims(params)
        params["intercept"] = _as_int(params.get("intercept", 0), "intercept")
        params["learning_rate"] = _as_int(params.get("learning_rate", SCALE), "learning_rate")
        return params

    def _checked(self, data: Sequence[int]) -> list[int]:
        data = self.check_input(data)
        if len(data) != self.params["dims"]:
            raise AppError("The data must have the same dimension as the weights.")
        return data

    def _score(self, weights: Sequence[int], data: Sequence[int]) -> int:
        return self.params["intercept"] + sum(w * d for w, d in zip(weights, data, strict=True))

    def predict(self, data: Sequence[int]) -> int:
        data = self._checked(data)
        return 1 if self._score(self.read_vector("w", len(data)), data) > 0 else 0

    def update(self, data: Sequence[int], label: int) -> None:
        data, label = self._checked(data), self.check_label(label)
        _check_norm(data)
        weights = self.read_vector("w", len(data))
        if (1 if self._score(weights, data) > 0 else 0) == label:
            return
        lr = self.params["learning_rate"]
        sign = 1 if label > 0 else -1
        new = [w + sign * tdiv(d * lr, SCALE) for w, d in zip(weights, data, strict=True)]
        self.write_vector("w", new, weights)


# ===== nearest centroid ==================================================================


class NearestCentroid(_DenseMixin, Model):
    """Dense nearest centroid: squared distance with early exit, ties to the lower class.

    State: `c/{k}/{chunk}` centroid of class k, `n/{k}` its sample count. An update is the
    running mean C = trunc((C·n + d) / (n + 1)) and requires a unit-norm input.
    """

    kind = "nearest_centroid"
    sparse = False

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        _classes(params, 1)
        params["dims"] = _dims(params)
        return params

    def _checked(self, data: Sequence[int], message: str) -> list[int]:
        data = self.check_input(data)
        if len(data) != self.params["dims"]:
            raise AppError(message)
        return data

    def predict(self, data: Sequence[int]) -> int:
        data = self._checked(data, "Data doesn't have the correct length.")
        best, min_distance = 0, UINT256_MAX
        for k in range(len(self.classes)):
            centroid = self.read_vector(f"c/{k}", len(data))
            distance = 0
            for d, c in zip(data, centroid, strict=True):
                distance += (d - c) * (d - c) // SCALE
                if distance >= min_distance:
                    break
            if distance < min_distance:
                best, min_distance = k, distance
        return best

    def update(self, data: Sequence[int], label: int) -> None:
        data = self._checked(data, "Data doesn't have the correct number of dimensions.")
        label = self.check_label(label)
        _check_norm(data)
        centroid = self.read_vector(f"c/{label}", len(data))
        n = self.store.get(f"n/{label}") or 0
        new = [tdiv(c * n + d, n + 1) for c, d in zip(centroid, data, strict=True)]
        self.write_vector(f"c/{label}", new, centroid)
        self.store.set(f"n/{label}", n + 1)


class SparseNearestCentroid(Model):
    """Nearest centroid over sets of feature indices (each present feature has value 10^9).

    Values are stored lazily as (value, numSamples-when-written) and rescaled by
    numSamples/n on read, so an update touches only the features it lists. The squared
    magnitude ||C||² (scale 10^18) is kept with the reference's bookkeeping: subtract the
    touched features' old squares, rescale by n²/(n+1)², add the new squares.
    State: `n/{k}`, `sm/{k}`, `v/{k}/{f}` → [value, numSamples].
    """

    kind = "sparse_nearest_centroid"

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        _classes(params, 1)
        return params

    def _unique(self, data: Sequence[int]) -> list[int]:
        data = self.check_input(data)
        if len(set(data)) != len(data):
            raise AppError("Data must hold each feature index at most once.")
        return data

    def value(self, k: int, feature: int, n: int) -> int:
        """Centroid value of `feature` in class k rescaled to the class's current count."""
        stored = self.store.get(f"v/{k}/{feature}")
        if stored is None:
            return 0
        value, samples = stored
        return value if samples == n or n == 0 else value * samples // n

    def predict(self, data: Sequence[int]) -> int:
        data = self._unique(data)
        best, min_distance = 0, None
        for k in range(len(self.classes)):
            n = self.store.get(f"n/{k}") or 0
            update = sum(SCALE - 2 * self.value(k, f, n) for f in data)
            distance = (self.store.get(f"sm/{k}") or 0) + update * SCALE
            if min_distance is None or distance < min_distance:
                best, min_distance = k, distance
        return best

    def update(self, data: Sequence[int], label: int) -> None:
        data, label = self._unique(data), self.check_label(label)
        n = self.store.get(f"n/{label}") or 0
        new_n = n + 1
        magnitude = self.store.get(f"sm/{label}") or 0
        added = 0
        for f in data:
            previous = self.value(label, f, n)
            magnitude = max(0, magnitude - previous * previous)
            v = (n * previous + SCALE) // new_n
            self.store.set(f"v/{label}/{f}", [v, new_n])
            added += v * v
        magnitude = magnitude * n * n // (new_n * new_n)
        self.store.set(f"sm/{label}", magnitude + added)
        self.store.set(f"n/{label}", new_n)


# ===== naive Bayes =======================================================================


class NaiveBayes(Model):
    """Multinomial naive Bayes over feature indices with additive smoothing α·10^9.

    Class score: n_c·10^9·Π_f (10^9·count_{c,f} + α) / (10^9·total_c + α·V)^L — the
    reference's product, but compared exactly by cross-multiplication instead of flooring
    after each factor, so long inputs never underflow. Ties go to the lower class, and a class
    whose score is 0 never wins over class 0 (the reference's `prob > maxProb` from 0).
    State: `n/{c}`, `t/{c}` (total feature count), `f/{c}/{f}`.
    """

    kind = "naive_bayes"

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        _classes(params, 1)
        params["smoothing"] = _as_int(params.get("smoothing", SCALE), "smoothing")
        params["total_features"] = _as_int(params.get("total_features"), "total_features")
        if params["smoothing"] < 0 or params["total_features"] < 1:
            raise AppError("smoothing must be >= 0 and total_features >= 1")
        return params

    def score(self, k: int, data: Sequence[int]) -> tuple[int, int]:
        """(numerator, denominator) of class k's score; denominator 0 means score 0."""
        alpha = self.params["smoothing"]
        n = self.store.get(f"n/{k}") or 0
        total = self.store.get(f"t/{k}") or 0
        numerator = n * SCALE
        for f in data:
            numerator *= SCALE * (self.store.get(f"f/{k}/{f}") or 0) + alpha
        denominator = (SCALE * total + alpha * self.params["total_features"]) ** len(data)
        return numerator, denominator

    def predict(self, data: Sequence[int]) -> int:
        data = self.check_input(data)
        best, best_num, best_den = 0, 0, 1
        for k in range(len(self.classes)):
            num, den = self.score(k, data)
            if den == 0:
                continue
            if num * best_den > best_num * den:
                best, best_num, best_den = k, num, den
        return best

    def update(self, data: Sequence[int], label: int) -> None:
        data, label = self.check_input(data), self.check_label(label)
        self.store.set(f"n/{label}", (self.store.get(f"n/{label}") or 0) + 1)
        self.store.set(f"t/{label}", (self.store.get(f"t/{label}") or 0) + len(data))
        counts: dict[int, int] = {}
        for f in data:
            counts[f] = counts.get(f, self.store.get(f"f/{label}/{f}") or 0) + 1
        for f, count in counts.items():
            self.store.set(f"f/{label}/{f}", count)


# ===== registry, JSON ====================================================================

MODEL_TYPES: dict[str, type[Model]] = {
    m.kind: m for m in (SparsePerceptron, DensePerceptron, NearestCentroid,
                        SparseNearestCentroid, NaiveBayes)
}


def model_class(kind: str) -> type[Model]:
    try:
        return MODEL_TYPES[kind]
    except KeyError:
        raise AppError(f"unknown model type {kind!r}; types: "
                       f"{', '.join(sorted(MODEL_TYPES))}") from None


def build_model(kind: str, params: dict[str, Any], store: Store | None = None) -> Model:
    return model_class(kind)(params, store if store is not None else DictStore())


def load_model(doc: dict[str, Any]) -> Model:
    """A model from its exported form (e.g. one trained off-chain and about to be deployed)."""
    if not isinstance(doc, dict) or doc.get("format", FORMAT) != FORMAT:
        raise AppError(f"a model document needs format {FORMAT!r}")
    state = doc.get("state", {})
    if not isinstance(state, dict):
        raise AppError("model 'state' must be a map")
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise AppError("model 'params' must be a map")
    model = build_model(str(doc.get("type")), params, DictStore())
    for key, value in state.items():
        model.check_entry(key, value)
    model.store.set_many(dict(state))
    return model


def to_json(model: Model, items: Iterable[tuple[str, Any]] | None = None) -> str:
    return json.dumps(model.export(items), sort_keys=True)


def from_json(text: str) -> Model:
    return load_model(json.loads(text))


# ----- convenience constructors for off-chain training -----------------------------------


def sparse_perceptron_from_weights(weights: dict[int, int], *, intercept: int = 0,
                                   learning_rate: int = SCALE) -> SparsePerceptron:
    store = DictStore({f"w/{i}": w for i, w in weights.items() if w})
    return SparsePerceptron({"intercept": intercept, "learning_rate": learning_rate}, store)


def dense_perceptron_from_weights(weights: Sequence[int], *, intercept: int = 0,
                                  learning_rate: int = SCALE) -> DensePerceptron:
    model = DensePerceptron({"dims": len(weights), "intercept": intercept,
                             "learning_rate": learning_rate}, DictStore())
    model.write_vector("w", list(weights))
    return model


def nearest_centroid_from_centroids(centroids: Sequence[Sequence[int]], counts: Sequence[int],
                                    classes: Sequence[str] | None = None) -> NearestCentroid:
    names = list(classes) if classes is not None else [str(k) for k in range(len(centroids))]
    model = NearestCentroid({"classes": names, "dims": len(centroids[0])}, DictStore())
    for k, (centroid, n) in enumerate(zip(centroids, counts, strict=True)):
        model.write_vector(f"c/{k}", list(centroid))
        model.store.set(f"n/{k}", n)
    return model
