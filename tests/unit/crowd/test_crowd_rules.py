"""Pure crowd rules: the payout clauses, conservation, E_ck, phases and publish parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.apps.crowd import rules as R
from learnchain.core.encoding import encode


def test_clauses_match_the_seed():
    d, r = 1000, 3001
    # all equal: d + floor(r/n) each, the remainder of r goes back
    s = R.settle_payouts([b"y", b"y", b"y"], d, r)
    assert s.payouts == (2000, 2000, 2000) and s.refund == 1 and s.burned == 0 and s.agreed
    # a failure: the failing worker loses d, every other submitter gets d/2
    s = R.settle_payouts([b"y", None, b"z"], d, r)
    assert s.payouts == (500, 0, 500) and s.refund == r and s.burned == 2000
    # submitted but different: everyone gets d/2
    s = R.settle_payouts([b"y", b"y", b"z"], d, r)
    assert s.payouts == (500, 500, 500) and s.refund == r and s.burned == 1500


@given(st.lists(st.one_of(st.none(), st.sampled_from([b"a", b"b", b"c"])), min_size=2,
                max_size=16),
       st.integers(1, 10**6).map(lambda x: 2 * x), st.integers(16, 10**9))
def test_settlement_conserves_money(outcomes, deposit, reward):
    s = R.settle_payouts(outcomes, deposit, reward)
    assert sum(s.payouts) + s.burned + s.refund == len(outcomes) * deposit + reward
    assert min(s.payouts) >= 0 and s.burned >= 0 and 0 <= s.refund <= reward


def test_odd_deposit_is_refused():
    with pytest.raises(R.BadTaskParams):
        R.settle_payouts([b"a", b"a"], 3, 10)


TASK = {"coins": 2, "input": bytes(32), "eck": [b"\x01" * 32]}


@pytest.mark.parametrize(("result", "reason"), [
    (b"\xff", "malformed"),
    (encode([b"ab"]), "malformed"),
    (encode([b"", b"ab"]), "empty"),
    (encode([bytes(8), b"ab"]), "all zeros"),
    (encode([b"\xff" * 8, b"ab"]), "all ones"),
    (encode([b"same", b"same"]), "low entropy"),
])
def test_eck_catches_common_knowledge_results(result, reason):
    assert reason in R.eck_reason(result, TASK)


def test_eck_catches_the_input_and_listed_blobs():
    blob = b"a slice of the input"
    task = {**TASK, "eck": [R.sha256(blob)]}
    assert "known" in R.eck_reason(encode([blob, b"other"]), task)
    assert "known" in R.eck_reason(encode([b"x", b"y"]), {**TASK, "input": R.sha256(
        encode([b"x", b"y"]))})
    assert R.eck_reason(encode([b"\x12\x34", b"\x56\x78"]), task) is None


def test_precision_counts_ones_exactly():
    assert R.precision_ppm(encode([b"\xf0", b"\xff"]), 2) == 750_000


def _task(**kw):
    base = {"id": 0, "status": "open", "n": 2, "workers": [b"a" * 20, b"b" * 20],
            "join_deadline": 10, "seed": b"s", "coin_height": 12, "commit_deadline": 20,
            "reveal_deadline": 30, "commits": [b"", b""], "results": [b"", b""]}
    return {**base, **kw}


def test_phases_follow_heights_and_progress():
    assert R.phase_at(_task(workers=[b"a" * 20]), 10) == "prepare"
    assert R.phase_at(_task(workers=[b"a" * 20]), 11) == "expired"
    assert R.phase_at(_task(seed=b""), 12) == "coin"
    assert R.phase_at(_task(), 13) == "commit"
    assert R.phase_at(_task(commits=[b"c", b""]), 20) == "commit"
    assert R.phase_at(_task(commits=[b"c", b""]), 21) == "reveal"
    assert R.phase_at(_task(commits=[b"c", b"d"]), 14) == "reveal"
    assert R.phase_at(_task(commits=[b"c", b"d"], results=[b"r", b""]), 30) == "reveal"
    assert R.phase_at(_task(commits=[b"c", b"d"], results=[b"r", b""]), 31) == "settle"
    assert R.phase_at(_task(commits=[b"c", b"d"], results=[b"r", b"q"]), 14) == "settle"
    assert R.phase_at(_task(commits=[b"c", b""], results=[b"r", b""]), 21) == "settle"
    assert R.phase_at(_task(status="settled"), 14) == "settled"
    with pytest.raises(R.WrongPhase, match="commits until 20"):
        R.require_phase(_task(), 13, "reveal")


GOOD = R.TaskParams("eval-classifier", 1, bytes(32), 2, 1000, 2000, 5, 2, 5, 5, 2, (),
                    b"", 0, 0)


@pytest.mark.parametrize(("change", "match"), [
    ({"input": b"short"}, "32-byte"), ({"n": 1}, "n must be"), ({"deposit": 999}, "even"),
    ({"reward": 1}, "reward"), ({"delta_c": 0}, "delta_c"), ({"coins": 0}, "coins"),
    ({"eck": (b"x",)}, "eck"), ({"price": 5}, "seller"), ({"threshold_ppm": 2_000_000}, "ppm"),
])
def test_bad_publish_parameters_are_named(change, match):
    from dataclasses import replace

    with pytest.raises(R.BadTaskParams, match=match):
        R.validate_task_params(replace(GOOD, **change), "eval")
    R.validate_task_params(GOOD, "eval")


def test_a_price_needs_an_evaluation_program():
    from dataclasses import replace

    with pytest.raises(R.BadTaskParams, match="evaluation"):
        R.validate_task_params(replace(GOOD, price=5, seller=b"s" * 20), "train")
