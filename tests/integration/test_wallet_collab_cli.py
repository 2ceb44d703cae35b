"""`learnchain wallet case|reward|forum …` against a live node over HTTP with three proxies:
a colleague brought into a case with the patient's consent, the contributor log, an insurer's
reward claimed once, forum search, consent withdrawn."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from learnchain.apps.wallet.access import HttpChain
from learnchain.apps.wallet.proxy import ProxyService
from learnchain.apps.wallet.proxy_http import ThreadedServer, create_proxy_app
from learnchain.apps.wallet.service import WalletNodeService
from learnchain.cli.wallet import wallet_app
from learnchain.core.crypto import save_keystore, to_checksum_address
from learnchain.net.api import create_app
from learnchain.storage.content import LocalContentStore
from learnchain.testing import dev_genesis, dev_key, make_node

ENCOUNTER = {"resourceType": "Encounter", "status": "completed",
             "subject": {"reference": "Patient/1"}}
ROLES = {"patient": "patient", "doctor-a": "professional", "doctor-b": "professional"}


def _addr(name: str) -> str:
    return to_checksum_address(dev_key(name).address)


def _wall_clock():
    from learnchain.core.chain import wall_clock_ms

    return wall_clock_ms


@pytest.mark.slow  # ~35 CLI invocations, each waiting for a block: over a minute when loaded
def test_case_reward_and_forum_commands(tmp_path: Path) -> None:
    genesis = dev_genesis(members=("miner",), extra_apps=["wallet"], funded={"miner": 10_000},
                          apps={"identity": {"identities": {
                              _addr(n): [r] for n, r in {**ROLES, "miner": "miner"}.items()}}})
    test = make_node(genesis, database=str(tmp_path / "chain.sqlite"))
    test.node.min_block_interval_ms = 100
    test.node.chain.clock = _wall_clock()
    api = create_app(test.node)
    WalletNodeService(test.node, LocalContentStore(tmp_path / "content.sqlite")).mount(api)
    datadir = tmp_path / "cli"
    for name in [*ROLES, "miner"]:
        save_keystore(dev_key(name), datadir / "keys" / f"{name}.json", "pw", light=True)
    (datadir / "keys" / "password.txt").write_text("pw\n")
    test.node.start()
    try:
        with ThreadedServer(api) as server:
            proxies = [ProxyService(dev_key(f"proxy-{i}"), HttpChain(server.url))
                       for i in range(3)]
            servers = [ThreadedServer(create_proxy_app(p)).__enter__() for p in proxies]

            def cli(*args: str, key: str | None = None) -> object:
                extra = ["--key", key, "--datadir", str(datadir)] if key else []
                result = CliRunner().invoke(wallet_app, [*args, *extra, "--node", server.url,
                                                         "--json"])
                assert result.exit_code == 0, result.output
                return json.loads(result.output)

            for p, s in zip(proxies, servers, strict=True):
                cli("proxy", "register", "--address", to_checksum_address(p.address),
                    "--url", s.url, key="miner")
            for name in ("doctor-a", "doctor-b"):
                cli("keys", key=name)
                cli("authorise", "--professional", _addr(name), key="miner")
            wallet = cli("open", "--institution", _addr("miner"), key="patient")["wallet"]
            cli("grant", "--grantee", _addr("doctor-a"), "--layer", "profile", "-m", "2",
                "--write", key="patient")
            case = cli("case", "open", "--wallet", wallet, "--layer", "profile",
                       key="doctor-a")["case"]
            cli("case", "invite", "--case", case, "--colleague", _addr("doctor-b"),
                key="doctor-a")
            cli("case", "consent", "--case", case, "--colleague", _addr("doctor-b"),
                key="patient")
            note = tmp_path / "opinion.txt"
            note.write_text("second opinion")
            rid = cli("add", str(note), "--layer", "profile", "--wallet", wallet,
                      key="doctor-b")["record"]
            [entry] = cli("case", "log", "--case", case, key="patient")
            assert entry["record"] == rid and entry["role"] == "colleague"
            assert cli("case", "log", "--case", case, "--by", _addr("doctor-a"),
                       key="patient") == []
            assert cli("read", "--record", rid, "--wallet", wallet,
                       key="doctor-a")["body"] == "second opinion"

            programme = cli("reward", "open", "--rtype", "Encounter", "--amount", "7",
                            "--slots", "2", key="miner")["programme"]
            checkup = tmp_path / "checkup.json"
            checkup.write_text(json.dumps(ENCOUNTER))
            cli("add", str(checkup), "--layer", "profile", "--type", "Encounter", "--wallet",
                wallet, key="doctor-a")
            assert len(cli("reward", "claim", "--programme", programme,
                           key="patient")["records"]) == 1
            assert cli("reward", "claim", "--programme", programme,
                       key="patient")["records"] == []  # once per record
            shown = cli("reward", "show", "--programme", programme)
            assert shown["paid"] == 1 and shown["escrow_left"] == 7

            forum = cli("forum", "open", "--condition", "195967001", "--title", "asthma",
                        key="miner")["forum"]
            assert cli("forum", "search", "--condition", "195967001") == []  # no members yet
            pseudonym = cli("forum", "pseudonym", "--forum", forum, key="patient")["pseudonym"]
            assert pseudonym.lower() != _addr("patient").lower()

            assert cli("case", "withdraw", "--case", case, "--colleague", _addr("doctor-b"),
                       key="patient")["problems"] == []
            result = CliRunner().invoke(wallet_app, [
                "read", "--record", rid, "--wallet", wallet, "--key", "doctor-b",
                "--datadir", str(datadir), "--node", server.url])
            assert result.exit_code == 1 and "error" in result.output
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not cli("log", key="patient"):
                time.sleep(0.2)
            assert any(e["grantee"].lower() == "0x" + dev_key("doctor-a").address.hex()
                       for e in cli("log", key="patient"))
            for s in servers:
                s.__exit__(None, None, None)
    finally:
        test.node.stop()
