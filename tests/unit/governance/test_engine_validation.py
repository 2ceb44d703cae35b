"""§8.8 action validation: bounds, miner limits, the calculus region; refusals are no-ops."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnchain.governance.engine_limits import FeasibleRegion
from learnchain.governance.validation import (
    Action,
    ActionValidator,
    Bounds,
    ControlState,
    InvalidAction,
    validate_action,
)

BOUNDS = Bounds(d_min=10, d_max=20, s_min=3, s_max=6)


def test_each_action_moves_exactly_one_control():
    s = ControlState(15, 4, 2)
    assert validate_action(Action.D_INCREASE, s, BOUNDS) == ControlState(16, 4, 2)
    assert validate_action(Action.D_DECREASE, s, BOUNDS) == ControlState(14, 4, 2)
    assert validate_action(Action.MINER_START, s, BOUNDS) == ControlState(15, 5, 1)
    assert validate_action(Action.MINER_STOP, s, BOUNDS) == ControlState(15, 3, 3)
    assert validate_action(Action.NO_OP, s, BOUNDS) == s


@pytest.mark.parametrize(("action", "state", "match"), [
    (Action.D_INCREASE, ControlState(20, 4, 2), "difficulty 21 outside"),
    (Action.D_DECREASE, ControlState(10, 4, 2), "difficulty 9 outside"),
    (Action.MINER_STOP, ControlState(15, 3, 2), "2 miners outside"),  # the paper's "three"
    (Action.MINER_START, ControlState(15, 6, 2), "7 miners outside"),
    (Action.MINER_START, ControlState(15, 4, 0), "no idle miner"),
    (7, ControlState(15, 4, 2), "unknown action"),
])
def test_out_of_bounds_actions_are_refused_with_a_reason(action, state, match):
    with pytest.raises(InvalidAction, match=match):
        validate_action(action, state, BOUNDS)


def test_refused_actions_become_counted_no_ops():
    v = ActionValidator(BOUNDS)
    act, new = v.filter(Action.D_INCREASE, ControlState(20, 4, 2))
    assert act is Action.NO_OP and new == ControlState(20, 4, 2)
    act, new = v.filter(Action.D_DECREASE, ControlState(20, 4, 2))
    assert act is Action.D_DECREASE and new.difficulty == 19
    assert v.invalid == 1 and "outside" in v.reasons[0]


def test_region_forbids_leaving_it_but_allows_moving_back_towards_it():
    region = FeasibleRegion({4: (14, 16), 5: (15, 17)})
    inside = ControlState(16, 4, 2)
    with pytest.raises(InvalidAction, match="robustly feasible region"):
        validate_action(Action.D_INCREASE, inside, BOUNDS, region)
    with pytest.raises(InvalidAction, match="robustly feasible region"):
        validate_action(Action.MINER_STOP, inside, BOUNDS, region)  # s = 3 has no range
    assert validate_action(Action.MINER_START, inside, BOUNDS, region).miners == 5
    outside = ControlState(19, 4, 2)  # e.g. after a surge: d far above the range
    assert validate_action(Action.D_DECREASE, outside, BOUNDS, region).difficulty == 18
    with pytest.raises(InvalidAction):
        validate_action(Action.D_INCREASE, outside, BOUNDS, region)


@given(st.integers(0, 6), st.integers(10, 20), st.integers(3, 6), st.integers(0, 3))
def test_validated_states_never_leave_the_bounds(action, d, s, idle):
    state = ControlState(d, s, idle)
    try:
        new = validate_action(action, state, BOUNDS)
    except InvalidAction:
        new = state
    assert BOUNDS.d_min <= new.difficulty <= BOUNDS.d_max
    assert BOUNDS.s_min <= new.miners <= BOUNDS.s_max and new.idle >= 0


def test_bounds_themselves_are_checked():
    with pytest.raises(ValueError, match="d_min"):
        Bounds(d_min=5, d_max=4)
    with pytest.raises(ValueError, match="s_min"):
        Bounds(s_min=0)
