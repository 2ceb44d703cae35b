"""The study flow over real HTTP: publish, match, opt in, deliver, pay.

A hospital (a consortium member's key) registers a researcher, three patients and three
re-encryption proxies (each a real HTTP service backed by a node), authorises the researcher and
funds them for the study's escrow (and every new key for fees where the chain charges them).
Two patients meet the criteria, one does not. The researcher publishes through the Python client
(`learnchain.client.Client.publish_study`); each patient's wallet matches locally and the two
eligible ones opt in; the researcher reads the participants' count through the dedicated route
(`/v1/wallet/studies/{id}/counts`), collects the derived records through the proxies (the
deliveries), and the patients claim. Balances are checked exactly (reward minus the claim's fee).
`run_study_scenario` drives a running `learnchain devnet` of real node processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from learnchain.apps.wallet import study_client as sc
from learnchain.apps.wallet.access import HttpChain, HttpContent
from learnchain.apps.wallet.client import WalletClient
from learnchain.apps.wallet.proxy import ProxyService
from learnchain.apps.wallet.proxy_http import ThreadedServer, create_proxy_app
from learnchain.core.crypto import PrivateKey

ASTHMA, DIABETES = "195967001", "44054006"
CRITERIA = {"condition": ASTHMA, "age_min": 30, "age_max": 60, "reference_date": "2026-01-01"}
FIELDS = ["age_band", "obs:19935-6"]
PATIENTS = {"patient-1": ("1980-05-01", ASTHMA), "patient-2": ("1975-02-02", ASTHMA),
            "patient-3": ("1980-05-01", DIABETES)}
REWARD, SLOTS = 25, 5
FUNDS = 100_000
"""Base units the hospital gives each new key for fees (where the chain charges them)."""


def patient_records(born: str, code: str) -> list[tuple[str, str, bytes, str]]:
    """A Patient in identification, a Condition and a peak-flow series in the profile."""
    ref = {"reference": "Patient/x"}
    docs = [("identification", {"resourceType": "Patient", "birthDate": born, "gender": "female",
                                "name": [{"family": "Private-" + born}]}),
            ("profile/self-reported", {
                "resourceType": "Condition", "subject": ref,
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "condition-clinical", "code": "active"}]},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}})]
    for value in (400.0, 420.5, 410.0):
        docs.append(("profile/self-reported", {
            "resourceType": "Observation", "status": "final", "subject": ref,
            "code": {"coding": [{"system": "http://loinc.org", "code": "19935-6"}]},
            "valueQuantity": {"value": value, "unit": "L/min"}}))
    return [(layer, doc["resourceType"], json.dumps(doc).encode(), "") for layer, doc in docs]


def _fee(node: Any, tx_hash: str) -> int:
    return int(node.tx_status(tx_hash)["transaction"]["fee"])


def study_scenario(urls: list[str], hospital_key: PrivateKey,
                   log: Callable[[str], object] | None = None,
                   timeout: float = 120.0) -> dict[str, Any]:
    from learnchain.client import Client

    say = log or (lambda _text: None)
    names = ["researcher", *PATIENTS, "proxy-1", "proxy-2", "proxy-3"]
    keys = {n: PrivateKey.generate() for n in names}
    node = Client(urls[0])

    def client(key: PrivateKey, i: int) -> WalletClient:
        url = urls[i % len(urls)]
        return WalletClient(key, HttpChain(url), HttpContent(url))

    hospital = client(hospital_key, 0)
    chain = hospital.chain
    report: dict[str, Any] = {"checks": {}}
    checks = report["checks"]
    with ExitStack() as stack:
        proxies = []
        for i, name in enumerate(("proxy-1", "proxy-2", "proxy-3")):
            service = ProxyService(keys[name], HttpChain(urls[i % len(urls)]))
            server = stack.enter_context(ThreadedServer(create_proxy_app(service)))
            proxies.append((keys[name].address, server.url))
        charged = node.fee_per_byte() > 0
        pending = [chain.send(hospital_key, "bank", "transfer", {
            "to": keys[n].address, "amount": (FUNDS if charged else 0)
            + (REWARD * SLOTS if n == "researcher" else 0)})
            for n in names if charged or n == "researcher"]
        pending += [chain.send(hospital_key, "identity", "register",
                               {"address": keys[n].address, "role": role})
                    for n, role in (("researcher", "researcher"),
                                    *((p, "patient") for p in PATIENTS))]
        pending += [chain.send(hospital_key, "wallet", "register_proxy",
                               {"address": a, "url": u}) for a, u in proxies]
        for tx in pending:
            chain.wait(tx)
        hospital.authorise(keys["researcher"].address)
        researcher = client(keys["researcher"], 0)
        researcher.publish_keys()
        say("hospital registered and funded a researcher, 3 patients and 3 proxies")
        patients, wallets = {}, {}
        for i, (name, (born, code)) in enumerate(PATIENTS.items()):
            patients[name] = client(keys[name], i)
            wallets[name] = patients[name].open(hospital_key.address)
            patients[name].add_many(wallets[name], patient_records(born, code))
        say("3 patients opened wallets and imported their FHIR records")
        researcher_start = node.balance(keys["researcher"].address)
        sid = node.publish_study(keys["researcher"], CRITERIA, FIELDS, reward=REWARD,
                                 slots=SLOTS, deadline=node.height() + 10_000)
        checks["the study escrows reward × slots"] = (
            node.study_counts(sid)["escrow_left"] == REWARD * SLOTS)
        say(f"study {sid} published (reward {REWARD}, {SLOTS} slots)")
        sid_raw = bytes.fromhex(sid[2:])
        pids = {}
        for name, patient in patients.items():
            profile = sc.my_profile(patient, wallets[name])
            found = [s for s in sc.eligible_studies(patient, profile) if s["id"] == sid_raw]
            if found:
                pids[name] = sc.opt_in(patient, wallets[name], found[0], profile,
                                       [a for a, _ in proxies], 2)
        checks["exactly the two eligible patients opted in"] = sorted(pids) == [
            "patient-1", "patient-2"]
        counts = node.study_counts(sid)
        report["matched"] = counts["joined"]
        checks["the researcher sees 2 matches"] = counts["joined"] == 2
        roster = node.study_participants(sid)
        checks["the roster holds participant ids, no addresses"] = all(
            r["participant"] not in {"0x" + keys[n].address.hex() for n in PATIENTS}
            for r in roster) and len(roster) == 2
        data = sc.collect(researcher, sid_raw)
        checks["derived records hold only the requested fields"] = all(
            set(d) == {"study", "participant", *FIELDS} for d in data.values())
        deadline = time.monotonic() + timeout
        while node.study_counts(sid)["delivered"] < 2 and time.monotonic() < deadline:
            time.sleep(0.25)  # the proxies' access-log transactions are on their way
        checks["both deliveries logged"] = node.study_counts(sid)["delivered"] == 2
        exact = True
        for name, pid in pids.items():
            before = node.balance(keys[name].address)
            receipt = node.call(keys[name], "wallet", "claim_study",
                                {"study": sid_raw, "participant": pid})
            fee = int(receipt.raw["transaction"]["fee"])
            exact &= node.balance(keys[name].address) == before + REWARD - fee
        checks["each participant is paid the reward exactly"] = exact
        try:
            node.claim_study(keys["patient-1"], sid, pids["patient-1"])
            checks["a second claim is refused"] = False
        except Exception as exc:  # TransactionFailed: the receipt names the rule
            checks["a second claim is refused"] = "paid already" in str(exc)
        final = node.study_counts(sid)
        report["counts"] = final
        checks["escrow holds exactly the unpaid slots"] = (
            final["paid"] == 2 and final["escrow_left"] == REWARD * (SLOTS - 2))
        checks["the researcher paid only the escrow"] = (
            node.balance(keys["researcher"].address) == researcher_start - REWARD * SLOTS
            - sum(_fee(node, h) for h in _researcher_txs(node, keys["researcher"].address,
                                                         sid)))
        report["study"] = sid
        report["ok"] = all(checks.values())
        for check, passed in checks.items():
            say(f"{'ok ' if passed else 'FAIL'} {check}")
    return report


def _researcher_txs(node: Any, researcher: bytes, sid: str) -> list[str]:
    """The researcher's transactions after the balance snapshot: only `publish_study` (reading
    through the proxies sends nothing; the proxies log the reads)."""
    study = node.study(sid)
    height = int(study["published"])
    block = node.block(height, full=True)
    return [t["hash"] for t in block["transactions"]
            if t["sender"].lower() == "0x" + researcher.hex() and t["method"] == "publish_study"]


def run_study_scenario(devnet: Path, log: Callable[[str], object] | None = None
                       ) -> dict[str, Any]:
    from learnchain.core.crypto import load_keystore
    from learnchain.devnet import load_devnet
    from learnchain.scaffold import DEV_PASSWORD

    nodes = load_devnet(devnet)
    hospital = load_keystore(nodes[0].datadir / "keys" / "node.json", DEV_PASSWORD)
    return study_scenario([n.url for n in nodes], hospital, log)
