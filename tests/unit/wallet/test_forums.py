"""Verified forums: per-forum pseudonyms, professional-attested badges, aggregated search."""

from __future__ import annotations

import json

import pytest

from learnchain.apps.wallet import forum_client as fc
from learnchain.apps.wallet.forums import badge_digest
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld

ASTHMA = "195967001"
CONDITION = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
             "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "condition-clinical", "code": "active"}]},
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": ASTHMA}]}}


@pytest.fixture
def world() -> WalletWorld:
    return WalletWorld.create()


def _case(world: WalletWorld) -> tuple[bytes, bytes, bytes, bytes]:
    wid = world.setup()
    world["patient"].grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses,
                           2, write=True)
    rid, _ = world["doctor-a"].add(wid, "profile", "Condition", json.dumps(CONDITION).encode())
    first = fc.open_forum(world[INSTITUTION], ASTHMA, "Living with asthma")
    second = fc.open_forum(world[INSTITUTION], ASTHMA, "Asthma and sport")
    return wid, rid, first, second


def _badge(world: WalletWorld, fid: bytes, wid: bytes, rid: bytes) -> bytes:
    pseudonym = fc.pseudonym_key(world["patient"], fid).address
    return fc.issue_badge(world["doctor-a"], fid, pseudonym, wid, rid)


def test_badged_pseudonyms_join_post_and_are_found_by_condition(world: WalletWorld) -> None:
    wid, rid, first, second = _case(world)
    p1 = fc.join(world["patient"], first, _badge(world, first, wid, rid))
    p2 = fc.join(world["patient"], second, _badge(world, second, wid, rid))
    assert p1 != p2  # unlinkable across forums: different keys, different addresses
    assert world.address("patient") not in (p1, p2) and wid not in (p1, p2)
    assert fc.post(world["patient"], first, b"a spacer helps me") == 0
    [member] = fc.members(world["patient"], first)
    assert member["pseudonym"] == p1 and member["badge"] == {
        "condition": ASTHMA, "professional": world.address("doctor-a")}
    [entry] = world.chain.query("forum_posts", {"forum": first})
    assert entry["by"] == p1
    # nothing on chain names the patient's address next to a pseudonym
    for fid in (first, second):
        assert all(world.address("patient") not in (m["pseudonym"], m["badge"]["professional"])
                   for m in fc.members(world["patient"], fid))


def test_badges_cannot_be_forged_or_moved(world: WalletWorld) -> None:
    wid, rid, first, second = _case(world)
    badge = _badge(world, first, wid, rid)
    with pytest.raises(WalletError, match="badge is not signed"):  # replayed in another forum
        fc.join(world["patient"], second, badge)
    with pytest.raises(WalletError, match="badge is not signed"):  # another pseudonym
        fc.join(world["stranger"], first, badge)
    own = world["patient"].key.sign(badge_digest(world.chain.chain_id, first, fc.pseudonym_key(
        world["patient"], first).address, ASTHMA))
    with pytest.raises(WalletError, match="badge is not signed"):  # self-attested
        fc.join(world["patient"], first, own)
    unauthorised = world["doctor-b"].key.sign(badge_digest(
        world.chain.chain_id, first, fc.pseudonym_key(world["patient"], first).address, ASTHMA))
    with pytest.raises(WalletError, match="badge is not signed"):  # no institution behind
        fc.join(world["patient"], first, unauthorised)
    with pytest.raises(WalletError, match="pseudonym key, not a registered identity"):
        world["patient"]._tx("join_forum", {"forum": first, "badge": badge})
    with pytest.raises(WalletError, match="only badge-holding members post"):
        fc.post(world["patient"], first, b"hello")
    fc.join(world["patient"], first, badge)
    with pytest.raises(WalletError, match="member already"):
        fc.join(world["patient"], first, badge)


def test_professional_will_not_badge_a_condition_the_record_lacks(world: WalletWorld) -> None:
    wid, rid, _first, _second = _case(world)
    other = fc.open_forum(world[INSTITUTION], "44054006", "Type 2 diabetes")
    with pytest.raises(WalletError, match="does not show"):
        _badge(world, other, wid, rid)
    with pytest.raises(WalletError, match="only a consortium member or an institution"):
        fc.open_forum(world["patient"], ASTHMA, "mine")
