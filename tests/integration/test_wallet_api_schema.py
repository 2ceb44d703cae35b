"""The /v1/wallet interaction-model routes conform to their OpenAPI schema (schemathesis):
no server errors, declared status codes, responses matching their models, on a chain that
holds a study, a forum, a case and a reward programme."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from learnchain.apps.wallet import case_client as cc
from learnchain.apps.wallet import forum_client as fc
from learnchain.apps.wallet import reward_client as rw
from learnchain.apps.wallet import study_client as sc
from learnchain.apps.wallet.api import wallet_router
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld
from learnchain.net.api import create_app

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance]


@pytest.fixture(scope="module")
def wallet_schema() -> Any:
    world = WalletWorld.create(funded={"researcher": 1000, INSTITUTION: 1000})
    wid = world.setup()
    world[INSTITUTION].authorise(world.address("researcher"))
    world[INSTITUTION].authorise(world.address("doctor-b"))
    sc.publish(world["researcher"], {"condition": "195967001", "age_min": 1, "age_max": 99,
                                     "reference_date": "2026-01-01"}, ["sex"], 10, 5, 1000)
    fc.open_forum(world[INSTITUTION], "195967001", "asthma")
    world["patient"].grant(wid, world.address("doctor-a"), ["profile"],
                           world.proxy_addresses, 2, write=True)
    cid = cc.open_case(world["doctor-a"], wid, ["profile"])
    cc.invite(world["doctor-a"], cid, world.address("doctor-b"))
    rw.open_programme(world[INSTITUTION], "Encounter", 5, 3, 1000)
    api = create_app(world.test.node)
    api.include_router(wallet_router(world.test.node))
    return schemathesis.openapi.from_asgi("/openapi.json", api)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, pytest.param(
    GenerationMode.NEGATIVE, marks=pytest.mark.slow)])  # negative generation takes minutes
def test_wallet_routes_conform_to_their_schema(wallet_schema: Any, mode: GenerationMode) -> None:
    operations = [r.ok() for r in wallet_schema.get_all_operations()]
    operations = [o for o in operations if o.path.startswith("/v1/wallet/")]
    assert len(operations) == 12
    for operation in operations:
        try:
            strategy = operation.as_strategy(generation_mode=mode)
        except Exception as exc:
            if mode is GenerationMode.NEGATIVE:
                continue
            raise AssertionError(f"{operation.label}: {exc}") from exc

        @given(case=strategy)
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label
