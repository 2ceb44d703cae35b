"""Prediction market: exact rewards in hand-worked scenarios, zero-sum, and the chain flow."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.apps.base import AppError
from learnchain.apps.collab import mechanisms as m
from learnchain.apps.collab.agents import DAY_S, LocalChain, TxFailed, agent_keys
from learnchain.apps.collab.models import DictStore, SparsePerceptron

KEYS = agent_keys(["owner", "provider", "x", "y", "z", "sweeper"], seed=b"market-test")
X, Y, Z = KEYS["x"].address, KEYS["y"].address, KEYS["z"].address
# Test set: features 1, 2 are positive, 3, 4 negative. The empty model says 0 to all: 2/4.
TEST_X, TEST_Y = [[1], [2], [3], [4]], [1, 1, 0, 0]


def fresh() -> SparsePerceptron:
    return SparsePerceptron({}, DictStore())


def run(entries: list[m.MarketEntry], bounty: int, **options: bool) -> m.MarketOutcome:
    return m.compute_market_rewards(fresh, entries, TEST_X, TEST_Y, bounty,
                                    m.MarketOptions(**options))


GOOD_BAD_GOOD = [m.MarketEntry(X, [1], 1, 1),   # 2 -> 3 correct
                 m.MarketEntry(Y, [3], 1, 1),   # 3 -> 2 correct
                 m.MarketEntry(Z, [2], 1, 1)]   # 2 -> 3 correct


def test_market_without_reset_reuses_first_pass_accuracies() -> None:
    out = run(GOOD_BAD_GOOD, 10)
    # pass 1: scores +1, -1, +1 (units of 1/4); Y can afford (4-4)//1+1 = 1 round, then drops
    assert [(p.rounds, p.scores, p.dropped) for p in out.passes] == [
        (1, {"0": 1, "1": -1, "2": 1}, ["1"]),
        # pass 2 keeps the accuracies measured with Y's data in: Z's step is 3 -> 3 = 0
        (9, {"0": 1, "2": 0}, [])]
    assert out.payouts == {X: 14 // 4, Y: 3 // 4, Z: 5 // 4} == {X: 3, Y: 0, Z: 1}
    assert out.provider_refund == 3 + 10 - 4
    assert (out.base_correct, out.final_correct, out.survivors) == (2, 4, [0, 2])


def test_market_with_reset_re_evaluates_the_baseline() -> None:
    out = run(GOOD_BAD_GOOD, 10, reset_model=True)
    assert [(p.rounds, p.scores) for p in out.passes] == [
        (1, {"0": 1, "1": -1, "2": 1}), (9, {"0": 1, "2": 1})]
    assert out.payouts == {X: 3, Y: 0, Z: 3} and out.provider_refund == 7


def test_market_grouping_scores_consecutive_runs_once() -> None:
    entries = [m.MarketEntry(X, [1], 1, 1), m.MarketEntry(X, [2], 1, 1),
               m.MarketEntry(Y, [3], 1, 1)]
    out = run(entries, 10, group_contributions=True)
    xs, ys = X.hex(), Y.hex()
    # X: 2 -> 4 (+2) with 2 units staked (8/4); Y: 4 -> 3 (-1); Y lasts 1 round
    assert [(p.rounds, p.scores, p.dropped) for p in out.passes] == [
        (1, {xs: 2, ys: -1}, [ys]), (9, {xs: 2}, [])]
    assert out.payouts == {X: 28 // 4, Y: 0} and out.provider_refund == 13 - 7


def test_market_bounty_runs_out_mid_pass() -> None:
    out = run(GOOD_BAD_GOOD, 1)
    assert [p.rounds for p in out.passes] == [1]
    assert out.payouts == {X: 5 // 4, Y: 3 // 4, Z: 5 // 4} and out.provider_refund == 2


def test_larger_stakes_keep_a_loser_in_longer() -> None:
    entries = [m.MarketEntry(X, [1], 1, 1), m.MarketEntry(Y, [3], 1, 3)]
    out = run(entries, 100)
    # Y: 12/4 balance, needs 4 to stay, loses 1 per round: (12-4)//1+1 = 9 rounds
    assert out.passes[0].rounds == 9 and out.passes[0].dropped == ["1"]
    assert out.payouts[Y] == 3 // 4 and out.payouts[X] == (4 + 9 + 91) // 4


def test_stake_rules() -> None:
    with pytest.raises(AppError, match=re.escape("Did not pay enough. Sent 0 < 1")):
        m.market_stake(0, False)
    assert m.market_stake(5, False) == 1 and m.market_stake(5, True) == 5


entries_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.lists(st.integers(1, 6), min_size=1, max_size=3),
              st.integers(0, 1), st.integers(1, 4)), max_size=10)


@given(entries_strategy, st.integers(1, 50), st.booleans(), st.booleans())
def test_market_is_zero_sum_and_never_negative(raw: list[tuple[int, list[int], int, int]],
                                               bounty: int, group: bool, reset: bool) -> None:
    authors = [bytes([10 + i]) * 20 for i in range(4)]
    entries = [m.MarketEntry(authors[a], x, y, s) for a, x, y, s in raw]
    test_x, test_y = [[1], [2], [3], [4], [5], [6], [1, 3]], [1, 1, 0, 0, 1, 0, 1]
    out = m.compute_market_rewards(fresh, entries, test_x, test_y, bounty,
                                   m.MarketOptions(group_contributions=group, reset_model=reset))
    assert all(v >= 0 for v in out.payouts.values()) and out.provider_refund >= 0
    assert sum(out.payouts.values()) + out.provider_refund == sum(s for *_, s in raw) + bounty
    assert sum(p.rounds for p in out.passes) <= bounty


def test_abort_split() -> None:
    shares, rest = m.abort_split({X: 1, Y: 2}, 10)
    assert shares == {X: 1 + 3, Y: 2 + 6} and rest == 1


# ----- through real blocks ---------------------------------------------------------------


def test_market_on_chain_end_to_end_is_zero_sum() -> None:
    keys = KEYS
    chain = LocalChain({k.address: 1_000 for k in keys.values()})
    everyone = [k.address for k in keys.values()]

    def total() -> int:
        return sum(chain.balance(a) for a in everyone) + chain.escrow(0)

    start_total = total()
    chain.call(keys["owner"], "create_model", {
        "model": fresh().export(), "mechanism": "market",
        "mechanism_params": {"min_contributions": 3, "any_wait_s": DAY_S}})
    pieces = [[[x, y] for x, y in zip(TEST_X, TEST_Y, strict=True)],
              [[[2], 1], [[3, 4], 0], [[5], 0]]]  # either hidden piece pays X and Z
    with pytest.raises(TxFailed, match="the market is not accepting contributions"):
        chain.call(keys["x"], "add_data", {"model_id": 0, "data": [1], "label": 1,
                                           "deposit": 1})
    opened = chain.call(keys["provider"], "market_open", {
        "model_id": 0, "bounty": 10, "hashes": [m.piece_hash(p) for p in pieces]})
    # drawn at the end of the next block, from a block hash unknown when the provider signed
    assert opened["draw_height"] == chain.chain.height + 1
    assert chain.query("market", {"model_id": 0})["reveal_index"] is None
    with pytest.raises(TxFailed, match="drawn at the end of block"):
        chain.call(keys["provider"], "market_reveal_early", {"model_id": 0, "piece": pieces[0]})
    early = chain.query("market", {"model_id": 0})["reveal_index"]
    assert early in (0, 1)
    with pytest.raises(TxFailed, match="does not match"):
        chain.call(keys["provider"], "market_reveal_early", {"model_id": 0,
                                                              "piece": pieces[1 - early]})
    chain.call(keys["provider"], "market_reveal_early", {"model_id": 0, "piece": pieces[early]})
    with pytest.raises(TxFailed, match=re.escape("Did not pay enough. Sent 0 < 1")):
        chain.call(keys["x"], "add_data", {"model_id": 0, "data": [1], "label": 1})
    for who, data, label in (("x", [1], 1), ("y", [3], 1), ("z", [2], 1)):
        result = chain.call(keys[who], "add_data", {"model_id": 0, "data": data,
                                                    "label": label, "deposit": 5})
        assert result["deposit"] == 1                     # only the minimum stake is taken
    assert chain.query("prediction", {"model_id": 0, "data": [1]}) == 0   # not trained yet
    chain.call(keys["x"], "market_end", {"model_id": 0})
    with pytest.raises(TxFailed, match="The reward phase has not finished"):
        chain.call(keys["x"], "refund", {"model_id": 0})
    settled = chain.call(keys["provider"], "market_reveal", {
        "model_id": 0, "index": 1 - early, "piece": pieces[1 - early]})
    assert settled["phase"] == "collect"
    hidden = pieces[1 - early]              # the early piece is excluded from evaluation
    expected = m.compute_market_rewards(fresh, GOOD_BAD_GOOD, [x for x, _ in hidden],
                                        [y for _, y in hidden], 10, m.MarketOptions())
    assert settled["outcome"]["payouts"] == {a.hex(): v for a, v in expected.payouts.items()}
    assert chain.balance(keys["provider"].address) == 1000 - 10 + expected.provider_refund
    assert chain.query("prediction", {"model_id": 0, "data": [1]}) == 1  # survivors deployed
    x_won, z_won = expected.payouts[X], expected.payouts[Z]
    assert x_won > 0 and z_won > 0
    assert chain.call(keys["x"], "refund", {"model_id": 0}) == {"amount": x_won}
    with pytest.raises(TxFailed, match=re.escape("There is no reward left to claim.")):
        chain.call(keys["x"], "refund", {"model_id": 0})
    # Z never collects; after the any-address wait someone else takes Z's balance (not their own)
    with pytest.raises(TxFailed, match=re.escape("Not enough time has passed.")):
        chain.call(keys["sweeper"], "report", {"model_id": 0, "author": keys["z"].address})
    chain.set_time(chain.time + DAY_S)
    assert chain.call(keys["sweeper"], "report", {"model_id": 0,
                                                  "author": keys["z"].address}) == {"amount": z_won}
    assert chain.balance(keys["sweeper"].address) == 1000 + z_won
    assert chain.escrow(0) == 0 and total() == start_total
