"""The producer thread survives a failure it did not expect: it logs it and keeps mining."""

from __future__ import annotations

import logging

import pytest

from learnchain.node import Node, open_chain
from learnchain.polling import wait_until
from learnchain.testing import dev_genesis, dev_key


def test_an_unexpected_error_in_production_is_logged_and_mining_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    node = Node(open_chain(":memory:", dev_genesis()), dev_key("miner"),
                min_block_interval_ms=10)
    seal, calls = node.chain.engine.seal, []

    def seal_failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk hiccup")
        return seal(*args, **kwargs)

    node.chain.engine.seal = seal_failing_once  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="learnchain.node"):
        node.start()
        try:
            wait_until(lambda: node.chain.head.height >= 2, 120.0, "two blocks after the error")
        finally:
            node.stop()
    assert "block production raised unexpectedly" in caplog.text
    assert "disk hiccup" in caplog.text
