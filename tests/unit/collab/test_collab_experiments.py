"""Small versions of the two experiments (the full ones: `learnchain collab experiment`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learnchain.apps.collab.experiments import (
    GoodBadConfig,
    MarketConfig,
    breast_cancer,
    run_good_bad,
    run_market,
)


def test_dataset_is_offline_and_sparse() -> None:
    data = breast_cancer(0)
    assert len(data.init) + len(data.pool) + len(data.test) == 569
    assert all(len(x) == 30 and all(0 <= i < 240 for i in x) for x, _ in data.test)


def test_good_bad_small(tmp_path: Path) -> None:
    cfg = GoodBadConfig(days=3, refund_wait_s=3 * 3600, take_wait_s=18 * 3600,
                        check_every_s=3 * 3600, sample_every_s=3 * 3600)
    summary = run_good_bad(tmp_path, cfg)
    # money moves from the bad agent to the good one (deposits still locked count as owned)
    assert summary["good_net"] > 0 > summary["bad_net"]
    assert summary["escrow_left"] == summary["good_locked"] + summary["bad_locked"]
    assert summary["bad_adds"] > 0 and summary["good_adds"] > 3 * summary["bad_adds"]
    assert summary["mean_accuracy_ppm"] > 700_000
    saved = json.loads((tmp_path / "collab_good_bad.json").read_text())
    assert saved["summary"]["final_accuracy_ppm"] == summary["final_accuracy_ppm"]
    assert (tmp_path / "collab_good_bad.png").stat().st_size > 10_000


def test_market_small(tmp_path: Path) -> None:
    summary = run_market(tmp_path, MarketConfig(contributions_each=10, stake=1, bounty=500))
    assert summary["zero_sum"]
    assert all(summary["profit"][b] < 0 for b in ("bad1", "bad2"))
    assert sum(summary["profit"][g] for g in ("good1", "good2", "good3")) >= 0
    assert summary["final_accuracy_ppm"] >= summary["initial_accuracy_ppm"]
    assert (tmp_path / "collab_market.png").stat().st_size > 10_000


@pytest.mark.slow
def test_full_experiments_show_the_headline(tmp_path: Path) -> None:
    gb = run_good_bad(tmp_path)
    assert gb["good_profit"] > 0 > gb["bad_profit"] and gb["good_net"] > 0 > gb["bad_net"]
    market = run_market(tmp_path)
    assert market["zero_sum"] and all(market["profit"][b] < 0 for b in ("bad1", "bad2"))
