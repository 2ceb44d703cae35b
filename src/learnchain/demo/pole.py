"""Step (c): a proof-of-learning task is won by the best model (consensus/pole + apps/tasks).

PoLe is a consensus engine, not an app: a task is settled by a block its winner proposes, and
only a chain whose genesis says ``engine = "pole"`` makes such blocks. So:

* with ``--engine pole`` the task runs on the day's own devnet;
* with any other engine the step starts a second, small PoLe devnet (three node processes,
  its own genesis) for the task and stops it afterwards, and says so. It runs beside the other
  steps (it waits on blocks most of the time), which keeps the day near five minutes.

Either way the driver is `apps.tasks.devnet_run`, the code behind the PoLe devnet experiment:
the data node (alice) publishes a task with a committed hidden test set, each consensus node
trains its own model with its own budget (so one model is clearly best) and commits/reveals
it, a thief (bob) commits a copy of node 0's model under its own address, the data node opens
the test set, and the chain picks the winner and pays it.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.tasks import devnet_run
from learnchain.core.crypto import to_checksum_address
from learnchain.demo.common import Day, StepFailed, StepResult

POLE_NODES = 3  # one per training budget in devnet_run.NODE_HP
TIMEOUT = 300.0


def _story(outcome: dict[str, Any], where: str) -> str:
    winner = to_checksum_address(bytes.fromhex(outcome["winner"][2:]))
    accs = ", ".join(f"{c['test_ppm'] / 1e4:.1f}%" for c in outcome["candidates"])
    how = (f"settled by the winner's PoLe block {outcome['pole_block']}"
           if outcome["settled_by"] == "pole"
           else f"settled by the tasks app's fallback ({outcome['settled_by']})")
    return (f"{where}: task {outcome['task']} won by {winner[:12]}… with test accuracy "
            f"{outcome['winner_test_ppm'] / 1e4:.1f}% (candidates {accs}); "
            f"{'best model won' if outcome['best_model_won'] else 'best model did NOT win'}; "
            f"copied model {'rejected' if outcome['copy_rejected'] else 'ACCEPTED'}; "
            f"{how}, paid {outcome['paid']}")


def run(day: Day) -> StepResult:
    step = "c"
    result = StepResult(step, "PoLe task: the best model wins")

    def say(text: str) -> None:
        day.say(step, text)
        day.tick(step)

    if day.engine == "pole":
        from learnchain.core.crypto import load_keystore
        from learnchain.scaffold import DEV_PASSWORD

        client = day.client(0)
        chain_id = int(client.status()["chain_id"])
        miners = [load_keystore(n.datadir / "keys" / "node.json", DEV_PASSWORD)
                  for n in day.nodes]
        senders = [devnet_run.Sender(client, k, chain_id) for k in miners]
        data = devnet_run.Sender(client, day.accounts["alice"], chain_id)
        thief = devnet_run.Sender(client, day.accounts["bob"], chain_id)
        # the driver of the PoLe devnet experiment, on this devnet (task ids start at 0)
        outcome = devnet_run._one_task(client, 0, data, senders, thief, 8, TIMEOUT, say)
        where, agree = "this devnet (engine pole)", True
    else:
        root = day.root / "pole-devnet"
        if day.stopping:
            raise StepFailed("the day is shutting down")
        day.extra_roots.append(root)  # stopped by the day even if this step is interrupted
        say(f"engine {day.engine} makes no PoLe blocks: starting a {POLE_NODES}-node PoLe devnet")
        run_result = devnet_run.run(root, nodes=POLE_NODES, tasks=1,
                                    block_interval_ms=day.profile.pole_interval_ms,
                                    timeout=TIMEOUT, engine="pole", progress=say)
        outcome = run_result["tasks"][0]
        where, agree = f"a second {POLE_NODES}-node PoLe devnet", bool(run_result["agree"])
    if outcome["pole_block"]:
        result.heights.append(int(outcome["pole_block"]))
    result.details = {"where": where, "nodes_agree": agree, **{
        k: outcome[k] for k in ("task", "settled_by", "winner", "winner_test_ppm",
                                "best_test_ppm", "best_model_won", "pole_block",
                                "copy_rejected", "copy_error", "paid", "candidates")}}
    result.what = _story(outcome, where)
    if not (outcome["best_model_won"] and outcome["copy_rejected"] and agree):
        result.status = "failed"
    return result
