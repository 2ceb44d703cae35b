"""Step (b): a crowd task is computed by two worker processes and settled (apps/crowd).

Alice publishes an evaluation task (accuracy of a reference classifier on a digits sample whose
blob sits in the node's content store) for n = 2 workers with deposit d and reward r. Bob and
a fresh key each run the real `learnchain worker` daemon as a separate process: they fetch the
input, compute the program on their own, commit, reveal, and the chain settles. The step checks
what the protocol promises (Lu, Tang & Wang, docs/crowd.md): both results equal the true result
bit for bit, both verdicts are "ok", and each worker is paid exactly d + ⌊r/n⌋.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from learnchain.core.crypto import PrivateKey, save_keystore
from learnchain.demo.common import Day, Sender, StepResult, wait_until
from learnchain.net.client import NodeClient
from learnchain.net.jsonview import from_json
from learnchain.scaffold import DEV_PASSWORD

D, R = 1000, 2001
WORKER_FUNDS = 20_000


def _worker(day: Day, name: str, url: str) -> subprocess.Popen[str]:
    src = Path(__file__).resolve().parents[2]  # the learnchain sources this process runs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.Popen(
        [sys.executable, "-m", "learnchain.cli.main", "worker", "--node", url, "--key", name,
         "--datadir", str(day.root), "--poll", "0.3", "--exit-after", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        start_new_session=True)


def run(day: Day) -> StepResult:
    from learnchain.apps.crowd import mlprograms as ml
    from learnchain.apps.crowd.experiments import reference_model
    from learnchain.apps.crowd.programs import run_program
    from learnchain.apps.crowd.rules import sha256

    step = "b"
    result = StepResult(step, "crowd task: two workers compute, the chain settles")
    client = day.client(0)
    alice = Sender(client, day.accounts["alice"])
    carol = PrivateKey.generate()
    save_keystore(carol, day.root / "keys" / "carol.json", DEV_PASSWORD, light=True)
    alice.call("bank", "transfer", {"to": carol.address, "amount": WORKER_FUNDS})
    data = ml.eval_input("digits", reference_model(), day.profile.crowd_rows)
    digest = client.put_content(data)
    for url in day.urls[1:]:  # each node's content store is its own: pin the input on each
        NodeClient(url).put_content(data)
    before = {k: int(client.account(k.address)["balance"]) for k in (day.accounts["bob"], carol)}
    urls = day.urls  # the workers start first (they wait for a task they can join)
    workers = {"bob": _worker(day, "bob", urls[0]), "carol": _worker(day, "carol",
                                                                     urls[1 % len(urls)])}
    day.processes.extend(workers.values())
    tx, h, res = alice.call("crowd", "publish", {
        "program": "eval-classifier", "version": 1, "input": digest, "n": 2, "deposit": D,
        "reward": R, "delta_p": 200, "delta_c": 60, "delta_o": 60})
    task_id = int(res["task_id"])
    result.txs.append(tx)
    result.heights.append(h)
    day.say(step, f"task published at height {h}; two worker processes compute it")
    day.tick(step)
    outputs = {}
    for name, proc in workers.items():
        out, _ = proc.communicate(timeout=600)
        outputs[name] = json.loads(out) if out.strip() else {"errors": [f"exit {proc.returncode}"]}
    day.tick(step)
    task = wait_until(lambda: (t := from_json(client.query("crowd", "task", {"task_id": task_id})))
                      ["status"] == "settled" and t, 120, "the crowd task to settle")
    expected = sha256(run_program("eval-classifier", 1, data, task["seed"], task["coins"]))
    after = {k: int(client.account(k.address)["balance"]) for k in (day.accounts["bob"], carol)}
    exact = task["payouts"] == [D + R // 2, D + R // 2] and task["refund"] == R - 2 * (R // 2)
    bit_for_bit = task["results"] == [expected, expected]
    earnings = [int(outputs[n].get("earnings", -1)) for n in ("bob", "carol")]
    result.details = {
        "task_id": task_id, "rows": day.profile.crowd_rows, "deposit": D, "reward": R,
        "verdicts": task["verdicts"], "payouts": task["payouts"], "refund": task["refund"],
        "results_match_true_result": bit_for_bit, "worker_earnings": earnings,
        "balance_change_after_fees": {n: after[k] - before[k] for n, k in
                                      (("bob", day.accounts["bob"]), ("carol", carol))},
        "worker_errors": {n: o.get("errors", []) for n, o in outputs.items()}}
    result.what = (f"task {task_id}: both workers computed the same result as the reference "
                   f"({'bit for bit' if bit_for_bit else 'MISMATCH'}), verdicts "
                   f"{'/'.join(task['verdicts'])}; paid {task['payouts']} (d + ⌊r/2⌋ = "
                   f"{D + R // 2} each when both agree), publisher refunded {task['refund']}")
    if not (exact and bit_for_bit and task["verdicts"] == ["ok", "ok"]
            and earnings == [R // 2, R // 2]):
        result.status = "failed"
    return result
