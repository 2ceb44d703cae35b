"""A reorg that re-includes a task's publish transaction in another block must not change the
task's Secure Mapping Layer: candidates train against the task as they first saw it.

Regression: the SML seed used to be `ctx.random_bytes()` (parent hash of the including block),
so when a devnet fork moved the publish into a sibling block every honest model was evaluated
behind a different mapping and recomputed to chance accuracy (~31 % on Iris).
"""

from __future__ import annotations

from pole_helpers import addr, pole_genesis

from learnchain.apps.tasks import actors
from learnchain.testing import ManualClock, make_node


def test_publish_reincluded_after_a_reorg_keeps_the_mapping_and_honest_reveals_pass() -> None:
    genesis = pole_genesis()
    a = make_node(genesis, "alice", clock=ManualClock())
    b = make_node(genesis, "bob", clock=ManualClock())
    prepared = actors.prepare_task(addr("data"), 0, sml_width=8, threshold_ppm=600_000,
                                   deadline=8, reveal_window=4, secret=b"reorg")
    publish = a.tx("data", "tasks", "publish", prepared.publish_args)
    a.node.submit(publish)
    a.mine()  # A's view: the task is published at height 1
    first_seen = a.chain.query("tasks", "task", {"task": 0})
    # B builds a longer branch that includes the same transaction one block later
    b.mine()
    b.node.submit(publish)
    b.mine(2)
    for block in b.chain.canonical_blocks(1):
        a.node.import_block(block)
    assert a.chain.head_hash == b.chain.head_hash  # A reorganised onto B's branch
    task = a.chain.query("tasks", "task", {"task": 0})
    assert task["published"] != first_seen["published"]
    assert task["sml_seed"] == first_seen["sml_seed"]
    # alice trained against her first view of the task; her reveal still clears the threshold
    cand = actors.train_candidate(first_seen, addr("alice"))
    commit = a.tx("alice", "tasks", "commit", cand.commit_args())
    a.node.submit(commit)
    while a.chain.height <= task["deadline"]:
        a.mine()
    opening = a.tx("data", "tasks", "open_test", prepared.open_args(0))
    reveal = a.tx("alice", "tasks", "reveal", cand.reveal_args())
    for tx in (opening, reveal):
        a.node.submit(tx)
    a.mine()
    found = a.chain.find_transaction(reveal.hash)
    assert found is not None and found[2].success, found and found[2].error
    assert a.chain.query("tasks", "task", {"task": 0})["reveals"][0]["train_ppm"] >= 600_000
