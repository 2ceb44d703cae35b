"""The market app through real blocks: checked prices, all-or-nothing allocation, renewal."""

import pytest

from learnchain.apps.market.stackelberg import CONCAVE, TULLOCK, Consumer, best_integer_price
from learnchain.testing import dev_genesis, dev_key, make_node

PEOPLE = ("c1", "c2", "c3")


def market_node(**overrides):
    tn = make_node(dev_genesis(funded={"cpp": 10, **{p: 100_000 for p in PEOPLE}},
                               extra_apps=["market"], block_reward=0))
    args = {"capacity": 40, "unit_cost": 50, "price_cap": 1000, **overrides}
    tn.send("cpp", "market", "open", args)
    tn.mine()
    return tn


def call(tn, sender, method, args):
    tx = tn.send(sender, "market", method, args)
    (block,) = tn.mine()
    (receipt,) = [r for r in tn.chain.receipts(block.hash) if r.tx_hash == tx.hash]
    return receipt


def join_all(tn, family=CONCAVE, values=(400, 300, 200)):
    for person, value in zip(PEOPLE, values, strict=True):
        assert call(tn, person, "join", {"market": 0, "family": family, "value": value}).success


def optimum(values, family=CONCAVE, capacity=40):
    people = [Consumer(family, v) for v in values]
    return best_integer_price(people, 50, capacity=capacity, price_cap=1000)


def test_only_the_stackelberg_price_is_accepted():
    tn = market_node()
    join_all(tn)
    best, _ = optimum((400, 300, 200))
    wrong = call(tn, "cpp", "post_price", {"market": 0, "price": best + 40})
    assert not wrong.success and "not a best response" in wrong.error
    assert not call(tn, "c1", "post_price", {"market": 0, "price": best}).success
    ok = call(tn, "cpp", "post_price", {"market": 0, "price": best})
    assert ok.success and ok.result == 0
    assert tn.chain.query("market", "market", {"market": 0})["price"] == best


def test_purchases_pay_the_provider_and_deplete_capacity():
    tn = market_node()
    join_all(tn)
    best, _ = optimum((400, 300, 200))
    call(tn, "cpp", "post_price", {"market": 0, "price": best})
    receipt = call(tn, "c1", "buy", {"market": 0, "units": 3})
    assert receipt.success and receipt.result == 3 * best
    assert tn.balance("cpp") == 10 + 3 * best
    assert tn.balance("c1") == 100_000 - 3 * best
    market = tn.chain.query("market", "market", {"market": 0})
    assert market["remaining"] == 37
    step = tn.chain.query("market", "step", {"market": 0, "step": 0})
    assert step["sold"] == 3 and step["allocations"][0]["consumer"] == dev_key("c1").address
    again = call(tn, "c1", "buy", {"market": 0, "units": 1})
    assert not again.success and "already bought in step 0" in again.error


def test_a_short_market_rations_all_or_nothing_at_the_cap():
    tn = market_node(capacity=3)
    join_all(tn, TULLOCK, (10_000, 6_000, 3_000))
    # Tullock spend S = 3,750 is the same at every price: demand S/p is 3.75 units at the cap,
    # more than the 3 left, so no price fits and the market rations at the cap.
    assert optimum((10_000, 6_000, 3_000), TULLOCK, capacity=3) is None
    refused_price = call(tn, "cpp", "post_price", {"market": 0, "price": 999})
    assert not refused_price.success and "rations at the cap 1000" in refused_price.error
    assert call(tn, "cpp", "post_price", {"market": 0, "price": 1000}).success
    assert call(tn, "c1", "buy", {"market": 0, "units": 2}).success
    short = call(tn, "c2", "buy", {"market": 0, "units": 2})
    assert not short.success and "could not get resources" in short.error
    assert tn.balance("c2") == 100_000


def test_capacity_renews_up_to_the_opening_capacity():
    tn = market_node(capacity=10, renew_units=2, renew_every=3)
    join_all(tn)
    best, _ = optimum((400, 300, 200), capacity=10)
    call(tn, "cpp", "post_price", {"market": 0, "price": best})
    assert call(tn, "c1", "buy", {"market": 0, "units": 3}).success
    height = tn.chain.head.height
    state = tn.chain.query("market", "market", {"market": 0, "height": height})
    tn.mine(6)
    later = tn.chain.query("market", "market", {"market": 0, "height": tn.chain.head.height})
    assert later["remaining"] == min(10, state["remaining"] + 2 * ((tn.chain.head.height
                                     - state["renewed_at"]) // 3))
    tn.mine(30)
    full = tn.chain.query("market", "market", {"market": 0, "height": tn.chain.head.height})
    assert full["remaining"] == 10


@pytest.mark.parametrize("args, message", [
    ({"capacity": 0, "unit_cost": 1, "price_cap": 5}, "'capacity' must be at least 1"),
    ({"capacity": 5, "unit_cost": 9, "price_cap": 5}, "unit_cost must be below price_cap"),
    ({"capacity": 5, "unit_cost": 1, "price_cap": 5, "renew_units": 3},
     "renew_units and renew_every go together"),
])
def test_bad_offers_are_refused_with_the_reason(args, message):
    tn = market_node()
    receipt = call(tn, "cpp", "open", args)
    assert not receipt.success and message in receipt.error


def test_buying_needs_a_posted_price_and_membership():
    tn = market_node()
    assert "no price posted" in call(tn, "c1", "buy", {"market": 0, "units": 1}).error
    join_all(tn)
    best, _ = optimum((400, 300, 200))
    call(tn, "cpp", "post_price", {"market": 0, "price": best})
    outsider = call(tn, "cpp", "buy", {"market": 0, "units": 1})
    assert "join the market" in outsider.error
    assert "family must be one of" in call(tn, "c1", "join", {"market": 0, "family": "x",
                                                               "value": 5}).error
    assert "no market 7" in call(tn, "c1", "join", {"market": 7, "family": CONCAVE,
                                                     "value": 5}).error


def test_money_is_conserved():
    tn = market_node()
    supply = tn.chain.query("bank", "supply", {})
    join_all(tn)
    best, _ = optimum((400, 300, 200))
    call(tn, "cpp", "post_price", {"market": 0, "price": best})
    for person in PEOPLE:
        call(tn, person, "buy", {"market": 0, "units": 2})
    assert tn.chain.query("bank", "supply", {}) == supply
    assert sum(tn.balance(p) for p in (*PEOPLE, "cpp")) == 10 + 3 * 100_000
