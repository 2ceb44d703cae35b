"""Shared by the crowd tests: a small evaluation input and direct app calls on chain state."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from learnchain.apps.base import BlockInfo, CallContext
from learnchain.apps.crowd import mlprograms as ml
from learnchain.apps.crowd.app import CrowdApp
from learnchain.apps.crowd.experiments import Sandbox, reference_model
from learnchain.core.state import Overlay
from learnchain.testing import dev_key


@lru_cache(maxsize=2)
def eval_data(subset: int = 512) -> bytes:
    return ml.eval_input("digits", reference_model(), subset)


def try_call(box: Sandbox, name: str, method: str, args: dict[str, Any]) -> Any:
    """Run one app method on the head state as the next block would, raising its AppError
    (a receipt carries only the message; this shows the exception type). Nothing is saved."""
    chain = box.node.chain
    head = chain.head
    info = BlockInfo(chain.genesis_config.chain_id, head.height + 1, head.timestamp_ms + 1000,
                     head.hash, dev_key("miner").address)
    ctx = CallContext("crowd", dev_key(name).address, info, b"try", Overlay(chain.state))
    return CrowdApp().call(ctx, method, args)
