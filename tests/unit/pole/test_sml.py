"""The Secure Mapping Layer: deterministic per (task, address), and what a copy is worth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.apps.tasks import models as M
from learnchain.apps.tasks import sml
from learnchain.core.encoding import sha256


def test_mapping_is_a_pure_function_of_seed_and_address() -> None:
    a = M.sml_matrix(b"seed", b"a" * 20, 4, 8)
    assert a is not None and a.shape == (4, 8) and a.dtype == np.int64
    assert np.array_equal(a, M.sml_matrix(b"seed", b"a" * 20, 4, 8))
    assert not np.array_equal(a, M.sml_matrix(b"seed", b"b" * 20, 4, 8))
    assert not np.array_equal(a, M.sml_matrix(b"seed2", b"a" * 20, 4, 8))
    assert M.sml_matrix(b"seed", b"a" * 20, 4, 0) is None


@given(seed=st.binary(min_size=1, max_size=8), width=st.integers(1, 40), d=st.sampled_from([4, 64]))
@settings(max_examples=40, deadline=None)
def test_mapping_keeps_a_full_rank_projection(seed: bytes, width: int, d: int) -> None:
    """ReLU(x·[P, -P]) keeps x·P exactly and P has full rank: no address gets dead features."""
    m = M.sml_matrix(seed, b"a" * 20, d, width)
    assert m is not None and m.shape == (d, width)
    k = (width + 1) // 2
    p = m[:, :k]
    assert np.linalg.matrix_rank(p.astype(np.float64)) == min(d, k)
    x = np.arange(1, 3 * d + 1, dtype=np.int64).reshape(3, d) % 17
    h = M.mapped(x, m)
    pairs = width // 2
    assert np.array_equal(h[:, :pairs] - h[:, k:k + pairs], x @ p[:, :pairs])


def test_every_address_can_train_past_the_threshold_behind_its_own_mapping() -> None:
    """Regression: with independent entries and one ReLU, ~2 % of (seed, address) pairs at width
    8 zeroed most Iris features and an honest full training stayed under 60 %: pairs 161, 252
    and 273 of this family gave 44 %, 43 % and 37 % (found by scanning 300 pairs)."""
    train, _ = M.split("iris", sha256(b"split-0"))
    worst = M.PPM
    for i in (0, 1, 161, 252, 273):
        m = M.sml_matrix(sha256(b"s%d" % i), sha256(b"a%d" % i)[:20], train.features, 8)
        params = M.train("logreg", train, m, {"max_iter": 100}, b"x")
        layers = M.decode_params(params, "logreg", 8, train.classes, 0)
        worst = min(worst, M.accuracy_ppm(layers, train, m))
    assert worst >= 800_000


@pytest.mark.parametrize("width", [8, 32])
def test_naive_copy_is_worth_little_but_re_mapping_recovers_a_linear_model(width: int) -> None:
    row = sml.run_one("logreg", width)
    assert row.honest_ppm >= 900_000
    assert row.copy_ppm <= 400_000  # far below any useful threshold
    # the documented limit: mappings are public, so a linear model can be re-fitted
    assert row.remap_ppm >= row.honest_ppm - 100_000


@pytest.mark.slow
def test_mlp_sml_experiment_full() -> None:
    rows = sml.run(("mlp",), (8, 64))
    assert all(r.copy_ppm < r.honest_ppm // 2 for r in rows)


def test_integer_inference_is_exact_across_repeats() -> None:
    train, _ = M.split("iris", b"s" * 32)
    m = M.sml_matrix(b"t", b"a" * 20, train.features, 8)
    params = M.train("logreg", train, m, {"max_iter": 100}, b"x")
    assert params == M.train("logreg", train, m, {"max_iter": 100}, b"x")
    layers = M.decode_params(params, "logreg", 8, train.classes, 0)
    assert M.accuracy_ppm(layers, train, m) == M.accuracy_ppm(layers, train, m)
