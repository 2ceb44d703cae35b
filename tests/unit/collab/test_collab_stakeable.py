"""Deposit, refund and take: every rule and boundary with exact integers (pure rules)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.apps.base import AppError
from learnchain.apps.collab import mechanisms as m

DAY = 86_400
P = m.StakeableParams(refund_wait_s=DAY, owner_wait_s=9 * DAY, any_wait_s=10 * DAY,
                      cost_weight=1000)
AUTHOR, ALICE, BOB, CAROL, OWNER = (bytes([i]) * 20 for i in range(1, 6))
T0 = 1_000_000


def contribution(deposit: int = 1000, label: int = 1) -> m.Contribution:
    return m.Contribution(0, AUTHOR, [1, 2], label, T0, deposit, deposit)


@pytest.mark.parametrize(("elapsed", "cost"), [
    (0, 3_600_000),        # divisor 1 when no time has passed
    (1, 3_600_000),
    (3, 3_600_000),        # isqrt(3) = 1
    (4, 1_800_000),
    (86_400, 12_286),      # isqrt = 293; 3_600_000 // 293 (floor)
    (10**6, 3_600),
])
def test_required_deposit(elapsed: int, cost: int) -> None:
    assert m.required_deposit(1000, T0 + elapsed, T0) == cost


def test_required_deposit_refuses_time_going_backwards() -> None:
    with pytest.raises(AppError,
                       match=re.escape("The last update time is after the current time.")):
        m.required_deposit(1000, T0 - 1, T0)


def test_paying_less_is_rejected_and_excess_is_not_taken() -> None:
    with pytest.raises(AppError, match=re.escape("Didn't pay enough for the deposit.")):
        m.accept_deposit(12_285, 12_286)
    assert m.accept_deposit(12_286, 12_286) == 12_286
    assert m.accept_deposit(10**9, 12_286) == 12_286


def test_wait_times_must_be_ordered() -> None:
    with pytest.raises(AppError, match="Owner claim wait time must be at least the refund"):
        m.StakeableParams.from_plain({"refund_wait_s": 10, "owner_wait_s": 9,
                                      "any_wait_s": 20})
    with pytest.raises(AppError, match="less than the any address claim wait time"):
        m.StakeableParams.from_plain({"refund_wait_s": 10, "owner_wait_s": 30,
                                      "any_wait_s": 20})
    m.StakeableParams.from_plain({"refund_wait_s": 10, "owner_wait_s": 10, "any_wait_s": 10})


# ----- refunds ---------------------------------------------------------------------------


def test_refund_exactly_at_the_wait_and_one_second_early() -> None:
    c = contribution()
    with pytest.raises(AppError, match=re.escape("Not enough time has passed.")):
        m.refund(c, AUTHOR, T0 + DAY - 1, 1, P)
    assert m.refund(c, AUTHOR, T0 + DAY, 1, P) == 1000
    assert c.claimable == 0 and c.claimed_by == [AUTHOR]


def test_refund_rules_and_messages() -> None:
    c = contribution()
    with pytest.raises(AppError, match=re.escape("Data is not from the sender.")):
        m.refund(c, ALICE, T0 + DAY, 1, P)
    with pytest.raises(AppError,
                       match=re.escape("The model doesn't agree with your contribution.")):
        m.refund(c, AUTHOR, T0 + DAY, 0, P)
    m.refund(c, AUTHOR, T0 + DAY, 1, P)
    with pytest.raises(AppError, match=re.escape("Deposit already claimed by submitter.")):
        m.refund(c, AUTHOR, T0 + 2 * DAY, 1, P)
    empty = contribution(deposit=0)
    with pytest.raises(AppError, match=re.escape("There is no reward left to claim.")):
        m.refund(empty, AUTHOR, T0 + DAY, 1, P)


def test_refund_after_a_partial_take_returns_what_is_left() -> None:
    c = contribution()
    assert m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 1, 4) == 250
    assert m.refund(c, AUTHOR, T0 + 2 * DAY, 1, P) == 750


# ----- takes -----------------------------------------------------------------------------


def test_proportional_takes_floor_and_cap() -> None:
    c = contribution(deposit=1000)
    # goods: Alice 1, Bob 2, Carol 1 of total 3 at the time of each take
    assert m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 1, 3) == 333     # floor(1000/3)
    assert m.take(c, BOB, OWNER, T0 + DAY, 0, P, 2, 3) == 666       # floor(2000/3)
    assert c.claimable == 1
    assert m.take(c, CAROL, OWNER, T0 + DAY, 0, P, 1, 3) == 1       # 333 > what is left
    assert c.claimable == 0
    with pytest.raises(AppError, match=re.escape("There is no reward left to claim.")):
        m.take(c, OWNER, OWNER, T0 + 20 * DAY, 0, P, 0, 3)


def test_take_of_zero_is_replaced_by_what_is_left() -> None:
    c = contribution(deposit=2)
    assert m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 1, 3) == 2       # floor(2/3) = 0 -> all


def test_take_conditions_and_messages() -> None:
    c = contribution()
    with pytest.raises(AppError, match=re.escape("Not enough time has passed.")):
        m.take(c, ALICE, OWNER, T0 + DAY - 1, 0, P, 1, 1)
    with pytest.raises(AppError,
                       match=re.escape("The model should not agree with the contribution.")):
        m.take(c, ALICE, OWNER, T0 + DAY, 1, P, 1, 1)
    with pytest.raises(AppError, match=f"^{re.escape('Cannot take your own deposit.')}$"):
        m.take(c, AUTHOR, OWNER, T0 + DAY, 0, P, 5, 5)
    with pytest.raises(AppError, match=re.escape("The sender has not sent any good data.")):
        m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 0, 5)
    assert c.claimable == 1000 and c.claimed_by == []
    assert m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 1, 10) == 100
    with pytest.raises(AppError, match=re.escape("Deposit already claimed by reporter.")):
        m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 1, 10)


def test_owner_takes_everything_after_the_owner_wait_only() -> None:
    c = contribution()
    # one second early the owner is an ordinary reporter (and has no good data)
    with pytest.raises(AppError, match=re.escape("The sender has not sent any good data.")):
        m.take(c, OWNER, OWNER, T0 + 9 * DAY - 1, 0, P, 0, 3)
    # at the wait: everything, even if the model agrees and the owner has no good data
    assert m.take(c, OWNER, OWNER, T0 + 9 * DAY, 1, P, 0, 3) == 1000
    # others still cannot take everything before the any-address wait
    c2 = contribution()
    with pytest.raises(AppError, match=re.escape("The sender has not sent any good data.")):
        m.take(c2, ALICE, OWNER, T0 + 9 * DAY, 0, P, 0, 3)


def test_any_address_takes_everything_left_after_its_wait() -> None:
    c = contribution()
    assert m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 1, 4) == 250
    with pytest.raises(AppError, match="The model should not agree"):
        m.take(c, BOB, OWNER, T0 + 10 * DAY - 1, 1, P, 0, 4)
    assert m.take(c, BOB, OWNER, T0 + 10 * DAY, 1, P, 0, 4) == 750
    assert c.claimable == 0
    # the author too may sweep its own abandoned deposit after the any-address wait
    c2 = contribution()
    assert m.take(c2, AUTHOR, OWNER, T0 + 10 * DAY, 1, P, 0, 0) == 1000


def test_take_all_after_the_waits_does_not_ask_about_earlier_claims() -> None:
    """Reference Stakeable: the owner and any-address branches skip `claimedByReporter`."""
    c = contribution()
    assert m.take(c, ALICE, OWNER, T0 + DAY, 0, P, 1, 4) == 250
    with pytest.raises(AppError, match=re.escape("Deposit already claimed by reporter.")):
        m.take(c, ALICE, OWNER, T0 + 10 * DAY - 1, 0, P, 1, 4)
    # after the any-address wait the same reporter takes everything left: 1000 - 250
    assert m.take(c, ALICE, OWNER, T0 + 10 * DAY, 0, P, 1, 4) == 750
    assert c.claimable == 0 and c.claimed_by == [ALICE, ALICE]
    with pytest.raises(AppError, match=re.escape("There is no reward left to claim.")):
        m.take(c, BOB, OWNER, T0 + 10 * DAY, 0, P, 0, 4)
    # the owner too, after its own wait, after a proportional share of its own
    c2 = contribution()
    assert m.take(c2, OWNER, OWNER, T0 + DAY, 0, P, 1, 2) == 500
    assert m.take(c2, OWNER, OWNER, T0 + 9 * DAY, 1, P, 1, 2) == 500


@given(st.integers(0, 10**6),
       st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(0, 12 * DAY),
                          st.integers(0, 1)), max_size=12))
def test_deposits_never_negative_and_conserved(deposit: int,
                                               claims: list[tuple[int, int, int, int]]) -> None:
    people = [AUTHOR, ALICE, BOB, CAROL, OWNER]
    c = contribution(deposit=deposit)
    paid = 0
    for who, good, age, prediction in sorted(claims, key=lambda x: x[2]):
        try:
            if who == 0 and prediction == c.label:
                paid += m.refund(c, AUTHOR, T0 + age, prediction, P)
            else:
                paid += m.take(c, people[who], OWNER, T0 + age, prediction, P, good, 5)
        except AppError:
            pass
        assert 0 <= c.claimable <= deposit
        assert paid + c.claimable == deposit


# ----- points and fees -------------------------------------------------------------------


def _raises(message: str) -> Any:
    return pytest.raises(AppError, match=f"^{re.escape(message)}$")


def test_points_refund_follows_the_reference_order_and_messages() -> None:
    pp = m.PointsParams.from_plain({"refund_wait_s": DAY})
    assert pp == m.PointsParams(DAY, DAY, DAY)
    c = m.Contribution(0, AUTHOR, [1], 1, T0, 0, 1)
    with _raises("Data is not from the sender."):
        m.points_refund(c, ALICE, T0 + DAY, 1, pp)
    with _raises("Not enough time has passed."):
        m.points_refund(c, AUTHOR, T0 + DAY - 1, 1, pp)
    with _raises("The model doesn't agree with your contribution."):
        m.points_refund(c, AUTHOR, T0 + DAY, 0, pp)
    m.points_refund(c, AUTHOR, T0 + DAY, 1, pp)
    assert (c.claimable, c.claimed_by) == (0, [AUTHOR])
    # "Already claimed." comes before the time and agreement checks, as in Points64
    with _raises("Already claimed."):
        m.points_refund(c, AUTHOR, T0, 0, pp)
    with _raises("Already claimed."):
        m.points_report(c, ALICE, OWNER, T0 + DAY, 0, pp)


def test_points_report_needs_no_good_data_and_settles_once() -> None:
    pp = m.PointsParams(refund_wait_s=DAY, owner_wait_s=DAY // 2, any_wait_s=3 * DAY)
    bad = m.Contribution(1, AUTHOR, [1], 1, T0, 0, 1)
    with _raises("Cannot be claimed yet."):
        m.points_report(bad, ALICE, OWNER, T0 + DAY - 1, 0, pp)
    # the owner's own (shorter) wait applies to the owner only
    owner_early = m.Contribution(2, AUTHOR, [1], 1, T0, 0, 1)
    m.points_report(owner_early, OWNER, OWNER, T0 + DAY // 2, 0, pp)
    assert owner_early.claimed_by == [OWNER]
    with _raises("Cannot report yourself."):
        m.points_report(bad, AUTHOR, OWNER, T0 + DAY, 0, pp)
    with _raises("The model should not agree with the contribution."):
        m.points_report(bad, ALICE, OWNER, T0 + DAY, 1, pp)
    # ALICE has never sent good data (the stakeable rule would refuse her); Points64 allows it
    m.points_report(bad, ALICE, OWNER, T0 + DAY, 0, pp)
    assert (bad.claimable, bad.claimed_by) == (0, [ALICE])
    with _raises("Already claimed."):
        m.points_report(bad, BOB, OWNER, T0 + DAY, 0, pp)
    with _raises("Already claimed."):
        m.points_refund(bad, AUTHOR, T0 + DAY, 1, pp)


def test_points_waits_need_not_be_ordered() -> None:
    """Points64 takes its waits unchecked: any one that has passed allows a report."""
    pp = m.PointsParams.from_plain({"refund_wait_s": 5 * DAY, "owner_wait_s": 9 * DAY,
                                    "any_wait_s": 2 * DAY})
    c = m.Contribution(3, AUTHOR, [1], 1, T0, 0, 1)
    m.points_report(c, ALICE, OWNER, T0 + 2 * DAY, 0, pp)
    assert c.claimed_by == [ALICE]


def test_badges_and_streaks() -> None:
    s = m.AuthorStats()
    for day in (0, 1, 2, 2, 4):
        s.record_contribution(day % 2, day * DAY + 5)
    assert (s.contributions, s.best_streak, s.streak, s.labels) == (5, 3, 1, [0, 1])
    assert m.badges(s, 2) == ["first-contribution", "all-labels", "streak-3"]
    s.good, s.reports = 10, 1
    assert m.points(s) == 11
    assert "trusted" in m.badges(s, 2) and "watchdog" in m.badges(s, 2)
    assert "all-labels" not in m.badges(s, 3)


def test_fee_split_floors_and_the_caller_keeps_the_remainder() -> None:
    shares = m.split_fee(100, [(ALICE, 1), (BOB, 2), (CAROL, 0)])
    assert shares == [(ALICE, 33), (BOB, 66)]            # 1 unit stays with the caller
    assert m.split_fee(100, [(ALICE, 0)]) == []
    assert m.split_fee(2, [(ALICE, 1), (BOB, 1), (CAROL, 1)]) == []
