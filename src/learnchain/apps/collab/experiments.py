"""The prediction-market experiment, run through the real `collab` app block by block.

`market`: 3 good and 2 bad agents: the provider commits to a test set, contributors stake on
their data, the provider reveals, the chain pays out. (The good-vs-bad stakeable experiment
lives in `good_bad`; both are re-exported here for the CLI.)

Data: scikit-learn's bundled breast-cancer set (no download), each of its 30 measurements
binned into 8 quantile bins, so a sample is a list of 30 feature indices for the sparse
perceptron — the same model family the reference uses for IMDB reviews.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from learnchain.apps.collab import mechanisms as mech
from learnchain.apps.collab.agents import DAY_S, Agent, LocalChain, TxFailed, agent_keys
from learnchain.apps.collab.datasets import Sample, breast_cancer
from learnchain.apps.collab.good_bad import COIN, GoodBadConfig, run_good_bad
from learnchain.apps.collab.models import DictStore, SparsePerceptron

__all__ = ["COIN", "GoodBadConfig", "MarketConfig", "breast_cancer", "default_output",
           "run_good_bad", "run_market"]

def _initial_model(init: list[Sample]) -> SparsePerceptron:
    """Trained off-chain on the small initial portion, then deployed (export → create)."""
    model = SparsePerceptron({"intercept": 0, "learning_rate": 10**9}, DictStore())
    for x, y in init:
        model.update(x, y)
    return model


def _accuracy_ppm(chain: LocalChain, model_id: int, test: list[Sample]) -> int:
    result = chain.query("evaluate", {"model_id": model_id, "data": [x for x, _ in test],
                                      "labels": [y for _, y in test]})
    return int(result["accuracy_ppm"])


# ===== prediction market =================================================================


@dataclass
class MarketConfig:
    """3 good and 2 bad agents; stakes and bounty in indivisible units (1 unit = 1 round)."""

    seed: int = 0
    good_agents: int = 3
    bad_agents: int = 2
    contributions_each: int = 40
    stake: int = 100
    bounty: int = 10_000
    pieces: int = 5
    group_contributions: bool = True
    reset_model: bool = True
    start_balance: int = 100_000


def run_market(out_dir: Path | None, config: MarketConfig | None = None) -> dict[str, Any]:
    """Run one market through the chain; write `collab_market.{json,png}`; return summary."""
    cfg = config or MarketConfig()
    rng = random.Random(cfg.seed)
    data = breast_cancer(cfg.seed)
    names = ([f"good{i + 1}" for i in range(cfg.good_agents)]
             + [f"bad{i + 1}" for i in range(cfg.bad_agents)])
    keys = agent_keys(["owner", "provider", *names], seed=b"collab-market")
    chain = LocalChain({k.address: cfg.start_balance for k in keys.values()})
    everyone = [k.address for k in keys.values()]
    total_before = sum(chain.balance(a) for a in everyone)
    chain.call(keys["owner"], "create_model", {
        "model": _initial_model(data.init).export(), "mechanism": "market",
        "name": "breast-cancer-market", "mechanism_params": {
            "group_contributions": cfg.group_contributions, "reset_model": cfg.reset_model,
            "allow_greater_deposit": True, "min_contributions": 1, "any_wait_s": DAY_S}})
    pieces = mech.split_test_set([x for x, _ in data.test], [y for _, y in data.test],
                                 cfg.pieces)
    opened = chain.call(keys["provider"], "market_open", {
        "model_id": 0, "bounty": cfg.bounty, "hashes": [mech.piece_hash(p) for p in pieces]})
    assert opened["model_id"] == 0
    chain.block()          # the block whose end draws the piece to reveal early
    early = chain.query("market", {"model_id": 0})["reveal_index"]
    chain.call(keys["provider"], "market_reveal_early", {"model_id": 0, "piece": pieces[early]})

    agents = {name: Agent(name, keys[name], name.startswith("good"),
                          rng=random.Random(rng.getrandbits(64))) for name in names}
    order = [name for name in names for _ in range(cfg.contributions_each)]
    rng.shuffle(order)
    stakes = dict.fromkeys(names, 0)
    for i, name in enumerate(order):
        chain.set_time(chain.time + 60)
        x, y = data.pool[rng.randrange(len(data.pool))]
        chain.submit(keys[name], "add_data", {"model_id": 0, "data": x,
                                              "label": agents[name].label_for(y),
                                              "deposit": cfg.stake})
        stakes[name] += cfg.stake
        if i % 50 == 49 or i == len(order) - 1:
            assert all(r.success for r in chain.block().values())
    initial_accuracy = _accuracy_ppm(chain, 0, data.test)
    chain.call(keys["provider"], "market_end", {"model_id": 0})
    outcome: dict[str, Any] = {}
    for index, piece in enumerate(pieces):
        if index != early:
            outcome = chain.call(keys["provider"], "market_reveal",
                                 {"model_id": 0, "index": index, "piece": piece})["outcome"]
    payouts = {name: 0 for name in names}
    for name in names:
        try:
            payouts[name] = chain.call(keys[name], "refund", {"model_id": 0})["amount"]
        except TxFailed:
            payouts[name] = 0
    final_accuracy = _accuracy_ppm(chain, 0, data.test)
    total_after = sum(chain.balance(a) for a in everyone) + chain.escrow(0)
    # Anyone can replay the reward phase off-chain from public data; we do, to draw the
    # balance history (large markets keep only pass summaries on-chain) and as a check.
    by_address = {keys[n].address: n for n in names}
    records = [chain.query("contribution", {"model_id": 0, "contribution": i})
               for i in range(len(order))]
    author_of = [by_address[r["author"]] for r in records]
    hidden = [pair for i, piece in enumerate(pieces) if i != early for pair in piece]
    replay = mech.compute_market_rewards(
        lambda: _initial_model(data.init),
        [mech.MarketEntry(r["author"], r["data"], r["label"], r["deposit"]) for r in records],
        [x for x, _ in hidden], [y for _, y in hidden], cfg.bounty,
        mech.MarketOptions(group_contributions=cfg.group_contributions,
                           reset_model=cfg.reset_model))
    assert {a.hex(): v for a, v in replay.payouts.items()} == outcome["payouts"]
    passes = [p.to_plain() for p in replay.passes]
    hex_names = {keys[n].address.hex(): n for n in names}
    history = _market_history(passes, author_of, hex_names, names, cfg, outcome["test_size"])
    summary = {
        "experiment": "market", "config": asdict(cfg),
        "initial_accuracy_ppm": initial_accuracy, "final_accuracy_ppm": final_accuracy,
        "hidden_test_size": outcome["test_size"],
        "stakes": stakes, "payouts": payouts,
        "profit": {n: payouts[n] - stakes[n] for n in names},
        "provider_refund": outcome["provider_refund"],
        "provider_profit": outcome["provider_refund"] - cfg.bounty,
        "passes": len(passes),
        "rounds_used": sum(p["ticks"] for p in passes) / mech.TICKS_PER_ROUND,
        "survivors": outcome["survivors"], "zero_sum": total_after == total_before,
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "collab_market.json").write_text(
            json.dumps({"summary": summary, "history": history}, indent=1) + "\n")
        _plot_market(out_dir / "collab_market.png", history, summary, names)
    return summary


def _market_history(passes: list[dict[str, Any]], author_of: list[str],
                    hex_names: dict[str, str], names: list[str], cfg: MarketConfig,
                    n_test: int) -> list[dict[str, Any]]:
    """Each author's balance (in stake units) after each pass, rebuilt from the scores."""
    balance = {name: cfg.stake * author_of.count(name) * n_test for name in names}
    rounds = 0.0
    history = [{"rounds": 0.0, **{n: balance[n] / n_test for n in names}}]
    for p in passes:
        for participant, score in p["scores"].items():
            # grouped markets score authors (hex address), others single contributions
            name = hex_names.get(participant) or author_of[int(participant)]
            balance[name] += score * p["ticks"] / mech.TICKS_PER_ROUND
        rounds += p["ticks"] / mech.TICKS_PER_ROUND
        history.append({"rounds": rounds, **{n: balance[n] / n_test for n in names}})
    return history


def _plot_market(path: Path, history: list[dict[str, Any]], summary: dict[str, Any],
                 names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name in names:
        color = "tab:green" if name.startswith("good") else "tab:red"
        left.plot([h["rounds"] for h in history], [h[name] for h in history], marker="o",
                  label=name, color=color, alpha=0.5 + 0.15 * (names.index(name) % 3))
    left.set_xlabel("bounty rounds simulated")
    left.set_ylabel("market balance (units)")
    left.set_title("Prediction market: balances through the reward phase")
    left.legend()
    left.grid(alpha=0.3)
    profits = [summary["profit"][n] for n in names]
    right.bar(names, profits, color=["tab:green" if n.startswith("good") else "tab:red"
                                     for n in names])
    right.axhline(0, color="black", linewidth=0.8)
    right.set_ylabel("payout − stake (units)")
    right.set_title(f"Profit per agent (accuracy {summary['initial_accuracy_ppm'] / 1e4:.1f}%"
                    f" → {summary['final_accuracy_ppm'] / 1e4:.1f}%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def default_output() -> Path:
    """Where an experiment writes unless told (gitignored; a deliberate full run's results
    are copied to docs/experiments/ by hand)."""
    return Path("experiments/out/collab")
