"""Medical wallet costs, each ratio measured against its raw baseline in the same run.

* **records added/s** — the whole `WalletClient.add` path for a file record: seal (fresh
  AES-256-GCM key and nonce, Umbral-wrapped key, CBOR header), store (kubo-identical UnixFS
  DAG in the SQLite content store, staged pin), transaction (sign, mempool) and its inclusion
  in a block (execution of `wallet.add_record`); also with records batched 50 per
  `add_records` transaction, which spreads the chain's per-transaction cost. Baseline: raw
  ``AESGCM.encrypt`` of the same payload under a fresh key + ``umbral.encrypt`` of the key.
  Target ≥ 0.5 (1 KiB and 1 MiB).
* **shares served/s** — one grantee's key share: signed request, m = 2 proxies each
  evaluating P(Ps, Kc) against chain state, refusing replays, re-encrypting and submitting
  its access-log transaction, then the grantee verifying both cfrags' proofs and opening K.
  Baseline: raw ``umbral.reencrypt`` × 2 + ``decrypt_reencrypted``. Target ≥ 0.5. Because
  verifying a cfrag's proof costs more than making it, the ratio against raw Umbral that
  also verifies the fragments it receives (as its API requires for bytes from a network) is
  printed too.
  "with log inclusion" also counts mining the block that executes the access-log
  transactions (the chain re-checks every request).
* **CID/s** — `file_cid` (CIDv0, kubo's default DAG) and `cid_of` (CIDv1 raw) against raw
  ``hashlib.sha256`` of the same bytes. Target ≥ 0.8.

Rounds alternate baseline and system back to back, so machine load hits both; each ratio is
the median over rounds. Run: ``python benchmarks/bench_wallet.py``
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from collections.abc import Callable

import umbral_pre as umbral
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from learnchain.apps.wallet.world import WalletWorld
from learnchain.privacy.keys import public_key_from_bytes
from learnchain.privacy.sharing import make_kfrags
from learnchain.storage.blobstore import cid_of
from learnchain.storage.cid import file_cid

ROUNDS = 5
BATCH = 50


def rate(count: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def median_ratio(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    ratios = [system / raw for raw, system in pairs]
    return (statistics.median(r for r, _ in pairs), statistics.median(s for _, s in pairs),
            statistics.median(ratios))


def bench_records(world: WalletWorld, wid: bytes, size: int, count: int) -> None:
    patient = world["patient"]
    payload = os.urandom(size)
    owner_pk = public_key_from_bytes(patient.wallet(wid)["keys"][-1]["enc"])

    def raw() -> None:
        for _ in range(count):
            key = AESGCM.generate_key(bit_length=256)
            AESGCM(key).encrypt(os.urandom(12), payload, b"record-id-and-owner")
            umbral.encrypt(owner_pk, key)

    def system() -> None:
        hashes = [patient.submit_add(wid, "activities", "file", payload)[2]
                  for _ in range(count)]
        world.test.mine()
        assert all(world.test.chain.find_transaction(h)[2].success for h in hashes)

    def batched() -> None:
        for start in range(0, count, BATCH):
            _, tx = patient.submit_add_many(wid, [("activities", "file", payload, "")]
                                            * min(BATCH, count - start))
            world.test.mine()
            assert world.test.chain.find_transaction(tx)[2].success

    pairs, pairs_batched = [], []
    for _ in range(ROUNDS):
        pairs.append((rate(count, raw), rate(count, system)))
        pairs_batched.append((rate(count, raw), rate(count, batched)))
    r, s, ratio = median_ratio(pairs)
    print(f"records added {size:>8} B: raw {r:8.1f}/s  wallet {s:8.1f}/s  ratio {ratio:.2f}"
          f"  (target ≥ 0.5; one transaction per record)")
    r, s, ratio = median_ratio(pairs_batched)
    print(f"  batched ({BATCH} records per add_records transaction): raw {r:8.1f}/s  "
          f"wallet {s:8.1f}/s  ratio {ratio:.2f}")


def bench_shares(world: WalletWorld, wid: bytes, count: int) -> None:
    patient, doctor = world["patient"], world["doctor-a"]
    rid, _ = patient.add(wid, "profile/allergies", "file", os.urandom(1024))
    patient.grant(wid, world.address("doctor-a"), ["profile"], world.proxy_addresses, 2)
    found = doctor.history(wid, rid)
    entry = found["versions"][0]
    blob = doctor.fetch_blob(entry)
    wallet = doctor.wallet(wid)
    kfrags = [umbral.KeyFrag.from_bytes(k).skip_verification()
              for k in make_kfrags(patient.umbral, doctor.umbral.public, 2, 3)]

    def raw() -> None:
        for _ in range(count):
            cfrags = [umbral.reencrypt(blob.capsule, k) for k in kfrags[:2]]
            umbral.decrypt_reencrypted(doctor.umbral.secret, patient.umbral.public,
                                       blob.capsule, cfrags, blob.wrapped_key)

    verifying, receiving = patient.umbral.verifying, doctor.umbral.public

    def raw_verified() -> None:
        for _ in range(count):
            cfrags = [umbral.CapsuleFrag.from_bytes(bytes(umbral.reencrypt(blob.capsule, k)))
                      .verify(blob.capsule, verifying, patient.umbral.public, receiving)
                      for k in kfrags[:2]]
            umbral.decrypt_reencrypted(doctor.umbral.secret, patient.umbral.public,
                                       blob.capsule, cfrags, blob.wrapped_key)

    def system() -> None:
        for _ in range(count):
            doctor._shared_key(wid, rid, 1, entry, found["layer"], blob, wallet, None)

    def system_with_log() -> None:
        system()
        world.test.mine()

    pairs, pairs_log, pairs_verified = [], [], []
    for _ in range(ROUNDS):
        pairs.append((rate(count, raw), rate(count, system)))
        world.test.mine()
        pairs_log.append((rate(count, raw), rate(count, system_with_log)))
        pairs_verified.append((rate(count, raw_verified), rate(count, system)))
        world.test.mine()
    r, s, ratio = median_ratio(pairs)
    print(f"shares served (m=2): raw {r:8.1f}/s  wallet {s:8.1f}/s  ratio {ratio:.2f}"
          f"  (target ≥ 0.5)")
    r, s, ratio = median_ratio(pairs_log)
    print(f"  with log inclusion: raw {r:8.1f}/s  wallet {s:8.1f}/s  ratio {ratio:.2f}")
    r, s, ratio = median_ratio(pairs_verified)
    print(f"  vs raw Umbral that also verifies both cfrags: raw {r:8.1f}/s  wallet {s:8.1f}/s"
          f"  ratio {ratio:.2f}")
    assert len(patient.log(wid)) >= 6 * ROUNDS * count - 1


def bench_cids() -> None:
    for size, count in ((1024, 20000), (1 << 20, 40), (16 << 20, 3)):
        data = os.urandom(size)
        pairs_v0, pairs_v1 = [], []
        for _ in range(ROUNDS):
            raw = rate(count, lambda d=data, n=count: [hashlib.sha256(d).digest()
                                                       for _ in range(n)])
            pairs_v0.append((raw, rate(count, lambda d=data, n=count: [file_cid(d)
                                                                       for _ in range(n)])))
            pairs_v1.append((raw, rate(count, lambda d=data, n=count: [cid_of(d)
                                                                       for _ in range(n)])))
        for name, pairs in (("CIDv0 file", pairs_v0), ("CIDv1 raw ", pairs_v1)):
            r, s, ratio = median_ratio(pairs)
            print(f"{name} {size:>9} B: sha256 {r:10.1f}/s  cid {s:10.1f}/s  ratio {ratio:.2f}"
                  f"  (target ≥ 0.8)")


def main() -> None:
    world = WalletWorld.create()
    wid = world.setup()
    bench_records(world, wid, 1024, 100)
    bench_records(world, wid, 1 << 20, 8)
    bench_shares(world, wid, 40)
    bench_cids()


if __name__ == "__main__":
    main()
