"""Bank, identity and consensus-governance rules, run through real blocks."""

from learnchain.testing import dev_genesis, dev_key, make_node


def receipts_of(tn, block):
    return tn.chain.receipts(block.hash)


def test_transfer_moves_exact_amounts_and_reward_is_minted():
    tn = make_node(dev_genesis(funded={"alice": 1000}, block_reward=50))
    tn.send("alice", "bank", "transfer", {"to": dev_key("bob").address, "amount": 300})
    (block,) = tn.mine()
    assert [r.success for r in receipts_of(tn, block)] == [True]
    assert tn.balance("alice") == 700 and tn.balance("bob") == 300
    assert tn.balance("miner") == 50
    assert tn.chain.query("bank", "supply", {}) == 1050


def test_overdraft_reverts_only_that_transaction():
    tn = make_node(dev_genesis(funded={"alice": 100}))
    bob = dev_key("bob").address
    tn.send("alice", "bank", "transfer", {"to": bob, "amount": 60})
    tn.send("alice", "bank", "transfer", {"to": bob, "amount": 60})
    tn.send("alice", "bank", "transfer", {"to": bob, "amount": 40})
    (block,) = tn.mine()
    receipts = receipts_of(tn, block)
    assert [r.success for r in receipts] == [True, False, True]
    assert "insufficient funds" in receipts[1].error
    assert tn.balance("alice") == 0 and tn.balance("bob") == 100
    assert tn.chain.query("bank", "balance", {"address": dev_key("alice").address}) == 0


def test_bad_arguments_fail_with_the_argument_named():
    tn = make_node(dev_genesis(funded={"alice": 100}))
    tn.send("alice", "bank", "transfer", {"to": b"short", "amount": 1})
    tn.send("alice", "bank", "transfer", {"to": dev_key("bob").address})
    (block,) = tn.mine()
    errors = [r.error for r in receipts_of(tn, block)]
    assert "'to' must be 20 bytes" in errors[0]
    assert "missing argument 'amount'" in errors[1]


def test_identity_registration_requires_a_member_and_revocation_works():
    tn = make_node(dev_genesis(members=["miner", "hospital"]))
    patient = dev_key("patient").address
    tn.send("outsider", "identity", "register", {"address": patient, "role": "patient"})
    tn.send("hospital", "identity", "register", {"address": patient, "role": "patient"})
    tn.send("hospital", "identity", "register", {"address": patient, "role": "wizard"})
    (block,) = tn.mine()
    outcomes = receipts_of(tn, block)
    assert not outcomes[0].success and "only consortium members" in outcomes[0].error
    assert outcomes[1].success
    assert not outcomes[2].success and "unknown role" in outcomes[2].error
    assert tn.chain.query("identity", "has_role", {"address": patient, "role": "patient"})
    tn.send("hospital", "identity", "revoke", {"address": patient})
    tn.mine()
    assert not tn.chain.query("identity", "has_role", {"address": patient, "role": "patient"})


def test_membership_changes_need_a_majority():
    tn = make_node(dev_genesis(members=["miner", "h1", "h2"]))
    newcomer = dev_key("h3").address
    tn.send("h1", "identity", "propose_membership", {"address": newcomer, "action": "join"})
    tn.mine()
    assert newcomer not in tn.chain.query("identity", "members", {})
    tn.send("h1", "identity", "propose_membership", {"address": newcomer, "action": "join"})
    tn.send("h2", "identity", "propose_membership", {"address": newcomer, "action": "join"})
    (block,) = tn.mine()
    first, second = receipts_of(tn, block)
    assert "already approved" in first.error
    assert second.result == {"applied": True, "approvals": 2}
    assert newcomer in tn.chain.query("identity", "members", {})


def test_only_the_controller_changes_difficulty_and_only_to_valid_values():
    tn = make_node(dev_genesis(members=["miner", "h1"]))
    tn.send("h1", "consensus", "set_params", {"params": {"difficulty": 3}})
    tn.send("miner", "consensus", "set_params", {"params": {"difficulty": 300}})
    tn.send("miner", "consensus", "set_params", {"params": {"speed": 3}})
    tn.send("miner", "consensus", "set_params", {"params": {"difficulty": 4}})
    (block,) = tn.mine()
    r = receipts_of(tn, block)
    assert "only the consensus controller" in r[0].error
    assert "'difficulty' must be an integer in [0, 255]" in r[1].error
    assert "unknown consensus parameter" in r[2].error
    assert r[3].success
    (next_block,) = tn.mine()
    assert next_block.header.engine_fields["difficulty"] == 4


def test_miners_must_hold_the_miner_role():
    tn = make_node(dev_genesis(members=["miner"]))
    candidate = dev_key("newminer").address
    tn.send("miner", "consensus", "set_miners", {"miners": [dev_key("miner").address, candidate]})
    (block,) = tn.mine()
    assert "does not hold the 'miner' role" in receipts_of(tn, block)[0].error
    tn.send("miner", "identity", "register", {"address": candidate, "role": "miner"})
    tn.send("miner", "consensus", "set_miners", {"miners": [dev_key("miner").address, candidate]})
    (block,) = tn.mine()
    assert all(r.success for r in receipts_of(tn, block))
    params = tn.chain.query("consensus", "params", {})
    assert params["miners"] == [dev_key("miner").address, candidate]
