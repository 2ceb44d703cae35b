"""Reference model files deploy and answer as the reference would; addClass; featureIndices.

The files under tests/data/collab are small models written in the reference's exact schemas
(`model-interfaces.ts`; the IMDB sentiment model's, the hot-dog perceptron's `bias` and
`featureIndices`, the VPA centroids' `intents`), with made-up values.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from learnchain.apps.base import AppError
from learnchain.apps.collab.agents import LocalChain, TxFailed, agent_keys
from learnchain.apps.collab.encoders import OOV_INDEX, Encoder, encode_dense, tokenize
from learnchain.apps.collab.interop import (
    class_entries,
    convert_num,
    from_reference,
    is_reference_model,
    js_entries,
)
from learnchain.apps.collab.models import (
    DictStore,
    NaiveBayes,
    dense_perceptron_from_weights,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "collab"
KEYS = agent_keys(["owner", "alice"], seed=b"collab-interop")


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def chain() -> LocalChain:
    return LocalChain({k.address: 10**12 for k in KEYS.values()})


def independent_round(x: float) -> int:
    """Math.round(x·10^9) from its definition: floor(y + 1/2), computed exactly."""
    return math.floor(Fraction(x * 10**9) + Fraction(1, 2))


def test_sparse_perceptron_file_converts_like_the_reference_deployer() -> None:
    raw = load("reference_sparse_perceptron.json")
    assert is_reference_model(raw)
    model = from_reference(raw).model
    assert model.kind == "sparse_perceptron" and model.classes == ["Negative", "Positive"]
    assert model.params["intercept"] == 5_000_000_000
    assert model.params["learning_rate"] == 500_000_000          # learningRate 0.5
    state = model.export()["state"]
    assert state["w/0"] == 2_472_096_179 and state["w/2"] == 2_500_000_000
    assert state == {f"w/{i}": independent_round(w) for i, w in enumerate(raw["weights"])}
    assert convert_num(-2.5e-9) == -2 and convert_num(1.5e-9) == 2     # ties toward +inf


def test_reference_sentiment_model_deployed_and_queried_with_its_vocabulary() -> None:
    raw, vocab = load("reference_sparse_perceptron.json"), load("reference_vocab.json")
    c = chain()
    c.call(KEYS["owner"], "create_model", {
        "model": from_reference(raw).model.export(), "mechanism": "points",
        "encoder": {"type": "IMDB vocab", "vocabulary": vocab}})
    encoder = c.query("model", {"model_id": 0})["encoder"]
    assert encoder["type"] == "vocabulary" and len(encoder["vocabulary"]) == len(vocab)

    def reference_prediction(text: str) -> int:
        """The reference model in floats: intercept + Σ weights of known tokens > 0."""
        score = raw["intercept"] + sum(raw["weights"][vocab[t]] for t in tokenize(text)
                                       if t in vocab)
        return 1 if score > 0 else 0

    enc = Encoder.from_plain(encoder)
    texts = ["a boring dull mess", "great movie", "worst plot, terrible waste",
             "superb and wonderful", "bad bad bad movie", "terrible!"]
    for text in texts:
        data = enc.encode(text)
        assert c.query("prediction", {"model_id": 0, "data": data}) == \
            reference_prediction(text), text
    # punctuation makes "boring," unknown: 1337, whose weight starts at 0
    assert enc.encode("a boring, dull mess") == [OOV_INDEX, OOV_INDEX, 5, 11]
    # training through the chain moves the OOV weight, as the reference's update would
    c.call(KEYS["alice"], "add_data", {"model_id": 0, "data": enc.encode("terrible!"),
                                       "label": 0})
    assert c.query("export", {"model_id": 0})["state"][f"w/{OOV_INDEX}"] == -500_000_000


def test_naive_bayes_file_and_add_class() -> None:
    model = from_reference(load("reference_naive_bayes.json")).model
    assert model.kind == "naive_bayes" and model.classes == ["ham", "spam"]
    assert model.params["smoothing"] == 10**9 and model.params["total_features"] == 6
    # feature 3 is listed twice for spam: the last count stays, both add to the total
    assert model.export()["state"] == {
        "n/0": 3, "t/0": 7, "f/0/0": 4, "f/0/1": 2, "f/0/5": 1,
        "n/1": 2, "t/1": 9, "f/1/2": 3, "f/1/3": 1, "f/1/5": 2}
    c = chain()
    c.call(KEYS["owner"], "create_model", {"model": model.export(), "mechanism": "points"})
    assert c.query("prediction", {"model_id": 0, "data": [4, 4]}) == 0
    with pytest.raises(TxFailed, match=re.escape("Sender is not the owner.")):
        c.call(KEYS["alice"], "add_class", {"model_id": 0, "name": "eggs", "num_samples": 1,
                                            "feature_counts": [[4, 5]]})
    assert c.call(KEYS["owner"], "add_class", {
        "model_id": 0, "name": "eggs", "num_samples": 1,
        "feature_counts": [[4, 5]]}) == {"model_id": 0, "index": 2}
    # eggs: 10^9·(5·10^9 + 10^9)² / (5·10^9 + 6·10^9)² beats ham's 3·10^9 / 13²
    assert c.query("prediction", {"model_id": 0, "data": [4, 4]}) == 2
    assert c.query("model", {"model_id": 0})["params"]["classes"] == ["ham", "spam", "eggs"]
    exported = c.query("export", {"model_id": 0})
    assert {k: v for k, v in exported["state"].items() if k.split("/")[1] == "2"} == {
        "n/2": 1, "t/2": 5, "f/2/4": 5}
    # the new class trains like any other
    c.call(KEYS["alice"], "add_data", {"model_id": 0, "data": [4], "label": 2})
    assert c.query("export", {"model_id": 0})["state"]["n/2"] == 2


def test_nearest_centroid_file_with_intents_and_add_class() -> None:
    model = from_reference(load("reference_nearest_centroid.json")).model
    # Object.entries order: the integer-like name "7" comes first
    assert model.classes == ["7", "WEATHER_GET", "MUSIC_PLAY"]
    assert model.export()["state"] == {
        "c/0/0": [0, -1_000_000_000, 0], "n/0": 1,
        "c/1/0": [600_000_000, 800_000_000, 0], "n/1": 20,
        "c/2/0": [-280_000_000, 0, 960_000_000], "n/2": 12}
    c = chain()
    c.call(KEYS["owner"], "create_model", {"model": model.export(), "mechanism": "points",
                                           "encoder": {"type": "MobileNetV2"}})
    assert c.query("prediction", {"model_id": 0, "data": encode_dense([0.6, 0.8, 0])}) == 1
    with pytest.raises(TxFailed, match=re.escape(
            "Data doesn't have the correct number of dimensions.")):
        c.call(KEYS["owner"], "add_class", {"model_id": 0, "name": "ALARM",
                                            "centroid": [0, 10**9], "data_count": 3})
    with pytest.raises(TxFailed, match=re.escape("Data count is too large.")):
        c.call(KEYS["owner"], "add_class", {"model_id": 0, "name": "ALARM",
                                            "centroid": [0, 0, 10**9], "data_count": 2**191})
    c.call(KEYS["owner"], "add_class", {"model_id": 0, "name": "ALARM",
                                        "centroid": [0, 0, 10**9], "data_count": 3})
    assert c.query("prediction", {"model_id": 0, "data": encode_dense([0, 0, 1])}) == 3
    assert c.query("export", {"model_id": 0})["state"]["n/3"] == 3


def test_sparse_nearest_centroid_file_keeps_the_squared_magnitude() -> None:
    model = from_reference(load("reference_sparse_nearest_centroid.json")).model
    assert model.classes == ["pos", "neg"]
    assert model.export()["state"] == {
        "n/0": 4, "v/0/1": [500_000_000, 4], "v/0/7": [250_000_000, 4],
        "sm/0": 500_000_000**2 + 250_000_000**2,
        "n/1": 2, "v/1/2": [750_000_000, 2], "sm/1": 750_000_000**2}
    assert model.predict([1, 7]) == 0 and model.predict([2]) == 1
    entries = class_entries(model, 2, {"centroid": [[9, 10**9]], "data_count": 1})
    assert entries == {"n/2": 1, "v/2/9": [10**9, 1], "sm/2": 10**18}


def test_dense_perceptron_file_with_bias_and_feature_indices() -> None:
    raw = load("reference_dense_perceptron.json")
    converted = from_reference(raw)
    assert converted.feature_indices == [4, 0, 2]
    model = converted.model
    assert model.params["dims"] == 3 and model.params["intercept"] == 0
    assert model.export()["state"] == {"w/0": [-2_950_065_374, 2_454_833_269, 2]}
    c = chain()
    c.call(KEYS["owner"], "create_model", {
        "model": model.export(), "mechanism": "points",
        "encoder": {"type": "MobileNetV2", "feature_indices": converted.feature_indices}})
    shown = c.query("model", {"model_id": 0})
    assert shown["feature_indices"] == [4, 0, 2]
    enc = Encoder.from_plain(shown["encoder"])
    # a 5-value embedding: only values 4, 0 and 2 (in that order) reach the model
    assert enc.encode([1.0, 9.0, 0.0, 9.0, 0.0]) == [0, 10**9, 0]
    assert c.query("prediction", {"model_id": 0, "data": enc.encode([1, 9, 0, 9, 0])}) == 1
    assert c.query("prediction", {"model_id": 0, "data": enc.encode([0, 9, 0, 9, 1])}) == 0


def test_add_feature_indices_is_the_owners_before_any_data() -> None:
    c = chain()
    c.call(KEYS["owner"], "create_model", {
        "model": dense_perceptron_from_weights([1, 2, 3]).export(), "mechanism": "points",
        "encoder": {"type": "dense"}})
    with pytest.raises(TxFailed, match=re.escape("Sender is not the owner.")):
        c.call(KEYS["alice"], "add_feature_indices", {"model_id": 0, "indices": [1]})
    c.call(KEYS["owner"], "add_feature_indices", {"model_id": 0, "indices": [1, 3]})
    c.call(KEYS["owner"], "add_feature_indices", {"model_id": 0, "indices": [0]})
    assert c.query("model", {"model_id": 0})["feature_indices"] == [1, 3, 0]
    c.call(KEYS["alice"], "add_data", {"model_id": 0, "data": encode_dense([1, 0, 0]),
                                       "label": 1})
    with pytest.raises(TxFailed, match="feature indices are fixed"):
        c.call(KEYS["owner"], "add_feature_indices", {"model_id": 0, "indices": [2]})


def test_reference_files_are_refused_on_chain_and_bad_files_explain_themselves() -> None:
    c = chain()
    with pytest.raises(TxFailed, match="convert it on the client"):
        c.call(KEYS["owner"], "create_model", {"model": {
            "type": "sparse perceptron", "classifications": ["a", "b"], "weights": [1]}})
    with pytest.raises(AppError, match="must match the number of weights"):
        from_reference({"type": "dense perceptron", "classifications": ["a", "b"],
                        "weights": [0.5, 0.5], "featureIndices": [1]})
    with pytest.raises(AppError, match="classCounts"):
        from_reference({"type": "naive bayes", "classifications": ["a", "b"],
                        "classCounts": [1], "featureCounts": [[], []], "totalNumFeatures": 2})
    with pytest.raises(AppError, match="cannot add classes"):
        class_entries(from_reference(load("reference_sparse_perceptron.json")).model, 2, {})
    nb = NaiveBayes({"classes": ["a"], "total_features": 3}, DictStore())
    with pytest.raises(AppError, match="feature_counts"):
        class_entries(nb, 1, {"num_samples": 1, "feature_counts": [[1, 2, 3]]})


def test_js_entries_order() -> None:
    keys = [k for k, _ in js_entries({"b": 0, "10": 0, "2": 0, "a": 0, "01": 0}, "x")]
    assert keys == ["2", "10", "b", "a", "01"]
