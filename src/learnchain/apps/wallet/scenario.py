"""The scripted wallet scenario: a patient, two doctors, a hospital and three proxies.

Everything goes over real HTTP: identities and transactions through node APIs, blobs through
the nodes' content routes, fragments and re-encryption through three proxy services (each
backed by a different node when the network has several). `run_scenario` drives a running
`learnchain devnet` (real node processes); `scenario` takes any node URLs and the key of a
consortium member, which plays the hospital.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from learnchain.apps.wallet.access import HttpChain, HttpContent
from learnchain.apps.wallet.client import WalletClient
from learnchain.apps.wallet.proxy import ProxyService
from learnchain.apps.wallet.proxy_http import ThreadedServer, create_proxy_app
from learnchain.core.crypto import PrivateKey
from learnchain.net.client import NodeClient
from learnchain.privacy.errors import AccessDenied

PATIENT = {"resourceType": "Patient", "name": [{"family": "Doe", "given": ["Jane"]}],
           "gender": "female", "birthDate": "1980-04-02"}
ALLERGY = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/jane"},
           "code": {"text": "penicillin"}}
CONDITION = {"resourceType": "Condition", "subject": {"reference": "Patient/jane"},
             "code": {"text": "asthma"}, "clinicalStatus": {"coding": [{
                 "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                 "code": "active"}]}}


def _doc(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


SCENARIO_FUNDS = 100_000
"""Base units the hospital gives each participant's new key, enough for every fee it pays."""


def scenario(urls: list[str], hospital_key: PrivateKey,
             log: Callable[[str], object] | None = None) -> dict[str, Any]:
    say = log or (lambda _text: None)
    keys = {n: PrivateKey.generate() for n in ("patient", "doctor-a", "doctor-b",
                                                "proxy-1", "proxy-2", "proxy-3")}

    def client(name: str, key: PrivateKey, i: int = 0) -> WalletClient:
        url = urls[i % len(urls)]
        return WalletClient(key, HttpChain(url), HttpContent(url))

    hospital = client("hospital", hospital_key)
    chain = hospital.chain
    report: dict[str, Any] = {"checks": {}}
    with ExitStack() as stack:
        proxies = []
        for i, name in enumerate(("proxy-1", "proxy-2", "proxy-3")):
            service = ProxyService(keys[name], HttpChain(urls[i % len(urls)]))
            server = stack.enter_context(ThreadedServer(create_proxy_app(service)))
            proxies.append((keys[name].address, server.url))
        say("three proxies up: " + ", ".join(u for _, u in proxies))
        # where transactions pay fees (docs/transactions.md) the hospital funds every new key
        charged = NodeClient(urls[0]).fee_per_byte() > 0
        pending = [chain.send(hospital_key, "bank", "transfer",
                              {"to": key.address, "amount": SCENARIO_FUNDS})
                   for key in keys.values()] if charged else []
        pending += [chain.send(hospital_key, "identity", "register",
                              {"address": keys[n].address, "role": role})
                   for n, role in (("patient", "patient"), ("doctor-a", "professional"),
                                   ("doctor-b", "professional"))]
        pending += [chain.send(hospital_key, "wallet", "register_proxy",
                               {"address": a, "url": u}) for a, u in proxies]
        pending.append(chain.send(hospital_key, "wallet", "publish_keys", {
            "enc": hospital.umbral.public_bytes, "ver": hospital.umbral.verifying_bytes}))
        for tx in pending:
            chain.wait(tx)
        say("hospital registered the patient, two doctors and three proxies")
        patient = client("patient", keys["patient"], 0)
        doctor_a = client("doctor-a", keys["doctor-a"], 1)
        doctor_b = client("doctor-b", keys["doctor-b"], 2)
        doctor_a.publish_keys()
        doctor_b.publish_keys()
        wid = patient.open(hospital_key.address)
        addresses = [a for a, _ in proxies]
        patient.set_recovery(wid, hospital_key.address, addresses, 2)
        hospital.authorise(keys["doctor-a"].address)
        say(f"wallet 0x{wid.hex()} open, recovery grant 2-of-3, doctor A authorised")
        ident, _ = patient.add(wid, "identification", "Patient", _doc(PATIENT))
        allergy, _ = patient.add(wid, "profile/allergies", "AllergyIntolerance", _doc(ALLERGY))
        patient.grant(wid, keys["doctor-a"].address, ["identification", "profile"], addresses, 2,
                      write=True)
        grant_b = patient.grant(wid, keys["doctor-b"].address, ["profile"], addresses, 2,
                                expiry=chain.height() + 1000)
        say("patient added 2 records and granted doctor A (write) and doctor B (profile)")
        read = doctor_a.read(wid, ident)
        report["checks"]["doctor A reads identification"] = b"Doe" in read.payload.body
        condition, _ = doctor_a.add(wid, "profile", "Condition", _doc(CONDITION))
        report["checks"]["doctor B reads the allergy"] = (
            b"penicillin" in doctor_b.read(wid, allergy).payload.body)
        report["checks"]["doctor B reads doctor A's condition"] = (
            b"asthma" in doctor_b.read(wid, condition).payload.body)
        try:
            doctor_b.read(wid, ident)
            report["checks"]["doctor B refused identification"] = False
        except AccessDenied:
            report["checks"]["doctor B refused identification"] = True
        patient.revoke(grant_b)
        try:
            doctor_b.read(wid, allergy, grant=grant_b)
            report["checks"]["revoked doctor B refused"] = False
        except AccessDenied:
            report["checks"]["revoked doctor B refused"] = True
        say("doctor B revoked")
        deadline = time.monotonic() + 120
        while len(entries := patient.log(wid)) < 6 and time.monotonic() < deadline:
            time.sleep(0.5)  # proxies' log transactions are on their way into blocks
        report["access_log"] = len(entries)
        report["checks"]["every read logged by 2 proxies"] = len(entries) >= 6
        report["wallet"] = "0x" + wid.hex()
        report["records"] = len(patient.records(wid))
        report["ok"] = all(report["checks"].values())
        for check, passed in report["checks"].items():
            say(f"{'ok ' if passed else 'FAIL'} {check}")
    return report


def run_scenario(devnet: Path, log: Callable[[str], object] | None = None) -> dict[str, Any]:
    from learnchain.core.crypto import load_keystore
    from learnchain.devnet import load_devnet
    from learnchain.scaffold import DEV_PASSWORD

    nodes = load_devnet(devnet)
    hospital = load_keystore(nodes[0].datadir / "keys" / "node.json", DEV_PASSWORD)
    return scenario([n.url for n in nodes], hospital, log)
