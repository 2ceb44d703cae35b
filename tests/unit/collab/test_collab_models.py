"""Model arithmetic against hand-computed integers, and export/import round trips."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.apps.base import AppError
from learnchain.apps.collab.models import (
    NORM_ERROR,
    SCALE,
    DensePerceptron,
    DictStore,
    NaiveBayes,
    NearestCentroid,
    SparseNearestCentroid,
    SparsePerceptron,
    dense_perceptron_from_weights,
    from_json,
    load_model,
    nearest_centroid_from_centroids,
    sparse_perceptron_from_weights,
    tdiv,
    to_json,
)

E9 = SCALE


def test_tdiv_truncates_toward_zero() -> None:
    assert (tdiv(7, 2), tdiv(-7, 2), tdiv(7, -2), tdiv(-7, -2)) == (3, -3, -3, 3)


# ----- sparse perceptron -----------------------------------------------------------------


def test_sparse_perceptron_predict_counts_duplicates_and_intercept() -> None:
    m = sparse_perceptron_from_weights({1: 5, 2: -3}, intercept=-4)
    assert m.predict([1]) == 1          # -4 + 5 = 1 > 0
    assert m.predict([2, 1]) == 0       # -4 - 3 + 5 = -2
    assert m.predict([1, 1]) == 1       # duplicates count: -4 + 10
    assert m.predict([7]) == 0          # unknown feature weighs 0; -4 <= 0
    assert sparse_perceptron_from_weights({1: 4}, intercept=-4).predict([1]) == 0  # 0 -> class 0


def test_sparse_perceptron_update_moves_each_listed_index_by_the_learning_rate() -> None:
    m = sparse_perceptron_from_weights({1: 5}, learning_rate=E9)
    m.update([2, 2, 3], 1)              # predicted 0: each occurrence moves +1e9
    assert m.store.get("w/2") == 2 * E9 and m.store.get("w/3") == E9
    m.update([1], 0)                    # predicted 1 (5 > 0): moves -1e9
    assert m.store.get("w/1") == 5 - E9
    before = dict(m.store.data)
    m.update([2], 1)                    # already right: nothing moves
    assert m.store.data == before
    assert m.params["intercept"] == 0   # the intercept is fixed


def test_sparse_perceptron_rejects_negative_indices_and_bad_labels() -> None:
    m = sparse_perceptron_from_weights({})
    with pytest.raises(AppError, match=re.escape("Not all indices are >= 0.")):
        m.predict([1, -1])
    with pytest.raises(AppError, match=re.escape("Classification is out of bounds.")):
        m.update([1], 2)


# ----- dense perceptron ------------------------------------------------------------------


def test_dense_perceptron_update_truncates_toward_zero() -> None:
    m = dense_perceptron_from_weights([0, 0], intercept=1, learning_rate=7)
    data = [-6 * 10**8, 8 * 10**8]      # unit norm; d*lr/1e9 = -4.2 and 5.6
    assert m.predict(data) == 1         # 1 + 0 > 0
    m.update(data, 0)                   # wrong: w - trunc(d*lr/1e9)
    assert m.read_vector("w", 2) == [4, -5]   # floor would give 5 for the first weight
    assert m.predict(data) == 0         # 1 + (-2.4e9) + (-4e9) <= 0


def test_dense_perceptron_positive_update() -> None:
    m = dense_perceptron_from_weights([0, 0], learning_rate=3 * 10**8)
    m.update([6 * 10**8, 8 * 10**8], 1)
    assert m.read_vector("w", 2) == [180_000_000, 240_000_000]


@pytest.mark.parametrize(("data", "ok"), [
    ([10**9, 10**5, 3 * 10**5], False),              # squared sum 1e18 + 1e11: outside
    ([10**9, 10**5, 3 * 10**5 - 1], True),           # 1e18 + 1e11 - 599999: inside
    ([999_999_936, 166_752, 13_920], False),         # exactly 1e18 - 1e11: outside
    ([999_999_936, 166_752, 13_921], True),          # 1e18 - 1e11 + 27841: inside
    ([10**9, 0, 0], True),
])
def test_unit_norm_boundaries_are_strict(data: list[int], ok: bool) -> None:
    for model in (dense_perceptron_from_weights([0, 0, 0]),
                  nearest_centroid_from_centroids([[0, 0, 0]], [0])):
        if ok:
            model.update(data, 0 if isinstance(model, NearestCentroid) else 1)
        else:
            with pytest.raises(AppError, match=NORM_ERROR):
                model.update(data, 0)


def test_dense_dimension_errors_use_reference_messages() -> None:
    with pytest.raises(AppError,
                       match=re.escape("The data must have the same dimension as the weights.")):
        dense_perceptron_from_weights([0, 0]).predict([1])
    nc = nearest_centroid_from_centroids([[0, 0]], [0])
    with pytest.raises(AppError, match=re.escape("Data doesn't have the correct length.")):
        nc.predict([1])
    with pytest.raises(AppError,
                       match=re.escape("Data doesn't have the correct number of dimensions.")):
        nc.update([1], 0)


# ----- nearest centroid ------------------------------------------------------------------


def test_nearest_centroid_distance_and_ties() -> None:
    m = nearest_centroid_from_centroids([[E9, 0], [0, E9]], [1, 1])
    # d0 = (6e8-1e9)^2/1e9 + (8e8)^2/1e9 = 8e8 ; d1 = 3.6e8 + 0.4e8 = 4e8
    assert m.predict([6 * 10**8, 8 * 10**8]) == 1
    assert m.predict([8 * 10**8, 6 * 10**8]) == 0
    same = nearest_centroid_from_centroids([[E9, 0], [E9, 0]], [1, 1])
    assert same.predict([0, E9]) == 0   # tie goes to the lower class


def test_nearest_centroid_per_component_floor() -> None:
    # each squared difference is floored after dividing by 1e9: 1^2 // 1e9 = 0 per component
    m = nearest_centroid_from_centroids([[1, 1], [0, 0]], [1, 1])
    assert m.predict([0, 0]) == 0       # both distances floor to 0: tie -> class 0


def test_nearest_centroid_running_mean_truncates_toward_zero() -> None:
    m = nearest_centroid_from_centroids([[E9, 0], [0, E9]], [1, 1])
    m.update([6 * 10**8, 8 * 10**8], 1)
    assert m.read_vector("c/1", 2) == [3 * 10**8, 9 * 10**8]
    assert m.store.get("n/1") == 2
    m2 = nearest_centroid_from_centroids([[1, 0]], [2])
    m2.update([-6 * 10**8, 8 * 10**8], 0)
    # (1*2 - 6e8) / 3 = -199999999.33 -> -199999999 (floor would be -200000000)
    assert m2.read_vector("c/0", 2) == [-199_999_999, 266_666_666]
    assert m2.store.get("n/0") == 3


# ----- sparse nearest centroid -----------------------------------------------------------


def test_sparse_nearest_centroid_bookkeeping() -> None:
    m = SparseNearestCentroid({"classes": ["a", "b"]}, DictStore())
    m.update([1, 2], 0)
    assert m.store.get("sm/0") == 2 * 10**18 and m.store.get("n/0") == 1
    m.update([2, 3], 0)
    # centroid {1: .5, 2: 1, 3: .5}: squared magnitude 1.5e18, computed incrementally
    assert m.store.get("sm/0") == 15 * 10**17
    assert m.store.get("v/0/1") == [E9, 1]          # lazy: not touched by the 2nd update
    assert m.value(0, 1, 2) == 5 * 10**8            # rescaled on read
    assert m.store.get("v/0/2") == [E9, 2] and m.store.get("v/0/3") == [5 * 10**8, 2]
    assert m.predict([1]) == 1          # class 1 is empty (origin): distance 1 < 1.5
    assert m.predict([1, 2, 3]) == 0    # 1.5e18 - 1e18 = 5e17 < 3e18
    with pytest.raises(AppError, match="at most once"):
        m.predict([1, 1])


# ----- naive Bayes -----------------------------------------------------------------------


def _nb() -> NaiveBayes:
    m = NaiveBayes({"classes": ["x", "y"], "smoothing": E9, "total_features": 4}, DictStore())
    m.update([0, 0, 1], 0)
    m.update([2, 3], 1)
    m.update([2], 1)
    return m


def test_naive_bayes_counts_and_exact_scores() -> None:
    m = _nb()
    assert [m.store.get(k) for k in ("n/0", "t/0", "f/0/0", "f/0/1")] == [1, 3, 2, 1]
    assert [m.store.get(k) for k in ("n/1", "t/1", "f/1/2", "f/1/3")] == [2, 3, 2, 1]
    assert m.score(0, [0]) == (E9 * 3 * E9, 7 * E9)    # 1 * 1e9 * (2e9 + 1e9) / (3e9 + 4e9)
    assert m.predict([0]) == 0          # 3/7 vs 2/7
    assert m.predict([2]) == 1          # 1/7 vs 6/7


def _reference_floored(m: NaiveBayes, k: int, data: list[int]) -> int:
    """The reference's per-factor floored product (for contrast)."""
    alpha, v = m.params["smoothing"], m.params["total_features"]
    prob = (m.store.get(f"n/{k}") or 0) * E9
    for f in data:
        prob = prob * (E9 * (m.store.get(f"f/{k}/{f}") or 0) + alpha) // (
            E9 * (m.store.get(f"t/{k}") or 0) + alpha * v)
    return prob


def test_naive_bayes_long_inputs_do_not_underflow() -> None:
    m = _nb()
    long_input = [2] * 40
    assert _reference_floored(m, 1, long_input) == 0   # the reference would answer class 0
    assert m.predict(long_input) == 1                  # exact: 2*(3/7)^40 > (1/7)^40


# ----- export / import -------------------------------------------------------------------


def test_export_import_json_and_off_chain_deploy_format() -> None:
    m = _nb()
    doc = json.loads(to_json(m))
    assert doc["type"] == "naive_bayes" and doc["state"]["f/0/0"] == 2
    again = from_json(json.dumps(doc))
    assert again.export() == m.export()
    with pytest.raises(AppError, match="unknown model type"):
        load_model({"type": "svm", "params": {}, "state": {}})
    with pytest.raises(AppError, match="int or a list of ints"):
        load_model({"type": "sparse_perceptron", "params": {}, "state": {"w/1": "x"}})
    dense = {"type": "dense_perceptron", "params": {"dims": 70}}
    load_model({**dense, "state": {"w/0": [0] * 64, "w/1": [1] * 6}})
    with pytest.raises(AppError, match="must be a list of 6 ints"):
        load_model({**dense, "state": {"w/1": [1] * 64}})
    with pytest.raises(AppError, match="outside the model's 70 dims"):
        load_model({**dense, "state": {"w/2": [1] * 6}})


samples = st.lists(st.tuples(st.lists(st.integers(0, 30), min_size=1, max_size=8),
                             st.integers(0, 1)), max_size=25)


@given(samples)
def test_round_trip_sparse_models_preserves_predictions(data: list[tuple[list[int], int]]) -> None:
    for model in (SparsePerceptron({"learning_rate": 3}, DictStore()),
                  NaiveBayes({"classes": ["a", "b"], "total_features": 31}, DictStore()),
                  SparseNearestCentroid({"classes": ["a", "b"]}, DictStore())):
        for x, y in data:
            model.update(sorted(set(x)), y)
        copy = from_json(to_json(model))
        assert copy.export() == model.export()
        for x, _ in data:
            assert copy.predict(sorted(set(x))) == model.predict(sorted(set(x)))


@given(st.lists(st.integers(-10**9, 10**9), min_size=70, max_size=70))
def test_round_trip_dense_models(weights: list[int]) -> None:
    m = dense_perceptron_from_weights(weights, intercept=3)
    copy = from_json(to_json(m))
    assert copy.read_vector("w", 70) == weights and copy.export() == m.export()
    assert isinstance(copy, DensePerceptron)
