"""`learnchain crowd …` and `learnchain worker`: outsourced ML tasks with deposits.

Chain-changing commands sign with a keystore and go through a node's HTTP API. `analyze` and
`experiment` need no node: the analysis builds payoff tables from the app's payout function,
the experiment runs an in-process chain. Heavy libraries (scikit-learn, PyTorch, matplotlib)
load inside the commands that need them, so `learnchain --help` stays fast.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from learnchain.cli.common import (
    DATADIR_OPTION,
    JSON_OPTION,
    console,
    emit_json,
    err_console,
    friendly_errors,
    load_key,
)

crowd_app = typer.Typer(help="Crowdsourced ML tasks: publish, inspect, settle, analyse.",
                        no_args_is_help=True)

NODE_OPTION = typer.Option("http://127.0.0.1:8645", "--node", help="Node HTTP API URL.")
KEY_OPTION = typer.Option(..., "--key", "-k", help="Keystore path or key name in <datadir>/keys.")
PASSWORD_OPTION = typer.Option(None, "--password-file", help="File holding the password.")


def _client(node: str) -> Any:
    from learnchain.net.client import NodeClient

    return NodeClient(node)


def _send(node: str, key_name: str, datadir: Path, password_file: Path | None, method: str,
          args: dict[str, Any]) -> Any:
    client = _client(node)
    key = load_key(key_name, datadir, password_file)
    tx = client.send(key, "crowd", method, args)
    found = client.wait_for(tx.hash)
    if not found["receipt"]["success"]:
        raise ValueError(f"{method} refused: {found['receipt']['error']}")
    return found["receipt"]["result"]


@crowd_app.command("make-input")
@friendly_errors
def make_input(program: str = typer.Option("eval-classifier", "--program",
                                            help="Registered program id (see `crowd programs`)."),
               dataset: str = typer.Option("digits", "--dataset",
                                            help="Data set shipped with scikit-learn."),
               model: Path | None = typer.Option(None, "--model", help="dense-v1 model file "
                                                  "(eval; default: a reference model)"),
               subset: int = typer.Option(512, "--subset", help="eval: test samples (×8)"),
               sample: int = typer.Option(1000, "--sample", help="logreg: bootstrap size"),
               steps: int = typer.Option(200, "--steps", help="mlp: SGD steps"),
               out: Path = typer.Option(..., "--out", help="Where to write the input blob."),
               json_out: bool = JSON_OPTION) -> None:
    """Write a program input (canonical CBOR) to upload with `crowd publish`."""
    from learnchain.apps.crowd import mlprograms as ml
    from learnchain.apps.crowd.experiments import reference_model
    from learnchain.storage.digest_store import cid_of_digest, sha256

    if program == "eval-classifier":
        weights = model.read_bytes() if model else reference_model(dataset)
        data = ml.eval_input(dataset, weights, subset)
    elif program == "train-logreg":
        data = ml.train_logreg_input(dataset, sample=sample)
    elif program == "train-mlp":
        data = ml.train_mlp_input(dataset, steps=steps)
    else:
        raise ValueError(f"no input builder for program {program!r}")
    out.write_bytes(data)
    info = {"file": str(out), "size": len(data), "digest": sha256(data),
            "cid": cid_of_digest(sha256(data))}
    if json_out:
        emit_json(info)
    else:
        console.print(f"wrote {out} ({len(data)} bytes, {info['cid']})")


@crowd_app.command()
@friendly_errors
def publish(input_file: Path = typer.Option(..., "--input", help="Input blob (make-input)."),
            program: str = typer.Option("eval-classifier", "--program",
                                        help="Registered program id."),
            version: int = typer.Option(1, "--version", help="Program version."),
            n: int = typer.Option(2, "--n", help="Workers."),
            deposit: int = typer.Option(..., "--deposit", help="d (even)."),
            reward: int = typer.Option(..., "--reward", help="r, escrowed now."),
            delta_p: int = typer.Option(20, "--delta-p", help="Join window (blocks)."),
            delta: int = typer.Option(2, "--delta", help="Coin delay after the last join."),
            delta_c: int = typer.Option(20, "--delta-c", help="Commit window (blocks)."),
            delta_o: int = typer.Option(20, "--delta-o", help="Reveal window (blocks)."),
            coins: int = typer.Option(2, "--coins", help="Runs under independent coins."),
            price: int = typer.Option(0, "--price", help="Purchase price (eval programs)."),
            seller: str = typer.Option("", "--seller", help="Model seller address."),
            threshold_ppm: int = typer.Option(900_000, "--threshold-ppm",
                                              help="Purchase rule: precision needed, in ppm."),
            key: str = KEY_OPTION, node: str = NODE_OPTION, datadir: Path = DATADIR_OPTION,
            password_file: Path | None = PASSWORD_OPTION, json_out: bool = JSON_OPTION) -> None:
    """Upload the input to the node's content store and publish the task (escrows r)."""
    from learnchain.core.crypto import parse_address

    digest = _client(node).put_content(input_file.read_bytes())
    args: dict[str, Any] = {"program": program, "version": version, "input": digest, "n": n,
                            "deposit": deposit, "reward": reward, "delta_p": delta_p,
                            "delta": delta, "delta_c": delta_c, "delta_o": delta_o,
                            "coins": coins}
    if price:
        args.update(price=price, seller=parse_address(seller), threshold_ppm=threshold_ppm)
    result = _send(node, key, datadir, password_file, "publish", args)
    if json_out:
        emit_json(result)
    else:
        console.print(f"published task {result['task_id']}")


def _task_table(tasks: list[dict[str, Any]], height: int) -> Table:
    from learnchain.apps.crowd.rules import phase_at

    table = Table(title=f"crowd tasks at height {height}")
    for col in ("id", "program", "phase", "workers", "d", "r", "verdicts", "payouts"):
        table.add_column(col)
    for t in tasks:
        table.add_row(str(t["id"]), f"{t['program']} v{t['version']}",
                      phase_at(t, height + 1), f"{len(t['workers'])}/{t['n']}",
                      str(t["deposit"]), str(t["reward"]), ", ".join(t["verdicts"]),
                      ", ".join(map(str, t["payouts"])))
    return table


@crowd_app.command()
@friendly_errors
def task(task_id: int = typer.Argument(...), node: str = NODE_OPTION,
         json_out: bool = JSON_OPTION) -> None:
    """One task's record (phase, seats, commitments, verdicts, payouts)."""
    client = _client(node)
    found = client.query("crowd", "task", {"task_id": task_id})
    if json_out:
        emit_json(found)
    else:
        from learnchain.net.jsonview import from_json

        console.print(_task_table([from_json(found)], client.status()["height"]))


@crowd_app.command("list")
@friendly_errors
def list_tasks(node: str = NODE_OPTION, json_out: bool = JSON_OPTION) -> None:
    """Open tasks (not yet settled or cancelled)."""
    from learnchain.net.jsonview import from_json

    client = _client(node)
    found = client.query("crowd", "open_tasks", {})
    if json_out:
        emit_json(found)
    else:
        console.print(_task_table(from_json(found), client.status()["height"]))


@crowd_app.command()
@friendly_errors
def settle(task_id: int = typer.Argument(...), key: str = KEY_OPTION, node: str = NODE_OPTION,
           datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD_OPTION,
           json_out: bool = JSON_OPTION) -> None:
    """Settle a task whose deadlines passed (anyone may)."""
    result = _send(node, key, datadir, password_file, "settle", {"task_id": task_id})
    if json_out:
        emit_json(result)
    else:
        console.print(result)


@crowd_app.command()
@friendly_errors
def cancel(task_id: int = typer.Argument(...), key: str = KEY_OPTION, node: str = NODE_OPTION,
           datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD_OPTION,
           json_out: bool = JSON_OPTION) -> None:
    """Cancel a task that found too few workers by its join deadline (refunds everyone)."""
    result = _send(node, key, datadir, password_file, "cancel", {"task_id": task_id})
    if json_out:
        emit_json(result)
    else:
        console.print(result)


@crowd_app.command()
@friendly_errors
def programs(json_out: bool = JSON_OPTION) -> None:
    """Registered programs (id, version, kind)."""
    from learnchain.apps.crowd.programs import PROGRAMS

    rows = [{"program": p.id, "version": p.version, "kind": p.kind, "summary": p.summary}
            for p in PROGRAMS.values()]
    if json_out:
        emit_json(rows)
        return
    table = Table(title="crowd programs")
    for col in ("program", "version", "kind", "summary"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["program"], str(r["version"]), r["kind"], r["summary"])
    console.print(table)


@crowd_app.command()
@friendly_errors
def analyze(r: int = typer.Option(..., "--r", help="Reward r."),
            d: int = typer.Option(..., "--d", help="Deposit d (even)."),
            n: int = typer.Option(2, "--n", help="Workers (2-6: tables are exhaustive)."),
            cost: int = typer.Option(0, "--cost", help="Cost c of computing the true result."),
            json_out: bool = JSON_OPTION) -> None:
    """IEWDS on payoff tables generated from the app's payout function."""
    from learnchain.apps.crowd import game as G

    if not 2 <= n <= 6:
        raise ValueError("--n must be in [2, 6] (the tables enumerate 3^n profiles)")
    if d < 2 or d % 2 or r < n or cost < 0:
        raise ValueError("need an even d >= 2, r >= n and cost >= 0")
    workers = G.iewds(G.worker_game(n, r, d, cost))
    coalitions = {k: G.iewds(G.coalition_game(n, k, r, d, cost)).survivors[0]
                  for k in range(1, n)}
    threshold = G.cost_threshold(n, r, d)
    only_true = all(s == ["t"] for s in workers.survivors)
    report = {
        "r": r, "d": d, "n": n, "cost": cost,
        "survivors": {f"W{i + 1}": s for i, s in enumerate(workers.survivors)},
        "eliminated": [{"player": e.player, "strategy": e.strategy, "by": e.by,
                        "strict": e.strict} for e in workers.log],
        "coalition_survivors": coalitions,
        "only_all_true": only_true,
        "honesty_survives_below_cost": threshold,
        "closed_form": r // n + d // 2,
        "condition": f"t survives IEWDS iff c < floor(r/n) + d/2 = {r // n + d // 2} (the "
                     f"tables' first failing cost: {threshold}); t is the unique survivor only "
                     f"when c = 0; taking a seat pays only if c <= floor(r/n) = {r // n}",
    }
    if n == 2:
        report["table_one"] = {f"{a},{b}": list(u)
                               for (a, b), u in G.table_one(r, d, cost).items()}
    if json_out:
        emit_json(report)
        return
    if n == 2:
        t1 = Table(title=f"Table I from the payout function (r={r}, d={d}, c={cost})")
        t1.add_column("W1 \\ W2")
        for b in "etf":
            t1.add_column(f"σ_{b}")
        one = G.table_one(r, d, cost)
        for a in "etf":
            t1.add_row(f"σ_{a}", *(f"{one[a, b][0]}, {one[a, b][1]}" for b in "etf"))
        console.print(t1)
    console.print(f"IEWDS survivors, {n} independent workers: "
                  + "; ".join(f"{p}: {{{', '.join(s)}}}" for p, s in
                              report["survivors"].items()))
    for k, s in coalitions.items():
        console.print(f"  coalition of {k}: {{{', '.join(s)}}}")
    verdict = "only all-true survives" if only_true else "all-true is NOT the unique survivor"
    console.print(f"[bold]{verdict}[/]; {report['condition']}")


@crowd_app.command()
@friendly_errors
def experiment(tasks: int = typer.Option(30, "--tasks", help="Tasks to publish."),
               n: int = typer.Option(2, "--n", help="Workers per task."),
               deposit: int = typer.Option(1000, "--deposit", help="d per worker (even)."),
               reward: int = typer.Option(2000, "--reward", help="r per task."),
               population: str = typer.Option(
                   "honest=8,lazy=1,junk=1,eck=1,copycat=1,coalition=2", "--population",
                   help="strategy=count,…"),
               seed: int = typer.Option(7, "--seed", help="Seeds the order workers act in."),
               out: Path | None = typer.Option(None, "--out", help="Output folder."),
               json_out: bool = JSON_OPTION) -> None:
    """Many tasks, a mixed worker population, an in-process chain; JSON + plot."""
    from rich.progress import Progress

    from learnchain.apps.crowd import experiments as E

    counts = {}
    for part in population.split(","):
        name, _, count = part.partition("=")
        counts[name.strip()] = int(count)
    cfg = E.PopulationConfig(tasks=tasks, n=n, deposit=deposit, reward=reward,
                             population=counts, seed=seed)
    with Progress(console=err_console, transient=True) as progress:
        bar = progress.add_task("tasks", total=tasks)
        result = E.run_population(cfg, on_task=lambda: progress.advance(bar))
    paths = E.save_population(result, out or E.default_output())
    summary = {"settled": result.settled, "cancelled": result.cancelled,
               "agreed": result.agreed, "correct": result.correct,
               "fraction_correct": result.fraction_correct, "blocks": result.blocks,
               "payoff_per_worker": {s: c[-1] // max(1, counts.get(s, 1))
                                     for s, c in result.per_strategy.items()},
               "files": {k: str(v) for k, v in paths.items()}}
    if json_out:
        emit_json(summary)
        return
    console.print(summary)


def worker_command(node: str = NODE_OPTION, key: str = KEY_OPTION,
                   datadir: Path = DATADIR_OPTION, password_file: Path | None = PASSWORD_OPTION,
                   strategy: str = typer.Option("honest", "--strategy",
                                                help="honest|lazy|junk|eck|copycat|coalition"),
                   coalition: str = typer.Option("", "--coalition",
                                                 help="Shared secret of a coalition."),
                   max_open: int = typer.Option(4, "--max-open", help="Tasks at once."),
                   max_deposit: int | None = typer.Option(
                       None, "--max-deposit", help="Skip tasks asking a larger deposit."),
                   poll: float = typer.Option(1.0, "--poll", help="Seconds between passes."),
                   exit_after: int = typer.Option(0, "--exit-after",
                                                  help="Stop after this many finished tasks."),
                   json_out: bool = JSON_OPTION) -> None:
    """Watch a node for crowd tasks: deposit, compute, commit, reveal, settle, report."""
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from learnchain.apps.crowd.worker import HttpBackend, Worker

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        backend = HttpBackend(node, load_key(key, datadir, password_file))
        events: list[str] = []
        worker = Worker(backend, strategy, coalition=coalition.encode(), max_open=max_open,
                        max_deposit=max_deposit,
                        on_event=lambda kind, data: events.append(f"{kind} {data}"))
    except (ValueError, FileNotFoundError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    start_balance = backend.balance()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err_console,
                  disable=json_out) as progress:
        bar = progress.add_task("starting")
        while not stop.is_set():
            try:
                worker.step()
            except Exception as exc:  # a node hiccup must not kill the daemon; report it
                worker.stats.errors.append(f"{type(exc).__name__}: {exc}")
                err_console.print(f"[yellow]warning:[/] {exc}")
            s = worker.stats
            progress.update(bar, description=(
                f"{strategy} worker 0x{backend.address.hex()[:8]}: joined {s.joined}, "
                f"finished {s.settled}, earnings {s.earnings:+d}, open {len(worker._mine)}"
                + (f" | {events[-1]}" if events else "")))
            if exit_after and worker.stats.settled >= exit_after:
                break
            stop.wait(poll)
    s = worker.stats
    summary = {"address": "0x" + backend.address.hex(), "strategy": strategy,
               "joined": s.joined, "finished": s.settled, "earnings": s.earnings,
               "balance_change": backend.balance() - start_balance, "outcomes": s.outcomes,
               "compute_s": round(s.compute_s, 3), "tx_s": round(s.tx_s, 3),
               "poll_s": round(s.poll_s, 3),
               "errors": s.errors[-10:], "open": sorted(worker._mine)}
    if json_out:
        emit_json(summary)
    else:
        console.print(summary)
