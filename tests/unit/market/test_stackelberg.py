"""Stackelberg pricing: the issue's worked examples, exact, and the solvers cross-checked."""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.apps.market.stackelberg import (
    CONCAVE,
    TULLOCK,
    Consumer,
    DemandCurve,
    MarketModelError,
    best_integer_price,
    best_responses,
    leader_profit,
    numeric_best_response,
    solve_leader,
    total_demand,
    tullock_active,
    tullock_spend,
)

CONCAVE_432 = [Consumer(CONCAVE, a) for a in (4, 3, 2)]
TULLOCK_1063 = [Consumer(TULLOCK, v) for v in (10, 6, 3)]


def test_tullock_third_consumer_drops_out_and_spend_is_3_75():
    assert tullock_active([10, 6, 3]) == [0, 1]
    assert tullock_spend([10, 6, 3]) == Fraction(15, 4)
    demand = best_responses(TULLOCK_1063, 1)
    assert demand == [Fraction(75, 32), Fraction(45, 32), 0]
    assert sum(demand) == Fraction(15, 4)


def test_tullock_profit_rises_with_price_so_the_cap_binds():
    solution = solve_leader(TULLOCK_1063, Fraction(1, 5), price_cap=1)
    assert solution.price == 1.0 and solution.demand == 3.75
    with pytest.raises(MarketModelError, match="price cap"):
        solve_leader(TULLOCK_1063, Fraction(1, 5))


def test_concave_price_is_sqrt_1_5_with_ample_capacity():
    solution = solve_leader(CONCAVE_432, Fraction(1, 2))
    assert solution.price == pytest.approx(math.sqrt(1.5), abs=1e-12)
    assert not solution.capacity_binds


@pytest.mark.parametrize("capacity, price", [(3, Fraction(3, 2)), (1, Fraction(7, 3))])
def test_concave_price_under_capacity(capacity, price):
    solution = solve_leader(CONCAVE_432, Fraction(1, 2), capacity=capacity)
    assert solution.price == pytest.approx(float(price), abs=1e-12)
    assert solution.capacity_binds
    assert total_demand(CONCAVE_432, price) == capacity


def test_best_responses_satisfy_first_order_conditions():
    p = Fraction(5, 4)
    for consumer, x in zip(CONCAVE_432, best_responses(CONCAVE_432, p), strict=True):
        # u'(x) = a/(1+x) equals p where x > 0, and is at most p where x = 0.
        marginal = Fraction(consumer.value) / (1 + x)
        assert marginal == p if x > 0 else marginal <= p
    demand = best_responses(TULLOCK_1063, p)
    total = sum(demand)
    for consumer, x in zip(TULLOCK_1063, demand, strict=True):
        others = total - x
        marginal = Fraction(consumer.value) * others / total**2
        assert marginal == p if x > 0 else Fraction(consumer.value) / others <= p


def test_numeric_best_response_matches_closed_form():
    for a in (4, 3, 2):
        x = numeric_best_response(lambda x, a=a: a / (1 + x), 1.25)
        assert x == pytest.approx(max(0.0, a / 1.25 - 1), abs=1e-8)


consumers = st.lists(st.tuples(st.sampled_from([CONCAVE, TULLOCK]),
                               st.integers(min_value=1, max_value=500)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(consumers, st.integers(0, 50), st.integers(1, 200), st.integers(60, 600))
def test_integer_price_is_optimal_on_the_whole_grid(pairs, cost, capacity, cap):
    people = [Consumer(f, v) for f, v in pairs]
    result = best_integer_price(people, cost, capacity=capacity, price_cap=cap)
    feasible = [p for p in range(max(1, cost), cap + 1) if total_demand(people, p) <= capacity]
    if result is None:
        assert not feasible
        return
    price, profit = result
    assert price in feasible
    assert profit == max(leader_profit(people, p, cost, capacity) for p in feasible)


@settings(max_examples=80, deadline=None)
@given(consumers, st.fractions(min_value=Fraction(1, 100), max_value=600))
def test_demand_curve_agrees_with_summed_best_responses(pairs, price):
    people = [Consumer(f, v) for f, v in pairs]
    assert DemandCurve(people)(price) == total_demand(people, price)
