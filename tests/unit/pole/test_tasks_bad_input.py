"""Every bad input to the `tasks` app gets its specific error; nothing is minted from nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pole_helpers import FUNDS, Net, addr, supply, total_money, try_call

from learnchain.apps.commit_reveal import CommitRevealError
from learnchain.apps.tasks import actors
from learnchain.apps.tasks import models as M
from learnchain.apps.tasks import rules as R


def _committed(net: Net, names: tuple[str, ...], **kw: Any) -> tuple[int, Any, dict[str, Any]]:
    task_id, secret = net.publish(**kw)
    task = net.task(task_id)
    cands = {n: actors.train_candidate(task, addr(n)) for n in names}
    for n in names:
        net.send(n, "commit", cands[n].commit_args())
    net.mine_to(task["deadline"] + 1)
    return task_id, secret, cands


def test_task_without_escrow_is_refused() -> None:
    net = Net.start(("alice",))
    args = actors.prepare_task(addr("data"), 0, deadline=5).publish_args
    with pytest.raises(R.NoEscrow):
        try_call(net.any, "data", "publish", {**args, "reward": 0})
    with pytest.raises(R.NoEscrow):
        try_call(net.any, "data", "publish", {**args, "deposit": 0})
    # a reward the publisher cannot fund is refused by the bank, not minted
    with pytest.raises(R.AppError, match="insufficient funds"):
        try_call(net.any, "mallory", "publish", args)


def test_training_data_digest_must_match_its_split() -> None:
    net = Net.start(("alice",))
    args = actors.prepare_task(addr("data"), 0, deadline=5).publish_args
    with pytest.raises(R.TrainDataMismatch):
        try_call(net.any, "data", "publish", {**args, "train_digest": bytes(32)})
    with pytest.raises(R.BadTaskParams):
        try_call(net.any, "data", "publish", {**args, "hp": {"max_iter": 100, "x": 1}})
    with pytest.raises(R.BadTaskParams):
        try_call(net.any, "data", "publish", {**args, "deadline": 0})


def test_test_set_must_match_its_commitment_and_only_the_publisher_opens() -> None:
    net = Net.start(("alice",))
    task_id, secret, _ = _committed(net, ("alice",))
    with pytest.raises(R.TestSetMismatch):
        try_call(net.any, "data", "open_test", {**secret.open_args(task_id),
                                                 "salt": bytes(32)})
    other = actors.prepare_task(addr("data"), task_id, test_rows=5)
    with pytest.raises(R.TestSetMismatch):  # another (easier) test set
        try_call(net.any, "data", "open_test", {**other.open_args(task_id),
                                                 "salt": secret.salt})
    with pytest.raises(R.NotPublisher):
        try_call(net.any, "alice", "open_test", secret.open_args(task_id))
    assert try_call(net.any, "data", "open_test", secret.open_args(task_id))["rows"] > 0


def test_reveal_must_open_its_commitment() -> None:
    net = Net.start(("alice",))
    _, _, cands = _committed(net, ("alice",))
    with pytest.raises(CommitRevealError):
        try_call(net.any, "alice", "reveal", {**cands["alice"].reveal_args(), "salt": bytes(32)})
    with pytest.raises(R.NoCommitment):
        try_call(net.any, "bob", "reveal", cands["alice"].reveal_args())
    with pytest.raises(R.WrongPhase):  # commitments close at the deadline
        try_call(net.any, "bob", "commit", cands["alice"].commit_args())
    assert try_call(net.any, "alice", "reveal", cands["alice"].reveal_args())["train_ppm"] > 0


def test_model_under_threshold_is_refused() -> None:
    net = Net.start(("alice",))
    task_id, _ = net.publish(threshold_ppm=990_000)
    weak = actors.train_candidate(net.task(task_id), addr("alice"), hp={"max_iter": 1})
    net.send("alice", "commit", weak.commit_args())
    net.mine_to(net.task(task_id)["deadline"] + 1)
    with pytest.raises(R.BelowThreshold):
        try_call(net.any, "alice", "reveal", weak.reveal_args())


def test_stolen_model_from_another_address_fails() -> None:
    """Mallory gets alice's model before the deadline and commits it as her own."""
    net = Net.start(("alice",))
    task_id, _ = net.publish(sml_width=16, threshold_ppm=800_000)
    task = net.task(task_id)
    honest = actors.train_candidate(task, addr("alice"))
    stolen = actors.Candidate(task_id, addr("mallory"), honest.params, b"m" * 32)
    net.send("alice", "commit", honest.commit_args())
    net.send("mallory", "commit", stolen.commit_args())
    net.mine_to(task["deadline"] + 1)
    # replaying alice's opening from mallory's address does not open mallory's commitment
    with pytest.raises(CommitRevealError):
        try_call(net.any, "mallory", "reveal", honest.reveal_args())
    # her own opening of the copied bytes runs behind her own mapping and misses the threshold
    with pytest.raises(R.BelowThreshold):
        try_call(net.any, "mallory", "reveal", stolen.reveal_args())
    assert try_call(net.any, "alice", "reveal", honest.reveal_args())["train_ppm"] >= 800_000


def test_malformed_model_bytes_are_a_model_error() -> None:
    net = Net.start(("alice",))
    task_id, _ = net.publish()
    junk = actors.Candidate(task_id, addr("alice"), b"\x01\x02", b"s" * 32)
    net.send("alice", "commit", junk.commit_args())
    net.mine_to(net.task(task_id)["deadline"] + 1)
    with pytest.raises(M.ModelError):
        try_call(net.any, "alice", "reveal", junk.reveal_args())
    task = net.task(task_id)
    with pytest.raises(M.ModelError, match="kind"):  # an MLP offered for a logreg task
        R.load_model(task, M.encode_params("mlp", []), addr("alice"), R.train_set(task))


def test_publisher_that_never_opens_pays_its_deposit_to_the_candidates() -> None:
    net = Net.start(("alice",))
    task_id, _, cands = _committed(net, ("alice", "bob"), deposit=101)
    net.send("alice", "reveal", cands["alice"].reveal_args())
    net.mine_to(R.close_height(net.task(task_id)))
    task = net.task(task_id)
    assert task["status"] == "failed"
    node = net.any
    assert node.balance("data") == FUNDS["data"] - 101
    assert node.balance("bob") == FUNDS["bob"] + 50
    mined = 50 * net.height
    assert node.balance("alice") == FUNDS["alice"] + 51 + mined


_CACHE: dict[bytes, bytes] = {}


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(reward=st.integers(1, 5000), deposit=st.integers(1, 500),
       opens=st.booleans(), reveals=st.lists(st.booleans(), min_size=2, max_size=2),
       winner_mines=st.booleans())
def test_money_is_conserved_whatever_happens(reward: int, deposit: int, opens: bool,
                                             reveals: list[bool], winner_mines: bool) -> None:
    net = Net.start(("alice", "bob"))
    start_money, start_supply = total_money(net.any), supply(net.any)
    task_id, secret = net.publish(reward=reward, deposit=deposit, settle_window=2)
    task = net.task(task_id)
    cands = {n: actors.Candidate(task_id, addr(n), _params(task, n), (n.encode() * 8)[:32])
             for n in ("alice", "bob")}
    for c in cands.values():
        net.send("alice" if c.address == addr("alice") else "bob", "commit", c.commit_args())
    net.mine_to(task["deadline"] + 1)
    if opens:
        net.send("data", "open_test", secret.open_args(task_id))
    for name, go in zip(("alice", "bob"), reveals, strict=True):
        if go:
            net.send(name, "reveal", cands[name].reveal_args())
    net.mine_to(R.close_height(task) + 3, "alice" if winner_mines else "bob")
    assert net.task(task_id)["status"] in {"settled", "failed", "expired"}
    minted = supply(net.any) - start_supply
    assert minted == 50 * net.height
    assert total_money(net.any) == start_money + minted
    assert net.any.chain.query("bank", "escrow", {"app": "tasks", "escrow": f"t{task_id}"}) == 0


def _params(task: dict[str, Any], name: str) -> bytes:
    key = task["sml_seed"] + name.encode()
    if key not in _CACHE:
        _CACHE[key] = actors.train_candidate(task, addr(name)).params
    return _CACHE[key]
