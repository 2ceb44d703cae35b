"""Consensus nodes pick the open task with the largest reward (issue #16), deterministically."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pole_helpers import Net, addr

from learnchain.apps.tasks import actors


def _task(task_id: int, reward: int, deadline: int = 20, status: str = "open") -> dict[str, Any]:
    return {"id": task_id, "reward": reward, "deadline": deadline, "status": status}


def test_largest_reward_wins_then_earlier_deadline_then_lower_id() -> None:
    tasks = [_task(0, 400), _task(1, 1000, deadline=30), _task(2, 1000, deadline=25),
             _task(3, 1000, deadline=25)]
    assert actors.pick_task(tasks, height=10)["id"] == 2


def test_closed_settled_or_too_late_tasks_are_not_picked() -> None:
    tasks = [_task(0, 5000, status="due"), _task(1, 4000, deadline=10), _task(2, 100)]
    assert actors.pick_task(tasks, height=10)["id"] == 2  # task 1's deadline is this height
    assert actors.pick_task(tasks, height=10, min_blocks=11) is None
    assert actors.pick_task([], height=0) is None


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(11, 14)), min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_choice_is_the_maximum_and_ignores_listing_order(specs: list[tuple[int, int]]) -> None:
    tasks = [_task(i, r, d) for i, (r, d) in enumerate(specs)]
    picked = actors.pick_task(tasks, height=10)
    assert picked is not None and picked["reward"] == max(r for r, _ in specs)
    assert actors.pick_task(list(reversed(tasks)), height=10) == picked


def test_nodes_on_a_chain_with_two_open_tasks_train_for_the_richer_one() -> None:
    net = Net.start(("alice",))
    poor, _ = net.publish(reward=300, deadline=8)
    rich, _ = net.publish(reward=900, deadline=8)
    open_ids = net.any.chain.query("tasks", "open_tasks", {})
    assert open_ids == [poor, rich]
    assert net.any.chain.query("tasks", "next_id", {}) == rich + 1
    chosen = actors.pick_task([net.task(t) for t in open_ids], net.height)
    assert chosen is not None and chosen["id"] == rich
    cand = actors.train_candidate(chosen, addr("alice"))
    net.send("alice", "commit", cand.commit_args())
    net.mine()
    assert [c[0] for c in net.task(rich)["commits"]] == [addr("alice")]
    assert net.task(poor)["commits"] == []
