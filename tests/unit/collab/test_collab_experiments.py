"""Small versions of the two experiments (the full ones: `learnchain collab experiment`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learnchain.apps.collab.datasets import rotten_tomatoes, rotten_tomatoes_samples
from learnchain.apps.collab.experiments import (
    GoodBadConfig,
    MarketConfig,
    breast_cancer,
    run_good_bad,
    run_market,
)
from learnchain.apps.collab.good_bad import mean_ci, verdict


def test_dataset_is_offline_and_sparse() -> None:
    data = breast_cancer(0)
    assert len(data.init) + len(data.pool) + len(data.test) == 569
    assert all(len(x) == 30 and all(0 <= i < 240 for i in x) for x, _ in data.test)


def test_text_dataset_is_offline_and_large_enough() -> None:
    samples = rotten_tomatoes_samples()
    assert len(samples) == 12_752 and {y for _, y in samples} == {0, 1}
    data = rotten_tomatoes(3)
    assert (len(data.test), len(data.init), len(data.pool)) == (2000, 1000, 9752)
    assert len(data.vocabulary) == 1000
    # a 14-day run adds about 2 100-2 400 samples: the pool holds four times that
    texts = [t for t, _ in data.test + data.init + data.pool]
    assert len(set(texts)) == len(texts)


def test_good_bad_small(tmp_path: Path) -> None:
    cfg = GoodBadConfig(days=2, refund_wait_s=3 * 3600, take_wait_s=18 * 3600,
                        check_every_s=3 * 3600, sample_every_s=3 * 3600, test_size=400,
                        init_size=600)
    result = run_good_bad(tmp_path, cfg, seeds=2)
    for run in result["runs"]:
        # money moves from the bad agent to the good one (deposits still locked count)
        assert run["good_net"] > 0 > run["bad_net"]
        assert run["escrow_left"] == run["good_locked"] + run["bad_locked"]
        assert run["bad_adds"] > 0 and run["good_adds"] > 3 * run["bad_adds"]
        assert run["distinct_samples_added"] == run["adds"]          # nothing reused
    assert result["stats"]["seeds"] == 2 and result["stats"]["samples_reused"] == 0
    assert "Over 2 seeds" in result["verdict"]
    saved = json.loads((tmp_path / "collab_good_bad.json").read_text())
    assert saved["verdict"] == result["verdict"]
    assert len(saved["bands"]["accuracy_ppm"]["mean"]) == len(saved["series"][0])
    assert (tmp_path / "collab_good_bad.png").stat().st_size > 10_000


def test_verdict_says_only_what_the_intervals_support() -> None:
    base = {"seeds": 10, "end_minus_start_pts": (0.0, 1.0), "good_net_coins": (10.0, 1.0),
            "bad_net_coins": (-10.0, 1.0), "good_ahead": 10, "bad_behind": 10,
            "good_cash_coins": (-5.0, 1.0), "bad_cash_coins": (-3.0, 1.0),
            "good_locked_coins": (15.0, 1.0),
            "samples_reused": 0, "run_mean_minus_control_pts": (-0.1, 0.2)}
    held = verdict({**base, "run_mean_minus_start_pts": (0.2, 0.5)})
    assert "accuracy holds" in held and "no cost distinguishable from zero" in held
    fell = verdict({**base, "run_mean_minus_start_pts": (-4.0, 1.5),
                    "run_mean_minus_control_pts": (-3.0, 1.0)})
    assert "accuracy falls" in fell and "costs accuracy" in fell
    unclear = verdict({**base, "run_mean_minus_start_pts": (-0.5, 2.0)})
    assert "not distinguishable from a fall of more than 1 point" in unclear
    assert mean_ci([1.0]) == (1.0, 0.0)
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and abs(half - 4.302652729911275 * 1.0 / 3**0.5) < 1e-9


def test_market_small(tmp_path: Path) -> None:
    summary = run_market(tmp_path, MarketConfig(contributions_each=10, stake=1, bounty=500))
    assert summary["zero_sum"]
    assert all(summary["profit"][b] < 0 for b in ("bad1", "bad2"))
    assert sum(summary["profit"][g] for g in ("good1", "good2", "good3")) >= 0
    assert summary["final_accuracy_ppm"] >= summary["initial_accuracy_ppm"]
    assert (tmp_path / "collab_market.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_full_experiments_show_the_headline(tmp_path: Path) -> None:
    gb = run_good_bad(tmp_path, seeds=10)
    assert gb["stats"]["samples_reused"] == 0
    assert gb["stats"]["good_ahead"] == 10 == gb["stats"]["bad_behind"]
    market = run_market(tmp_path)
    assert market["zero_sum"] and all(market["profit"][b] < 0 for b in ("bad1", "bad2"))
