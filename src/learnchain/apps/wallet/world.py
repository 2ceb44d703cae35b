"""A whole wallet deployment in one process: a node, a content store, proxies, identities.

Tests and benchmarks build it with `WalletWorld.create()`; the scripted scenario drives the
same roles against real node processes over HTTP (`apps.wallet.scenario`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learnchain.apps.wallet.access import LocalChain, LocalContent
from learnchain.apps.wallet.client import LocalProxy, WalletClient
from learnchain.apps.wallet.proxy import ProxyService
from learnchain.core.crypto import to_checksum_address
from learnchain.storage.content import LocalContentStore
from learnchain.testing import TestNode, dev_genesis, dev_key, make_node

PEOPLE = {"patient": "patient", "doctor-a": "professional", "doctor-b": "professional",
          "researcher": "researcher", "stranger": "patient", "patient-new": "patient"}
PROXIES = ("proxy-1", "proxy-2", "proxy-3")
INSTITUTION = "hospital"


@dataclass
class WalletWorld:
    test: TestNode
    store: LocalContentStore
    services: dict[str, ProxyService]
    chain: LocalChain
    clients: dict[str, WalletClient] = field(default_factory=dict)

    @classmethod
    def create(cls, *, params: dict[str, Any] | None = None, database: str = ":memory:",
               content: str = ":memory:", proxy_dir: str | None = None,
               extra: dict[str, str] | None = None,
               funded: dict[str, int] | None = None) -> WalletWorld:
        """`extra` registers more identities (name → role), e.g. a synthetic population;
        `funded` gives dev keys a starting balance (e.g. a researcher's study budget)."""
        people = {**PEOPLE, **(extra or {})}
        addr = {n: to_checksum_address(dev_key(n).address) for n in [*people, *PROXIES,
                                                                      INSTITUTION, "miner"]}
        genesis = dev_genesis(members=("miner", INSTITUTION), extra_apps=["wallet"],
                              funded=funded, apps={
            "identity": {"identities": {
                addr["miner"]: ["miner"], addr[INSTITUTION]: ["institution"],
                **{addr[n]: [role] for n, role in people.items()}}},
            "wallet": {"params": params or {},
                       "proxies": [{"address": addr[p]} for p in PROXIES]}})
        test = make_node(genesis, database=database)
        chain = LocalChain(test.node, mine=lambda: test.mine())
        store = LocalContentStore(content)
        services = {p: ProxyService(dev_key(p), chain, f"{proxy_dir}/{p}.sqlite"
                                    if proxy_dir else ":memory:") for p in PROXIES}
        world = cls(test, store, services, chain)
        for name in [*PEOPLE, INSTITUTION]:
            world.clients[name] = world.client(name)
        return world

    def client(self, name: str) -> WalletClient:
        proxies = {s.address: LocalProxy(s) for s in self.services.values()}
        return WalletClient(dev_key(name), self.chain, LocalContent(self.store), proxies)

    def __getitem__(self, name: str) -> WalletClient:
        if name not in self.clients:  # e.g. a synthetic patient, made on first use
            self.clients[name] = self.client(name)
        return self.clients[name]

    def address(self, name: str) -> bytes:
        return dev_key(name).address

    @property
    def proxy_addresses(self) -> list[bytes]:
        return [s.address for s in self.services.values()]

    def setup(self) -> bytes:
        """Keys published, the patient's wallet open with a 2-of-3 recovery grant, doctor A
        authorised by the hospital. Returns the wallet id."""
        for name in ("doctor-a", "doctor-b", "researcher", INSTITUTION, "stranger"):
            self[name].publish_keys()
        wid = self["patient"].open(self.address(INSTITUTION))
        self["patient"].set_recovery(wid, self.address(INSTITUTION), self.proxy_addresses, 2)
        self[INSTITUTION].authorise(self.address("doctor-a"))
        return wid
