"""The wallet scenario over real HTTP: a node API with content routes, three proxy services."""

from __future__ import annotations

import time

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


def test_cli_flow_patient_professional_proxy(tmp_path, monkeypatch) -> None:
    """open, add, list, history, read, grant, log, revoke through `learnchain wallet …`."""
    import json as jsonlib

    from typer.testing import CliRunner

    from learnchain.apps.wallet.access import HttpChain
    from learnchain.apps.wallet.proxy import ProxyService
    from learnchain.apps.wallet.proxy_http import create_proxy_app
    from learnchain.cli.wallet import wallet_app
    from learnchain.core.crypto import save_keystore, to_checksum_address

    names = {"patient": "patient", "doctor": "professional"}
    genesis = dev_genesis(members=("miner",), extra_apps=["wallet"], apps={"identity": {
        "identities": {to_checksum_address(dev_key(n).address): [r] for n, r in
                       {**names, "miner": "miner"}.items()}}})
    test = make_node(genesis, database=str(tmp_path / "chain.sqlite"))
    test.node.min_block_interval_ms = 200
    test.node.chain.clock = _wall_clock()
    api = create_app(test.node)
    service = WalletNodeService(test.node, LocalContentStore(tmp_path / "content.sqlite"))
    service.mount(api)
    datadir = tmp_path / "cli"
    for name in [*names, "miner"]:
        save_keystore(dev_key(name), datadir / "keys" / f"{name}.json", "pw", light=True)
    (datadir / "keys" / "password.txt").write_text("pw\n")
    test.node.start()
    try:
        with ThreadedServer(api) as server:
            chain = HttpChain(server.url)
            proxies = [ProxyService(dev_key(f"proxy-{i}"), chain) for i in range(3)]
            servers = [ThreadedServer(create_proxy_app(p)).__enter__() for p in proxies]

            def cli(*args: str) -> object:
                result = CliRunner().invoke(wallet_app, [*args, "--node", server.url,
                                                         "--datadir", str(datadir), "--json"])
                assert result.exit_code == 0, result.output
                return jsonlib.loads(result.output)

            for p, s in zip(proxies, servers, strict=True):
                cli("proxy", "register", "--address", to_checksum_address(p.address),
                    "--url", s.url, "--key", "miner")
            cli("keys", "--key", "doctor")
            wallet = cli("open", "--institution", to_checksum_address(dev_key("miner").address),
                         "--key", "patient")["wallet"]
            payload = tmp_path / "note.txt"
            payload.write_text("private note")
            rid = cli("add", str(payload), "--layer", "activities", "--key", "patient")["record"]
            assert cli("list", "--key", "patient")[0]["layer"] == "activities"
            assert len(cli("history", "--record", rid, "--key", "patient")["versions"]) == 1
            grant = cli("grant", "--grantee", to_checksum_address(dev_key("doctor").address),
                        "--layer", "activities", "-m", "2", "--key", "patient")["grant"]
            read = cli("read", "--record", rid, "--wallet", wallet, "--key", "doctor")
            assert read["body"] == "private note"
            deadline = time.monotonic() + 60  # the proxies' log transactions need a block
            while len(cli("log", "--key", "patient")) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(cli("log", "--key", "patient")) >= 2
            assert cli("revoke", "--grant", grant, "--key", "patient")["proxy_problems"] == []
            result = CliRunner().invoke(wallet_app, ["read", "--record", rid, "--wallet", wallet,
                                                     "--key", "doctor", "--node", server.url,
                                                     "--datadir", str(datadir)])
            assert result.exit_code == 1 and "error" in result.output
            for s in servers:
                s.__exit__(None, None, None)
    finally:
        test.node.stop()


def test_wallet_cli_imports_no_heavy_modules() -> None:
    import subprocess
    import sys

    code = ("import sys, learnchain.cli.wallet; print(sorted(m for m in ('torch', 'fhir', "
            "'umbral_pre', 'cryptography') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
