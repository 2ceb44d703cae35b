"""The cost of private study matching, per patient, against plaintext matching in the same run.

Private matching runs in each patient's wallet: the patient's sealed records (as stored: CBOR
header, Umbral-wrapped key, AES-256-GCM body) are parsed, the key unwrapped with the owner's
Umbral secret, the body decrypted and authenticated, the FHIR JSON parsed into a profile and the
study's criteria evaluated. Two plaintext baselines, each in the same run over the same
population:

* **parse + evaluate** — the same FHIR JSON already in clear (a registry holding plaintext
  records): the honest "without privacy" pipeline;
* **evaluate only** — criteria on already-built profiles (a database of parsed profiles).

The ratios (private time / plaintext time per patient) are the cost of privacy. A third line
times the whole wallet path (`study_client.my_profile`: chain queries, content-store fetch,
CID and capsule checks) on a smaller population held by an in-process node.

Run: ``python benchmarks/bench_study_match.py [--patients 10000]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

import umbral_pre as umbral

from learnchain.apps.wallet import study_client as sc
from learnchain.apps.wallet.study_experiment import CRITERIA
from learnchain.apps.wallet.synthetic import population
from learnchain.privacy import records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--wallet-patients", type=int, default=300)
    args = parser.parse_args()
    people = population(0, args.patients)
    secret = umbral.SecretKey.random()  # one owner key is enough: costs are per record
    wid = os.urandom(20)
    sealed = []
    for person in people:
        sealed.append([(rid, records.seal(records.RecordPayload(wid, "", rtype, body),
                                          secret.public_key(), rid).blob)
                       for rid in [os.urandom(16)] for _layer, rtype, body, _ in person.records])
    plain = [[body for _l, _t, body, _f in person.records] for person in people]
    print(f"study matching over {args.patients} synthetic patients "
          f"({sum(len(p) for p in plain)} FHIR records)")

    def private() -> int:
        hits = 0
        for patient in sealed:
            docs = []
            for rid, blob in patient:
                parsed = records.parse(blob)
                key = records.unwrap_owner(parsed, secret)
                docs.append(json.loads(records.decrypt(parsed, key, rid, wid).body))
            hits += sc.matches(CRITERIA, sc.profile_from_fhir(docs))
        return hits

    def parse_plain() -> int:
        return sum(sc.matches(CRITERIA, sc.profile_from_fhir([json.loads(b) for b in p]))
                   for p in plain)

    profiles = [sc.profile_from_fhir([json.loads(b) for b in p]) for p in plain]

    def evaluate_only() -> int:
        return sum(sc.matches(CRITERIA, profile) for profile in profiles)

    times = {}
    results = {}
    for name, fn in (("evaluate only", evaluate_only), ("parse + evaluate", parse_plain),
                     ("private", private)):
        start = time.perf_counter()
        results[name] = fn()
        times[name] = time.perf_counter() - start
    assert len(set(results.values())) == 1, results  # same answers: a fair comparison
    n = args.patients
    print(f"eligible: {results['private']} of {n}")
    for name, seconds in times.items():
        print(f"{name:>18}: {1e6 * seconds / n:10.1f} µs per patient")
    print(f"ratio private / plaintext parse + evaluate = "
          f"{times['private'] / times['parse + evaluate']:.1f}")
    print(f"ratio private / plaintext evaluate only = "
          f"{times['private'] / times['evaluate only']:.1f}")
    wallet_path(args.wallet_patients, times["parse + evaluate"] / n)


def wallet_path(count: int, plain_per_patient: float) -> None:
    """The full client path against an in-process node and content store."""
    from learnchain.apps.wallet.world import INSTITUTION, WalletWorld

    names = [f"synthetic-{i}" for i in range(count)]
    world = WalletWorld.create(extra=dict.fromkeys(names, "patient"))
    world.setup()
    for name in names:
        world[name].chain.send(world[name].key, "wallet", "publish_keys", {
            "enc": world[name].umbral.public_bytes, "ver": world[name].umbral.verifying_bytes})
    world.test.mine()
    txs = [world.chain.send(world[n].key, "wallet", "open",
                            {"institution": world.address(INSTITUTION)}) for n in names]
    world.test.mine()
    wallets = [bytes(world.chain.wait(tx)["wallet"]) for tx in txs]
    pending = [world[n].submit_add_many(w, p.records)[1]
               for n, w, p in zip(names, wallets, population(1, count), strict=True)]
    world.test.mine()
    for tx in pending:
        world.chain.wait(tx)
    start = time.perf_counter()
    for name, wid in zip(names, wallets, strict=True):
        sc.matches(CRITERIA, sc.my_profile(world[name], wid))
    per = (time.perf_counter() - start) / count
    print(f"{'wallet path':>18}: {1e6 * per:10.1f} µs per patient ({count} wallets)")
    print(f"ratio wallet path / plaintext parse + evaluate = {per / plain_per_patient:.1f}")


if __name__ == "__main__":
    main()
