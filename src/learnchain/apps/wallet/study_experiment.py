"""The study experiment: a synthetic population, one study end to end, time and cost per
participant.

Setup (not timed per participant): N synthetic patients (`synthetic.population`) open wallets
and import their FHIR records, batched into few blocks. Then, timed phase by phase: a researcher
publishes a study; every patient's wallet decrypts its own profile and matches locally; the
eligible ones opt in (derived record, grant, join); the researcher collects through the proxies;
the proxies' log transactions are mined (the deliveries); every participant claims. Costs are
counted from the chain: transactions, blocks, bytes of derived records, reward paid.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learnchain.apps.wallet import study_client as sc
from learnchain.apps.wallet.world import INSTITUTION, WalletWorld
from learnchain.storage.content import read_all

CRITERIA = {"condition": "195967001", "age_min": 30, "age_max": 60,
            "reference_date": "2026-01-01"}
FIELDS = ["age_band", "sex", "obs:19935-6"]


def setup_population(world: WalletWorld, names: list[str], people: list[Any]) -> dict[str, bytes]:
    """Every patient publishes keys, opens their wallet and imports their records: three
    transactions per patient (publish_keys, open, one add_records batch), all submitted before
    mining, so they land in as few blocks as the block size allows; receipts are read once per
    block (`wait_many`). The wallet id is the hash of the owner's address and the records are
    wrapped for the patient's own key, so nothing needs the chain before the batch is mined.
    Every transaction is still signed, checked and executed, and every record sealed (AES-GCM +
    Umbral) and stored, exactly as in the one-by-one path."""
    from learnchain.apps.wallet.app import wallet_id

    pending, opens = [], []
    for name, person in zip(names, people, strict=True):
        client = world[name]
        pending.append(client.chain.send(client.key, "wallet", "publish_keys", {
            "enc": client.umbral.public_bytes, "ver": client.umbral.verifying_bytes}))
        opens.append(client.chain.send(client.key, "wallet", "open",
                                       {"institution": world.address(INSTITUTION)}))
        pending.append(client.submit_add_many(wallet_id(client.address), person.records,
                                              own=True)[1])
    results = world.chain.wait_many(opens)
    world.chain.wait_many(pending)
    return {n: bytes(r["wallet"]) for n, r in zip(names, results, strict=True)}


def run(patients: int = 1000, seed: int = 0, reward: int = 10,
        progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    from learnchain.apps.wallet.synthetic import population

    step = progress or (lambda _done, _total: None)
    names = [f"synthetic-{i}" for i in range(patients)]
    world = WalletWorld.create(extra=dict.fromkeys(names, "patient"),
                               funded={"researcher": reward * patients})
    world.setup()
    world[INSTITUTION].authorise(world.address("researcher"))
    people = population(seed, patients)
    t0 = time.perf_counter()
    wallets = setup_population(world, names, people)
    setup_s = time.perf_counter() - t0
    height0 = world.chain.height()
    phases: dict[str, float] = {}

    t = time.perf_counter()
    sid = sc.publish(world["researcher"], CRITERIA, FIELDS, reward, patients,
                     world.chain.height() + 10_000)
    phases["publish"] = time.perf_counter() - t
    t = time.perf_counter()
    eligible = []
    for i, name in enumerate(names):
        profile = sc.my_profile(world[name], wallets[name])
        if any(s["id"] == sid for s in sc.eligible_studies(world[name], profile)):
            eligible.append((name, profile))
        step(i + 1, 2 * patients)
    phases["match"] = time.perf_counter() - t
    study = world.chain.query("study", {"study": sid})
    t = time.perf_counter()
    pids = {name: sc.opt_in(world[name], wallets[name], study, profile,
                            world.proxy_addresses, 2) for name, profile in eligible}
    phases["opt_in"] = time.perf_counter() - t
    t = time.perf_counter()
    data = sc.collect(world["researcher"], sid)
    world.test.mine()
    phases["collect"] = time.perf_counter() - t
    t = time.perf_counter()
    paid = sum(sc.claim(world[name], sid, pids[name]) for name, _ in eligible)
    phases["claim"] = time.perf_counter() - t
    step(2 * patients, 2 * patients)
    roster = world.chain.query("participants", {"study": sid})
    blob_bytes = 0
    for entry in roster:
        record = world.chain.query("record", {"wallet": entry["wallet"],
                                              "record": entry["record"]})
        blob_bytes += len(read_all(world.store, record["versions"][0]["cid"]))
    txs = sum(len(world.test.node.chain.block_at(h).transactions)
              for h in range(height0 + 1, world.chain.height() + 1))
    n = max(1, len(eligible))
    return {
        "patients": patients, "seed": seed, "eligible": len(eligible),
        "delivered": len(data), "paid_total": paid, "reward": reward,
        "researcher_balance": world.test.balance("researcher"),
        "setup_seconds": round(setup_s, 3),
        "phase_seconds": {k: round(v, 4) for k, v in phases.items()},
        "match_ms_per_patient": round(1000 * phases["match"] / patients, 3),
        "ms_per_participant": {k: round(1000 * phases[k] / n, 3)
                               for k in ("opt_in", "collect", "claim")},
        "cost_per_participant": {"reward": reward, "transactions": round(txs / n, 2),
                                 "blocks": round((world.chain.height() - height0) / n, 2),
                                 "derived_record_bytes": round(blob_bytes / n, 1)},
        "all_paid_once": paid == reward * len(eligible) == reward * len(data),
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = {"match (per patient)": report["match_ms_per_patient"],
           **{f"{k} (per participant)": v for k, v in report["ms_per_participant"].items()}}
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(list(per), list(per.values()), color="tab:blue", label="wall-clock time")
    ax.set_ylabel("time (ms)")
    ax.set_xlabel("study phase")
    ax.set_title(f"Study end to end: {report['patients']} synthetic patients, "
                 f"{report['eligible']} participants")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=15, ha="right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out_json, out_png = folder / "study.json", folder / "study.png"
    out_json.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out_png)
    return out_json, out_png
