"""The batched population setup of the study experiment and `LocalChain.wait_many`."""

from __future__ import annotations

import pytest

from learnchain.apps.wallet.app import wallet_id
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.study_experiment import setup_population
from learnchain.apps.wallet.synthetic import population
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld


def test_batched_setup_opens_every_wallet_with_every_record_readable() -> None:
    names = [f"synthetic-{i}" for i in range(6)]
    world = WalletWorld.create(extra=dict.fromkeys(names, "patient"))
    world.setup()
    people = population(3, len(names))
    wallets = setup_population(world, names, people)
    for name, person in zip(names, people, strict=True):
        assert wallets[name] == wallet_id(world.address(name))
        records = world.chain.query("records", {"wallet": wallets[name]})
        assert len(records) == len(person.records)
        bodies = sorted(world[name].read(wallets[name], r["record"]).payload.body
                        for r in records)
        assert bodies == sorted(body for _, _, body, _ in person.records)


def test_wait_many_returns_results_in_order_and_names_a_failure() -> None:
    world = WalletWorld.create()
    world.setup()
    hospital = world[INSTITUTION]
    doctors = [world.chain.send(hospital.key, "wallet", "authorise",
                                {"professional": world.address(n)})
               for n in ("doctor-a", "doctor-b")]
    assert world.chain.wait_many(doctors) == [None, None]
    again = world.chain.send(world["patient"].key, "wallet", "open",
                             {"institution": world.address(INSTITUTION)})
    with pytest.raises(WalletError, match="one wallet per identity"):
        world.chain.wait_many([again])
