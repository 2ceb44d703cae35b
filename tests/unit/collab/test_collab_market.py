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


T = m.TICKS_PER_ROUND  # balances are in units of 1/(N·T); N = 4 test samples here
UNIT = 4 * T


def test_market_without_reset_reuses_first_pass_accuracies() -> None:
    out = run(GOOD_BAD_GOOD, 10)
    # pass 1: scores +1, -1, +1 correct per round; Y's stake (1 = 4 correct-rounds) lasts
    # until it reaches zero: 4 whole rounds, not the single round of the old "below its
    # stake" rule; X and Z gain 4 correct-rounds each (1 coin)
    assert [(p.ticks, p.scores, p.dropped) for p in out.passes] == [
        (4 * T, {"0": 1, "1": -1, "2": 1}, ["1"]),
        # pass 2 keeps the accuracies measured with Y's data in: Z's step is 3 -> 3 = 0
        (6 * T, {"0": 1, "2": 0}, [])]
    # X: 4 + 4 + 6 = 14 correct-rounds = 3.5 coins; Z: 4 + 4 = 8 = 2 coins; Y: 0
    assert out.payouts == {X: 3, Y: 0, Z: 2}
    assert out.provider_refund == 3 + 10 - 5
    assert (out.base_correct, out.final_correct, out.survivors) == (2, 4, [0, 2])


def test_market_with_reset_re_evaluates_the_baseline() -> None:
    out = run(GOOD_BAD_GOOD, 10, reset_model=True)
    assert [(p.ticks, p.scores) for p in out.passes] == [
        (4 * T, {"0": 1, "1": -1, "2": 1}), (6 * T, {"0": 1, "2": 1})]
    assert out.payouts == {X: 3, Y: 0, Z: 3} and out.provider_refund == 7


def test_market_grouping_scores_consecutive_runs_once() -> None:
    entries = [m.MarketEntry(X, [1], 1, 1), m.MarketEntry(X, [2], 1, 1),
               m.MarketEntry(Y, [3], 1, 1)]
    out = run(entries, 10, group_contributions=True)
    xs, ys = X.hex(), Y.hex()
    # X: 2 -> 4 (+2) with 2 units staked (8/4); Y: 4 -> 3 (-1) with 4/4: lasts 4 rounds
    assert [(p.ticks, p.scores, p.dropped) for p in out.passes] == [
        (4 * T, {xs: 2, ys: -1}, [ys]), (6 * T, {xs: 2}, [])]
    # X: 8 + 2·4 + 2·6 = 28 correct-rounds = 7 coins
    assert out.payouts == {X: 7, Y: 0} and out.provider_refund == 13 - 7


def test_market_bounty_runs_out_mid_pass() -> None:
    out = run(GOOD_BAD_GOOD, 1)
    assert [p.ticks for p in out.passes] == [T]
    # X, Z: 4 + 1 = 5 correct-rounds -> 1 coin each; Y: 4 - 1 = 3 -> 0 coins
    assert out.payouts == {X: 1, Y: 0, Z: 1} and out.provider_refund == 2


def test_larger_stakes_keep_a_loser_in_longer() -> None:
    entries = [m.MarketEntry(X, [1], 1, 1), m.MarketEntry(Y, [3], 1, 3)]
    out = run(entries, 100)
    # Y: 3 coins = 12 correct-rounds, loses 1 per round: 12 rounds until it reaches zero
    assert out.passes[0].ticks == 12 * T and out.passes[0].dropped == ["1"]
    assert out.payouts == {X: (4 + 12 + 88) // 4, Y: 0} and out.provider_refund == 104 - 26


def test_partial_round_pays_the_fraction_the_balance_covers() -> None:
    """A loss of 3 correct per round against a balance of 4: 4/3 rounds, to 10^-9 round."""
    test_x, test_y = [[1], [2], [3], [4]], [1, 0, 0, 0]          # empty model: 3/4
    entries = [m.MarketEntry(X, [1], 1, 1),                    # 3 -> 4 correct (+1)
               m.MarketEntry(Y, [2, 3, 4], 1, 1)]              # 4 -> 1 correct (-3)
    out = m.compute_market_rewards(fresh, entries, test_x, test_y, 10, m.MarketOptions())
    first, second = out.passes
    assert first.ticks == 1_333_333_333 and first.rounds == m.Fraction(1_333_333_333, T)
    assert first.dropped == ["1"]
    # Y is left with 4·10^9 − 3·1 333 333 333 = 1 unit (1/(4·10^9) coin): it cannot pay
    # another tick, so it is out; X gets +1 per tick for the rest of the bounty
    assert second.ticks == 10 * T - 1_333_333_333 and second.scores == {"0": 1}
    # X: 4·10^9 + 1 333 333 333 + 8 666 666 667 = 14·10^9 units = 3.5 coins (the reference's
    # real-valued rounds give 1 + (1/4)(4/3) + (1/4)(26/3) = 3.5 too)
    assert out.payouts == {X: 3, Y: 0} and out.provider_refund == 12 - 3


def test_the_first_loser_to_reach_zero_ends_the_pass_not_the_worst_scorer() -> None:
    """The reference ran the pass for the worst scorer's rounds (10 coins / (2/5) = 25 here),
    driving Z's balance to 1 − 25/5 = −4; here the pass ends when Z reaches zero (5 rounds)."""
    entries = [m.MarketEntry(X, [1], 1, 1), m.MarketEntry(Y, [3, 4], 1, 10),   # -2/round
               m.MarketEntry(Z, [5], 1, 1)]                                     # -1/round
    test_x, test_y = [[1], [2], [3], [4], [5]], [1, 1, 0, 0, 0]     # empty model: 3/5
    out = m.compute_market_rewards(fresh, entries, test_x, test_y, 100,
                                   m.MarketOptions(reset_model=True))
    first = out.passes[0]
    assert first.scores == {"0": 1, "1": -2, "2": -1}
    assert first.ticks == 5 * T and first.dropped == ["2"]
    # pass 2: Y (40 of its 50 correct-rounds left) loses 2 per round: 20 rounds; pass 3: X
    # alone for the remaining 75. X: 5 + 5 + 20 + 75 = 105 correct-rounds = 21 coins
    assert [p.ticks for p in out.passes] == [5 * T, 20 * T, 75 * T]
    assert out.payouts == {X: 21, Y: 0, Z: 0} and out.provider_refund == 112 - 21


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
    assert sum(p.ticks for p in out.passes) <= bounty * m.TICKS_PER_ROUND


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
