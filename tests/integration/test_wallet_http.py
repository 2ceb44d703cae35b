"""The wallet scenario over real HTTP: a node API with content routes, three proxy services."""

from __future__ import annotations

import pytest

from learnchain.apps.wallet.proxy_http import ThreadedServer
from learnchain.apps.wallet.scenario import scenario
from learnchain.apps.wallet.service import WalletNodeService
from learnchain.net.api import create_app
from learnchain.storage.content import LocalContentStore
from learnchain.testing import dev_genesis, dev_key, make_node


@pytest.fixture
def node_url(tmp_path):
    genesis = dev_genesis(members=("miner",), extra_apps=["wallet"])
    test = make_node(genesis, database=str(tmp_path / "chain.sqlite"))
    test.node.min_block_interval_ms = 200
    test.node.chain.clock = _wall_clock()
    api = create_app(test.node)
    service = WalletNodeService(test.node, LocalContentStore(tmp_path / "content.sqlite"))
    service.mount(api)
    service.start()
    test.node.start()
    with ThreadedServer(api) as server:
        yield server.url, service
    test.node.stop()
    service.stop()


def _wall_clock():
    from learnchain.core.chain import wall_clock_ms

    return wall_clock_ms


def test_scenario_over_http(node_url) -> None:
    url, service = node_url
    report = scenario([url], dev_key("miner"))
    assert report["checks"] and report["ok"], report["checks"]
    assert report["records"] == 3
    pins = service.store.pins()
    assert sum("chain" in reasons for reasons in pins.values()) == 3
