"""`learnchain market …`: Stackelberg prices for compute, trading on chain, the experiment.

`solve` is pure arithmetic (no node); `call` and `show` talk to a node's HTTP API; `experiment`
runs an in-process chain and writes JSON + PNG plots.
"""

from __future__ import annotations

from fractions import Fraction
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

market_app = typer.Typer(help="Compute market: Stackelberg prices, purchases, the experiment.",
                         no_args_is_help=True)

NODE_OPTION = typer.Option("http://127.0.0.1:8645", "--node", help="Node HTTP API URL.")


def _numbers(text: str) -> list[Fraction]:
    try:
        return [Fraction(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


@market_app.command()
@friendly_errors
def solve(values: str = typer.Option(..., "--values", help="Consumers' values, e.g. 4,3,2."),
          family: str = typer.Option("concave", "--family", help="concave or tullock."),
          cost: str = typer.Option("0", "--cost", help="Provider's unit cost c."),
          capacity: str = typer.Option(None, "--capacity", help="Units available (default: "
                                       "unlimited)."),
          cap: str = typer.Option(None, "--cap", help="Price cap (needed for Tullock)."),
          as_json: bool = JSON_OPTION) -> None:
    """The leader's optimal price and every follower's best response."""
    from learnchain.apps.market import stackelberg as sg

    people = [sg.Consumer(family, v) for v in _numbers(values)]
    solution = sg.solve_leader(people, Fraction(cost),
                               capacity=None if capacity is None else Fraction(capacity),
                               price_cap=None if cap is None else Fraction(cap))
    demand = [float(x) for x in sg.best_responses(people, Fraction(solution.price))]
    out = {"price": solution.price, "profit": solution.profit, "demand": solution.demand,
           "capacity_binds": solution.capacity_binds, "best_responses": demand,
           "dropped_out": [i + 1 for i, x in enumerate(demand) if x == 0]}
    if as_json:
        emit_json(out)
        return
    table = Table(title=f"Stackelberg price {solution.price:.4f} "
                        f"(profit {solution.profit:.4f}, demand {solution.demand:.4f})")
    table.add_column("consumer")
    table.add_column("value", justify="right")
    table.add_column("demand (units)", justify="right")
    for i, (person, x) in enumerate(zip(people, demand, strict=True)):
        table.add_row(str(i + 1), f"{float(person.value):g}", f"{x:.4f}")
    console.print(table)


@market_app.command()
@friendly_errors
def call(method: str = typer.Argument(..., help="open, join, leave, post_price, buy, close."),
         args: str = typer.Option("{}", "--args", help="JSON args, e.g. '{\"market\": 0}'."),
         key: str = typer.Option(..., "--key", "-k", help="Keystore path or key name."),
         node: str = NODE_OPTION, datadir: Path = DATADIR_OPTION,
         password_file: Path | None = typer.Option(None, "--password-file",
                                                   help="File holding the keystore password."),
         as_json: bool = JSON_OPTION) -> None:
    """Send a market transaction and wait for its receipt (printed as JSON)."""
    import json

    from learnchain.net.client import NodeClient
    from learnchain.net.jsonview import from_json

    client = NodeClient(node)
    tx = client.send(load_key(key, datadir, password_file), "market", method,
                     from_json(json.loads(args)))
    emit_json(client.wait_for(tx.hash))


@market_app.command()
@friendly_errors
def show(market: int = typer.Option(0, "--market", "-m", help="Market id."),
         node: str = NODE_OPTION, as_json: bool = JSON_OPTION) -> None:
    """A market's state and its consumers (printed as JSON)."""
    from learnchain.net.client import NodeClient

    client = NodeClient(node)
    emit_json({"market": client.query("market", "market", {"market": market}),
               "consumers": client.query("market", "consumers", {"market": market})})


@market_app.command()
@friendly_errors
def experiment(scenario: list[str] = typer.Option(["scarcity", "mining"], "--scenario",
                                                  help="scarcity and/or mining."),
               out: Path = typer.Option(Path("experiments/out/market"), "--out",
                                        help="Output folder."),
               as_json: bool = JSON_OPTION) -> None:
    """Provider and consumers trade over time on a real chain; plots and the seed's claims."""
    from rich.progress import Progress

    from learnchain.apps.market.experiments import run_and_write

    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("market steps", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        results = run_and_write(list(scenario), out, progress)
    summary: dict[str, Any] = {name: result["claims"] for name, result in results.items()}
    if as_json:
        emit_json({"out": str(out), "claims": summary})
        return
    table = Table(title="Seed claims (001, §IV) against this run")
    for column in ("scenario", "claim", "measured", "holds"):
        table.add_column(column)
    for name, claims in summary.items():
        for claim in claims:
            table.add_row(name, claim["claim"], claim["measured"],
                          "yes" if claim["holds"] else "no")
    console.print(table)
    err_console.print(f"wrote {', '.join(str(out / f'market_{n}.png') for n in results)}")
