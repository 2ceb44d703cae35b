"""Invariants of the state layer and the bank, checked on random histories."""

from hypothesis import given
from hypothesis import strategies as st

from learnchain.core.state import Overlay, WorldState, state_root
from learnchain.testing import dev_genesis, dev_key, make_node

keys = st.sampled_from([f"app/k{i}" for i in range(8)])
values = st.none() | st.binary(min_size=1, max_size=8)
write_sets = st.lists(st.dictionaries(keys, values, max_size=6), max_size=6)


@given(st.dictionaries(keys, st.binary(min_size=1, max_size=8)), write_sets)
def test_undo_journals_restore_state_and_checksum_exactly(initial, blocks):
    world = WorldState(initial)
    snapshots = [(dict(world.data), world.checksum)]
    undos = []
    for writes in blocks:
        undos.append(world.apply(writes))
        snapshots.append((dict(world.data), world.checksum))
        assert world.checksum == WorldState(world.data).checksum
    for undo in reversed(undos):
        snapshots.pop()
        world.apply(undo)
        assert (world.data, world.checksum) == snapshots[-1]


@given(write_sets)
def test_overlays_commit_what_they_read_and_dropping_them_changes_nothing(blocks):
    world = WorldState()
    for writes in blocks:
        block = Overlay(world)
        kept, dropped = Overlay(block), Overlay(block)
        for key, value in writes.items():
            kept.set_raw(key, value)
            dropped.set_raw(key, b"never")
            assert kept.get_raw(key) == value
        kept.commit()
        expected = {**world.data, **{k: v for k, v in writes.items() if v is not None}}
        for key in [k for k, v in writes.items() if v is None]:
            expected.pop(key, None)
        block.commit()
        assert world.data == expected


@given(write_sets)
def test_state_root_depends_on_writes_not_on_their_order(blocks):
    for writes in blocks:
        reordered = dict(reversed(list(writes.items())))
        assert state_root(b"\x00" * 32, writes) == state_root(b"\x00" * 32, reordered)


names = st.sampled_from(["alice", "bob", "carol"])


@given(st.lists(st.tuples(names, names, st.integers(0, 700)), max_size=12))
def test_money_is_conserved_by_any_sequence_of_transfers(moves):
    tn = make_node(dev_genesis(funded={"alice": 1000, "bob": 500}))
    for sender, receiver, amount in moves:
        tn.send(sender, "bank", "transfer", {"to": dev_key(receiver).address, "amount": amount})
    blocks = tn.mine(2)
    balances = [tn.balance(n) for n in ("alice", "bob", "carol", "miner")]
    assert all(b >= 0 for b in balances)
    assert sum(balances) == 1500 + 50 * len(blocks) == tn.chain.query("bank", "supply", {})
